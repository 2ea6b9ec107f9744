"""Whisper in PyTorch over CTranslate2's `model.bin`, for fine-tuning with low-rank adapters (LoRA).

The same computation as the served ONNX graphs (encoder_graph.py, decoder_graph.py; CONTRACT.md):
weights are read by their CT2 names, float16 as stored, run in float32. Every linear layer is a
`Linear` holding the frozen weight; those named in `adapt` get a trainable low-rank term
`scale * B @ A` (A random, B zero, so an untouched adapter changes nothing). `merged()` gives the
adapted weights, which `training.whisper.adapt` writes back into a copy of `model.bin` at the
same offsets, so the committed weightless graphs read them unchanged.

The encoder's first `VOICE_BLOCK` blocks are never adapted: the voice path pools the residual
stream after block 2 (`block2`), and its reader was fitted on the original weights.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .ct2_reader import Ct2Model
from .dims import dims_from_ct2
from .encoder_graph import VOICE_BLOCK


def _param(ct2: Ct2Model, name: str) -> torch.Tensor:
    return torch.from_numpy(np.array(ct2.float32(name), dtype=np.float32))


class Linear(nn.Module):
    """x @ W^T + b with W frozen; with rank > 0 also scale * (x @ A^T) @ B^T, A and B trainable."""

    def __init__(self, ct2: Ct2Model, name: str, rank: int = 0, alpha: float = 1.0):
        super().__init__()
        self.name = name
        self.register_buffer("weight", _param(ct2, name + "/weight"))
        bias = name + "/bias"
        self.register_buffer("bias", _param(ct2, bias) if bias in ct2 else None)
        self.rank = rank
        if rank:
            out_f, in_f = self.weight.shape
            self.a = nn.Parameter(torch.randn(rank, in_f) / math.sqrt(in_f))
            self.b = nn.Parameter(torch.zeros(out_f, rank))
            self.scale = alpha / rank

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.linear(x, self.weight, self.bias)
        if self.rank:
            y = y + self.scale * F.linear(F.linear(x, self.a), self.b)
        return y

    def merged(self) -> torch.Tensor:
        if not self.rank:
            return self.weight
        return self.weight + self.scale * (self.b @ self.a)


class LayerNorm(nn.Module):
    def __init__(self, ct2: Ct2Model, name: str):
        super().__init__()
        self.register_buffer("gamma", _param(ct2, name + "/gamma"))
        self.register_buffer("beta", _param(ct2, name + "/beta"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, x.shape[-1:], self.gamma, self.beta, 1e-5)


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int, causal: bool = False) -> torch.Tensor:
    b, lq, d = q.shape
    split = lambda t: t.view(b, t.shape[1], heads, d // heads).transpose(1, 2)  # noqa: E731
    out = F.scaled_dot_product_attention(split(q), split(k), split(v), is_causal=causal)
    return out.transpose(1, 2).reshape(b, lq, d)


class Whisper(nn.Module):
    def __init__(self, ct2: Ct2Model, rank: int = 0, alpha: float = 1.0, adapt=lambda name: False):
        super().__init__()
        self.dims = dims = dims_from_ct2(ct2)
        self.d = dims.d_model

        def lin(name: str) -> Linear:
            return Linear(ct2, name, rank if adapt(name) else 0, alpha)

        self.conv1_w, self.conv1_b = _param(ct2, "encoder/conv1/weight"), _param(ct2, "encoder/conv1/bias")
        self.conv2_w, self.conv2_b = _param(ct2, "encoder/conv2/weight"), _param(ct2, "encoder/conv2/bias")
        self.enc_pos = _param(ct2, "encoder/position_encodings/encodings")
        self.enc = nn.ModuleList()
        for i in range(dims.n_audio_layer):
            p = f"encoder/layer_{i}"
            self.enc.append(
                nn.ModuleDict(
                    {
                        "ln1": LayerNorm(ct2, f"{p}/self_attention/layer_norm"),
                        "qkv": lin(f"{p}/self_attention/linear_0"),
                        "out": lin(f"{p}/self_attention/linear_1"),
                        "ln2": LayerNorm(ct2, f"{p}/ffn/layer_norm"),
                        "fc1": lin(f"{p}/ffn/linear_0"),
                        "fc2": lin(f"{p}/ffn/linear_1"),
                    }
                )
            )
        self.enc_ln = LayerNorm(ct2, "encoder/layer_norm")
        self.emb = _param(ct2, "decoder/embeddings/weight")
        self.dec_pos = _param(ct2, "decoder/position_encodings/encodings")
        self.dec = nn.ModuleList()
        for i in range(dims.n_text_layer):
            p = f"decoder/layer_{i}"
            self.dec.append(
                nn.ModuleDict(
                    {
                        "ln1": LayerNorm(ct2, f"{p}/self_attention/layer_norm"),
                        "qkv": lin(f"{p}/self_attention/linear_0"),
                        "out": lin(f"{p}/self_attention/linear_1"),
                        "ln2": LayerNorm(ct2, f"{p}/attention/layer_norm"),
                        "q": lin(f"{p}/attention/linear_0"),
                        "kv": lin(f"{p}/attention/linear_1"),
                        "xout": lin(f"{p}/attention/linear_2"),
                        "ln3": LayerNorm(ct2, f"{p}/ffn/layer_norm"),
                        "fc1": lin(f"{p}/ffn/linear_0"),
                        "fc2": lin(f"{p}/ffn/linear_1"),
                    }
                )
            )
        self.dec_ln = LayerNorm(ct2, "decoder/layer_norm")
        for p in self.parameters():
            p.requires_grad_(True)

    def linears(self) -> list[Linear]:
        return [m for m in self.modules() if isinstance(m, Linear)]

    def encode_front(self, mel: torch.Tensor) -> torch.Tensor:
        """mel [B, 80, T] -> residual stream after the first VOICE_BLOCK blocks [B, T/2, d]."""
        x = F.gelu(F.conv1d(mel, self.conv1_w, self.conv1_b, padding=1))
        x = F.gelu(F.conv1d(x, self.conv2_w, self.conv2_b, stride=2, padding=1)).transpose(1, 2)
        x = x + self.enc_pos[: x.shape[1]]
        for blk in self.enc[:VOICE_BLOCK]:
            x = self._enc_block(blk, x)
        return x

    def encode_back(self, x: torch.Tensor) -> torch.Tensor:
        for blk in self.enc[VOICE_BLOCK:]:
            x = self._enc_block(blk, x)
        return self.enc_ln(x)

    def _enc_block(self, blk: nn.ModuleDict, x: torch.Tensor) -> torch.Tensor:
        q, k, v = blk["qkv"](blk["ln1"](x)).split(self.d, dim=-1)
        x = x + blk["out"](_attend(q, k, v, self.dims.n_audio_head))
        return x + blk["fc2"](F.gelu(blk["fc1"](blk["ln2"](x))))

    def decode(self, tokens: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits [B, L, V] for tokens [B, L] over encoder output hidden [B, S, d]."""
        x = self.emb[tokens] + self.dec_pos[: tokens.shape[1]]
        for blk in self.dec:
            q, k, v = blk["qkv"](blk["ln1"](x)).split(self.d, dim=-1)
            x = x + blk["out"](_attend(q, k, v, self.dims.n_text_head, causal=True))
            ck, cv = blk["kv"](hidden).split(self.d, dim=-1)
            x = x + blk["xout"](_attend(blk["q"](blk["ln2"](x)), ck, cv, self.dims.n_text_head))
            x = x + blk["fc2"](F.gelu(blk["fc1"](blk["ln3"](x))))
        return self.dec_ln(x) @ self.emb.T
