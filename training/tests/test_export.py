"""ONNX export of a small model: contract names, dynamic axes, metadata, parity with PyTorch."""

import numpy as np
import onnx
import pytest

from training.export import export_onnx, parity, parity_batches, quantise_int8
from training.onnx_io import INPUT_NAMES, OUTPUT_NAMES, ort_run, ort_session

from .conftest import make_batch, run


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    import torch

    from training.msa_model.config import ModelConfig
    from training.msa_model.model import MSAModel

    torch.manual_seed(0)
    cfg = ModelConfig(
        tiny_encoder=True,
        acoustic_codebook_size=8,
        visual_codebook_size=6,
        nonverbal_dim=16,
        memory_size=10,
        memory_dim=16,
        head_hidden=16,
    )
    model = MSAModel(cfg).eval()
    torch.nn.init.normal_(model.enhancement.project.weight, std=0.5)
    path = tmp_path_factory.mktemp("onnx") / "m.onnx"
    export_onnx(model, path, "9.9.9")
    return model, cfg, path


def test_contract_names_types_and_metadata(exported):
    _, _, path = exported
    m = onnx.load(str(path))
    assert [i.name for i in m.graph.input] == INPUT_NAMES
    assert [o.name for o in m.graph.output] == OUTPUT_NAMES
    assert all(i.type.tensor_type.elem_type == onnx.TensorProto.INT64 for i in m.graph.input)
    assert all(o.type.tensor_type.elem_type == onnx.TensorProto.FLOAT for o in m.graph.output)
    assert m.opset_import[0].version == 17
    meta = {p.key: p.value for p in m.metadata_props}
    assert meta["msa.kind"] == "sentiment" and meta["msa.version"] == "9.9.9"


def test_parity_with_pytorch_on_dynamic_shapes(exported):
    model, cfg, path = exported
    result = parity(model, path, parity_batches(cfg))
    assert result["score_max_abs_diff"] < 1e-4 and result["contributions_max_abs_diff"] < 1e-4
    sess = ort_session(path)
    for b, t, la, lv in ((1, 2, 1, 1), (5, 17, 3, 8)):
        batch = make_batch(cfg, b=max(b, 3), t=t + 5, la=la + 2, lv=lv + 1, seed=b)
        s, c = run(model, batch)
        os_, oc = ort_run(sess, batch)
        np.testing.assert_allclose(os_, s.numpy(), atol=1e-4)
        np.testing.assert_allclose(oc, c.numpy(), atol=1e-4)


def test_absent_modalities_in_onnx(exported):
    model, cfg, path = exported
    batch = make_batch(cfg, b=3)
    batch["acoustic_ids"] = np.full((3, 1), cfg.acoustic_pad)
    batch["acoustic_mask"] = np.zeros((3, 1), dtype=np.int64)
    batch["visual_ids"] = np.full((3, 1), cfg.visual_pad)
    batch["visual_mask"] = np.zeros((3, 1), dtype=np.int64)
    s, c = ort_run(ort_session(path), batch)
    assert np.isfinite(s).all() and np.all(c[:, 1:] == 0) and not np.signbit(c[:, 1:]).any()
    np.testing.assert_allclose(c.sum(-1), s, atol=1e-5)


def test_int8_quantisation_runs(exported, tmp_path):
    model, cfg, path = exported
    q = tmp_path / "m.int8.onnx"
    quantise_int8(path, q, "9.9.9")
    result = parity(model, q, parity_batches(cfg))
    assert result["score_max_abs_diff"] < 0.5  # int8: close, not exact
    assert {p.key: p.value for p in onnx.load(str(q)).metadata_props}["msa.kind"] == "sentiment"


def test_weight_only_int8_is_batch_independent(exported, tmp_path):
    from training.export import batch_independence, set_metadata
    from training.weight_quant import quantise_weights_int8

    model, cfg, path = exported
    q = tmp_path / "m.int8-weights.onnx"
    stats = quantise_weights_int8(path, q, min_elements=64)
    set_metadata(q, "9.9.9")
    assert stats["tensors"] > 0
    m = onnx.load(str(q))
    assert any(n.op_type == "Cast" for n in m.graph.node) and not any(
        n.op_type == "DequantizeLinear" for n in m.graph.node
    )
    assert any(i.data_type == onnx.TensorProto.INT8 for i in m.graph.initializer)
    assert parity(model, q, parity_batches(cfg))["score_max_abs_diff"] < 0.2
    assert batch_independence(q, parity_batches(cfg))["max_abs_diff_alone_vs_batch"] < 1e-5
    assert batch_independence(path, parity_batches(cfg))["max_abs_diff_alone_vs_batch"] < 1e-5


def test_split_manifests_serves_words_only_by_default():
    """With codebooks, export writes a default manifest naming no codebook file (the pipeline
    then feeds words only) and a multimodal one naming them; the shipped pair agrees."""
    import json
    from pathlib import Path

    from training.export import split_manifests

    manifest = {
        "name": "m",
        "version": "x",
        "codebooks": {
            "acoustic": {"file": "codebooks/acoustic.json", "k": 32, "dim": 36, "fittedOn": {}},
            "visual": {"file": "codebooks/visual.json", "k": 32, "dim": 20, "fittedOn": {}},
            "note": "fit on train frames",
        },
    }
    default, multimodal = split_manifests(manifest)
    assert all("file" not in default["codebooks"][m] for m in ("acoustic", "visual"))
    assert default["codebooks"]["acoustic"]["fileForMultimodal"] == "codebooks/acoustic.json"
    assert "words only" in default["codebooks"]["note"] and default["variant"].startswith("default")
    assert multimodal["codebooks"] == manifest["codebooks"] and multimodal["variant"].startswith("multimodal")
    assert (default["name"], multimodal["name"]) == ("m", "m-multimodal")

    models = Path(__file__).resolve().parents[2] / "models"
    shipped = json.loads((models / "manifest.json").read_text())
    shipped_mm = json.loads((models / "manifest.multimodal.json").read_text())
    assert all("file" not in shipped["codebooks"][m] for m in ("acoustic", "visual"))
    assert all((models / shipped_mm["codebooks"][m]["file"]).exists() for m in ("acoustic", "visual"))
    assert shipped["file"] == shipped_mm["file"] and shipped["version"] == shipped_mm["version"]
    assert shipped_mm["name"] == shipped["name"] + "-multimodal"
