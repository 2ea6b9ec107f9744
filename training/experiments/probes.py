"""Extra checks on one chosen setting (feature set + normalisation), ridge reader unless said:

  position        sign / 3-class accuracy by the utterance's position in its session (1, 2-3, 4-10,
                  11-30, > 30): does the running normaliser work in a call's first seconds?
  single_emotion  test sessions made of ONE emotion of one speaker (an all-angry call): the running
                  normaliser then pulls the session towards neutral. The honest worst case of a
                  per-session normaliser; acted corpora otherwise hand it a balanced session.
  seeds           session orders from 5 seeds (spread of the LOCO figures).
  within          within-corpus by speaker: ASED 5 folds of speakers, EMOVO and TESS one speaker out.
  pca             PCA to k dimensions (fitted on the reader's training rows, after normalisation).
  bag             k-means "acoustic words" (k = 64) over the frame-level hidden states of the set's
                  Whisper layer: bag of ids alone and next to the pooled vector.
  mlp             the MLP regression reader instead of ridge.
Writes OUT/probe-<set>-<norm>.json and prints a summary.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from ..msa_model.valence import valence_class
from .corpora import CORPORA
from .readers import metrics, ridge_path
from .study import feature_sets, load_meta, loco, prepare, ravdess_cv

POSITION_BUCKETS = ((1, 1), (2, 3), (4, 10), (11, 30), (31, 10**6))


def _loco_summary(res: dict) -> dict:
    return {
        h["corpus"]: {k: round(h["test"][k], 2) for k in ("bal_sign", "acc3", "mae", "happy_neg")}
        for h in res["held_out"]
    }


def _cv_summary(res: dict) -> dict:
    return {k: round(v["mean"], 2) for k, v in res["summary"].items()}


def probe_position(x, meta, norm) -> dict:
    from .normalise import session_positions

    pos = session_positions(meta.speaker)
    res = loco(x, meta, norm, "ridge", keep_preds=True)
    out = {}
    for h in res["held_out"]:
        rows, pred = h["rows"], h["pred"]
        out[h["corpus"]] = {}
        for lo, hi in POSITION_BUCKETS:
            m = (pos[rows] >= lo) & (pos[rows] <= hi)
            if m.sum() >= 20:
                mm = metrics(meta.label[rows][m], pred[m], meta.emotion[rows][m])
                out[h["corpus"]][f"{lo}-{hi if hi < 10**6 else 'end'}"] = {
                    "n": int(m.sum()),
                    "bal_sign": round(mm["bal_sign"], 1),
                    "acc3": round(mm["acc3"], 1),
                }
    return out


def probe_single_emotion(x, meta, norm) -> dict:
    sessions = np.array([f"{s}|{e}" for s, e in zip(meta.speaker, meta.emotion, strict=True)])
    return {
        "loco_speaker_sessions": _loco_summary(loco(x, meta, norm, "ridge")),
        "loco_single_emotion_sessions": _loco_summary(loco(x, meta, norm, "ridge", sessions=sessions)),
        "ravdess_cv_single_emotion_sessions": _cv_summary(ravdess_cv(x, meta, norm, "ridge", sessions=sessions)),
    }


def probe_seeds(x, meta, norm) -> dict:
    import training.experiments.study as study

    out = {}
    original = study.prepare
    for seed in range(5):
        study.prepare = lambda x_, s_, t_, n_, seed=seed: original(x_, s_, t_, n_, seed)
        out[seed] = _loco_summary(study.loco(x, meta, norm, "ridge"))
    study.prepare = original
    return out


def probe_pca(x, meta, norm, ks=(16, 32, 64, 128)) -> dict:
    def pca(k):
        def f(z, train):
            m = z[train].mean(0)
            _, _, vt = np.linalg.svd(z[train] - m, full_matrices=False)
            return (z - m) @ vt[:k].T

        return f

    out = {}
    for k in ks:
        if k >= x.shape[1]:
            continue
        out[k] = {
            "loco": _loco_summary(loco(x, meta, norm, "ridge", transform=pca(k))),
            "ravdess_cv": _cv_summary(ravdess_cv(x, meta, norm, "ridge", transform=pca(k))),
        }
    return out


def probe_mlp(x, meta, norm) -> dict:
    return {
        "loco": _loco_summary(loco(x, meta, norm, "mlp")),
        "ravdess_cv": _cv_summary(ravdess_cv(x, meta, norm, "mlp")),
    }


def probe_within(x, meta, norm) -> dict:
    """Within one corpus, by speaker; penalty picked on an inner split of the training speakers
    (TESS: one training speaker, so a seeded half of her utterances)."""
    from .readers import RIDGE_LAMBDAS, balanced_weights

    out = {}
    for corpus in ("ased", "emovo", "tess"):
        c = meta.corpus == corpus
        m, xc = meta.subset(c), x[c]
        spk = sorted(set(m.speaker.tolist()))
        group = {s: (i % 5 if corpus == "ased" else i) for i, s in enumerate(spk)}
        g = np.array([group[s] for s in m.speaker])
        folds = []
        for k in sorted(set(g.tolist())):
            train, test = g != k, g == k
            tr_groups = sorted(set(g[train].tolist()))
            if len(tr_groups) > 1:
                inner = [(train & (g != v), g == v) for v in tr_groups]
            else:
                half = np.random.default_rng(0).random(len(g)) < 0.5
                inner = [(train & half, train & ~half)]
            scores = np.zeros(len(RIDGE_LAMBDAS))
            for itr, iva in inner:
                z = prepare(xc, m.speaker, itr, norm)
                w = balanced_weights([valence_class(m.label[itr])])
                for j, (p,) in enumerate(ridge_path(z[itr], m.label[itr], w, [z[iva]])):
                    scores[j] += metrics(m.label[iva], p, m.emotion[iva])["bal_sign"]
            lam = RIDGE_LAMBDAS[int(np.argmax(scores))]
            z = prepare(xc, m.speaker, train, norm)
            ((p,),) = ridge_path(
                z[train], m.label[train], balanced_weights([valence_class(m.label[train])]), [z[test]], lambdas=(lam,)
            )
            mm = metrics(m.label[test], p, m.emotion[test])
            folds.append({"fold": k, "lambda": lam, **{key: round(mm[key], 2) for key in ("bal_sign", "acc3", "mae")}})
        out[corpus] = {
            "folds": folds,
            "bal_sign_mean": round(float(np.mean([f["bal_sign"] for f in folds])), 2),
            "acc3_mean": round(float(np.mean([f["acc3"] for f in folds])), 2),
        }
    return out


def frame_states(set_name: str, meta, cache_dir: Path, data_dir: Path, max_frames: int = 400) -> list[np.ndarray]:
    """Frame-level hidden states (L_i, d) of the set's Whisper layer for every utterance, float16,
    cached (npz per set)."""
    from .corpora import list_corpus, load_audio
    from .whisper_encoder import WhisperEncoder, covered_positions, log_mel

    rep, layer, _ = set_name.split("/")
    path = cache_dir / "frames" / f"{rep}-{layer}.npz"
    if path.exists():
        z = np.load(path)
        off = z["offsets"]
        return [z["x"][off[i] : off[i + 1]] for i in range(len(off) - 1)]
    model = rep.removeprefix("whisper-").removesuffix("-pad30")
    enc = WhisperEncoder(cache_dir / "models" / model)
    li = int(layer[1:]) - 1
    states = []
    t0 = time.time()
    for c in CORPORA:
        utts = list_corpus(c, data_dir)
        for w in load_audio(c, utts, cache_dir):
            mel, t = log_mel(w, rep.endswith("-pad30"))
            states.append(enc.layers(mel)[li][: covered_positions(t)][:max_frames].astype(np.float16))
        print(f"frames {c}: {time.time() - t0:.0f} s", flush=True)
    off = np.cumsum([0] + [len(s) for s in states])
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x=np.concatenate(states), offsets=off)
    return states


def probe_bag(set_name, x, meta, norm, cache_dir, data_dir, k: int = 64) -> dict:
    """Bag of k-means ids over frame states (codebook fitted on at most 30000 training frames,
    frames z-scored with training statistics), as a feature alone and appended to the pooled set."""
    from sklearn.cluster import KMeans

    states = frame_states(set_name, meta, cache_dir, data_dir)
    rng = np.random.default_rng(0)

    def bags(train):
        tr = np.nonzero(train)[0]
        pool = np.concatenate(
            [states[i][rng.choice(len(states[i]), size=min(8, len(states[i])), replace=False)] for i in tr]
        ).astype(np.float64)
        pool = pool[rng.permutation(len(pool))[:30000]]
        m, s = pool.mean(0), pool.std(0) + 1e-6
        km = KMeans(k, n_init=2, random_state=0).fit((pool - m) / s)
        return np.stack(
            [np.bincount(km.predict((st.astype(np.float64) - m) / s), minlength=k) / len(st) for st in states]
        )

    # The bag depends on the training rows, so it is built inside `transform` (called with the
    # fold's training mask); it sees only the fold's training frames.
    cache: dict[bytes, np.ndarray] = {}

    def bag_of(train):
        key = np.packbits(train).tobytes()
        if key not in cache:
            cache[key] = bags(train)
        return cache[key]

    def only_bag(z, train):
        return bag_of(train) if len(train) == len(meta.label) else bag_of_rav(train)

    rav_idx = np.nonzero(meta.corpus == "ravdess")[0]

    def bag_of_rav(train_rav):
        full = np.zeros(len(meta.label), dtype=bool)
        full[rav_idx[train_rav]] = True
        return bag_of(full)[rav_idx]

    def with_bag(z, train):
        return np.concatenate([z, only_bag(z, train)], axis=1)

    return {
        "bag_only": {
            "loco": _loco_summary(loco(x, meta, "none", "ridge", transform=only_bag)),
            "ravdess_cv": _cv_summary(ravdess_cv(x, meta, "none", "ridge", transform=only_bag)),
        },
        "pooled_plus_bag": {
            "loco": _loco_summary(loco(x, meta, norm, "ridge", transform=with_bag)),
            "ravdess_cv": _cv_summary(ravdess_cv(x, meta, norm, "ridge", transform=with_bag)),
        },
        "pooled": {
            "loco": _loco_summary(loco(x, meta, norm, "ridge")),
            "ravdess_cv": _cv_summary(ravdess_cv(x, meta, norm, "ridge")),
        },
    }


def run_probes(args, command: str) -> None:
    meta = load_meta(args.data_dir)
    rep = args.set.split("/")[0]
    layers = [int(args.set.split("/")[1][1:])] if "/" in args.set else None
    pools = [args.set.split("/")[2]] if "/" in args.set else ["meanstd"]
    x = feature_sets(rep, args.cache_dir, meta, layers, pools)[args.set]
    out_path = args.out / f"probe-{args.set.replace('/', '_')}-{args.norm}.json"
    result = json.loads(out_path.read_text()) if out_path.exists() else {"set": args.set, "norm": args.norm}
    for check in args.checks:
        t0 = time.time()
        if check == "position":
            r = probe_position(x, meta, args.norm)
        elif check == "single_emotion":
            r = probe_single_emotion(x, meta, args.norm)
        elif check == "seeds":
            r = probe_seeds(x, meta, args.norm)
        elif check == "within":
            r = probe_within(x, meta, args.norm)
        elif check == "pca":
            r = probe_pca(x, meta, args.norm)
        elif check == "mlp":
            r = probe_mlp(x, meta, args.norm)
        elif check == "bag":
            if not rep.startswith("whisper"):
                continue
            r = probe_bag(args.set, x, meta, args.norm, args.cache_dir, args.data_dir)
        result[check] = {"result": r, "seconds": round(time.time() - t0, 1), "command": command}
        print(time.strftime("%H:%M:%S"), check, json.dumps(r), flush=True)
        args.out.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps(result, indent=1))
