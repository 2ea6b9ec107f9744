"""Codebooks: k-means centroids over standardised vectors of one modality, which turn non-verbal
feature vectors into indices (CENet's quantisation). One format, the versioned JSON artifact of
`msa codebook fit` (src/features/codebook.ts `codebookSchema`), one file per modality:
`{version: 1, modality, k, dim, featureNames, mean, std, centroids, fittedOn, gate?, sequenceNorm?}`.

* `JsonCodebook` reads one and quantises exactly as the TypeScript `Quantiser`: z = (x - mean) / std
  (after the optional per-sequence normalisation), nearest centroid by squared Euclidean distance,
  and the optional gate.
* `fit_codebook` / `save_codebook` fit one in Python (scikit-learn k-means) and write it in that
  schema, e.g. for MMSA feature pickles, whose features are not the pipeline's.
* `load_codebook_dir` reads a folder holding `acoustic.json` and `visual.json` (as `models/codebooks/`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import numpy as np

CODEBOOK_VERSION = 1
MODALITIES = ("acoustic", "visual")


def shrunk_moments(s1, s2, n: int, mean, std, prior: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of n vectors (sums s1, squared sums s2) shrunk towards
    (mean, std) as if `prior` vectors with those statistics came first; as
    src/features/codebook.ts `normaliseSequence` (same operations, same order)."""
    mu = (prior * mean + s1) / (prior + n)
    sd = np.sqrt(np.maximum((prior * (std * std + mean * mean) + s2) / (prior + n) - mu * mu, 1e-12))
    return mu, sd


class JsonCodebook:
    """The `msa codebook fit` artifact: quantises raw vectors exactly as the TypeScript Quantiser."""

    def __init__(self, path: Path) -> None:
        d = json.loads(Path(path).read_text())
        if d.get("version") != CODEBOOK_VERSION:
            raise ValueError(f"{path}: not a version {CODEBOOK_VERSION} codebook")
        self.path = Path(path)
        self.modality: str = d["modality"]
        self.k: int = int(d["k"])
        self.feature_names: list[str] = list(d["featureNames"])
        self.mean = np.asarray(d["mean"], dtype=np.float64)
        self.std = np.asarray(d["std"], dtype=np.float64)
        self.centroids = np.asarray(d["centroids"], dtype=np.float64)
        if self.centroids.shape != (self.k, len(self.feature_names)):
            raise ValueError(
                f"{path}: centroids {self.centroids.shape} disagree with k={self.k}, dim={len(self.feature_names)}"
            )
        gate = d.get("gate")
        self.max_median_distance: float | None = float(gate["maxMedianDistance"]) if gate else None
        norm = d.get("sequenceNorm")
        self.sequence_norm: tuple[float, np.ndarray, np.ndarray] | None = (
            (
                float(norm["priorVectors"]),
                np.asarray(norm["mean"], dtype=np.float64),
                np.asarray(norm["std"], dtype=np.float64),
            )
            if norm
            else None
        )

    def normalise(self, vectors) -> np.ndarray:
        """A sequence (L, d) z-scored with its own statistics shrunk towards the codebook's prior, as
        src/features/codebook.ts `normaliseSequence` (same operations, same order); unchanged when the
        codebook has no sequenceNorm."""
        x = np.asarray(vectors, dtype=np.float64)
        if self.sequence_norm is None or len(x) == 0:
            return x
        n0, m, s = self.sequence_norm
        n = len(x)
        s1 = np.zeros(x.shape[-1])
        s2 = np.zeros(x.shape[-1])
        for v in x:  # row by row, as the TS loop (numpy's pairwise sums could differ in the last bit)
            s1 += v
            s2 += v * v
        mu, sd = shrunk_moments(s1, s2, n, m, s, n0)
        return (x - mu) / sd

    def _squared_distances(self, vectors) -> np.ndarray:
        """(L, k) squared distances of a raw sequence (L, d) to every centroid, in standardised space
        (after the codebook's sequence normalisation, if it has one)."""
        x = np.asarray(vectors, dtype=np.float64)
        if x.shape[-1] != self.centroids.shape[-1]:
            raise ValueError(
                f"{self.modality} vectors have {x.shape[-1]} features, the codebook expects {self.centroids.shape[-1]}"
            )
        z = (self.normalise(x) - self.mean) / self.std
        return ((z[:, None, :] - self.centroids[None, :, :]) ** 2).sum(-1)

    def distances(self, vectors) -> np.ndarray:
        """Euclidean distance of each raw vector to its nearest centroid, in standardised space."""
        return np.sqrt(self._squared_distances(vectors).min(-1))

    def quantise_gated(self, vectors) -> tuple[list[int], bool]:
        """Ids of a sequence, or none when the gate finds it unlike the training data (median
        nearest-centroid distance above maxMedianDistance), as src/features/codebook.ts."""
        if len(vectors) == 0:
            return [], False
        d2 = self._squared_distances(vectors)
        if self.max_median_distance is not None and float(np.median(np.sqrt(d2.min(-1)))) > self.max_median_distance:
            return [], True
        return d2.argmin(-1).astype(int).tolist(), False

    def quantise(self, vectors) -> list[int]:
        """Raw vectors (L, d) -> nearest-centroid ids (float64, first minimum wins, as the TS loop)."""
        if len(vectors) == 0:
            return []
        return self._squared_distances(vectors).argmin(-1).astype(int).tolist()


