"""The shipped graph rebuilt as a PyTorch model (training/from_onnx.py) gives the graph's scores."""

import pytest

from training.common import REPO_ROOT


def test_node_names_map_to_parameters():
    from training.from_onnx import node_param

    assert node_param("/layer.3/attention/self/query/MatMul") == "encoder.encoder.layer.3.attention.self.query.weight"
    assert node_param("/layer.0/output/dense/MatMul") == "encoder.encoder.layer.0.output.dense.weight"
    assert node_param("/enhancement/project/MatMul") == "enhancement.project.weight"


def test_rebuilt_model_scores_as_the_shipped_graph(data_dir):
    from training.from_onnx import check, rebuild

    manifest = REPO_ROOT / "models" / "manifest.json"
    if not manifest.exists():
        pytest.skip("no shipped model")
    model, m = rebuild(manifest)
    # every tensor was found (rebuild refuses otherwise); the scores agree to float32 summation order
    assert check(model, m, manifest, n=32) < 1e-4
