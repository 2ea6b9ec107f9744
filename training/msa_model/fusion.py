"""Fusion and regression head with per-modality contributions.

Each modality m in (text, audio, video) has a pooled representation p_m (B, dm) and a memory
read r_m = ExternalMemory_m(p_m). Its term is c_m = present_m * MLP_m([p_m; r_m]) (a scalar;
exactly 0 when the modality is absent). The score is 3 * tanh(c_t + c_a + c_v), in [-3, 3].

Contributions are the terms rescaled into score units: contribution_m = c_m * score / raw with
raw = sum_m c_m (and the limit 3 * c_m when raw ~ 0), so the three contributions sum to the
score, keep the sign of their term, and are 0 for an absent modality. There is no global bias:
each modality's MLP carries its own, and it is switched off with the modality.
"""

from __future__ import annotations

import torch
from torch import nn

from .memory import ExternalMemory

SCORE_RANGE = 3.0


class ModalityTerm(nn.Module):
    """Projects one modality to the memory width, reads its memory, maps to a scalar term."""

    def __init__(self, in_dim: int, mem_dim: int, mem_size: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.to_memory = nn.Sequential(nn.Linear(in_dim, mem_dim), nn.GELU())
        self.memory = ExternalMemory(mem_dim, mem_size)
        self.mlp = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(2 * mem_dim, hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, 1),
        )

    def forward(self, pooled: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        p = self.to_memory(pooled)  # (B, dm)
        r = self.memory(p)  # (B, dm)
        return self.mlp(torch.cat([p, r], dim=-1)).squeeze(-1) * present  # (B,)


class FusionHead(nn.Module):
    def __init__(self, text_dim: int, nv_dim: int, mem_dim: int, mem_size: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.text = ModalityTerm(text_dim, mem_dim, mem_size, hidden, dropout)
        self.audio = ModalityTerm(nv_dim, mem_dim, mem_size, hidden, dropout)
        self.video = ModalityTerm(nv_dim, mem_dim, mem_size, hidden, dropout)

    def forward(
        self,
        text_pooled: torch.Tensor,  # (B, H)
        audio_pooled: torch.Tensor,  # (B, dn)
        video_pooled: torch.Tensor,  # (B, dn)
        present: torch.Tensor,  # (B, 3) float in {0,1}: text, audio, video
    ) -> tuple[torch.Tensor, torch.Tensor]:
        terms = torch.stack(
            [
                self.text(text_pooled, present[:, 0]),
                self.audio(audio_pooled, present[:, 1]),
                self.video(video_pooled, present[:, 2]),
            ],
            dim=-1,
        )  # (B, 3)
        raw = terms.sum(-1)  # (B,)
        score = SCORE_RANGE * torch.tanh(raw)  # (B,)
        small = raw.abs() < 1e-6
        ratio = torch.where(
            small, torch.full_like(raw, SCORE_RANGE), score / torch.where(small, torch.ones_like(raw), raw)
        )
        # (B, 3), sums to score; an absent modality gives +0.0 (not -0.0 from 0 * negative ratio)
        contributions = torch.where(terms == 0, torch.zeros_like(terms), terms * ratio.unsqueeze(-1))
        return score, contributions
