"""Per-speaker (per-session) normalisation of utterance vectors.

A live call is one session: the pipeline keeps running sums of the session's utterance vectors
and z-scores each new one with the statistics of the session so far, itself included, shrunk
towards a global prior (the training set's mean and standard deviation) as if N0 prior
utterances came first. So the first seconds of a call lean on the prior, and a long call on its
own voice. Here a speaker's utterances in a seeded random order stand for a session.

    mu_k = (N0 m + sum_{j<=k} x_j) / (N0 + k)
    var_k = (N0 (s^2 + m^2) + sum_{j<=k} x_j^2) / (N0 + k) - mu_k^2
    z_k = (x_k - mu_k) / sqrt(var_k)

(`msa_model.codebook.shrunk_moments`, the formula of src/features/codebook.ts). The oracle z-scores
with the speaker's statistics over all their utterances (an upper bound: it looks ahead).
"""

from __future__ import annotations

import zlib

import numpy as np

NORMALISATIONS = ("none", "running", "oracle")


def session_order(speakers: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """Speaker -> indices of their rows in a seeded random order. The order of one speaker depends
    only on the seed, the speaker's name and their rows, not on which other speakers are present."""
    out = {}
    for s in sorted(set(speakers.tolist())):
        idx = np.nonzero(speakers == s)[0]
        rng = np.random.default_rng([seed, zlib.crc32(s.encode())])
        out[s] = idx[rng.permutation(len(idx))]
    return out


def running_normalise_session(x: np.ndarray, prior_mean: np.ndarray, prior_std: np.ndarray, n0: float) -> np.ndarray:
    """x (n, D) one session in order -> z (n, D): row k z-scored with the shrunk moments of rows
    0..k (cumulative sums, so no row sees a later one)."""
    x = np.asarray(x, dtype=np.float64)
    k = np.arange(1, len(x) + 1)[:, None]  # (n, 1)
    s1 = np.cumsum(x, axis=0)  # (n, D)
    s2 = np.cumsum(x * x, axis=0)
    mu = (n0 * prior_mean + s1) / (n0 + k)
    var = (n0 * (prior_std**2 + prior_mean**2) + s2) / (n0 + k) - mu * mu
    return (x - mu) / np.sqrt(np.maximum(var, 1e-12))


def normalise(
    x: np.ndarray,
    speakers: np.ndarray,
    mode: str,
    prior_mean: np.ndarray | None = None,
    prior_std: np.ndarray | None = None,
    n0: float = 16.0,
    seed: int = 0,
) -> np.ndarray:
    """x (N, D) -> (N, D) normalised per speaker.
    mode 'none': unchanged; 'running': running_normalise_session over each speaker's seeded order,
    prior (prior_mean, prior_std) with weight n0 (the caller fits the prior on training rows only);
    'oracle': z-score with the speaker's own statistics over all their rows."""
    x = np.asarray(x, dtype=np.float64)
    if mode == "none":
        return x
    out = np.empty_like(x)
    for idx in session_order(speakers, seed).values():
        if mode == "running":
            out[idx] = running_normalise_session(x[idx], prior_mean, prior_std, n0)
        elif mode == "oracle":
            out[idx] = (x[idx] - x[idx].mean(0)) / (x[idx].std(0) + 1e-9)
        else:
            raise ValueError(f"unknown normalisation {mode!r}")
    return out


def session_positions(speakers: np.ndarray, seed: int = 0) -> np.ndarray:
    """(N,) 1-based position of each row in its speaker's session order (for accuracy by position)."""
    pos = np.zeros(len(speakers), dtype=int)
    for idx in session_order(speakers, seed).values():
        pos[idx] = np.arange(1, len(idx) + 1)
    return pos
