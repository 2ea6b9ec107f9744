"""Utterance-level representations of every corpus, cached as npz under the study's cache folder.

Representations (`REPRESENTATIONS`):
  functionals          (N, 92)        eGeMAPS-style functionals (functionals.py)
  whisper-<model>      (N, L, 2 d)    per encoder layer l = 1..L, mean then std over the encoder
                                      positions that cover the utterance; "-pad30" suffix: the
                                      log-mel padded to 30 s first (as faster-whisper decodes),
                                      else the encoder runs on the utterance's length only (as the
                                      dynamic-length ONNX encoder of the product will)
Each cache file holds `ids` (aligned with corpora.list_corpus order), `X`, `seconds` (audio
length) and `extract_s` (wall time of the extraction, for the compute budget).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .corpora import list_corpus, load_audio

WHISPER_MODELS = ("tiny.en", "base")
REPRESENTATIONS = ("functionals",) + tuple(f"whisper-{m}{p}" for m in WHISPER_MODELS for p in ("", "-pad30"))


def cache_path(cache_dir: Path, rep: str, corpus: str) -> Path:
    return cache_dir / "features" / rep / f"{corpus}.npz"


def _whisper_extractor(rep: str, models_dir: Path):
    """'whisper-tiny.en-pad30' -> a function audio -> (L, 2d) pooled layers."""
    from .whisper_encoder import WhisperEncoder, covered_positions, log_mel, pool

    pad = rep.endswith("-pad30")
    model = rep.removeprefix("whisper-").removesuffix("-pad30")
    enc = WhisperEncoder(models_dir / model)

    def run(audio: np.ndarray) -> np.ndarray:
        mel, t = log_mel(audio, pad)
        n = covered_positions(t)
        return np.stack([pool(h[:n]) for h in enc.layers(mel)])  # (L, 2d)

    return run


def extractor(rep: str, models_dir: Path):
    if rep == "functionals":
        from .functionals import functionals

        return functionals
    if rep.startswith("whisper-"):
        return _whisper_extractor(rep, models_dir)
    raise ValueError(f"unknown representation {rep!r} (one of {', '.join(REPRESENTATIONS)})")


def extract(rep: str, corpus: str, data_dir: Path, cache_dir: Path, models_dir: Path, log=print) -> Path:
    """Compute (or keep) the cache file of one representation on one corpus."""
    out = cache_path(cache_dir, rep, corpus)
    utts = list_corpus(corpus, data_dir)
    if out.exists() and list(np.load(out)["ids"]) == [u.id for u in utts]:
        log(f"{rep} {corpus}: cached {out}")
        return out
    waves = load_audio(corpus, utts, cache_dir)
    fn = extractor(rep, models_dir)
    t0 = time.time()
    xs = []
    for i, w in enumerate(waves):
        xs.append(fn(w))
        if (i + 1) % 200 == 0:
            log(f"{rep} {corpus}: {i + 1}/{len(waves)} ({time.time() - t0:.0f} s)")
    elapsed = time.time() - t0
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        out,
        ids=np.array([u.id for u in utts]),
        X=np.stack(xs).astype(np.float32),
        seconds=np.array([len(w) / 16000 for w in waves]),
        extract_s=elapsed,
    )
    log(f"{rep} {corpus}: {len(waves)} utterances in {elapsed:.0f} s -> {out}")
    return out


def load_features(rep: str, corpus: str, cache_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """-> (ids (N,), X (N, ...)) of a cached representation."""
    z = np.load(cache_path(cache_dir, rep, corpus))
    return z["ids"], z["X"]
