"""Fits the voice reader the study picked and writes it as JSON for one small Node module.

    python -m training.experiments.voice_reader [--out models/voice/reader.json] [--lambda 0.5]
        [--pooling meanstd] [--ravdess-share 0.75]

Representation: whisper-tiny.en encoder, block 2 of 4 (1-based), mean and standard deviation
(`--pooling meanstd`; `mean` was the first reader's) over the encoder positions that cover the
utterance, from the study's feature cache: `--padding none` (log-mel not padded;
`voice_repr extract --reps whisper-tiny.en`) or `--padding trim:100:50` (the recogniser's sizing,
shipped; `python -m training.experiments.voice_trim`).
Normalisation: per session, running moments shrunk towards the prior
(the training rows' mean / std) with weight N0 = 4 pseudo-utterances (normalise.py): the first
utterance of a call is z-scored mostly with the prior, later ones more and more with the call's
own voice, so it works from the first seconds. Reader: ridge regression to the valence score
(corpora.py has the one valence mapping per corpus), trained on all four corpora with weights
that give every (corpus, valence class) cell of a corpus the same total weight, so EMOVO's 588
utterances count as much as TESS's 2800 (training_weights), and RAVDESS `--ravdess-share` of the
total (`balanced`: a quarter, as every corpus; the first reader's). Penalty: `--lambda` (alpha =
lambda x total weight). Pooling, lambda and share: picked by voice_reader_search's rule (its
docstring; the first reader had mean, 1.0, balanced).

The JSON holds everything the served path needs: prior_mean, prior_std (D,), n0, then the
reader on the normalised vector: x_mean, x_std (its standardiser), coef (D,), intercept; the
score is clip(((z - x_mean) / x_std) @ coef + intercept, -3, 3).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np

from ..common import DEFAULT_DATA_DIR, REPO_ROOT
from .corpora import CORPORA, VALENCE
from .normalise import normalise
from .readers import balanced_weights, standardiser
from .study import feature_sets, load_meta
from .voice_repr import CACHE_DIR

REP, LAYER, N0 = "whisper-tiny.en", 2, 4.0
# The recipe picked by voice_reader_search (its rule, README "Voice reader"): block 2 mean and
# standard deviation over positions, ridge lambda 0.5, RAVDESS holding 0.75 of the training weight.
POOLING, LAMBDA, RAVDESS_SHARE = "meanstd", 0.5, 0.75


def fit(x: np.ndarray, y: np.ndarray, w: np.ndarray, lam: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Weighted ridge on standardised inputs -> (x_mean, x_std, coef, intercept), as readers.ridge_path."""
    m, s = standardiser(x)
    xs = (x - m) / s
    w = w / w.mean()
    ym = float(np.sum(w * y) / np.sum(w))
    xm = (w @ xs) / np.sum(w)
    xc = xs - xm
    gram = (xc * w[:, None]).T @ xc
    coef = np.linalg.solve(gram + lam * np.sum(w) * np.eye(len(gram)), xc.T @ (w * (y - ym)))
    return m, s, coef, ym - float(xm @ coef)


def sign_classes(label: np.ndarray) -> np.ndarray:
    """-1 / 0 / +1 valence class of each label (edge 0.5)."""
    return np.sign(np.where(np.abs(label) > 0.5, label, 0.0))


def training_weights(meta, train: np.ndarray, share="balanced") -> np.ndarray:
    """Weights of the rows `train` (mean 1): every (corpus, valence class) cell the same total weight;
    with a number, RAVDESS's cells scaled so that RAVDESS holds that share of the total (the only
    corpus with two intensities and calm, which its 3-class cut needs)."""
    cls = sign_classes(meta.label[train])
    w = balanced_weights([meta.corpus[train], cls])
    rav = meta.corpus[train] == "ravdess"
    if share == "balanced" or not rav.any() or rav.all():
        return w
    share = float(share)
    if not 0 < share < 1:
        raise ValueError(f"RAVDESS share {share}: expected a number in (0, 1) or 'balanced'")
    w = w.copy()
    w[rav] *= share * w[~rav].sum() / ((1 - share) * w[rav].sum())
    return w / w.mean()


def recipe(x: np.ndarray, meta, train: np.ndarray, lam: float, share="balanced"):
    """The shipped recipe on the rows `train`: prior = the training rows' moments, per-speaker running
    normalisation (N0), ridge with training_weights. -> (prior_mean, prior_std, x_mean, x_std, coef,
    intercept, score of every row clipped to [-3, 3])."""
    pm, ps = x[train].mean(0), x[train].std(0)
    ps = np.where(ps > 1e-9, ps, 1.0)
    z = normalise(x, meta.speaker, "running", pm, ps, N0)  # per speaker: no row sees another speaker
    m, s, coef, b = fit(z[train], meta.label[train], training_weights(meta, train, share), lam)
    return pm, ps, m, s, coef, b, np.clip(((z - m) / s) @ coef + b, -3, 3)


