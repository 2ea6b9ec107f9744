"""The audio sets the ASR measurements use, each a list of utterances with reference text.

- ravdess:        all 1440 RAVDESS speech files (2 fixed sentences, 24 actors, 8 emotions)
- ravdess-strat:  192 of them, one per actor x emotion (statement, intensity, repetition drawn with
                  random.Random(SEED) per actor and emotion in sorted order): every actor and emotion
- mosi-espeak:    MOSI dev (229 rows) rendered by espeak-ng, mixed voices and rates (espeak_mosi.py)
- mosi-plain:     the same rows in plain en-us at 160 wpm
- samples:        the two real MOSI clips in shared/data/samples
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from pathlib import Path

from .espeak_mosi import DEFAULT_OUT as ESPEAK_DIR
from .espeak_mosi import read_manifest
from .paths import DATA_DIR

RAVDESS_SENTENCES = {"01": "kids are talking by the door", "02": "dogs are sitting by the door"}
SEED = 7
SETS = ("samples", "mosi-plain", "mosi-espeak", "ravdess-strat", "ravdess")


@dataclass(frozen=True)
class Utterance:
    id: str
    path: Path
    text: str  # reference transcript


def ravdess(data_dir: Path = DATA_DIR) -> list[Utterance]:
    files = sorted((data_dir / "ravdess").glob("03-01-*.flac"))
    if len(files) != 1440:
        raise FileNotFoundError(f"expected 1440 RAVDESS files in {data_dir / 'ravdess'}, found {len(files)}")
    return [Utterance(f.stem, f, RAVDESS_SENTENCES[f.stem.split("-")[4]]) for f in files]


def ravdess_stratified(data_dir: Path = DATA_DIR) -> list[Utterance]:
    by_cell: dict[tuple[str, str], list[Utterance]] = {}
    for u in ravdess(data_dir):
        parts = u.id.split("-")  # 03-01-EE-II-SS-RR-AA
        by_cell.setdefault((parts[6], parts[2]), []).append(u)
    rng = random.Random(SEED)
    return [rng.choice(by_cell[cell]) for cell in sorted(by_cell)]


def mosi_espeak(manifest: str) -> list[Utterance]:
    path = ESPEAK_DIR / manifest
    if not path.exists():
        raise FileNotFoundError(f"{path} missing; render it: python -m training.whisper.espeak_mosi")
    return [Utterance(r["id"], Path(r["path"]), r["text"]) for r in read_manifest(path)]


def samples(data_dir: Path = DATA_DIR) -> list[Utterance]:
    with open(data_dir / "mosi" / "label.csv", newline="") as f:
        text = {r["id"]: r["text"] for r in csv.DictReader(f)}
    files = [data_dir / "samples" / "Oz06ZWiO20M_6.mp4", data_dir / "samples" / "03bSnISJMiM_1.wav"]
    return [Utterance(f.stem, f, text[f.stem]) for f in files]


def load_set(name: str) -> list[Utterance]:
    loaders = {
        "ravdess": ravdess,
        "ravdess-strat": ravdess_stratified,
        "samples": samples,
        "mosi-espeak": lambda: mosi_espeak("manifest.csv"),
        "mosi-plain": lambda: mosi_espeak("manifest-en-us-160.csv"),
    }
    if name not in loaders:
        raise KeyError(f"unknown set {name!r}; known: {list(loaders)}")
    return loaders[name]()
