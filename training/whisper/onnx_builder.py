"""A small ONNX graph builder whose weights stay in place inside a CTranslate2 model.bin.

Every CT2 weight becomes an initializer with external data (location `model.bin`, the CT2 byte
offset and length, the dtype CT2 stored), followed by the Cast (and Transpose, Mul by a constant)
nodes that turn it into the float32 operand the graph needs. ONNX Runtime constant-folds those
nodes at session creation, so at run time the graph computes in float32 on weights it read once.

Only opset-17 ops that ORT's CPU and CUDA providers both implement are used (no Loop/If).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .ct2_reader import Ct2Model

OPSET = 17
IR_VERSION = 8  # onnx 1.13+ / ORT >= 1.14 read it; opset 17 needs IR >= 8
EXTERNAL_LOCATION = "model.bin"
_ONNX_DTYPES = {
    "float32": TensorProto.FLOAT,
    "float16": TensorProto.FLOAT16,
    "int8": TensorProto.INT8,
    "int16": TensorProto.INT16,
    "int32": TensorProto.INT32,
    "bfloat16": TensorProto.BFLOAT16,
}


class GraphBuilder:
    def __init__(self, ct2: Ct2Model, name: str):
        self.ct2, self.name = ct2, name
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self._counter = 0
        self._weights: dict[tuple, str] = {}  # (ct2 name, transform) -> float32 value name
        self._external: dict[str, str] = {}  # ct2 tensor name (alias resolved) -> initializer name
        self._consts: dict[tuple, str] = {}

    # -- naming and nodes ---------------------------------------------------------------------
    def fresh(self, hint: str) -> str:
        self._counter += 1
        return f"{hint}_{self._counter}"

    def op(self, op_type: str, inputs: list[str], hint: str | None = None, n_out: int = 1, **attrs) -> str | list[str]:
        outs = [self.fresh(hint or op_type.lower()) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, name=self.fresh("n_" + op_type), **attrs))
        return outs[0] if n_out == 1 else outs

    def const(self, value, dtype=np.float32) -> str:
        """A small inline constant (shape vectors, scalars)."""
        arr = np.asarray(value, dtype=dtype)
        key = (arr.dtype.str, arr.shape, arr.tobytes())
        if key not in self._consts:
            name = self.fresh("const")
            self.initializers.append(numpy_helper.from_array(arr, name))
            self._consts[key] = name
        return self._consts[key]

    # -- graph inputs and outputs ---------------------------------------------------------------
    def add_input(self, name: str, elem_type: int, shape: list) -> str:
        self.inputs.append(helper.make_tensor_value_info(name, elem_type, shape))
        return name

    def add_output(self, value: str, name: str, elem_type: int, shape: list) -> None:
        self.nodes.append(helper.make_node("Identity", [value], [name], name=self.fresh("n_out")))
        self.outputs.append(helper.make_tensor_value_info(name, elem_type, shape))

    # -- weights from model.bin ------------------------------------------------------------------
    def _external_initializer(self, ct2_name: str) -> str:
        t = self.ct2[ct2_name]
        key = f"{t.offset}"  # an alias and its target share one initializer
        if key in self._external:
            return self._external[key]
        if t.dtype not in _ONNX_DTYPES:
            raise TypeError(f"CT2 variable {ct2_name!r} has dtype {t.dtype}, no ONNX equivalent")
        init = TensorProto()
        init.name = "ct2:" + t.name
        init.data_type = _ONNX_DTYPES[t.dtype]
        init.dims.extend(t.shape)
        init.data_location = TensorProto.EXTERNAL
        for k, v in (("location", EXTERNAL_LOCATION), ("offset", str(t.offset)), ("length", str(t.nbytes))):
            entry = init.external_data.add()
            entry.key, entry.value = k, v
        self.initializers.append(init)
        self._external[key] = init.name
        return init.name

    def weight(self, ct2_name: str, transpose: bool = False, col_scale: np.ndarray | None = None) -> str:
        """float32 view of a CT2 weight: Cast, dequantise int8 by `<name>_scale`, optional Transpose
        of a 2-D weight ([out, in] -> [in, out], so `x @ W^T` is a MatMul) and a per-column scale
        after the transpose (the attention scale folded into the query projection)."""
        t = self.ct2[ct2_name]
        # Keyed by the data's offset, so an alias and its target share one float32 copy.
        key = (t.offset, transpose, None if col_scale is None else col_scale.tobytes())
        if key in self._weights:
            return self._weights[key]
        value = self.op("Cast", [self._external_initializer(ct2_name)], "w", to=TensorProto.FLOAT)
        if t.dtype in ("int8", "int16"):
            scale = self.op("Cast", [self._external_initializer(ct2_name + "_scale")], "scale", to=TensorProto.FLOAT)
            if len(t.shape) > 1 and self.ct2[ct2_name + "_scale"].array.size > 1:
                scale = self.op("Unsqueeze", [scale, self.const(list(range(1, len(t.shape))), np.int64)])
            value = self.op("Div", [value, scale], "w")
        if transpose:
            if len(t.shape) != 2:
                raise ValueError(f"transpose asked for CT2 variable {ct2_name!r} of shape {t.shape}")
            value = self.op("Transpose", [value], "wT", perm=[1, 0])
        if col_scale is not None:
            value = self.op("Mul", [value, self.const(col_scale)], "w")
        self._weights[key] = value
        return value

    # -- common layers (x: [..., d]) -------------------------------------------------------------
    def linear(self, x: str, prefix: str, col_scale: np.ndarray | None = None) -> str:
        """x @ W^T + b for the CT2 linear `prefix` (weight [out, in], bias [out] if present)."""
        y = self.op("MatMul", [x, self.weight(prefix + "/weight", transpose=True, col_scale=col_scale)])
        if prefix + "/bias" in self.ct2:
            y = self.op("Add", [y, self.weight(prefix + "/bias", col_scale=col_scale)])
        return y

    def layer_norm(self, x: str, prefix: str, eps: float = 1e-5) -> str:
        return self.op(
            "LayerNormalization",
            [x, self.weight(prefix + "/gamma"), self.weight(prefix + "/beta")],
            "ln",
            axis=-1,
            epsilon=eps,
        )

    def gelu(self, x: str) -> str:
        """Exact (erf) GELU, as Whisper; opset 17 has no Gelu op (ORT fuses this pattern)."""
        half = self.op("Mul", [x, self.const(0.5)])
        erf = self.op("Erf", [self.op("Mul", [x, self.const(1 / np.sqrt(2))])])
        return self.op("Mul", [half, self.op("Add", [erf, self.const(1.0)])], "gelu")

    # -- model -----------------------------------------------------------------------------------
    def model(self, doc: str) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, self.name, self.inputs, self.outputs, self.initializers)
        model = helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="msa training.whisper", doc_string=doc
        )
        model.ir_version = IR_VERSION
        return model
