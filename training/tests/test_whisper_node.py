"""onnxruntime-node loads the graphs (external data in model.bin at the CT2 offsets, zero-length
initial cache) and greedy decoding in JavaScript gives the Python tokens."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from training.tests.whisper_fixtures import installed_model
from training.whisper.audio import load_audio
from training.whisper.decode import WhisperOnnx
from training.whisper.mel import log_mel, pad_features
from training.whisper.paths import DATA_DIR, REPO_ROOT


def ort_node_dir() -> Path:
    for d in (os.environ.get("MSA_ORT_NODE"), REPO_ROOT / "node_modules" / "onnxruntime-node"):
        if d and (Path(d) / "package.json").exists():
            return Path(d)
    pytest.skip("onnxruntime-node not found: npm install, or set MSA_ORT_NODE=/path/to/node_modules/onnxruntime-node")


def test_node_greedy_equals_python(tmp_path):
    if not shutil.which("node"):
        pytest.skip("node not on PATH")
    ort_dir, d = ort_node_dir(), installed_model("tiny.en")
    sample = DATA_DIR / "samples" / "03bSnISJMiM_1.wav"
    if not sample.exists():
        pytest.skip(f"{sample} missing")
    mel = pad_features(log_mel(load_audio(sample)), 400)
    mel.tofile(tmp_path / "mel.f32")
    proc = subprocess.run(
        [
            "node",
            str(REPO_ROOT / "training" / "whisper" / "node_check.mjs"),
            str(ort_dir),
            str(d),
            str(tmp_path / "mel.f32"),
            "400",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    model = WhisperOnnx(d, threads=1)
    cross_k, cross_v, hidden = model.encode(mel[None])
    assert got["tokens"] == model.greedy(cross_k, cross_v)[0]
    np.testing.assert_allclose(got["hidden_0_0_first8"], hidden[0, 0, :8], atol=1e-4)
