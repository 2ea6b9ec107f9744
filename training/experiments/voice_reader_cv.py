"""The shipped voice reader's recipe across RAVDESS actors: six folds of four actors, as
`training.experiments.voice_cv` cuts them (`valence.ravdess_split(actor, fold)`, fold k tests block k).

    python -m training.experiments.voice_reader_cv [--padding none] [--fusion-weight W]

Per fold the recipe of voice_reader.py (prior, per-speaker running normaliser N0 = 4, ridge with
the reader JSON's pooling, lambda and RAVDESS share of the weights) is refitted on every row except the
fold's four test actors: TESS, ASED, EMOVO and the other 20 RAVDESS actors (the fixed recipe has
nothing to select, so the fold's dev block trains too). Scored on the 240 test utterances: 3-class
accuracy (edges +-0.5), balanced sign accuracy (positive vs negative, neutral ones left out), and
the same for the served fusion (RAVDESS sentence through the words model + W * clamp(v, -1, 1)).
Baselines per fold: majority class, chance (33.3 / 50), and today's codebook path
(`voiceCrossValidation` of models/manifest.json, `python -m training.experiments.voice_cv`).
Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
from pathlib import Path

import numpy as np

from ..common import DEFAULT_DATA_DIR, MODELS_DIR
from ..msa_model.valence import RAVDESS_FOLDS, parse_ravdess, ravdess_split, valence_class
from .voice_reader import reader_features, reader_recipe, recipe, representation, scores
from .voice_repr import CACHE_DIR


def mean_sd(xs: list[float]) -> dict:
    return {"mean": round(statistics.mean(xs), 2), "sd": round(statistics.stdev(xs), 2)}


def main(argv=None) -> dict:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    p.add_argument("--cache-dir", type=Path, default=CACHE_DIR)
    p.add_argument("--reader", type=Path, default=MODELS_DIR / "voice" / "reader.json")
    p.add_argument("--padding", help="default: the reader JSON's representation.padding")
    p.add_argument("--fusion-weight", type=float, help="default: the reader JSON's fusion.weight")
    args = p.parse_args(argv)
    from .study import load_meta
    from .voice_fusion import fused, words_scorer

    reader = json.loads(args.reader.read_text())
    padding = args.padding or reader["representation"]["padding"]
    w = args.fusion_weight if args.fusion_weight is not None else reader.get("fusion", {}).get("weight", 0.0)
    meta = load_meta(args.data_dir)
    rep = representation(padding)
    pooling, lam, share = reader_recipe(reader)
    x = reader_features(rep, args.cache_dir, meta, pooling)
    rav = meta.corpus == "ravdess"
    actor = np.array([parse_ravdess(f"{i}.flac").actor if r else 0 for i, r in zip(meta.ids, rav, strict=True)])
    from ..msa_model.valence import ravdess_text

    words = np.zeros(len(meta.ids))
    words[rav] = words_scorer()([ravdess_text(f"{i}.flac") for i in meta.ids[rav]])

    folds = []
    for fold in range(RAVDESS_FOLDS):
        test = rav & np.array([a > 0 and ravdess_split(a, fold) == "test" for a in actor])
        pred = recipe(x, meta, ~test, lam, share)[-1][test]
        lab = meta.label[test]
        counts = np.bincount(valence_class(lab), minlength=3)
        folds.append(
            {
                "fold": fold,
                "actors": sorted(set(actor[test].tolist())),
                "voice": scores(pred, lab),
                "fused": scores(fused(words[test], pred, w), lab),
                "words": scores(words[test], lab),
                "majority_acc3": round(100 * counts.max() / counts.sum(), 1),
            }
        )
    today = json.loads((MODELS_DIR / "manifest.json").read_text()).get("voiceCrossValidation", {})
    summary = {
        "voice_acc3": mean_sd([f["voice"]["acc3"] for f in folds]),
        "voice_bal_sign": mean_sd([f["voice"]["bal_sign"] for f in folds]),
        "fused_acc3": mean_sd([f["fused"]["acc3"] for f in folds]),
        "fused_bal_sign": mean_sd([f["fused"]["bal_sign"] for f in folds]),
        "words_bal_sign": mean_sd([f["words"]["bal_sign"] for f in folds]),
        "majority_acc3": mean_sd([f["majority_acc3"] for f in folds]),
        "chance_acc3": 33.3,
        "chance_bal_sign": 50.0,
        "codebook_path_acc3": {"mean": today.get("acc3Mean"), "sd": today.get("acc3Sd")},
    }
    print("| fold | actors | voice acc3 | voice bal. sign | fused acc3 | fused bal. sign | majority acc3 |")
    print("|---|---|---|---|---|---|---|")
    for f in folds:
        print(
            f"| {f['fold']} | {f['actors'][0]}-{f['actors'][-1]} | {f['voice']['acc3']} | {f['voice']['bal_sign']} | "
            f"{f['fused']['acc3']} | {f['fused']['bal_sign']} | {f['majority_acc3']} |"
        )
    s = summary
    print(
        f"| mean +- sd | | {s['voice_acc3']['mean']} +- {s['voice_acc3']['sd']} | {s['voice_bal_sign']['mean']} +- "
        f"{s['voice_bal_sign']['sd']} | {s['fused_acc3']['mean']} +- {s['fused_acc3']['sd']} | "
        f"{s['fused_bal_sign']['mean']} +- {s['fused_bal_sign']['sd']} | {s['majority_acc3']['mean']} |"
    )
    out = {
        "command": "python -m training.experiments.voice_reader_cv " + " ".join(shlex.quote(a) for a in argv),
        "padding": padding,
        "fusion_weight": w,
        "folds": folds,
        "summary": summary,
    }
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
