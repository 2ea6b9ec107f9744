"""The stratified FER-2013 subset that was featurized (2 CPU cores: not all 6470 images).

    python -m training.experiments.fer_subset --out /tmp/fer_sub
    # then: msa featurize --media /tmp/fer_sub --no-audio

Per (class, split) of the whole-corpus split (`valence.fer_splits`), a seeded random pick of at
most 240 train, 50 dev and 80 test images, linked (symlinks) as OUT/<class>/<n>.jpg, so featurize
ids stay `<class>/<n>` and every image keeps its whole-corpus split. Seed 7 gives the 2581 images
(1680 train, 350 dev, 551 test) behind models/ 0.2.0.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..common import DEFAULT_DATA_DIR

CAPS = {"train": 240, "dev": 50, "test": 80}


def main(argv=None) -> int:
    import numpy as np

    from ..msa_model.valence import fer_splits_from_dir

    p = argparse.ArgumentParser(
        prog="python -m training.experiments.fer_subset",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--fer-dir", type=Path, default=DEFAULT_DATA_DIR / "fer2013")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args(argv)
    splits = fer_splits_from_dir(args.fer_dir)
    rng = np.random.default_rng(args.seed)
    groups: dict[tuple[str, str], list[str]] = {}
    for key, split in sorted(splits.items()):
        groups.setdefault((key.split("/")[0], split), []).append(key)
    n = 0
    for (cls, split), keys in groups.items():
        pick = [keys[i] for i in sorted(rng.permutation(len(keys))[: CAPS[split]])]
        (args.out / cls).mkdir(parents=True, exist_ok=True)
        for key in pick:
            link = args.out / f"{key}.jpg"
            if not link.exists():
                os.symlink((args.fer_dir / f"{key}.jpg").resolve(), link)
            n += 1
    print(f"{n} images linked under {args.out}")
    return n


if __name__ == "__main__":
    main()
