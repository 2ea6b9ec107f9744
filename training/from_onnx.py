"""A PyTorch checkpoint rebuilt from a served graph, to fine-tune a shipped model whose training
checkpoint is gone (`training/runs/` is not in git).

    python -m training.from_onnx [--manifest models/manifest.json] [--out training/runs/served-0.3.0/best.pt]

The weight-only int8 graph (`weight_quant.py`) keeps every small tensor under its PyTorch name;
the int8 tables (`<name>_q` times `<name>_scale`) are dequantised; the MatMul weights that
`torch.onnx.export` renamed (`onnx::MatMul_N`) are found by the name of the node that reads them
(`/layer.3/attention/self/query/MatMul` -> `encoder.encoder.layer.3.attention.self.query.weight`)
and transposed back. Every tensor of the model must be found, and the rebuilt model must give the
graph's scores on real MOSI dev rows (printed; the int8 rounding itself is kept, so they agree to
float32 summation order).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from .common import REPO_ROOT

DEFAULT_OUT = REPO_ROOT / "training" / "runs" / "served-0.3.0" / "best.pt"


def node_param(node_name: str) -> str:
    """'/layer.3/attention/self/query/MatMul' -> 'encoder.encoder.layer.3.attention.self.query.weight';
    '/enhancement/project/MatMul' -> 'enhancement.project.weight'."""
    parts = [p for p in node_name.split("/") if p][:-1]
    prefix = "encoder.encoder." if parts[0].startswith("layer.") else ""
    return prefix + ".".join(parts) + ".weight"


def served_state(onnx_path: Path) -> dict[str, np.ndarray]:
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(onnx_path))
    g = model.graph
    arrays = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    state: dict[str, np.ndarray] = {}
    for name, a in arrays.items():
        if name.endswith("_q"):
            base = name[: -len("_q")]
            w = a.astype(np.float32) * arrays[base + "_scale"]
            if base.startswith("onnx::"):
                continue  # found below through the node that reads it
            state[base] = w
        elif not name.endswith("_scale") and not name.startswith("onnx::"):
            state[name] = a.astype(np.float32) if a.dtype == np.float32 else a
    for node in g.node:
        if node.op_type != "MatMul":
            continue
        w = node.input[1]
        if w.startswith("onnx::") and w.endswith("_dq"):
            base = w[: -len("_dq")]
            state[node_param(node.name)] = (arrays[base + "_q"].astype(np.float32) * arrays[base + "_scale"]).T.copy()
    return state


def rebuild(manifest_path: Path):
    import torch

    from .msa_model.config import model_config_from_dict
    from .msa_model.model import MSAModel

    manifest = json.loads(manifest_path.read_text())
    cfg = model_config_from_dict(manifest["training"]["modelConfig"])
    model = MSAModel(cfg)
    own = model.state_dict()
    state = served_state(manifest_path.parent / manifest["file"])
    missing = [k for k in own if k not in state and not k.endswith("position_ids")]
    extra = [k for k in state if k not in own]
    if missing or extra:
        raise SystemExit(f"the graph does not fit the model: missing {missing}, unexpected {extra}")
    for k, v in state.items():
        if tuple(own[k].shape) != v.shape:
            raise SystemExit(f"{k}: graph {v.shape}, model {tuple(own[k].shape)}")
    model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}, strict=False)
    model.eval()
    return model, manifest


def check(model, manifest: dict, manifest_path: Path, n: int = 64) -> float:
    """Largest |score difference| between the rebuilt model and the graph on `n` MOSI dev rows."""
    import onnxruntime as ort
    import torch

    from .common import DEFAULT_DATA_DIR
    from .msa_model.data import load_mosi_csv
    from .msa_model.encoder import load_tokenizer

    rows = [s for s in load_mosi_csv(DEFAULT_DATA_DIR / "mosi" / "label.csv") if s.split == "dev"][:n]
    tok = load_tokenizer(model.config.text_encoder)
    enc = tok(
        [s.text for s in rows],
        truncation=True,
        max_length=model.config.max_text_tokens,
        padding=True,
        return_tensors="np",
    )
    b = len(rows)
    feeds = {
        "input_ids": enc["input_ids"].astype(np.int64),
        "attention_mask": enc["attention_mask"].astype(np.int64),
        "acoustic_ids": np.full((b, 1), model.config.acoustic_pad, np.int64),
        "acoustic_mask": np.zeros((b, 1), np.int64),
        "visual_ids": np.full((b, 1), model.config.visual_pad, np.int64),
        "visual_mask": np.zeros((b, 1), np.int64),
    }
    sess = ort.InferenceSession(str(manifest_path.parent / manifest["file"]), providers=["CPUExecutionProvider"])
    want = sess.run(["score"], feeds)[0]
    with torch.no_grad():
        got = model(**{k: torch.from_numpy(v) for k, v in feeds.items()})[0].numpy()
    return float(np.abs(got - want).max())


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--manifest", type=Path, default=REPO_ROOT / "models" / "manifest.json")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = p.parse_args(argv)
    from .common import save_checkpoint

    model, manifest = rebuild(args.manifest)
    diff = check(model, manifest, args.manifest)
    print(
        f"rebuilt {manifest['name']} {manifest['version']}: max |score - graph score| on 64 MOSI dev rows = {diff:.2e}"
    )
    if diff > 1e-3:
        raise SystemExit("the rebuilt model does not give the graph's scores")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(args.out, model, {"source": str(args.manifest), "version": manifest["version"]})
    print(args.out)


if __name__ == "__main__":
    main()
