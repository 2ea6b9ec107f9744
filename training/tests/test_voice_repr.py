"""The voice study's building blocks (training/experiments): the per-session running normalisation
never looks ahead, and the functionals find a known F0 on a synthetic voice."""

from __future__ import annotations

import numpy as np
import pytest

from training.experiments.functionals import FEATURE_NAMES, SR, functionals, low_level
from training.experiments.normalise import normalise, running_normalise_session, session_order
from training.msa_model.codebook import shrunk_moments


def test_running_normalisation_never_uses_later_utterances():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 5)) * 3 + 1
    m, s = np.zeros(5), np.ones(5)
    z = running_normalise_session(x, m, s, n0=4)
    for k in range(len(x)):
        changed = x.copy()
        changed[k + 1 :] = rng.normal(size=changed[k + 1 :].shape) * 100  # any future
        assert np.allclose(running_normalise_session(changed, m, s, n0=4)[: k + 1], z[: k + 1])


def test_running_normalisation_matches_the_pipeline_formula():
    """Row k = (x_k - mu) / sd with nonverbal.shrunk_moments over rows 0..k (the TS formula)."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(7, 3))
    m, s = np.array([0.5, -1.0, 2.0]), np.array([1.0, 2.0, 0.5])
    z = running_normalise_session(x, m, s, n0=3)
    for k in range(len(x)):
        mu, sd = shrunk_moments(x[: k + 1].sum(0), (x[: k + 1] ** 2).sum(0), k + 1, m, s, 3)
        assert np.allclose(z[k], (x[k] - mu) / sd)


def test_first_utterance_leans_on_the_prior():
    x = np.array([[2.0]])
    z = running_normalise_session(x, np.array([0.0]), np.array([1.0]), n0=1000)
    assert abs(z[0, 0] - 2.0) < 0.01  # almost its z-score under the prior
    z0 = running_normalise_session(x, np.array([0.0]), np.array([1.0]), n0=0)
    assert z0[0, 0] == 0.0  # no prior: a one-utterance session is its own mean


def test_session_order_is_per_speaker_and_stable():
    speakers = np.array(["a", "b", "a", "b", "a", "c"])
    o1 = session_order(speakers, seed=3)
    o2 = session_order(speakers[:5], seed=3)  # speaker c gone: a and b keep their order
    assert sorted(o1) == ["a", "b", "c"]
    assert set(o1["a"].tolist()) == {0, 2, 4}
    assert np.array_equal(o1["a"], o2["a"]) and np.array_equal(o1["b"], o2["b"])


def test_normalise_by_speaker_in_session_order_no_look_ahead():
    """Through `normalise`: a speaker's utterance depends only on that speaker's utterances that
    come before it in the session order, and not at all on other speakers."""
    rng = np.random.default_rng(2)
    speakers = np.array(["a"] * 6 + ["b"] * 6)
    x = rng.normal(size=(12, 4))
    m, s = np.zeros(4), np.ones(4)
    z = normalise(x, speakers, "running", m, s, n0=2, seed=0)
    order = session_order(speakers, seed=0)["a"]
    for k, i in enumerate(order):
        changed = x.copy()
        changed[order[k + 1 :]] += 50.0
        changed[speakers == "b"] -= 30.0
        assert np.allclose(normalise(changed, speakers, "running", m, s, n0=2, seed=0)[i], z[i])


def synthetic_voice(f0: float, seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    """A harmonic 'vowel' (7 harmonics, amplitude 0.6^k) with light noise and 0.2 s of silence
    either side."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    v = 0.3 * sum(0.6**k * np.sin(2 * np.pi * f0 * k * t) for k in range(1, 8))
    x = np.concatenate([np.zeros(int(0.2 * SR)), v, np.zeros(int(0.2 * SR))])
    return x + 0.002 * rng.standard_normal(len(x))


@pytest.mark.parametrize("f0", [95.0, 180.0, 310.0])
def test_functionals_find_known_f0(f0):
    lld = low_level(synthetic_voice(f0))
    voiced = lld["voiced"]
    assert 0.6 < voiced.mean() < 0.9  # the tone (1 s of 1.4 s), not the silence
    est = 27.5 * 2 ** (np.nanmedian(lld["f0_semitone"]) / 12)
    assert abs(est - f0) / f0 < 0.01
    assert np.nanmedian(lld["jitter"]) < 0.005  # a perfectly periodic tone: (almost) no jitter
    assert np.nanmedian(lld["shimmer"]) < 0.3  # ... nor shimmer (dB)
    assert np.nanmedian(lld["hnr"]) > 20.0


def test_functionals_vector_and_silence():
    f = functionals(synthetic_voice(150.0))
    assert f.shape == (len(FEATURE_NAMES),)
    named = dict(zip(FEATURE_NAMES, f, strict=True))
    assert abs(named["f0_semitone_p50"] - 12 * np.log2(150 / 27.5)) < 0.2
    assert named["voiced_segments_per_s"] == pytest.approx(1 / 1.4, rel=0.05)  # one voiced stretch in 1.4 s
    noise = functionals(0.05 * np.random.default_rng(0).standard_normal(SR))
    assert np.isnan(dict(zip(FEATURE_NAMES, noise, strict=True))["f0_semitone_mean"])  # no voicing in noise
