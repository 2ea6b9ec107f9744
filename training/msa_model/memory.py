"""External memory attention (the seed's EM module), one instance per modality."""

from __future__ import annotations

import math

import torch
from torch import nn


class ExternalMemory(nn.Module):
    """A learnable memory matrix E read by scaled dot-product attention.

    Q = Linear(q); K = Linear(E); V = Linear(E); weights = softmax(Q K^T / sqrt(d));
    read = weights V. The read is a convex combination of the rows of V.
    """

    def __init__(self, dim: int, mem_size: int) -> None:
        super().__init__()
        self.dim = dim
        self.mem_size = mem_size
        self.memory = nn.Parameter(torch.randn(mem_size, dim) * 0.02)  # (mem, d)
        self.query_transform = nn.Linear(dim, dim)
        self.key_transform = nn.Linear(dim, dim)
        self.value_transform = nn.Linear(dim, dim)

    def attention_weights(self, query: torch.Tensor) -> torch.Tensor:
        q = self.query_transform(query)  # (B, d)
        k = self.key_transform(self.memory)  # (mem, d)
        scores = q @ k.t() / math.sqrt(self.dim)  # (B, mem)
        return torch.softmax(scores, dim=-1)  # (B, mem), rows sum to 1

    def forward(self, query: torch.Tensor) -> torch.Tensor:
        weights = self.attention_weights(query)  # (B, mem)
        v = self.value_transform(self.memory)  # (mem, d)
        return weights @ v  # (B, d)
