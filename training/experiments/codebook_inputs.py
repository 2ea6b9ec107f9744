"""Train-split featurize rows for the codebooks (no dev / test media in a codebook).

    python -m training.experiments.codebook_inputs --ravdess FEAT/ravdess/features.jsonl \
        --fer FEAT/fer/features.jsonl --out FEAT/codebook-train
    node bin/msa.js codebook fit --input FEAT/codebook-train/acoustic.jsonl FEAT/samples/features.jsonl \
        --modality acoustic --k 32 --out models/codebooks/acoustic.json
    node bin/msa.js codebook fit --input FEAT/codebook-train/visual.jsonl FEAT/samples/features.jsonl \
        --modality visual --k 32 --out models/codebooks/visual.json

Writes OUT/acoustic.jsonl (RAVDESS rows of the train actors) and OUT/visual.jsonl (FER rows of the
train split), lines copied verbatim, so `msa codebook fit` sees exactly the featurize output.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..common import DEFAULT_DATA_DIR, add_ravdess_fold_arg


def main(argv=None) -> dict:
    from ..msa_model.valence import fer_splits_from_dir, parse_ravdess, ravdess_split

    p = argparse.ArgumentParser(
        prog="python -m training.experiments.codebook_inputs",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--ravdess", type=Path, required=True)
    p.add_argument("--fer", type=Path, required=True)
    add_ravdess_fold_arg(p)
    p.add_argument("--fer-dir", type=Path, default=DEFAULT_DATA_DIR / "fer2013")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    counts = {"acoustic": 0, "visual": 0}
    with open(args.ravdess) as f, open(args.out / "acoustic.jsonl", "w") as out:
        for line in f:
            if line.strip():
                r = json.loads(line)
                if ravdess_split(parse_ravdess(Path(r["media"]).name).actor, args.ravdess_fold) == "train":
                    out.write(line if line.endswith("\n") else line + "\n")
                    counts["acoustic"] += 1
    splits = fer_splits_from_dir(args.fer_dir)
    with open(args.fer) as f, open(args.out / "visual.jsonl", "w") as out:
        for line in f:
            if line.strip():
                r = json.loads(line)
                if splits[r["id"]] == "train":
                    out.write(line if line.endswith("\n") else line + "\n")
                    counts["visual"] += 1
    print(f"train rows: {counts}")
    return counts


if __name__ == "__main__":
    main()
