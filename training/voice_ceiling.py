"""How much 3-class valence do the project's acoustic features carry on held-out RAVDESS actors?

    python -m training.voice_ceiling --ravdess FEAT/ravdess/features.jsonl [--codebook models/codebooks/acoustic.json]

Simple reference classifiers (logistic regression, C picked on the dev actors) on the same
featurize output the model trains on, to tell a weak model from weak features:
  * utterance: mean and std of the pooled 250 ms vectors over the utterance;
  * utterance, per-speaker z-score: the same after z-scoring each actor's vectors with that actor's
    own statistics (what a per-session normaliser could give a live stream; the pipeline has none);
  * codeword bag: the histogram of the shipped codebook's ids (what the model's voice path reads),
    also with class-balanced weights, and of a k = 64 k-means fit on the train actors.
Prints dev / test accuracy (%) and test recall per class for each; the majority class (negative)
is 53.3 % of the test actors.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from .common import DEFAULT_DATA_DIR  # noqa: F401  (keeps the package import path uniform)


def main(argv=None) -> dict:
    import numpy as np
    from sklearn.cluster import KMeans
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from .msa_model.nonverbal import JsonCodebook, parse_ravdess, ravdess_label, ravdess_split, valence_class

    p = argparse.ArgumentParser(prog="python -m training.voice_ceiling", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ravdess", type=Path, required=True)
    p.add_argument("--codebook", type=Path, default=Path(__file__).resolve().parent.parent / "models/codebooks/acoustic.json")
    args = p.parse_args(argv)

    utts = []  # (vectors, split, class, actor)
    for line in open(args.ravdess):
        if not line.strip():
            continue
        r = json.loads(line)
        name = Path(r["media"]).name
        x = np.asarray(r["acoustic"], dtype=np.float64)
        if len(x):
            actor = parse_ravdess(name).actor
            utts.append((x, ravdess_split(actor), int(valence_class(ravdess_label(name))), actor))
    stats = {}
    for a in {u[3] for u in utts}:
        allx = np.concatenate([u[0] for u in utts if u[3] == a])
        stats[a] = (allx.mean(0), allx.std(0) + 1e-6)

    def fit(features, class_weight=None) -> dict:
        xs = {s: np.array([f for f, u in zip(features, utts) if u[1] == s]) for s in ("train", "dev", "test")}
        ys = {s: np.array([u[2] for u in utts if u[1] == s]) for s in ("train", "dev", "test")}
        sc = StandardScaler().fit(xs["train"])
        best = None
        for c in (0.01, 0.1, 1.0, 10.0):
            m = LogisticRegression(C=c, max_iter=5000, class_weight=class_weight).fit(sc.transform(xs["train"]), ys["train"])
            acc = {s: 100 * float((m.predict(sc.transform(xs[s])) == ys[s]).mean()) for s in ("dev", "test")}
            pred = m.predict(sc.transform(xs["test"]))
            recall = [round(100 * float((pred[ys["test"] == k] == k).mean()), 1) for k in range(3)]
            if best is None or acc["dev"] > best["dev"]:
                best = acc | {"C": c, "test_recall": recall}
        return best

    train = np.concatenate([u[0] for u in utts if u[1] == "train"])
    mu, sd = train.mean(0), train.std(0) + 1e-9
    km = KMeans(64, n_init=2, random_state=0).fit((train - mu) / sd)
    cb = JsonCodebook(args.codebook)
    results = {
        "utterance mean+std": fit([np.concatenate([u[0].mean(0), u[0].std(0)]) for u in utts]),
        "utterance mean+std, per-speaker z-score": fit([
            np.concatenate([z.mean(0), z.std(0)]) for z in ((u[0] - stats[u[3]][0]) / stats[u[3]][1] for u in utts)]),
        f"codeword bag, shipped codebook (k={cb.k})": fit([np.bincount(cb.quantise(u[0]), minlength=cb.k) / len(u[0]) for u in utts]),
        "codeword bag, shipped codebook, class-balanced": fit(
            [np.bincount(cb.quantise(u[0]), minlength=cb.k) / len(u[0]) for u in utts], class_weight="balanced"),
        "codeword bag, k-means k=64 on train": fit([np.bincount(km.predict((u[0] - mu) / sd), minlength=64) / len(u[0]) for u in utts]),
    }
    test_y = np.array([u[2] for u in utts if u[1] == "test"])
    print(f"test actors: {len(test_y)} utterances, majority {100 * np.bincount(test_y).max() / len(test_y):.1f} %")
    for name, r in results.items():
        print(f"{name:50s} dev {r['dev']:5.1f}  test {r['test']:5.1f}  recall neg/neu/pos {r['test_recall']}  (C={r['C']})")
    return results


if __name__ == "__main__":
    main()
