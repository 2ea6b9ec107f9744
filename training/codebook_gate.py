"""Sets a codebook's gate: the largest median nearest-centroid distance a sequence may have and
still be quantised. Sequences beyond it (a window of voice or faces unlike the training data)
give no ids, so the modality is absent for the model instead of steering the score
(`src/features/codebook.ts` `quantiseGated`, `msa_model/codebook.py` `quantise_gated`).

    python -m training.codebook_gate --codebook models/codebooks/acoustic.json --ravdess FEAT/ravdess/features.jsonl
    python -m training.codebook_gate --codebook models/codebooks/visual.json --fer FEAT/fer/features.jsonl

The threshold is a high percentile (default 99.5) of the per-sequence medians over the TRAIN rows
(RAVDESS actors 1-16; FER-2013 train split, one frame per image). Written into the codebook JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .common import DEFAULT_DATA_DIR, add_ravdess_fold_arg


def main(argv=None) -> float:
    import numpy as np

    from .msa_model.codebook import JsonCodebook
    from .msa_model.valence import fer_splits_from_dir, parse_ravdess, ravdess_split

    p = argparse.ArgumentParser(
        prog="python -m training.codebook_gate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--codebook", type=Path, required=True)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--ravdess", type=Path, help="msa featurize output of RAVDESS (acoustic codebook)")
    src.add_argument("--fer", type=Path, help="msa featurize output of FER-2013 (visual codebook)")
    p.add_argument("--fer-dir", type=Path, default=DEFAULT_DATA_DIR / "fer2013")
    p.add_argument("--percentile", type=float, default=99.5)
    add_ravdess_fold_arg(p)
    args = p.parse_args(argv)

    cb = JsonCodebook(args.codebook)
    field = "acoustic" if args.ravdess else "visual"
    if cb.modality != field:
        raise SystemExit(
            f"{args.codebook} is a {cb.modality} codebook; --{'ravdess' if args.ravdess else 'fer'} needs a {field} one"
        )
    splits = fer_splits_from_dir(args.fer_dir) if args.fer else None
    medians = []
    for line in open(args.ravdess or args.fer, encoding="utf-8"):
        if not line.strip():
            continue
        r = json.loads(line)
        train = (
            ravdess_split(parse_ravdess(Path(r["media"]).name).actor, args.ravdess_fold) == "train"
            if args.ravdess
            else splits.get(r["id"]) == "train"
        )
        vectors = [v for v in (r.get(field) or []) if v is not None]
        if train and vectors:
            medians.append(float(np.median(cb.distances(vectors))))
    if not medians:
        raise SystemExit("no train rows with vectors found")
    threshold = float(np.percentile(medians, args.percentile))
    corpus = (
        (
            "RAVDESS actors 1-16"
            if args.ravdess_fold is None
            else f"the RAVDESS train actors of fold {args.ravdess_fold}"
        )
        if args.ravdess
        else "the FER-2013 train split (one frame per image)"
    )
    d = json.loads(args.codebook.read_text())
    d["gate"] = {
        "maxMedianDistance": round(threshold, 4),
        "statistic": "median Euclidean distance of a sequence's vectors to their nearest centroids, standardised space",
        "fittedOn": f"percentile {args.percentile} of {len(medians)} train sequences of {corpus} (msa featurize; "
        f"python -m training.codebook_gate)",
    }
    args.codebook.write_text(json.dumps(d, indent=1) + "\n")
    print(
        f"{args.codebook}: gate at median distance {threshold:.4f} "
        f"(p{args.percentile} of {len(medians)} train sequences; "
        f"their median {np.median(medians):.3f}, max {max(medians):.3f})"
    )
    return threshold


if __name__ == "__main__":
    main()
