"""The fusion weight W of the served voice path: score = words + W * clamp(v, -1, 1).

    python -m training.experiments.voice_fusion [--grid 0 0.25 0.5 ...] [--set-weight W]

v is the voice reader's valence (models/voice/reader.json), words the default manifest's words
model (models/manifest.json, ONNX Runtime, text only). Two checks per W of the grid:

(a) Wash-out on MOSI dev (229 rows): the voice is an espeak-ng rendering of the transcript (a
    voice that carries no sentiment; `python -m training.whisper.espeak_mosi`), plain (en-us, 160
    wpm) and with voice / rate variants (manifest.csv). One session per MOSI video, its segments
    in order (the per-session normaliser runs as in a live call). Fused Acc-2 non0 must stay within
    1 point of words alone.
(b) Voice corpora, leave one corpus out: v from the shipped recipe retrained without the corpus
    (voice_reader.loco_scores), words from labels.csv text (TESS "say the word X") or the RAVDESS
    sentence; ASED (Amharic) and EMOVO (Italian) have no transcript, so they are scored as a window
    without words (words contribution 0, score = W * clamp(v)). Balanced sign accuracy of the fused
    score must be >= 70 for each corpus and beat words alone.

Rule: among the W that pass (a) on both espeak sets, the one with the highest minimum over the
four corpora of (b); ties go to the smaller W. `--set-weight W` writes {"fusion": {"weight": W}}
into the reader JSON (its other keys unchanged). Writes training/runs/voice-fusion/results.json
and the per-row MOSI vectors of the test (training/tests/voice_fusion_vectors.json).
"""

from __future__ import annotations

import argparse
import csv
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from ..common import DEFAULT_DATA_DIR, MODELS_DIR, REPO_ROOT
from ..msa_model.metrics import sentiment_metrics
from ..msa_model.valence import ravdess_text
from .corpora import CORPORA, decode
from .normalise import running_normalise_session
from .voice_reader import LAYER, loco_scores, reader_features, reader_recipe, representation, scores
from .voice_repr import CACHE_DIR

ESPEAK_DIR = Path.home() / ".cache" / "msa" / "asr" / "mosi-dev-espeak"
ESPEAK_SETS = {"plain": "manifest-en-us-160.csv", "variants": "manifest.csv"}
GRID = (0.0, 0.1, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0)
OUT_DIR = REPO_ROOT / "training" / "runs" / "voice-fusion"
VECTORS = REPO_ROOT / "training" / "tests" / "voice_fusion_vectors.json"
READER = MODELS_DIR / "voice" / "reader.json"


# ---- the served pieces, in Python ----


def words_scorer(manifest_path: Path = MODELS_DIR / "manifest.json"):
    """texts -> words model scores (ONNX Runtime, one row per run: no padding effects); an empty
    text is a window without words and scores 0 (its contribution is exactly 0)."""
    from transformers import AutoTokenizer

    from ..onnx_io import INPUT_NAMES, ort_session

    man = json.loads(manifest_path.read_text())
    sess = ort_session(manifest_path.parent / man["file"], threads=1)
    tok = AutoTokenizer.from_pretrained(str(manifest_path.parent / man["tokenizer"]))
    cache: dict[str, float] = {}

    def one(text: str) -> float:
        if not text.strip():
            return 0.0
        if text not in cache:
            ids = tok(text, truncation=True, max_length=man["maxTextTokens"])["input_ids"]
            feeds = {
                "input_ids": np.array([ids], np.int64),
                "attention_mask": np.ones((1, len(ids)), np.int64),
                "acoustic_ids": np.array([[man["acousticPad"]]], np.int64),
                "acoustic_mask": np.zeros((1, 1), np.int64),
                "visual_ids": np.array([[man["visualPad"]]], np.int64),
                "visual_mask": np.zeros((1, 1), np.int64),
            }
            cache[text] = float(sess.run(["score"], {k: feeds[k] for k in INPUT_NAMES})[0][0])
        return cache[text]

    return lambda texts: np.array([one(t) for t in texts])


def read_reader(path: Path = READER) -> dict:
    return json.loads(path.read_text())


def reader_valence(reader: dict, x: np.ndarray, sessions: list[np.ndarray]) -> np.ndarray:
    """Pooled features (n, D) and sessions (index arrays, each in call order) -> the reader's
    valence per row, as served: running normaliser shrunk to the prior, then the ridge, clipped."""
    nm, r = reader["normaliser"], reader["reader"]
    z = np.empty_like(x, dtype=np.float64)
    for idx in sessions:
        z[idx] = running_normalise_session(x[idx], np.array(nm["prior_mean"]), np.array(nm["prior_std"]), nm["n0"])
    pred = ((z - np.array(r["x_mean"])) / np.array(r["x_std"])) @ np.array(r["coef"]) + r["intercept"]
    return np.clip(pred, -3.0, 3.0)


