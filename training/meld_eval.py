"""How the text path holds on a corpus it never saw: MELD (TV dialogue), 3-class sentiment.

    python -m training.meld_eval --onnx models/msa-minilm-cenet.int8-weights.onnx [--out DIR] [--limit N]

No MELD row is used for training or for choosing a model: this is an out-of-domain check of the
served graph. MELD (`../shared/data/meld/{dev,test}_sent_emo.csv`) labels each utterance of a
Friends dialogue negative / neutral / positive; here there is no media, so each utterance is
scored alone, words only, as the pipeline scores a window with a transcript and no voice or face.
Curly quotes are made straight (what an ASR writes); nothing else is changed.

Scores map to classes by the project's edges (negative < -0.5 <= neutral <= 0.5 < positive,
`msa_model/valence.py`). The model learnt its scale on MOSI / MOSEI, whose "neutral" need not
sit where MELD's does, so a second cut is reported too: the symmetric edge that maximises weighted
F1 on MELD dev, applied to MELD test (a calibration a user can do on their own labelled sample).
Reported per split: 3-class accuracy and weighted F1 at both edges, Acc-2 on the rows that are
not neutral (score sign), the mean score per class, and the majority-class and chance baselines.
Writes meld.json and meld.md into --out; --update-manifest FILE... records the test figures under
`outOfDomain.meld` of the given manifests (run it after `training.export`, which rewrites them).
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from .common import DEFAULT_DATA_DIR, MODELS_DIR, clean_nans, record_in_manifests, set_threads, write_json

CLASSES = ("negative", "neutral", "positive")
QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'})
EDGE_GRID = tuple(round(0.05 * i, 2) for i in range(1, 41))  # 0.05 .. 2.0


def load_meld(path: Path, limit: int | None = None) -> tuple[list[str], list[int]]:
    """(texts, class indices 0 negative / 1 neutral / 2 positive) of one MELD split CSV."""
    texts, classes = [], []
    with open(path, newline="", encoding="utf-8") as f:
        for i, row in enumerate(csv.DictReader(f), start=2):
            sentiment = (row.get("Sentiment") or "").strip().lower()
            if sentiment not in CLASSES:
                raise ValueError(f"{path}:{i}: Sentiment {row.get('Sentiment')!r} is not one of {CLASSES}")
            texts.append((row.get("Utterance") or "").translate(QUOTES).strip())
            classes.append(CLASSES.index(sentiment))
            if limit and len(texts) >= limit:
                break
    return texts, classes


def split_metrics(scores, classes, edges: dict[str, float]) -> dict:
    import numpy as np
    from sklearn.metrics import accuracy_score, f1_score

    from .msa_model.valence import valence_class

    s, y = np.asarray(scores, dtype=np.float64), np.asarray(classes)
    out: dict = {"n": int(len(y))}
    for name, edge in edges.items():
        pred = valence_class(s, edge)
        out[name] = {
            "edge": edge,
            "acc3": 100 * float(accuracy_score(y, pred)),
            "f1_weighted": 100 * float(f1_score(y, pred, average="weighted")),
            "recall": {
                c: 100 * float((pred[y == k] == k).mean()) if (y == k).any() else None for k, c in enumerate(CLASSES)
            },
        }
    polar = y != 1
    out["acc2_polar"] = 100 * float(((s[polar] > 0) == (y[polar] == 2)).mean()) if polar.any() else None
    out["mean_score"] = {c: float(s[y == k].mean()) if (y == k).any() else None for k, c in enumerate(CLASSES)}
    counts = np.bincount(y, minlength=3)
    out["majority"] = {"class": CLASSES[int(counts.argmax())], "acc3": 100 * float(counts.max() / len(y))}
    return out


def best_edge(scores, classes) -> float:
    """The symmetric edge of EDGE_GRID with the highest weighted F1 (the smallest on ties)."""
    from sklearn.metrics import f1_score

    from .msa_model.valence import valence_class

    f1 = [f1_score(classes, valence_class(scores, e), average="weighted") for e in EDGE_GRID]
    return EDGE_GRID[max(range(len(f1)), key=lambda i: (f1[i], -i))]


def score_texts(onnx: Path, manifest: Path, texts: dict[str, list[str]], threads: int = 2) -> dict:
    """Scores of each split's texts (words only), with one tokenizer and one ONNX Runtime session."""
    from .common import pads_for
    from .msa_model.config import model_config_from_dict
    from .msa_model.data import Encoded, Sample
    from .msa_model.encoder import load_tokenizer
    from .msa_model.evaluation import predict
    from .onnx_io import ort_predictor, ort_session

    cfg = model_config_from_dict(json.loads(manifest.read_text())["training"]["modelConfig"])
    tokenizer = load_tokenizer(cfg.text_encoder)
    predictor, pads = ort_predictor(ort_session(onnx, threads)), pads_for(tokenizer, cfg)
    return {
        split: predict(
            predictor,
            Encoded([Sample(str(i), t, 0.0, "test", "meld") for i, t in enumerate(ts)], tokenizer, cfg.max_text_tokens),
            pads,
            progress=True,
            desc=f"meld {split}",
        )
        for split, ts in texts.items()
    }


