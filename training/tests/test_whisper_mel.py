"""Log-mel: bit-exact with faster-whisper 1.2.1's FeatureExtractor (+ its content-frame cut), and the
committed test vectors still describe the code."""

import json

import numpy as np
import pytest

from training.whisper.mel import log10_mel, log_mel, mel_filters, pad_features, trimmed_frames
from training.whisper.vectors import VECTORS, mel_vectors


@pytest.mark.parametrize("n", [1, 159, 160, 161, 4800, 56789])
def test_log_mel_equals_faster_whisper(n):
    fe = pytest.importorskip("faster_whisper.feature_extractor").FeatureExtractor()
    audio = (np.random.default_rng(n).standard_normal(n) * 0.1).astype(np.float32)
    want = fe(audio)[:, :-1]  # faster-whisper transcribes content_frames = shape[-1] - 1
    got = log_mel(audio)
    assert got.shape == want.shape == (80, n // 160)
    np.testing.assert_array_equal(got, want)


def test_filters_equal_faster_whisper_and_are_slaney():
    fe = pytest.importorskip("faster_whisper.feature_extractor").FeatureExtractor()
    np.testing.assert_array_equal(mel_filters(), fe.mel_filters)
    assert mel_filters().shape == (80, 201)


def test_dynamic_range_max_is_over_all_frames_before_the_cut():
    # A loud click in the last 160 samples only reaches the dropped frame, yet sets the range.
    audio = np.zeros(1600, np.float32)
    audio[1500:] = 0.9
    full = log10_mel(audio)
    assert full.shape[1] == log_mel(audio).shape[1] + 1
    np.testing.assert_allclose(log_mel(audio).min(), (full.max() - 8 + 4) / 4, rtol=1e-6)


def test_trimmed_frames_and_padding():
    assert [trimmed_frames(n) for n in (1, 330, 400, 401, 5000)] == [100, 400, 400, 500, 3000]
    assert trimmed_frames(330, 100, 50) == 400 and trimmed_frames(351, 100, 50) == 500
    with pytest.raises(ValueError, match="even"):
        trimmed_frames(10, 25)
    x = np.ones((80, 5), np.float32)
    assert pad_features(x, 8)[:, 5:].sum() == 0 and pad_features(x, 3).shape == (80, 3)


def test_committed_mel_vectors_match_the_code():
    if not VECTORS.exists():
        pytest.skip(f"{VECTORS} not built (python -m training.whisper.vectors)")
    committed = json.loads(VECTORS.read_text())["mel"]
    fresh = mel_vectors()
    assert committed["signal_int16"] == fresh["signal_int16"]
    np.testing.assert_allclose(committed["features"], fresh["features"], atol=1e-6)
    assert committed["log10_max_over_all_frames"] == pytest.approx(fresh["log10_max_over_all_frames"], abs=1e-6)


def test_mode_strings():
    from training.whisper.transcribe import Mode

    assert Mode.parse("trim") == Mode(True, 100, 50, 4) == Mode.parse("trim:100:50+guard4")
    assert str(Mode.parse("30s+guard4")) == "30s+guard4" and not Mode.parse("30s").trim
    with pytest.raises(ValueError, match="trim:1"):
        Mode.parse("trim:1")