def as_pooled(reader: dict, x: np.ndarray) -> np.ndarray:
    """Block features (n, 2d: mean then std) -> the reader's input (its `representation.pooling`)."""
    return x if reader["representation"]["pooling"] == "meanstd" else x[:, : x.shape[1] // 2]


def fused(words: np.ndarray, v: np.ndarray, w: float) -> np.ndarray:
    """The contract with the Node side: words + W * clamp(v, -1, 1)."""
    return words + w * np.clip(v, -1.0, 1.0)


# ---- MOSI dev, espeak-ng voices ----


def mosi_sessions(ids: list[str]) -> list[np.ndarray]:
    """One session per MOSI video, its segments in segment order."""
    by_video: dict[str, list[tuple[int, int]]] = {}
    for i, seg in enumerate(ids):
        video, n = seg.rsplit("_", 1)
        by_video.setdefault(video, []).append((int(n), i))
    return [np.array([i for _, i in sorted(v)]) for _, v in sorted(by_video.items())]


def espeak_features(
    manifest: Path, padding: str, cache_dir: Path, out: Path | None = None, log=print
) -> tuple[list[str], np.ndarray]:
    """(ids, block-LAYER features (n, 2d): mean then std) of the espeak renderings of one manifest,
    cached in `out` (default: beside the study's features)."""
    from .voice_trim import encoder_upto, trimmed_block_features

    out = out or cache_dir / "features" / representation(padding) / f"mosi-espeak-meanstd-{manifest.stem}.npz"
    with open(manifest, newline="") as f:
        rows = list(csv.DictReader(f))
    ids = [r["id"] for r in rows]
    if out.exists() and list(np.load(out)["ids"]) == ids:
        return ids, np.load(out)["X"]
    multiple, margin = (0, 0) if padding == "none" else map(int, padding.split(":")[1:])
    enc = encoder_upto(cache_dir / "models" / "tiny.en", LAYER)
    t0 = time.time()
    x = np.stack([trimmed_block_features(enc, decode(Path(r["path"])), multiple, margin) for r in rows])
    x = x[:, LAYER - 1].astype(np.float32)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, ids=np.array(ids), X=x)
    log(f"{manifest.name}: {len(ids)} renderings in {time.time() - t0:.0f} s -> {out}")
    return ids, x


def mosi_rows(data_dir: Path) -> dict[str, dict]:
    with open(data_dir / "mosi" / "label.csv", newline="") as f:
        return {r["id"]: r for r in csv.DictReader(f) if r["mode"].strip() == "dev"}


def metrics_row(pred: np.ndarray, label: np.ndarray) -> dict:
    m = sentiment_metrics(pred, label)
    return {k: round(m[k], 3) for k in ("acc2_non0", "acc2_has0", "mae", "corr")}


# ---- voice corpora ----


def corpus_words(meta, data_dir: Path, score) -> np.ndarray:
    """Words score per voice-corpus row: TESS labels.csv text, the RAVDESS sentence; none for ASED
    and EMOVO (no transcript: 0)."""
    text = {}
    for c in ("tess", "ased", "emovo"):
        with open(data_dir / "voices" / c / "labels.csv", newline="", encoding="utf-8") as f:
            text.update({(c, r["id"]): r["text"] for r in csv.DictReader(f)})
    pairs = zip(meta.corpus, meta.ids, strict=True)
    texts = [ravdess_text(f"{i}.flac") if c == "ravdess" else text[(c, i)] for c, i in pairs]
    return score(texts)


def pick(table: list[dict]) -> float:
    ok = [r for r in table if all(abs(r["washout"][s]["delta_acc2_non0"]) <= 1.0 for s in ESPEAK_SETS)]
    if not ok:
        raise SystemExit("no W of the grid passes the wash-out check")
    best = max(min(r["loco"][c]["fused"]["bal_sign"] for c in CORPORA) for r in ok)
    return min(r["w"] for r in ok if min(r["loco"][c]["fused"]["bal_sign"] for c in CORPORA) == best)