class Codebooks(NamedTuple):
    acoustic: JsonCodebook
    visual: JsonCodebook


def load_codebook_dir(folder: Path) -> Codebooks:
    """`acoustic.json` and `visual.json` of a folder (as `msa codebook fit` / `save_codebook` write them)."""
    codebooks = Codebooks(*(JsonCodebook(Path(folder) / f"{m}.json") for m in MODALITIES))
    for m, cb in zip(MODALITIES, codebooks, strict=True):
        if cb.modality != m:
            raise ValueError(f"{cb.path} is a {cb.modality} codebook, not a {m} one")
    return codebooks


def fit_codebook(
    vectors,
    modality: str,
    k: int = 32,
    *,
    feature_names: list[str] | None = None,
    seed: int = 0,
    sources: list[str] | tuple[str, ...] = (),
) -> dict:
    """k-means (scikit-learn, 3 initialisations) on standardised vectors (N, d) -> the codebook JSON
    object (`save_codebook` writes it). Feature names default to `<modality>_<j>`; centroids are
    kept to 7 significant digits, as `msa codebook fit`."""
    from sklearn.cluster import KMeans

    if modality not in MODALITIES:
        raise ValueError(f"modality {modality!r}: expected one of {MODALITIES}")
    x = np.asarray(vectors, dtype=np.float64)
    if x.ndim != 2 or len(x) < k:
        raise ValueError(f"cannot fit a {modality} codebook with k={k} on {len(x)} vectors of shape {x.shape}")
    names = list(feature_names) if feature_names is not None else [f"{modality}_{j}" for j in range(x.shape[1])]
    if len(names) != x.shape[1]:
        raise ValueError(f"{len(names)} feature names for {x.shape[1]} features")
    mean = x.mean(0)
    std = x.std(0) + 1e-6
    km = KMeans(n_clusters=k, n_init=3, random_state=seed).fit((x - mean) / std)
    return {
        "version": CODEBOOK_VERSION,
        "modality": modality,
        "k": int(k),
        "dim": len(names),
        "featureNames": names,
        "mean": mean.tolist(),
        "std": std.tolist(),
        "centroids": [[float(f"{c:.7g}") for c in row] for row in km.cluster_centers_],
        "fittedOn": {
            "vectors": len(x),
            "sources": list(sources),
            "seed": seed,
            "iterations": int(km.n_iter_),
            "inertia": float(km.inertia_),
            "createdAt": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        },
    }


def save_codebook(path: Path, codebook: dict) -> None:
    """Writes a codebook JSON object as `msa codebook fit` does (indent 1, final newline)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(codebook, indent=1) + "\n")
