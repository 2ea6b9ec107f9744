"""How much 3-class valence do the project's acoustic features carry on held-out RAVDESS actors?

    python -m training.experiments.voice_ceiling --ravdess FEAT/ravdess/features.jsonl \
        [--codebook models/codebooks/acoustic.json] [--cv]

Simple reference classifiers (logistic regression, C picked on the dev actors) on the same
featurize output the model trains on, to tell a weak model from weak features:
  * utterance: mean and std of the pooled 250 ms vectors over the utterance;
  * utterance, per-speaker z-score: the same after z-scoring each actor's vectors with that actor's
    own statistics over all their utterances (an oracle: a live stream only has the past);
  * utterance, per-session running normalisation (`training.experiments.session_norm`, prior 40 vectors = 10 s,
    towards the fold's train statistics): what a per-session normaliser in the pipeline could
    give (the pipeline has none);
  * codeword bag: the histogram of the shipped codebook's ids (what the model's voice path reads),
    also with class-balanced weights, and of a k = 64 k-means fit on the train actors.
Prints dev / test accuracy (%) and test recall per class for each. With --cv, every reference is
fitted and scored on the six cross-validation folds over actors (`valence.ravdess_split(actor,
fold)`, as `training.experiments.voice_cv`) and the mean test accuracy is printed with the per-fold values
(the shipped codebook was fitted on actors 1-16, so its bag saw some folds' test actors, without
their labels). The majority class (negative) is 53.3 % of every actor's utterances.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..common import MODELS_DIR

SESSION_PRIOR_VECTORS = 40


def main(argv=None) -> dict:
    import numpy as np
    from sklearn.cluster import KMeans
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from ..msa_model.codebook import JsonCodebook
    from ..msa_model.nonverbal_data import read_jsonl
    from ..msa_model.valence import RAVDESS_FOLDS, parse_ravdess, ravdess_label, ravdess_split, valence_class
    from .session_norm import running_normalise, session_order

    p = argparse.ArgumentParser(
        prog="python -m training.experiments.voice_ceiling",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--ravdess", type=Path, required=True)
    p.add_argument("--codebook", type=Path, default=MODELS_DIR / "codebooks/acoustic.json")
    p.add_argument(
        "--cv", action="store_true", help="the six cross-validation folds over actors instead of the fixed split"
    )
    args = p.parse_args(argv)

    rows = [r for r in read_jsonl(args.ravdess) if r["acoustic"]]
    utts = []  # (vectors, class, actor), as rows
    for r in rows:
        name = Path(r["media"]).name
        utts.append(
            (
                np.asarray(r["acoustic"], dtype=np.float64),
                int(valence_class(ravdess_label(name))),
                parse_ravdess(name).actor,
            )
        )
    ys = np.array([u[1] for u in utts])
    actors = sorted({u[2] for u in utts})
    cb = JsonCodebook(args.codebook)
    order = session_order(rows)

    def session_running(gm, gs) -> list:
        out = [None] * len(utts)
        for idx in order.values():
            for i, z in zip(
                idx, running_normalise([utts[i][0] for i in idx], gm, gs, SESSION_PRIOR_VECTORS), strict=True
            ):
                out[i] = z
        return out

    def stats(xs) -> list:
        return [np.concatenate([x.mean(0), x.std(0)]) for x in xs]

    # What does not depend on the split is computed once: raw statistics, per-speaker z-scores
    # (each actor's own statistics), the shipped codebook's bags.
    speaker_z = [None] * len(utts)
    for a in actors:
        idx = [i for i, u in enumerate(utts) if u[2] == a]
        allx = np.concatenate([utts[i][0] for i in idx])
        m, s = allx.mean(0), allx.std(0) + 1e-6
        for i in idx:
            speaker_z[i] = (utts[i][0] - m) / s
    raw_stats, speaker_stats = stats(u[0] for u in utts), stats(speaker_z)
    bag = [np.bincount(cb.quantise(u[0]), minlength=cb.k) / len(u[0]) for u in utts]

    def references(split: np.ndarray) -> dict:
        train = np.concatenate([u[0] for u, s in zip(utts, split, strict=True) if s == "train"])
        mu, sd = train.mean(0), train.std(0) + 1e-9
        km = KMeans(64, n_init=2, random_state=0).fit((train - mu) / sd)
        return {
            "utterance mean+std": (raw_stats, None),
            "utterance mean+std, per-speaker z-score": (speaker_stats, None),
            f"utterance mean+std, per-session running normalisation (prior {SESSION_PRIOR_VECTORS})": (
                stats(session_running(mu, train.std(0))),
                None,
            ),
            f"codeword bag, shipped codebook (k={cb.k})": (bag, None),
            "codeword bag, shipped codebook, class-balanced": (bag, "balanced"),
            "codeword bag, k-means k=64 on train": (
                [np.bincount(km.predict((u[0] - mu) / sd), minlength=64) / len(u[0]) for u in utts],
                None,
            ),
        }

    def fit(features, split: np.ndarray, class_weight=None) -> dict:
        x = np.array(features)
        sc = StandardScaler().fit(x[split == "train"])
        best = None
        for c in (0.01, 0.1, 1.0, 10.0):
            m = LogisticRegression(C=c, max_iter=5000, class_weight=class_weight).fit(
                sc.transform(x[split == "train"]), ys[split == "train"]
            )
            acc = {
                s: 100 * float((m.predict(sc.transform(x[split == s])) == ys[split == s]).mean())
                for s in ("dev", "test")
            }
            pred = m.predict(sc.transform(x[split == "test"]))
            recall = [round(100 * float((pred[ys[split == "test"] == k] == k).mean()), 1) for k in range(3)]
            if best is None or acc["dev"] > best["dev"]:
                best = acc | {"C": c, "test_recall": recall}
        return best

    folds = list(range(RAVDESS_FOLDS)) if args.cv else [None]
    per_fold: dict[str, list[dict]] = {}
    for fold in folds:
        split = np.array([ravdess_split(u[2], fold) for u in utts])
        for name, (features, weights) in references(split).items():
            per_fold.setdefault(name, []).append(fit(features, split, weights))
    results = {}
    for name, rs in per_fold.items():
        if args.cv:
            results[name] = {
                "dev": float(np.mean([r["dev"] for r in rs])),
                "test": float(np.mean([r["test"] for r in rs])),
                "test_per_fold": [round(r["test"], 1) for r in rs],
            }
            print(
                f"{name:75s} dev {results[name]['dev']:5.1f}  test {results[name]['test']:5.1f}  "
                f"per fold {results[name]['test_per_fold']}"
            )
        else:
            results[name] = r = rs[0]
            print(
                f"{name:75s} dev {r['dev']:5.1f}  test {r['test']:5.1f}  "
                f"recall neg/neu/pos {r['test_recall']}  (C={r['C']})"
            )
    return results


if __name__ == "__main__":
    main()