def main(argv=None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    p.add_argument("--cache-dir", type=Path, default=CACHE_DIR)
    p.add_argument("--espeak-dir", type=Path, default=ESPEAK_DIR)
    p.add_argument("--reader", type=Path, default=READER)
    p.add_argument("--grid", type=float, nargs="+", default=list(GRID))
    p.add_argument("--set-weight", action="store_true", help="write the picked W into the reader JSON")
    p.add_argument("--out", type=Path, default=OUT_DIR)
    args = p.parse_args(argv)
    import torch

    from .study import load_meta

    torch.set_num_threads(1)
    reader = read_reader(args.reader)
    padding = reader["representation"]["padding"]
    pooling, lam, share = reader_recipe(reader)
    score = words_scorer()

    labels = mosi_rows(args.data_dir)
    mosi: dict[str, dict] = {}
    for name, file in ESPEAK_SETS.items():
        ids, x = espeak_features(args.espeak_dir / file, padding, args.cache_dir)
        x = as_pooled(reader, x)
        ids_l = [i for i in ids if i in labels]
        keep = np.array([i in labels for i in ids])
        mosi[name] = {
            "ids": ids_l,
            "label": np.array([float(labels[i]["label"]) for i in ids_l]),
            "words": score([labels[i]["text"] for i in ids_l]),
            "v": reader_valence(reader, x[keep], mosi_sessions(ids_l)),
        }

    meta = load_meta(args.data_dir)
    rep = representation(padding)
    v_loco = loco_scores(reader_features(rep, args.cache_dir, meta, pooling), meta, lam, share)
    words_c = corpus_words(meta, args.data_dir, score)

    table = []
    for w in args.grid:
        row = {"w": w, "washout": {}, "loco": {}}
        for name, m in mosi.items():
            base, fus = metrics_row(m["words"], m["label"]), metrics_row(fused(m["words"], m["v"], w), m["label"])
            row["washout"][name] = {
                "words": base,
                "fused": fus,
                "delta_acc2_non0": round(fus["acc2_non0"] - base["acc2_non0"], 3),
            }
        for c in CORPORA:
            k, lab = meta.corpus == c, meta.label[meta.corpus == c]
            row["loco"][c] = {"words": scores(words_c[k], lab), "fused": scores(fused(words_c[k], v_loco[c], w), lab)}
        table.append(row)
    chosen = pick(table)

    print(f"{'W':>5} | {'MOSI dev Acc-2 non0 (MAE)':^36} | fused (words) balanced sign, leave one corpus out")
    print(f"{'':>5} | {'plain espeak':^17} {'variants':^17} | " + "  ".join(f"{c:>14}" for c in CORPORA))
    for r in table:
        wo = " ".join(
            f"{r['washout'][s]['fused']['acc2_non0']:6.2f} ({r['washout'][s]['fused']['mae']:.3f})" for s in ESPEAK_SETS
        )
        lo = "  ".join(
            f"{r['loco'][c]['fused']['bal_sign']:5.1f} ({r['loco'][c]['words']['bal_sign']:4.1f})" for c in CORPORA
        )
        print(f"{r['w']:5.2f} | {wo} | {lo}{'   <- picked' if r['w'] == chosen else ''}")
    for s in ESPEAK_SETS:
        wb = table[0]["washout"][s]["words"]
        print(f"words alone, {s}: Acc-2 non0 {wb['acc2_non0']:.2f}, MAE {wb['mae']:.3f} (n={len(mosi[s]['ids'])})")
        v = mosi[s]["v"]
        print(f"  reader v on espeak {s}: mean {v.mean():+.3f}, sd {v.std():.3f}, |v|>1: {np.mean(np.abs(v) > 1):.2f}")

    command = "python -m training.experiments.voice_fusion " + " ".join(shlex.quote(a) for a in argv)
    args.out.mkdir(parents=True, exist_ok=True)
    result = {
        "command": command,
        "reader_padding": padding,
        "picked": chosen,
        "rule": __doc__.split("Rule: ")[1].split("`--set-weight")[0].strip().replace("\n", " "),
        "table": table,
    }
    (args.out / "results.json").write_text(json.dumps(result, indent=1) + "\n")
    vectors = {
        "what": "MOSI dev rows: words model score and reader valence on the espeak renderings (voice_fusion.py)",
        "command": command,
        "reader_padding": padding,
        "sets": {
            s: {
                "ids": m["ids"],
                "label": m["label"].round(4).tolist(),
                "words": m["words"].round(5).tolist(),
                "v": m["v"].round(5).tolist(),
            }
            for s, m in mosi.items()
        },
    }
    VECTORS.write_text(json.dumps(vectors) + "\n")
    if args.set_weight:
        reader["fusion"] = {"weight": chosen}
        args.reader.write_text(json.dumps(reader) + "\n")
        print(f"{args.reader}: fusion.weight = {chosen}")


if __name__ == "__main__":
    main()
