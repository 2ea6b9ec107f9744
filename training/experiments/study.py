"""The study grid: representations x normalisations x readers x protocols, and the report.

Protocols (nothing is tuned on the rows it is scored on):
  ravdess_cv  6 folds over RAVDESS actors (`nonverbal.ravdess_split(actor, fold)`: test block k,
              dev block k - 1, train the other 16 actors). The reader's penalty and class weighting
              are picked on the dev actors (3-class accuracy, then MAE); test 3-class accuracy,
              MAE and sign are reported, mean and sd over folds.
  loco        leave one corpus out: train on the other three corpora, test on every utterance of
              the held-out one. Penalty and weighting are picked by an inner leave-one-corpus-out
              over the three training corpora (mean balanced sign accuracy, then MAE), then the
              reader is refitted on all three. The normalisation prior is always fitted on the
              rows the reader trains on.
  within      within one corpus by speaker (ASED 5 folds of speakers, EMOVO and TESS one speaker
              out), penalty picked by an inner split over the training speakers (`probe`).
Nested selection across settings (`nested` in the report): for each fold / held-out corpus the
setting (layer, pooling, normalisation) with the best selection score (dev / inner) is taken and
its test figures reported, so the summary row is not a max over test results.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..msa_model.valence import RAVDESS_FOLDS, ravdess_split, valence_class
from .corpora import CORPORA, list_corpus
from .extract import REPRESENTATIONS, load_features
from .normalise import normalise
from .readers import (
    LOGREG_CS,
    RIDGE_LAMBDAS,
    balanced_weights,
    baselines,
    logreg_path,
    metrics,
    mlp_fit_predict,
    ridge_path,
)

NORMS = ("none", "running-4", "running-16", "running-64", "oracle")
READERS = ("ridge", "logreg", "mlp")
MLP_ALPHAS = (1e-1, 1.0)


@dataclass
class Meta:
    ids: np.ndarray
    corpus: np.ndarray
    speaker: np.ndarray
    emotion: np.ndarray
    label: np.ndarray

    def subset(self, mask: np.ndarray) -> Meta:
        return Meta(*(getattr(self, k)[mask] for k in ("ids", "corpus", "speaker", "emotion", "label")))


def load_meta(data_dir: Path) -> Meta:
    """All utterances of the four corpora, CORPORA order, each corpus sorted by id (the cache order)."""
    utts = [u for c in CORPORA for u in list_corpus(c, data_dir)]
    return Meta(
        np.array([u.id for u in utts]),
        np.array([u.corpus for u in utts]),
        np.array([u.speaker for u in utts]),
        np.array([u.emotion for u in utts]),
        np.array([u.label for u in utts], dtype=np.float64),
    )


def feature_sets(
    rep: str, cache_dir: Path, meta: Meta, layers: list[int] | None = None, poolings=("meanstd",)
) -> dict[str, np.ndarray]:
    """Cached representation of all corpora -> {set name: X (N, D)}. Whisper: one set per layer
    (1-based) and pooling ('mean' = first half of the pooled vector, 'meanstd' = all of it)."""
    parts, ids = [], []
    for c in CORPORA:
        i, x = load_features(rep, c, cache_dir)
        parts.append(x)
        ids.append(i)
    if not np.array_equal(np.concatenate(ids), meta.ids):
        raise ValueError(f"{rep}: cached ids differ from the corpus listing (re-run extract)")
    x = np.concatenate(parts).astype(np.float64)
    if x.ndim == 2:
        return {rep: x}
    out = {}
    d = x.shape[2] // 2
    for layer in layers or range(1, x.shape[1] + 1):
        for pool in poolings:
            out[f"{rep}/L{layer}/{pool}"] = x[:, layer - 1, :d] if pool == "mean" else x[:, layer - 1]
    return out


def prepare(x: np.ndarray, speakers: np.ndarray, train: np.ndarray, norm: str, seed: int = 0) -> np.ndarray:
    """Impute NaNs with training column means, then normalise per speaker ('running-<N0>' with
    the training rows' mean / std as prior)."""
    x = np.array(x, dtype=np.float64)
    if np.isnan(x).any():
        col = np.nanmean(x[train], axis=0)
        col = np.where(np.isnan(col), 0.0, col)
        x = np.where(np.isnan(x), col, x)
    if norm.startswith("running-"):
        m, s = x[train].mean(0), x[train].std(0)
        return normalise(x, speakers, "running", m, np.where(s > 1e-9, s, 1.0), float(norm.split("-")[1]), seed)
    return normalise(x, speakers, norm)


# ---- one reader over one train / evaluation split, every hyper-parameter at once ----


def reader_configs(
    reader: str,
    z: np.ndarray,
    meta: Meta,
    train: np.ndarray,
    evals: list[np.ndarray],
    weightings: dict[str, np.ndarray],
) -> list[tuple[dict, list[dict], list[np.ndarray]]]:
    """-> [(config, [metrics of each evaluation mask], [predicted scores of each])] over the reader's
    hyper-parameter grid and the given training-weight schemes (weights over the training rows)."""
    y, cls = meta.label[train], valence_class(meta.label[train])
    xe = [z[e] for e in evals]
    out = []
    for wname, w in weightings.items():
        if reader == "ridge":
            for lam, preds in zip(RIDGE_LAMBDAS, ridge_path(z[train], y, w, xe), strict=True):
                out.append(
                    (
                        {"weights": wname, "lambda": lam},
                        [metrics(meta.label[e], p, meta.emotion[e]) for e, p in zip(evals, preds, strict=True)],
                        preds,
                    )
                )
        elif reader == "logreg":
            for c, res in zip(LOGREG_CS, logreg_path(z[train], cls, y, w, xe), strict=True):
                out.append(
                    (
                        {"weights": wname, "C": c},
                        [
                            metrics(meta.label[e], s, meta.emotion[e], cls_pred=p.argmax(1), sign_pos=p[:, 2] > p[:, 0])
                            for e, (p, s) in zip(evals, res, strict=True)
                        ],
                        [s for _, s in res],
                    )
                )
        elif reader == "mlp":
            for a in MLP_ALPHAS:
                preds = mlp_fit_predict(z[train], y, w, xe, alpha=a)
                out.append(
                    (
                        {"weights": wname, "alpha": a},
                        [metrics(meta.label[e], p, meta.emotion[e]) for e, p in zip(evals, preds, strict=True)],
                        preds,
                    )
                )
        else:
            raise ValueError(reader)
    return out


def ravdess_cv(
    x: np.ndarray, meta: Meta, norm: str, reader: str, transform=None, sessions=None, keep_preds: bool = False
) -> dict:
    """6 folds over RAVDESS actors; per fold the config with the best dev 3-class accuracy (then MAE).
    transform(z, train) -> z' runs after the normalisation (e.g. PCA fitted on train); sessions
    (N,) replaces the speaker as the normalisation's session; keep_preds adds test predictions."""
    rav = meta.corpus == "ravdess"
    m, xr = meta.subset(rav), x[rav]
    sess = (meta.speaker if sessions is None else sessions)[rav]
    actors = np.array([int(s.removeprefix("ravdess")) for s in m.speaker])
    folds = []
    for fold in range(RAVDESS_FOLDS):
        split = np.array([ravdess_split(int(a), fold) for a in actors])
        train, dev, test = split == "train", split == "dev", split == "test"
        z = prepare(xr, np.where(train, m.speaker, sess), train, norm)
        z = transform(z, train) if transform else z
        weights = {"none": np.ones(train.sum()), "class": balanced_weights([valence_class(m.label[train])])}
        configs = reader_configs(reader, z, m, train, [dev, test], weights)
        cfg, (dev_m, test_m), (_, test_p) = max(configs, key=lambda c: (round(c[1][0]["acc3"], 6), -c[1][0]["mae"]))
        folds.append(
            {
                "fold": fold,
                "config": cfg,
                "dev": dev_m,
                "test": test_m,
                "select": [dev_m["acc3"], -dev_m["mae"]],
                "baselines": baselines(m.label[train], m.label[test]),
            }
            | ({"pred": test_p, "rows": np.nonzero(rav)[0][test]} if keep_preds else {})
        )
    return {"folds": folds, "summary": summarise([f["test"] for f in folds])}


def loco(
    x: np.ndarray, meta: Meta, norm: str, reader: str, transform=None, sessions=None, keep_preds: bool = False
) -> dict:
    """Leave one corpus out, hyper-parameters by inner leave-one-corpus-out on the training corpora.
    transform, sessions, keep_preds: as ravdess_cv (sessions apply to evaluation rows only; the
    training rows keep their speakers)."""
    held_out = []
    sess = meta.speaker if sessions is None else sessions
    for held in CORPORA:
        others = [c for c in CORPORA if c != held]
        inner_scores: dict[str, list[dict]] = {}
        cfg_by_key = {}
        for val in others:
            train = np.isin(meta.corpus, [c for c in others if c != val])
            z = prepare(x, np.where(train, meta.speaker, sess), train, norm)
            z = transform(z, train) if transform else z
            for cfg, (vm,), _ in reader_configs(
                reader, z, meta, train, [meta.corpus == val], loco_weights(meta, train)
            ):
                key = json.dumps(cfg, sort_keys=True)
                cfg_by_key[key] = cfg
                inner_scores.setdefault(key, []).append(vm)
        key = max(
            inner_scores,
            key=lambda k: (
                round(float(np.mean([v["bal_sign"] for v in inner_scores[k]])), 6),
                -float(np.mean([v["mae"] for v in inner_scores[k]])),
            ),
        )
        cfg = cfg_by_key[key]
        train, test = meta.corpus != held, meta.corpus == held
        z = prepare(x, np.where(train, meta.speaker, sess), train, norm)
        z = transform(z, train) if transform else z
        weights = {cfg["weights"]: loco_weights(meta, train)[cfg["weights"]]}
        ((_, (tm,), (tp,)),) = [
            c
            for c in reader_configs(reader, z, meta, train, [test], weights)
            if json.dumps(c[0], sort_keys=True) == key
        ]
        inner = {k: float(np.mean([v[k] for v in inner_scores[key]])) for k in ("bal_sign", "mae", "acc3")}
        held_out.append(
            {
                "corpus": held,
                "config": cfg,
                "inner": inner,
                "test": tm,
                "select": [inner["bal_sign"], -inner["mae"]],
                "baselines": baselines(meta.label[train], meta.label[test]),
            }
            | ({"pred": tp, "rows": np.nonzero(test)[0]} if keep_preds else {})
        )
    return {"held_out": held_out}


def loco_weights(meta: Meta, train: np.ndarray) -> dict[str, np.ndarray]:
    """Training-row weights: each corpus the same total ('corpus'), or each corpus x 3-class cell
    the same total ('corpus+class')."""
    c, k = meta.corpus[train], valence_class(meta.label[train])
    return {"corpus": balanced_weights([c]), "corpus+class": balanced_weights([c, k])}


def summarise(ms: list[dict]) -> dict:
    out = {}
    for key in ("acc3", "mae", "bal_sign", "happy_angry"):
        xs = [m[key] for m in ms if not np.isnan(m[key])]
        out[key] = {"mean": statistics.fmean(xs), "sd": statistics.stdev(xs) if len(xs) > 1 else 0.0}
    return out


# ---- the grid ----


def add_evaluate_args(p) -> None:
    p.add_argument("--reps", nargs="+", default=list(REPRESENTATIONS), choices=REPRESENTATIONS)
    p.add_argument("--layers", nargs="+", type=int, help="Whisper layers (1-based; default all)")
    p.add_argument("--poolings", nargs="+", default=["meanstd"], choices=["mean", "meanstd"])
    p.add_argument(
        "--norms",
        nargs="+",
        default=["none", "running-16", "oracle"],
        help=f"normalisations: none, running-<N0>, oracle (e.g. {' '.join(NORMS)})",
    )
    p.add_argument("--readers", nargs="+", default=["ridge"], choices=READERS)
    p.add_argument("--protocols", nargs="+", default=["ravdess_cv", "loco"], choices=["ravdess_cv", "loco"])
    p.add_argument(
        "--tag",
        default="grid",
        help="results file OUT/results-<tag>.jsonl (appended; rows already there are skipped, so a run resumes)",
    )
    p.add_argument("--report-only", action="store_true", help="only rebuild OUT/report.md and OUT/results.json")


def cmd_evaluate(args, command: str) -> None:
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.report_only:
        meta = load_meta(args.data_dir)
        path = args.out / f"results-{args.tag}.jsonl"
        done = {(r["set"], r["norm"], r["reader"], r["protocol"]) for r in read_rows(path)}
        for rep in args.reps:
            sets = feature_sets(rep, args.cache_dir, meta, args.layers, args.poolings)
            for name, x in sets.items():
                for norm in args.norms:
                    for reader in args.readers:
                        for protocol in args.protocols:
                            if (name, norm, reader, protocol) in done:
                                continue
                            t0 = time.time()
                            res = (ravdess_cv if protocol == "ravdess_cv" else loco)(x, meta, norm, reader)
                            row = {
                                "set": name,
                                "rep": rep,
                                "dim": int(x.shape[1]),
                                "norm": norm,
                                "reader": reader,
                                "protocol": protocol,
                                "seconds": round(time.time() - t0, 1),
                                "command": command,
                            } | res
                            with open(path, "a") as f:
                                f.write(json.dumps(row) + "\n")
                            print(time.strftime("%H:%M:%S"), one_line(row), flush=True)
    from .report import write_report

    write_report(args.out)


def read_rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def one_line(row: dict) -> str:
    head = f"{row['set']:32s} {row['norm']:11s} {row['reader']:6s} {row['protocol']:10s}"
    if row["protocol"] == "ravdess_cv":
        s = row["summary"]
        return (
            f"{head} acc3 {s['acc3']['mean']:.1f}+-{s['acc3']['sd']:.1f} mae {s['mae']['mean']:.3f}"
            f" sign {s['bal_sign']['mean']:.1f} ({row['seconds']} s)"
        )
    return (
        head
        + " "
        + " ".join(f"{h['corpus']} {h['test']['bal_sign']:.1f}/{h['test']['acc3']:.1f}" for h in row["held_out"])
        + f" ({row['seconds']} s)"
    )


# ---- probes (bag of ids, single-emotion sessions, position in session, within-corpus) ----


def add_probe_args(p) -> None:
    p.add_argument("--set", required=True, help="feature set name, e.g. whisper-base/L6/meanstd or functionals")
    p.add_argument("--norm", default="running-16")
    p.add_argument(
        "--checks",
        nargs="+",
        default=["position", "single_emotion", "within", "pca", "bag"],
        choices=["position", "single_emotion", "within", "pca", "bag", "seeds", "mlp"],
    )
    p.add_argument("--tag", default="probe")


def cmd_probe(args, command: str) -> None:
    from .probes import run_probes

    run_probes(args, command)
