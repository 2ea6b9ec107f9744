"""k-means codebooks that turn non-verbal feature frames into indices (CENet's quantisation).

Stored as one `.npz` with, per modality m in (acoustic, visual): `{m}_centroids` (K, d) in
standardised units, `{m}_mean` (d,), `{m}_std` (d,).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

MODALITIES = ("acoustic", "visual")


@dataclass
class Codebook:
    centroids: np.ndarray  # (K, d)
    mean: np.ndarray  # (d,)
    std: np.ndarray  # (d,)

    def quantise(self, frames: np.ndarray) -> list[int]:
        """frames (L, d) -> L nearest-centroid indices."""
        if len(frames) == 0:
            return []
        if frames.shape[-1] != self.centroids.shape[-1]:
            raise ValueError(f"frames have {frames.shape[-1]} features, codebook expects {self.centroids.shape[-1]}")
        z = (frames - self.mean) / self.std  # (L, d)
        d2 = ((z[:, None, :] - self.centroids[None, :, :]) ** 2).sum(-1)  # (L, K)
        return d2.argmin(-1).astype(int).tolist()


@dataclass
class Codebooks:
    acoustic: Codebook
    visual: Codebook

    def quantise(self, modality: str, frames: np.ndarray) -> list[int]:
        return getattr(self, modality).quantise(frames)

    @staticmethod
    def load(path: Path) -> "Codebooks":
        z = np.load(path)
        return Codebooks(*(Codebook(z[f"{m}_centroids"], z[f"{m}_mean"], z[f"{m}_std"]) for m in MODALITIES))

    def save(self, path: Path) -> None:
        arrays = {}
        for m in MODALITIES:
            cb = getattr(self, m)
            arrays.update({f"{m}_centroids": cb.centroids, f"{m}_mean": cb.mean, f"{m}_std": cb.std})
        np.savez(path, **arrays)


def fit_codebook(frames: np.ndarray, k: int, seed: int = 0) -> Codebook:
    """k-means on standardised frames (N, d)."""
    from sklearn.cluster import KMeans

    mean = frames.mean(0)
    std = frames.std(0) + 1e-6
    km = KMeans(n_clusters=k, n_init=3, random_state=seed).fit((frames - mean) / std)
    return Codebook(km.cluster_centers_.astype(np.float32), mean.astype(np.float32), std.astype(np.float32))
