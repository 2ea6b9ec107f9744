"""Cross-modal text enhancement (CENet's cross-modal embedding unit).

Text hidden states attend to the acoustic and visual index sequences; the two text-aligned
non-verbal vectors are concatenated, projected and added to the text hidden states.
"""

from __future__ import annotations

import math

import torch
from torch import nn

# Large but finite, so exported graphs never see -inf (an all-masked row must not give NaN).
MASK_FILL = -1e4


def masked_attention_read(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, mask: torch.Tensor, scale: float
) -> torch.Tensor:
    """query (B,T,d), key/value (B,L,d), mask (B,L) in {0,1} -> (B,T,d).

    `scale` multiplies the raw dot products (the caller folds in 1/sqrt(d)).

    Masked positions get exactly zero weight; a row whose keys are all masked reads exactly zero
    (the softmax there is over fill values only, and its weights are multiplied by the mask).
    """
    scores = (query @ key.transpose(1, 2)) * scale  # (B, T, L)
    m = mask.to(scores.dtype).unsqueeze(1)  # (B, 1, L)
    scores = scores.masked_fill(m == 0, MASK_FILL)
    weights = torch.softmax(scores, dim=-1) * m  # (B, T, L); zero rows when modality absent
    return weights @ value  # (B, T, d)


class NonverbalAttention(nn.Module):
    """Text queries attend over one non-verbal embedding sequence."""

    def __init__(self, text_dim: int, nv_dim: int, scale: float) -> None:
        super().__init__()
        self.scale = scale / math.sqrt(nv_dim)  # CENet's factor times the dot-product scaling
        self.query = nn.Linear(text_dim, nv_dim)
        self.key = nn.Linear(nv_dim, nv_dim)
        self.value = nn.Linear(nv_dim, nv_dim)

    def forward(self, text: torch.Tensor, nv_emb: torch.Tensor, nv_mask: torch.Tensor) -> torch.Tensor:
        q = self.query(text)  # (B, T, dn)
        k = self.key(nv_emb)  # (B, L, dn)
        v = self.value(nv_emb)  # (B, L, dn)
        return masked_attention_read(q, k, v, nv_mask, self.scale)  # (B, T, dn)


class CrossModalEnhancement(nn.Module):
    """Adds a text-aligned non-verbal embedding to the text hidden states.

    The projection has no bias, so with both non-verbal modalities absent the text hidden
    states pass through unchanged, and an absent modality contributes exactly zero.
    """

    def __init__(self, text_dim: int, nv_dim: int, scale: float, dropout: float) -> None:
        super().__init__()
        self.acoustic = NonverbalAttention(text_dim, nv_dim, scale)
        self.visual = NonverbalAttention(text_dim, nv_dim, scale)
        self.project = nn.Linear(2 * nv_dim, text_dim, bias=False)
        nn.init.normal_(self.project.weight, std=0.02)  # start close to the pretrained encoder
        self.dropout = nn.Dropout(dropout)

    def forward(
        self,
        text: torch.Tensor,  # (B, T, H) hidden states after an early encoder layer
        acoustic_emb: torch.Tensor,  # (B, La, dn)
        acoustic_mask: torch.Tensor,  # (B, La)
        visual_emb: torch.Tensor,  # (B, Lv, dn)
        visual_mask: torch.Tensor,  # (B, Lv)
    ) -> torch.Tensor:
        a = self.acoustic(text, acoustic_emb, acoustic_mask)  # (B, T, dn)
        v = self.visual(text, visual_emb, visual_mask)  # (B, T, dn)
        enhancement = self.project(torch.cat([a, v], dim=-1))  # (B, T, H)
        return text + self.dropout(enhancement)  # (B, T, H)
