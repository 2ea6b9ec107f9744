"""ONNX Runtime dynamic int8 of the shipped graph, for serving one row per run (`model.dynamicInt8`).

    python -m training.dynamic_int8 models/msa-minilm-cenet.int8-weights.onnx \
        --out models/msa-minilm-cenet.dynamic-int8.onnx

The shipped graph stores its weights as int8 with a per-channel scale (training/weight_quant.py),
computed in float32. Here ONNX Runtime folds those constants back to float32 (basic graph
optimisations: constant folding only), and `quantize_dynamic` quantises the MatMul weights again,
per channel (so the int8 weights come back nearly as they were), with activation scales computed
at run time. The small new parts (enhancement unit, memories, head, non-verbal embeddings) stay
float32, as in training/export.py. The graph's metadata_props are copied over.

Activation scales per run make a row's score depend on its batch neighbours, so the pipeline runs
this graph one row per run. Measured on MOSEI test (`msa eval --dynamic-int8`) against the shipped
graph: Acc-2 non0 84.17 vs 84.33, MAE 0.552 vs 0.552 (README "Model").
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

FLOAT_PARTS = ("/head/", "/enhancement/", "/acoustic_embedding", "/visual_embedding")


def dynamic_int8(src: Path, dst: Path, per_channel: bool = True) -> int:
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp:
        folded = Path(tmp) / "folded.onnx"
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        so.optimized_model_filepath = str(folded)
        ort.InferenceSession(str(src), so, providers=["CPUExecutionProvider"])
        exclude = [n.name for n in onnx.load(str(folded)).graph.node if n.name.startswith(FLOAT_PARTS)]
        quantize_dynamic(
            str(folded), str(dst), weight_type=QuantType.QInt8, per_channel=per_channel, nodes_to_exclude=exclude
        )
    out = onnx.load(str(dst))
    del out.metadata_props[:]
    for prop in onnx.load(str(src)).metadata_props:
        out.metadata_props.add(key=prop.key, value=prop.value)
    onnx.save(out, str(dst))
    return len(exclude)


def main(argv=None) -> Path:
    p = argparse.ArgumentParser(
        prog="python -m training.dynamic_int8",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("src", type=Path, help="the shipped graph (weight-only int8)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--per-tensor", action="store_true", help="one weight scale per tensor instead of per channel")
    args = p.parse_args(argv)
    kept = dynamic_int8(args.src, args.out, per_channel=not args.per_tensor)
    print(f"{args.out}: {args.out.stat().st_size / 1e6:.1f} MB, {kept} nodes kept in float32")
    return args.out


if __name__ == "__main__":
    main()
