"""Merging low-rank adapters into a CTranslate2 model.bin, as the adapted Whisper models are made
(`tiny.en-voices`: training/whisper/adapt.py trains and exports the adapters, fetch.py and Node's
install merge them). Numpy only, so installing a model needs no torch.
"""

from __future__ import annotations

import numpy as np


def merge_f16(weight: np.ndarray, a: np.ndarray, b: np.ndarray, scale: float) -> np.ndarray:
    """weight (float16 [out, in]) + scale * b @ a (float32 [out, r], [r, in]), rounded to float16.
    Float64, one rank at a time, each product and sum rounded on its own: the order Node's install
    repeats (src/speech/whisper/adapter.ts), so both write the same bytes."""
    acc = np.zeros(weight.shape, np.float64)
    for r in range(a.shape[0]):
        acc += b[:, r, None].astype(np.float64) * a[None, r, :].astype(np.float64)
    return (weight.astype(np.float64) + scale * acc).astype(np.float16)


def merge_into(weights: bytearray, blob: bytes, tensors: list[dict], factor: float = 1.0) -> None:
    """Every adapter of `tensors` (adapter.json's) from `blob` (adapter.bin) merged into `weights`
    (a base model.bin's bytes, changed in place), its scale multiplied by `factor` (and updated)."""
    for t in tensors:
        t["scale"] *= factor
        (rows, cols), rank, n = t["shape"], t["rank"], 2 * t["shape"][0] * t["shape"][1]
        a = np.frombuffer(blob, "<f4", rank * cols, t["a"]).reshape(rank, cols)
        b = np.frombuffer(blob, "<f4", rows * rank, t["b"]).reshape(rows, rank)
        w = np.frombuffer(bytes(weights[t["offset"] : t["offset"] + n]), np.float16).reshape(rows, cols)
        weights[t["offset"] : t["offset"] + n] = merge_f16(w, a, b, t["scale"]).tobytes()