def markdown(result: dict) -> str:
    lines = [
        "| MELD split | n | majority acc3 | acc3 / weighted F1, edge 0.5 | "
        f"acc3 / weighted F1, edge {result['dev_edge']} (chosen on dev) | Acc-2, polar rows | "
        "mean score neg / neu / pos |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, m in result["splits"].items():
        p, d, ms = m["project_edge"], m["dev_edge"], m["mean_score"]
        lines.append(
            f"| {name} | {m['n']} | {m['majority']['acc3']:.1f} ({m['majority']['class']}) | "
            f"{p['acc3']:.1f} / {p['f1_weighted']:.1f} | {d['acc3']:.1f} / {d['f1_weighted']:.1f} | "
            f"{m['acc2_polar']:.1f} | {ms['negative']:.2f} / {ms['neutral']:.2f} / {ms['positive']:.2f} |"
        )
    lines += [
        "",
        "Words only, each utterance alone; chance acc3 33.3. Classes: negative < -edge <= neutral <= edge < positive.",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(
        prog="python -m training.meld_eval", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--onnx", type=Path, default=MODELS_DIR / "msa-minilm-cenet.int8-weights.onnx")
    p.add_argument("--manifest", type=Path, default=MODELS_DIR / "manifest.json")
    p.add_argument("--meld-dir", type=Path, default=DEFAULT_DATA_DIR / "meld")
    p.add_argument("--limit", type=int, default=None, help="first N rows of each split (a quick check)")
    p.add_argument("--out", type=Path, default=None, help="folder for meld.json / meld.md")
    p.add_argument(
        "--update-manifest",
        type=Path,
        nargs="*",
        default=[],
        help="manifests to record the MELD test figures in (outOfDomain.meld)",
    )
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    set_threads(args.threads)
    from .msa_model.valence import VALENCE_CLASS_EDGE

    texts, classes = {}, {}
    for split in ("dev", "test"):
        texts[split], classes[split] = load_meld(args.meld_dir / f"{split}_sent_emo.csv", args.limit)
    scores = score_texts(args.onnx, args.manifest, texts, args.threads)
    edge = best_edge(scores["dev"], classes["dev"])
    edges = {"project_edge": VALENCE_CLASS_EDGE, "dev_edge": edge}
    result = {
        "model": str(args.onnx),
        "dev_edge": edge,
        "splits": {f"meld_{s}": split_metrics(scores[s], classes[s], edges) for s in ("dev", "test")},
    }
    print(markdown(result), end="")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        write_json(args.out / "meld.json", clean_nans(result))
        (args.out / "meld.md").write_text(markdown(result))
    if args.update_manifest:
        test = result["splits"]["meld_test"]
        record_in_manifests(
            args.update_manifest,
            "outOfDomain",
            {
                "meld": {
                    "what": "MELD test (Friends dialogue, never used for training or selection), words only, "
                    "each utterance alone",
                    "command": "python -m training.meld_eval",
                    "n": test["n"],
                    "acc3": round(test["project_edge"]["acc3"], 2),
                    "f1Weighted": round(test["project_edge"]["f1_weighted"], 2),
                    "acc2Polar": round(test["acc2_polar"], 2),
                    "devEdge": edge,
                    "acc3DevEdge": round(test["dev_edge"]["acc3"], 2),
                    "majorityAcc3": round(test["majority"]["acc3"], 2),
                }
            },
        )
    return result


if __name__ == "__main__":
    main()
