"""The whole network (DESIGN.md section 6): encoder + text enhancement + memories + head."""

from __future__ import annotations

import torch
from torch import nn

from .config import ModelConfig
from .encoder import load_encoder
from .enhancement import CrossModalEnhancement
from .fusion import FusionHead


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """x (B, L, d), mask (B, L) -> (B, d); an all-masked row gives zeros."""
    m = mask.to(x.dtype).unsqueeze(-1)  # (B, L, 1)
    return (x * m).sum(1) / m.sum(1).clamp(min=1.0)  # (B, d)


class MSAModel(nn.Module):
    """Inputs and outputs follow the ONNX contract of src/model/types.ts.

    forward(input_ids (B,T), attention_mask (B,T), acoustic_ids (B,La), acoustic_mask (B,La),
            visual_ids (B,Lv), visual_mask (B,Lv)) -> score (B,), contributions (B,3)
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = load_encoder(config.text_encoder, config.tiny_encoder)
        hidden = self.encoder.config.hidden_size
        n_layers = self.encoder.config.num_hidden_layers
        if not 0 <= config.inject_after_layer <= n_layers:
            raise ValueError(f"inject_after_layer={config.inject_after_layer} outside 0..{n_layers}")
        dn = config.nonverbal_dim
        self.acoustic_embedding = nn.Embedding(config.acoustic_codebook_size + 1, dn, padding_idx=config.acoustic_pad)
        self.visual_embedding = nn.Embedding(config.visual_codebook_size + 1, dn, padding_idx=config.visual_pad)
        self.enhancement = CrossModalEnhancement(hidden, dn, config.enhancement_scale, config.dropout)
        self.head = FusionHead(hidden, dn, config.memory_dim, config.memory_size, config.head_hidden, config.dropout)

    def encode_text(self, input_ids, attention_mask, a_emb, a_mask, v_emb, v_mask) -> torch.Tensor:
        h = self.encoder.embeddings(input_ids=input_ids)  # (B, T, H)
        # Additive mask for eager attention: 0 keep, large negative for padding.
        ext = (1.0 - attention_mask[:, None, None, :].to(h.dtype)) * torch.finfo(h.dtype).min  # (B,1,1,T)
        for i, layer in enumerate(self.encoder.encoder.layer):
            if i == self.config.inject_after_layer:
                h = self.enhancement(h, a_emb, a_mask, v_emb, v_mask)  # (B, T, H)
            h = layer(h, ext)  # (B, T, H)
        if self.config.inject_after_layer == len(self.encoder.encoder.layer):
            h = self.enhancement(h, a_emb, a_mask, v_emb, v_mask)
        return h

    def forward(self, input_ids, attention_mask, acoustic_ids, acoustic_mask, visual_ids, visual_mask):
        a_emb = self.acoustic_embedding(acoustic_ids)  # (B, La, dn)
        v_emb = self.visual_embedding(visual_ids)  # (B, Lv, dn)
        h = self.encode_text(input_ids, attention_mask, a_emb, acoustic_mask, v_emb, visual_mask)  # (B, T, H)
        text_pooled = masked_mean(h, attention_mask)  # (B, H), sentence-transformers style pooling
        audio_pooled = masked_mean(a_emb, acoustic_mask)  # (B, dn)
        video_pooled = masked_mean(v_emb, visual_mask)  # (B, dn)
        present = torch.stack([attention_mask.sum(1) > 0, acoustic_mask.sum(1) > 0, visual_mask.sum(1) > 0], dim=-1).to(
            h.dtype
        )  # (B, 3)
        return self.head(text_pooled, audio_pooled, video_pooled, present)  # (B,), (B, 3)

    def parameter_groups(self, encoder_lr: float, head_lr: float, weight_decay: float) -> list[dict]:
        """Lower learning rate for the pretrained encoder, higher for the new parts."""
        groups = []
        for is_encoder, lr in ((True, encoder_lr), (False, head_lr)):
            decay, no_decay = [], []
            for name, p in self.named_parameters():
                if name.startswith("encoder.") != is_encoder or not p.requires_grad:
                    continue
                (no_decay if p.ndim < 2 or "LayerNorm" in name or "embedding" in name else decay).append(p)
            groups.append({"params": decay, "lr": lr, "weight_decay": weight_decay})
            groups.append({"params": no_decay, "lr": lr, "weight_decay": 0.0})
        return groups
