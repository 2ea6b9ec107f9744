"""Experimental int8 graphs: ORT dynamic quantisation of the Whisper graphs (MatMul weights int8).

    python -m training.whisper.quantize tiny.en base

The in-place fp16 weights cannot stay in place: int8 weights are new numbers. So this is the
"relayout" route: onnxruntime constant-folds the graph (fp16 -> fp32), the Gemm output projection
becomes a MatMul on the transposed table (the quantiser handles MatMul), and
`onnxruntime.quantization.quantize_dynamic` writes `<graph>.int8.onnx` + `<graph>.int8.onnx.data`
beside model.bin. The result depends on the onnxruntime version; its sha256 is printed so an install
step could check it.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from .fetch import ensure_model, sha256_file


def fold(src: Path, dst: Path) -> None:
    """Constant-folded float32 copy of src (weights as plain external data in dst.data)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    opts.optimized_model_filepath = str(dst)
    opts.add_session_config_entry("session.optimized_model_external_initializers_file_name", dst.name + ".data")
    opts.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", "1024")
    ort.InferenceSession(str(src), opts, providers=["CPUExecutionProvider"])


def gemm_to_matmul(model: onnx.ModelProto) -> None:
    """Gemm(x, W, transB=1) -> MatMul(x, W^T) with W^T a new initializer (the quantiser skips Gemm)."""
    inits = {t.name: t for t in model.graph.initializer}
    for i, node in enumerate(model.graph.node):
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type != "Gemm" or node.input[1] not in inits or len(node.input) > 2:
            continue
        if attrs.get("transA", 0) or attrs.get("alpha", 1.0) != 1.0:
            continue
        w = numpy_helper.to_array(inits[node.input[1]], base_dir="")
        w_t = np.ascontiguousarray(w.T if attrs.get("transB", 0) else w)
        name = node.input[1] + "_T"
        model.graph.initializer.append(numpy_helper.from_array(w_t, name))
        model.graph.node[i].CopyFrom(
            onnx.helper.make_node("MatMul", [node.input[0], name], list(node.output), name=node.name + "_matmul")
        )


def quantize_graph(model_dir: Path, graph: str) -> Path:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    out = model_dir / graph.replace(".onnx", ".int8.onnx")
    with tempfile.TemporaryDirectory(dir=model_dir) as tmp:
        folded = Path(tmp) / graph
        fold(model_dir / graph, folded)
        model = onnx.load(str(folded))  # loads the external data
        gemm_to_matmul(model)
        plain = Path(tmp) / ("plain_" + graph)
        onnx.save(model, str(plain), save_as_external_data=True, location=plain.name + ".data")
        quantize_dynamic(
            str(plain),
            str(out),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
            use_external_data_format=True,
        )
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="+")
    args = p.parse_args(argv)
    for name in args.names:
        d = ensure_model(name)
        for graph in ("encoder.onnx", "decoder.onnx"):
            out = quantize_graph(d, graph)
            data = sorted(out.parent.glob(out.name + "*data")) or sorted(out.parent.glob("*.data"))
            print(out, sha256_file(out), [(f.name, f.stat().st_size) for f in data])


if __name__ == "__main__":
    main()
