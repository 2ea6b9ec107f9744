"""Adapting the recogniser (training/whisper/adapt.py, torch_whisper.py, adapt_data.py): the PyTorch
model computes what the served graphs compute, an untouched adapter changes no byte of model.bin,
the float64 merge rounds as Node's install does, the voice path's blocks are never adapted, and the
adaptation voices are never the test set's."""

import hashlib
import json

import numpy as np
import pytest

from training.tests.whisper_fixtures import installed_model
from training.whisper.adapt import adapted, mel_of, parity, write_model
from training.whisper.adapt_data import TRAIN_VOICES, clean
from training.whisper.ct2_reader import read_ct2
from training.whisper.decode import WhisperOnnx
from training.whisper.espeak_mosi import VOICES
from training.whisper.merge import merge_f16
from training.whisper.paths import DATA_DIR
from training.whisper.torch_whisper import Whisper

RAVDESS = DATA_DIR / "ravdess" / "03-01-01-01-01-01-01.flac"


@pytest.fixture(scope="module")
def tiny():
    d = installed_model("tiny.en")
    return d, read_ct2(d / "model.bin")


def test_torch_equals_the_onnx_graphs(tiny):
    d, ct2 = tiny
    if not RAVDESS.exists():
        pytest.skip(f"{RAVDESS} missing")
    diff = parity(Whisper(ct2), WhisperOnnx(d, 2), mel_of(str(RAVDESS))[None])
    assert diff["block2"] < 1e-4 and diff["hidden"] < 1e-3 and diff["logits"] < 1e-3, diff
    assert diff["same_argmax"]


def test_untouched_adapters_change_nothing(tiny, tmp_path):
    d, ct2 = tiny
    model = Whisper(ct2, rank=4, alpha=8.0, adapt=adapted)  # B = 0
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "model.bin.verified").write_text("an install's marker\n")
    write_model(model, d, tmp_path / "m")
    assert not (tmp_path / "m" / "model.bin.verified").exists(), "other weights than an install's: its marker goes"
    tensors = json.loads((tmp_path / "m" / "adapter.json").read_text())["tensors"]
    got, base = (tmp_path / "m" / "model.bin").read_bytes(), (d / "model.bin").read_bytes()
    assert len(got) == len(base)
    outside = np.ones(len(base), bool)
    for t in tensors:
        n = 2 * t["shape"][0] * t["shape"][1]
        outside[t["offset"] : t["offset"] + n] = False
        # equal values (a stored -0.0 comes back +0.0: W + 0, in Python and Node alike)
        np.testing.assert_array_equal(
            np.frombuffer(got, np.float16, n // 2, t["offset"]), np.frombuffer(base, np.float16, n // 2, t["offset"])
        )
    assert np.array_equal(np.frombuffer(got, np.uint8)[outside], np.frombuffer(base, np.uint8)[outside])
    names = {t["name"] for t in tensors}
    assert "decoder/layer_0/attention/linear_1/weight" in names
    assert "encoder/layer_2/ffn/linear_0/weight" in names
    assert not any(n.startswith(("encoder/layer_0/", "encoder/layer_1/")) for n in names), "the voice path's blocks"
    assert (tmp_path / "m" / "adapter.bin").stat().st_size == sum(
        4 * t["rank"] * (t["shape"][0] + t["shape"][1]) for t in tensors
    )


def test_merge_rounds_to_float16_in_float64():
    w = np.array([[0.5, -1.0, 2.0], [0.25, 0.0, -0.125]], np.float16)
    a = np.array([[1.0, 2.0, -1.0]], np.float32)
    b = np.array([[0.5], [-2.0]], np.float32)
    np.testing.assert_array_equal(merge_f16(w, a, b, 2.0), np.array([[1.5, 1, 1], [-3.75, -8, 3.875]], np.float16))
    # 1 + 2^-11 is a tie between two float16 values: to even (1.0), as Node's numberToHalf
    tie = merge_f16(
        np.array([[1.0]], np.float16), np.array([[2.0**-11]], np.float32), np.array([[1.0]], np.float32), 1.0
    )
    assert tie.view(np.uint16)[0, 0] == 0x3C00


def test_adaptation_voices_are_not_the_test_sets():
    assert not set(TRAIN_VOICES) & set(VOICES)
    assert len(TRAIN_VOICES) == 72
    assert clean("(uhh) The Jean Harlow character (uhh) (stutter) seduces") == "The Jean Harlow character seduces"
    assert clean("(umm)") == ""


def test_fetch_makes_the_committed_adapted_model(tiny, tmp_path):
    """fetch.install_adapted: tiny.en-voices from the installed tiny.en and the committed adapters,
    the bytes Node's install writes (the sha256 in models/whisper/tiny.en-voices/whisper.json),
    with the base's graphs beside it, so the Python tools (measure.py, transcribe.py) can load it."""
    from training.whisper.fetch import adapted_spec, install_adapted, known_models

    assert "tiny.en-voices" in known_models() and adapted_spec("tiny.en") is None
    out = install_adapted("tiny.en-voices", tmp_path / "voices")
    spec = adapted_spec("tiny.en-voices")
    assert hashlib.sha256((out / "model.bin").read_bytes()).hexdigest() == spec["model_bin"]["sha256"]
    assert (out / "model.bin").read_bytes() != (tiny[0] / "model.bin").read_bytes()
    assert json.loads((out / "whisper.json").read_text())["name"] == "tiny.en-voices"
    WhisperOnnx(out, 1)  # the base's graphs load over the merged weights
