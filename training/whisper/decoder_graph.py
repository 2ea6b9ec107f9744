"""The Whisper decoder step as ONNX, with a self-attention cache that grows by concatenation.

    tokens   int64 [B, L]              new tokens (L = prompt length on the first call, then 1)
    self_k   float32 [n_layer, B, P, d] keys of the P tokens already decoded (P = 0 on the first call)
    self_v   float32 [n_layer, B, P, d]
    cross_k  float32 [n_layer, B, S, d] from the encoder
    cross_v  float32 [n_layer, B, S, d]
 -> logits     float32 [B, n_vocab]          next-token logits after the last of the L tokens
    self_k_out float32 [n_layer, B, P+L, d]  feed back as self_k
    self_v_out float32 [n_layer, B, P+L, d]

The position of tokens[:, 0] is P, read from the cache shape: an `offset` input could only repeat it
(and disagree with it). P + L must not exceed n_text_ctx (448).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto

from .attention import attend, query_scale
from .ct2_reader import Ct2Model
from .dims import WhisperDims, dims_from_ct2
from .onnx_builder import GraphBuilder

DECODER_INPUTS = ["tokens", "self_k", "self_v", "cross_k", "cross_v"]
DECODER_OUTPUTS = ["logits", "self_k_out", "self_v_out"]
MASKED = -1e9  # additive score bias of a future position (finite: no NaN from -inf - -inf)


def _causal_bias(b: GraphBuilder, past: str, length: str) -> str:
    """[L, P+L] bias: 0 where key j <= P + query i, else MASKED (the new tokens see the cache and
    themselves up to their own position). past, length: int64 [1]."""
    total = b.op("Add", [past, length], "PL")
    zero, one = b.const(0, np.int64), b.const(1, np.int64)
    keys = b.op("Range", [zero, b.op("Squeeze", [total]), one], "kpos")  # [P+L]
    queries = b.op(
        "Add", [b.op("Range", [zero, b.op("Squeeze", [length]), one]), b.op("Squeeze", [past])], "qpos"
    )  # [L]
    future = b.op(
        "Greater",
        [b.op("Unsqueeze", [keys, b.const([0], np.int64)]), b.op("Unsqueeze", [queries, b.const([1], np.int64)])],
        "future",
    )  # [L, P+L]
    return b.op("Where", [future, b.const(MASKED), b.const(0.0)], "causal")


def build_decoder(ct2: Ct2Model) -> onnx.ModelProto:
    dims: WhisperDims = dims_from_ct2(ct2)
    d, h, n = dims.d_model, dims.n_text_head, dims.n_text_layer
    b = GraphBuilder(ct2, "whisper_decoder")
    tokens = b.add_input("tokens", TensorProto.INT64, ["B", "L"])
    self_k = b.add_input("self_k", TensorProto.FLOAT, [n, "B", "P", d])
    self_v = b.add_input("self_v", TensorProto.FLOAT, [n, "B", "P", d])
    cross_k = b.add_input("cross_k", TensorProto.FLOAT, [n, "B", "S", d])
    cross_v = b.add_input("cross_v", TensorProto.FLOAT, [n, "B", "S", d])

    past = b.op("Slice", [b.op("Shape", [self_k]), b.const([2], np.int64), b.const([3], np.int64)], "P")  # [1]
    length = b.op("Slice", [b.op("Shape", [tokens]), b.const([1], np.int64), b.const([2], np.int64)], "L")
    embeddings = b.weight("decoder/embeddings/weight")  # [V, d], shared with the output projection
    x = b.op("Gather", [embeddings, tokens], "tok", axis=0)  # [B, L, d]
    pos = b.op(
        "Slice",
        [b.weight("decoder/position_encodings/encodings"), past, b.op("Add", [past, length]), b.const([0], np.int64)],
        "pos",
    )  # [L, d]
    x = b.op("Add", [x, pos], "x")
    bias = _causal_bias(b, past, length)

    layer_axis = b.const([0], np.int64)
    past_k = b.op("Split", [self_k], "past_k", n_out=n, axis=0) if n > 1 else [self_k]
    past_v = b.op("Split", [self_v], "past_v", n_out=n, axis=0) if n > 1 else [self_v]
    mem_k = b.op("Split", [cross_k], "mem_k", n_out=n, axis=0) if n > 1 else [cross_k]
    mem_v = b.op("Split", [cross_v], "mem_v", n_out=n, axis=0) if n > 1 else [cross_v]
    new_k, new_v = [], []
    for i in range(n):
        p = f"decoder/layer_{i}"
        y = b.layer_norm(x, f"{p}/self_attention/layer_norm")
        q, k, v = b.op(
            "Split",
            [b.linear(y, f"{p}/self_attention/linear_0", query_scale(d, h, 3 * d)), b.const([d, d, d], np.int64)],
            "qkv",
            n_out=3,
            axis=-1,
        )
        k = b.op("Concat", [b.op("Squeeze", [past_k[i], layer_axis]), k], "k", axis=1)  # [B, P+L, d]
        v = b.op("Concat", [b.op("Squeeze", [past_v[i], layer_axis]), v], "v", axis=1)
        new_k.append(b.op("Unsqueeze", [k, layer_axis]))
        new_v.append(b.op("Unsqueeze", [v, layer_axis]))
        x = b.op("Add", [x, b.linear(attend(b, q, k, v, h, d // h, bias), f"{p}/self_attention/linear_1")], "x")

        y = b.layer_norm(x, f"{p}/attention/layer_norm")
        q = b.linear(y, f"{p}/attention/linear_0", query_scale(d, h, d))
        ck = b.op("Squeeze", [mem_k[i], layer_axis])  # [B, S, d]
        cv = b.op("Squeeze", [mem_v[i], layer_axis])
        x = b.op("Add", [x, b.linear(attend(b, q, ck, cv, h, d // h), f"{p}/attention/linear_2")], "x")

        y = b.layer_norm(x, f"{p}/ffn/layer_norm")
        x = b.op("Add", [x, b.linear(b.gelu(b.linear(y, f"{p}/ffn/linear_0")), f"{p}/ffn/linear_1")], "x")

    last = b.op("Gather", [x, b.const(-1, np.int64)], "last", axis=1)  # [B, d]
    last = b.layer_norm(last, "decoder/layer_norm")
    # logits = last @ W^T; CT2 aliases decoder/projection/weight to the embeddings (one float32 copy).
    logits = b.op("Gemm", [last, b.weight("decoder/projection/weight")], "logits", transB=1)  # [B, V]
    if "decoder/projection/bias" in ct2:
        logits = b.op("Add", [logits, b.weight("decoder/projection/bias")], "logits")

    b.add_output(logits, "logits", TensorProto.FLOAT, ["B", dims.n_vocab])
    b.add_output(b.op("Concat", new_k, "self_k_out", axis=0), "self_k_out", TensorProto.FLOAT, [n, "B", "P+L", d])
    b.add_output(b.op("Concat", new_v, "self_v_out", axis=0), "self_v_out", TensorProto.FLOAT, [n, "B", "P+L", d])
    return b.model(
        "Whisper decoder step with a growing self-attention cache; weights referenced in place "
        "in CTranslate2 model.bin. See CONTRACT.md."
    )
