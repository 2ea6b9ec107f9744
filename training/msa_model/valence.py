"""Single-modality emotion corpora (RAVDESS voice, FER-2013 faces) mapped to valence, and their splits.

The voice and face paths learn from acted / posed emotion corpora mapped to valence (sentiment).
The mapping and the splits are modelling decisions, documented here and in training/README.md.

* RAVDESS speech (`03-01-EE-II-SS-RR-AA`): emotion EE and intensity II -> score in [-3, 3]
  (`RAVDESS_VALENCE`); the sentence SS is the text (what an ASR would produce; it is the same
  neutral sentence for every emotion, so only the voice can move the score). Split by ACTOR AA:
  1-16 train, 17-20 dev, 21-24 test (no voice in two splits; each split balanced male/female).
* FER-2013 (`<emotion>/<n>.jpg`): folder -> score (`FER_VALENCE`); no text, no voice. Split
  random stratified by class with a fixed seed, 70/15/15 (`fer_splits`), defined over the whole
  corpus (a featurized subset keeps each image's split).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

# RAVDESS emotion code -> (valence at normal intensity, at strong intensity), on the [-3, 3]
# sentiment scale. Valence as in the circumplex model of affect (Russell 1980): calm mildly
# pleasant, happy clearly positive, sad / fearful negative, angry / disgust most negative; strong
# intensity moves a valenced emotion 0.5 further out. Surprised: valence is ambiguous (pleasant or
# startled) and the acted voice does not say which, so +0.3 at both intensities, i.e. the
# "neutral" class of the 3-class cut below (as calm), never counted as positive or negative.
# Calm and surprised sit at +0.3, not on the class edge +0.5: a model trained towards a label on
# the edge puts its predictions on the edge, and their class is then decided by float noise
# (seen: -3.8 points of FER accuracy from weight quantisation alone with +0.5).
RAVDESS_EMOTIONS = {
    1: "neutral",
    2: "calm",
    3: "happy",
    4: "sad",
    5: "angry",
    6: "fearful",
    7: "disgust",
    8: "surprised",
}
RAVDESS_VALENCE = {
    "neutral": (0.0, 0.0),
    "calm": (0.3, 0.3),
    "happy": (2.0, 2.5),
    "surprised": (0.3, 0.3),
    "sad": (-1.5, -2.0),
    "fearful": (-1.5, -2.0),
    "angry": (-2.0, -2.5),
    "disgust": (-2.0, -2.5),
}
RAVDESS_SENTENCES = {1: "Kids are talking by the door", 2: "Dogs are sitting by the door"}
RAVDESS_SPLIT_ACTORS = {"train": range(1, 17), "dev": range(17, 21), "test": range(21, 25)}

# FER-2013 folder -> valence. Surprise: ambiguous (startle vs delight); FER's surprise faces are
# mostly open-mouth astonishment with no valence cue, so +0.3 (neutral class), as RAVDESS calm.
FER_VALENCE = {"angry": -2.0, "disgust": -2.0, "fear": -1.5, "sad": -1.5, "neutral": 0.0, "happy": 2.0, "surprise": 0.3}
FER_SPLIT_SEED = 2013
FER_FRACTIONS = (0.70, 0.15, 0.15)

# 3-class valence used for evaluation: negative (< -0.5), neutral ([-0.5, 0.5]), positive (> 0.5).
# Calm, surprised (RAVDESS) and surprise (FER), all +0.3, are therefore "neutral".
VALENCE_CLASS_EDGE = 0.5
CLASSES = ("negative", "neutral", "positive")


def valence_class(x, edge: float = VALENCE_CLASS_EDGE) -> np.ndarray:
    """0 negative (< -edge), 1 neutral, 2 positive (> edge)."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(x < -edge, 0, np.where(x > edge, 2, 1))


@dataclass(frozen=True)
class RavdessName:
    emotion: str
    intensity: int  # 1 normal, 2 strong
    statement: int
    repetition: int
    actor: int


def parse_ravdess(name: str) -> RavdessName:
    """`03-01-EE-II-SS-RR-AA[.ext]` (path allowed)."""
    stem = Path(name).name.split(".")[0]
    parts = stem.split("-")
    if len(parts) != 7 or not all(p.isdigit() for p in parts):
        raise ValueError(f"not a RAVDESS file name: {name!r} (expected 03-01-EE-II-SS-RR-AA)")
    _, _, ee, ii, ss, rr, aa = (int(p) for p in parts)
    if ee not in RAVDESS_EMOTIONS or ii not in (1, 2) or ss not in RAVDESS_SENTENCES or not 1 <= aa <= 24:
        raise ValueError(f"RAVDESS name {name!r} has codes out of range")
    return RavdessName(RAVDESS_EMOTIONS[ee], ii, ss, rr, aa)


def ravdess_label(name: str) -> float:
    r = parse_ravdess(name)
    return RAVDESS_VALENCE[r.emotion][r.intensity - 1]


# Cross-validation over actors (training/experiments/voice_cv.py): six blocks of four consecutive actors (two
# male, two female each); fold k tests block k, picks the model on block k - 1 and trains on the
# other four. Fold 5 is the fixed split above.
RAVDESS_FOLDS = 6


def ravdess_split(actor: int, fold: int | None = None) -> str:
    """The actor's split: the fixed one (`RAVDESS_SPLIT_ACTORS`), or that of cross-validation fold
    `fold` (0..5)."""
    if not 1 <= actor <= 24:
        raise ValueError(f"RAVDESS actor {actor} outside 1..24")
    if fold is None:
        return next(split for split, actors in RAVDESS_SPLIT_ACTORS.items() if actor in actors)
    if not 0 <= fold < RAVDESS_FOLDS:
        raise ValueError(f"RAVDESS fold {fold} outside 0..{RAVDESS_FOLDS - 1}")
    block = (actor - 1) // 4
    return "test" if block == fold else "dev" if block == (fold - 1) % RAVDESS_FOLDS else "train"


def ravdess_text(name: str) -> str:
    return RAVDESS_SENTENCES[parse_ravdess(name).statement]


def fer_label(emotion: str) -> float:
    return FER_VALENCE[emotion]


def fer_splits(files_by_class: dict[str, list[str]], seed: int = FER_SPLIT_SEED) -> dict[str, str]:
    """{'<class>/<stem>': split}: per class, the sorted names are permuted with a fixed seed and cut
    70/15/15 (train/dev/test)."""
    out = {}
    for ci, cls in enumerate(sorted(files_by_class)):
        names = sorted(files_by_class[cls])
        perm = np.random.default_rng(seed + ci).permutation(len(names))
        n_train = int(round(FER_FRACTIONS[0] * len(names)))
        n_dev = int(round(FER_FRACTIONS[1] * len(names)))
        for rank, j in enumerate(perm):
            out[f"{cls}/{names[j]}"] = "train" if rank < n_train else "dev" if rank < n_train + n_dev else "test"
    return out


def fer_splits_from_dir(fer_dir: Path) -> dict[str, str]:
    return fer_splits(
        {
            d.name: [p.stem for p in d.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png")]
            for d in sorted(Path(fer_dir).iterdir())
            if d.is_dir()
        }
    )