def scores(pred: np.ndarray, label: np.ndarray) -> dict:
    """Balanced sign accuracy (positive vs negative rows, neutral ones left out; a score > 0 says
    positive) and 3-class accuracy (edges +-0.5), in percent."""
    cls = sign_classes(label)
    pos, neg = cls > 0, cls < 0
    acc3 = np.mean(np.sign(np.where(np.abs(pred) > 0.5, pred, 0)) == cls)
    return {
        "bal_sign": round(float(50 * (np.mean(pred[pos] > 0) + np.mean(pred[neg] <= 0))), 1),
        "acc3": round(float(100 * acc3), 1),
    }


def loco_scores(x: np.ndarray, meta, lam: float, share="balanced") -> dict[str, np.ndarray]:
    """Leave one corpus out with the exact recipe: corpus -> scores of its rows by a reader that never
    heard it."""
    return {c: recipe(x, meta, meta.corpus != c, lam, share)[-1][meta.corpus == c] for c in CORPORA}


def reader_features(rep: str, cache_dir: Path, meta, pooling: str) -> np.ndarray:
    """The reader's input of every row: block LAYER pooled as `pooling` (mean, or meanstd)."""
    return feature_sets(rep, cache_dir, meta, [LAYER], (pooling,))[f"{rep}/L{LAYER}/{pooling}"]


def reader_recipe(reader: dict) -> tuple[str, float, object]:
    """(pooling, lambda, RAVDESS share) of a reader JSON (readers before the share: balanced)."""
    share = reader.get("training", {}).get("ravdess_share", "balanced")
    return reader["representation"]["pooling"], reader["reader"]["lambda"], share


def representation(padding: str) -> str:
    """reader.json `representation.padding` -> the study's cached representation name."""
    if padding == "none":
        return REP
    m = re.fullmatch(r"trim:(\d+):(\d+)", padding)
    if not m:
        raise ValueError(f"padding {padding!r}: expected none or trim:MULTIPLE:MARGIN")
    return f"{REP}-trim{m[1]}-{m[2]}"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    p.add_argument("--cache-dir", type=Path, default=CACHE_DIR)
    p.add_argument("--out", type=Path, default=REPO_ROOT / "models" / "voice" / "reader.json")
    p.add_argument("--lambda", dest="lam", type=float, default=LAMBDA)
    p.add_argument("--pooling", choices=("mean", "meanstd"), default=POOLING)
    p.add_argument(
        "--ravdess-share",
        default=RAVDESS_SHARE,
        type=lambda v: v if v == "balanced" else float(v),
        help="RAVDESS's share of the training weight, or balanced (every corpus alike)",
    )
    p.add_argument(
        "--padding",
        default="trim:100:50",
        help="encoder input sizing: none (T = content frames) or trim:MULTIPLE:MARGIN (the recogniser's, "
        "default: one encoder run serves both; features from python -m training.experiments.voice_trim)",
    )
    args = p.parse_args(argv)
    meta = load_meta(args.data_dir)
    rep = representation(args.padding)
    x = reader_features(rep, args.cache_dir, meta, args.pooling)

    # Leave one corpus out with this exact recipe (prior, weights and penalty fixed, not picked).
    loco = {
        c: scores(v, meta.label[meta.corpus == c])
        for c, v in loco_scores(x, meta, args.lam, args.ravdess_share).items()
    }
    pm, ps, m, s, coef, b, pred = recipe(x, meta, np.ones(len(x), dtype=bool), args.lam, args.ravdess_share)
    train_fit = {c: scores(pred[meta.corpus == c], meta.label[meta.corpus == c]) for c in CORPORA}
    previous = json.loads(args.out.read_text()) if args.out.exists() else {}
    out = {
        "representation": {"model": "tiny.en", "layer": LAYER, "pooling": args.pooling, "padding": args.padding},
        "normaliser": {"n0": N0, "prior_mean": pm.round(7).tolist(), "prior_std": ps.round(7).tolist()},
        "reader": {
            "kind": "ridge",
            "lambda": args.lam,
            "x_mean": m.round(7).tolist(),
            "x_std": s.round(7).tolist(),
            "coef": coef.round(7).tolist(),
            "intercept": round(b, 7),
        },
        "training": {
            "corpora": {c: int(np.sum(meta.corpus == c)) for c in CORPORA},
            "valence": VALENCE,
            "weights": "balanced over (corpus, valence class) cells"
            + ("" if args.ravdess_share == "balanced" else f", RAVDESS scaled to {args.ravdess_share} of the total"),
            "ravdess_share": args.ravdess_share,
            "leave_one_corpus_out": loco,
            "on_training_rows": train_fit,
        },
    }
    if "fusion" in previous:  # chosen by voice_fusion on this reader's outputs: kept, re-check it
        out["fusion"] = previous["fusion"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out) + "\n")
    print(f"{args.out}: D={len(coef)}\nleave one corpus out: {loco}\non training rows: {train_fit}")


if __name__ == "__main__":
    main()
