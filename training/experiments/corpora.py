"""The four acted-emotion corpora of the voice study, their valence labels, and their audio.

Valence follows training/msa_model/valence.py (RAVDESS_VALENCE, circumplex model of affect):
neutral 0, calm / ambiguous surprise +0.3 (neutral class), happy +2, sad / fearful -1.5,
angry / disgust -2; strong intensity 0.5 further out (RAVDESS only: the other corpora have one
intensity, so they take the normal-intensity value). One mapping per corpus, written down here:

* TESS "surprised" is TESS's *pleasant surprise* ("ps"): the actresses were asked for a pleasant
  surprise, so unlike RAVDESS / EMOVO surprise (startle or delight, the recording does not say
  which) its valence is known to be positive. It is less clearly positive than happy, so +1.0:
  inside the positive class (> 0.5) and well clear of the class edge (see msa_model/valence.py on edges).
  The study also reports TESS's sign accuracy without it (`--no-tess-ps` view in the report), as
  the acoustic cue of a pleasant surprise is mostly arousal, which this decision could flatter.
* EMOVO "surprised" (sorpresa): no valence given by the corpus -> +0.3, as RAVDESS surprised.
* ASED: neutral, fearful, happy, sad, angry, as RAVDESS.

Sign classes (leave-one-corpus-out target): positive = label > 0.5, negative = label < -0.5;
neutral-class utterances are left out of the sign metric.
"""

from __future__ import annotations

import csv
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..msa_model.valence import RAVDESS_VALENCE, parse_ravdess, ravdess_label

SAMPLE_RATE = 16000
CORPORA = ("ravdess", "tess", "ased", "emovo")

TESS_VALENCE = {
    "neutral": 0.0,
    "happy": 2.0,
    "surprised": 1.0,
    "sad": -1.5,
    "fear": -1.5,
    "angry": -2.0,
    "disgust": -2.0,
}
EMOVO_VALENCE = {
    "neutral": 0.0,
    "happy": 2.0,
    "surprised": 0.3,
    "sad": -1.5,
    "fearful": -1.5,
    "angry": -2.0,
    "disgust": -2.0,
}
ASED_VALENCE = {"neutral": 0.0, "happy": 2.0, "sad": -1.5, "fearful": -1.5, "angry": -2.0}
VALENCE = {
    "tess": TESS_VALENCE,
    "emovo": EMOVO_VALENCE,
    "ased": ASED_VALENCE,
    "ravdess": {k: v[0] for k, v in RAVDESS_VALENCE.items()},
}
# Emotion names shared by the corpora (TESS says "fear", the others "fearful").
CANONICAL_EMOTION = {"fear": "fearful"}


@dataclass(frozen=True)
class Utterance:
    corpus: str
    id: str  # file stem
    path: Path
    speaker: str  # corpus-prefixed ("ravdess07", "tessOAF", ...)
    emotion: str  # canonical name (fearful, not fear)
    label: float  # valence in [-3, 3]


def list_corpus(corpus: str, data_dir: Path) -> list[Utterance]:
    """All utterances of one corpus, sorted by id (a fixed order: caches are aligned to it)."""
    if corpus == "ravdess":
        out = []
        for p in sorted((data_dir / "ravdess").glob("*.flac")):
            r = parse_ravdess(p.name)
            out.append(Utterance("ravdess", p.stem, p, f"ravdess{r.actor:02d}", r.emotion, ravdess_label(p.name)))
        return out
    folder = data_dir / "voices" / corpus
    with open(folder / "labels.csv", newline="", encoding="utf-8") as f:
        rows = sorted(csv.DictReader(f), key=lambda r: r["id"])
    return [
        Utterance(
            corpus,
            r["id"],
            folder / f"{r['id']}.opus",
            r["speaker"],
            CANONICAL_EMOTION.get(r["emotion"], r["emotion"]),
            VALENCE[corpus][r["emotion"]],
        )
        for r in rows
    ]


def decode(path: Path) -> np.ndarray:
    """Any file ffmpeg reads -> float32 mono 16 kHz in [-1, 1] (Opus decodes at 48 kHz; ffmpeg's
    resampler brings it to 16 kHz, as the pipeline does for any input)."""
    raw = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-f", "s16le", "-ac", "1", "-ar", str(SAMPLE_RATE), "-"],
        check=True,
        capture_output=True,
    ).stdout
    return np.frombuffer(raw, dtype=np.int16).astype(np.float32) / 32768.0


def load_audio(corpus: str, utts: list[Utterance], cache_dir: Path) -> list[np.ndarray]:
    """Decoded audio of a corpus, cached as one int16 npz (samples concatenated + offsets) so
    every extractor decodes each file once."""
    path = cache_dir / "audio" / f"{corpus}.npz"
    if path.exists():
        z = np.load(path)
        if list(z["ids"]) == [u.id for u in utts]:
            off, pcm = z["offsets"], z["pcm"]  # read the array once (each z[...] re-reads the file)
            return [pcm[off[i] : off[i + 1]].astype(np.float32) / 32768.0 for i in range(len(utts))]
    waves = [decode(u.path) for u in utts]
    pcm = np.concatenate([np.round(w * 32768.0).clip(-32768, 32767).astype(np.int16) for w in waves])
    offsets = np.cumsum([0] + [len(w) for w in waves])
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, ids=np.array([u.id for u in utts]), pcm=pcm, offsets=offsets)
    return waves
