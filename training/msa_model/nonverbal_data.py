"""Featurize output (`msa featurize`, format 1, src/features/README.md) of RAVDESS and FER-2013 as
samples: vectors quantised with the codebooks (`codebook.JsonCodebook`); a visual frame `null` (no
face) gives no id (as the pipeline, src/pipeline/nonVerbal.ts); sequences are evenly subsampled to
at most `max_len` ids; labels and splits from `valence`.
"""

from __future__ import annotations

import json
from pathlib import Path

from .codebook import JsonCodebook
from .data import Sample, subsample
from .valence import fer_label, parse_ravdess, ravdess_label, ravdess_split, ravdess_text


def featurized_ids(
    row: dict, acoustic: JsonCodebook | None, visual: JsonCodebook | None, max_len: int = 64
) -> tuple[list[int], list[int]]:
    """A featurize row -> (acoustic_ids, visual_ids): quantised, no-face frames dropped, a sequence
    the codebook's gate finds unlike its training data dropped whole, capped."""
    a_ids, v_ids = [], []
    if acoustic is not None and row.get("acoustic"):
        if row.get("acousticNames") and row["acousticNames"] != acoustic.feature_names:
            raise ValueError(f"row {row.get('id')}: acoustic layout differs from codebook {acoustic.path}")
        a_ids = subsample(acoustic.quantise_gated(row["acoustic"])[0], max_len)
    if visual is not None and row.get("visual"):
        if row.get("visualNames") and row["visualNames"] != visual.feature_names:
            raise ValueError(f"row {row.get('id')}: visual layout differs from codebook {visual.path}")
        frames = [v for v in row["visual"] if v is not None]
        v_ids = subsample(visual.quantise_gated(frames)[0], max_len) if frames else []
    return a_ids, v_ids


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def load_ravdess_featurized(
    path: Path,
    acoustic: JsonCodebook | None,
    visual: JsonCodebook | None = None,
    max_len: int = 64,
    with_text: bool = True,
    fold: int | None = None,
) -> list[Sample]:
    """Featurize output of the RAVDESS folder -> samples (label, split by actor, sentence text;
    `fold`: the split of that cross-validation fold)."""
    out = []
    for r in read_jsonl(path):
        name = Path(r.get("media") or r["id"]).name
        meta = parse_ravdess(name)
        a, v = featurized_ids(r, acoustic, visual, max_len)
        out.append(
            Sample(
                str(r["id"]),
                ravdess_text(name) if with_text else "",
                ravdess_label(name),
                ravdess_split(meta.actor, fold),
                "ravdess",
                a,
                v,
            )
        )
    return out


def load_fer_featurized(
    path: Path,
    splits: dict[str, str],
    visual: JsonCodebook | None,
    acoustic: JsonCodebook | None = None,
    max_len: int = 64,
) -> list[Sample]:
    """Featurize output of the FER-2013 folder (ids `<class>/<n>`) -> samples, no text."""
    out = []
    for r in read_jsonl(path):
        rid = str(r["id"])
        cls = rid.split("/")[0]
        a, v = featurized_ids(r, acoustic, visual, max_len)
        out.append(Sample(rid, "", fer_label(cls), splits[rid], "fer", a, v))
    return out
