"""The Whisper encoder as ONNX: mel [B, n_mels, T] -> cross_k, cross_v [n_layer, B, T/2, d], hidden [B, T/2, d],
block2 [B, T/2, d] (the residual stream after encoder block 2 of n, 1-based: the voice path's
representation, see training/experiments/voice_reader.py).

T is dynamic (even, <= 2 * n_audio_ctx = 3000): the sinusoidal positions are sliced to T/2, so a short
utterance need not be padded to 30 s. The decoder's cross-attention keys and values of every layer
are computed here once per utterance.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto

from .attention import attend, query_scale
from .ct2_reader import Ct2Model
from .dims import WhisperDims, dims_from_ct2
from .onnx_builder import GraphBuilder

ENCODER_INPUTS = ["mel"]
ENCODER_OUTPUTS = ["cross_k", "cross_v", "hidden", "block2"]
VOICE_BLOCK = 2  # 1-based encoder block whose output the voice path pools


def _conv_gelu(b: GraphBuilder, x: str, prefix: str, stride: int) -> str:
    """Conv1d kernel 3, padding 1 (CT2 weight [out, in, 3]) then GELU."""
    y = b.op(
        "Conv",
        [x, b.weight(prefix + "/weight"), b.weight(prefix + "/bias")],
        "conv",
        kernel_shape=[3],
        pads=[1, 1],
        strides=[stride],
    )
    return b.gelu(y)


def build_encoder(ct2: Ct2Model) -> onnx.ModelProto:
    dims: WhisperDims = dims_from_ct2(ct2)
    d, h = dims.d_model, dims.n_audio_head
    b = GraphBuilder(ct2, "whisper_encoder")
    mel = b.add_input("mel", TensorProto.FLOAT, ["B", dims.n_mels, "T"])

    x = _conv_gelu(b, mel, "encoder/conv1", 1)  # [B, d, T]
    x = _conv_gelu(b, x, "encoder/conv2", 2)  # [B, d, S], S = T/2
    x = b.op("Transpose", [x], "x", perm=[0, 2, 1])  # [B, S, d]
    # positions[:S]; S > n_audio_ctx makes the Add fail (shape mismatch) rather than read past the table.
    s = b.op("Slice", [b.op("Shape", [x]), b.const([1], np.int64), b.const([2], np.int64)], "S")
    pos = b.op(
        "Slice",
        [b.weight("encoder/position_encodings/encodings"), b.const([0], np.int64), s, b.const([0], np.int64)],
        "pos",
    )  # [S, d]
    x = b.op("Add", [x, pos], "x")

    qkv_scale = query_scale(d, h, 3 * d)
    for i in range(dims.n_audio_layer):
        p = f"encoder/layer_{i}"
        y = b.layer_norm(x, f"{p}/self_attention/layer_norm")
        q, k, v = b.op(
            "Split",
            [b.linear(y, f"{p}/self_attention/linear_0", qkv_scale), b.const([d, d, d], np.int64)],
            "qkv",
            n_out=3,
            axis=-1,
        )
        x = b.op("Add", [x, b.linear(attend(b, q, k, v, h, d // h), f"{p}/self_attention/linear_1")], "x")
        y = b.layer_norm(x, f"{p}/ffn/layer_norm")
        y = b.linear(b.gelu(b.linear(y, f"{p}/ffn/linear_0")), f"{p}/ffn/linear_1")
        x = b.op("Add", [x, y], "x")
        if i == VOICE_BLOCK - 1:
            block2 = x
    hidden = b.layer_norm(x, "encoder/layer_norm")  # [B, S, d]

    # Cross-attention keys/values of each decoder layer (CT2 fuses them: linear_1 = [k; v], k bias 0).
    ks, vs = [], []
    for i in range(dims.n_text_layer):
        kv = b.linear(hidden, f"decoder/layer_{i}/attention/linear_1")  # [B, S, 2d]
        k, v = b.op("Split", [kv, b.const([d, d], np.int64)], "kv", n_out=2, axis=-1)
        ks.append(b.op("Unsqueeze", [k, b.const([0], np.int64)]))
        vs.append(b.op("Unsqueeze", [v, b.const([0], np.int64)]))
    cross_k = b.op("Concat", ks, "cross_k", axis=0)  # [n_layer, B, S, d]
    cross_v = b.op("Concat", vs, "cross_v", axis=0)

    layers, out_shape = dims.n_text_layer, ["B", "S", d]
    b.add_output(cross_k, "cross_k", TensorProto.FLOAT, [layers] + out_shape)
    b.add_output(cross_v, "cross_v", TensorProto.FLOAT, [layers] + out_shape)
    b.add_output(hidden, "hidden", TensorProto.FLOAT, out_shape)
    b.add_output(block2, "block2", TensorProto.FLOAT, out_shape)
    return b.model("Whisper encoder; weights referenced in place in CTranslate2 model.bin. See CONTRACT.md.")
