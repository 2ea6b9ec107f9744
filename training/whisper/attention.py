"""Multi-head attention as ONNX nodes (Whisper: softmax(q k^T / sqrt(d_head)) v, heads split from d)."""

from __future__ import annotations

import numpy as np

from .onnx_builder import GraphBuilder


def query_scale(d_model: int, n_head: int, width: int) -> np.ndarray:
    """Column scale for a projection whose first d_model outputs are the query: 1/sqrt(d_head) there,
    1 elsewhere. Folding it into the weight saves a Mul per attention at run time."""
    scale = np.ones(width, np.float32)
    scale[:d_model] = (d_model // n_head) ** -0.5
    return scale


def split_heads(b: GraphBuilder, x: str, n_head: int, d_head: int, keys: bool = False) -> str:
    """[B, L, d] -> [B, h, L, dh], or [B, h, dh, L] for keys (ready for q @ k)."""
    x4 = b.op("Reshape", [x, b.const([0, 0, n_head, d_head], np.int64)], "heads")
    return b.op("Transpose", [x4], "heads", perm=[0, 2, 3, 1] if keys else [0, 2, 1, 3])


def attend(b: GraphBuilder, q: str, k: str, v: str, n_head: int, d_head: int, bias: str | None = None) -> str:
    """q [B, Lq, d] (already scaled), k and v [B, Lk, d], bias [Lq, Lk] added to the scores
    (0 or -1e9 for a causal mask) -> [B, Lq, d]."""
    scores = b.op(
        "MatMul", [split_heads(b, q, n_head, d_head), split_heads(b, k, n_head, d_head, keys=True)], "scores"
    )  # [B, h, Lq, Lk]
    if bias is not None:
        scores = b.op("Add", [scores, bias], "scores")
    weights = b.op("Softmax", [scores], "attn", axis=-1)
    out = b.op("MatMul", [weights, split_heads(b, v, n_head, d_head)], "ctx")  # [B, h, Lq, dh]
    out = b.op("Transpose", [out], "ctx", perm=[0, 2, 1, 3])
    return b.op("Reshape", [out, b.const([0, 0, n_head * d_head], np.int64)], "ctx")
