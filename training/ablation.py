"""Per-path evaluation and modality ablations of a multi-source model.

    python -m training.ablation --checkpoint training/runs/mm-v1/best.pt \
        --ravdess FEAT/ravdess/features.jsonl --fer FEAT/fer/features.jsonl --codebook-dir models/codebooks
    python -m training.ablation --onnx models/msa-minilm-cenet.int8.onnx ...   (config from models/manifest.json)

Every evaluation set (RAVDESS test actors, FER test images, MOSEI test, MOSI dev, and the dev
sets) is scored with all its modalities, and with each modality masked in turn: text masked =
the words replaced by "" ([CLS] [SEP], as rows without words); audio / video masked = the
modality absent (pad id, mask 0). Reported: 3-class valence accuracy (negative < -0.5 <= neutral
<= 0.5 < positive, training/msa_model/valence.py), MAE, the MMSA metrics, and for the emotion
corpora the chance (1/3) and majority baselines (the training split's most frequent class and
median label). Writes <run>/ablation.json and <run>/ablation.md (default run = the checkpoint's
folder, or --out).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .common import (
    DEFAULT_DATA_DIR,
    MODELS_DIR,
    add_ravdess_fold_arg,
    clean_nans,
    load_checkpoint,
    pads_for,
    set_threads,
    write_json,
)

CONDITIONS = ("all", "no_text", "no_audio", "no_video")


def load_samples(args, cfg):
    from .msa_model.codebook import JsonCodebook
    from .msa_model.data import load_datasets
    from .msa_model.nonverbal_data import load_fer_featurized, load_ravdess_featurized
    from .msa_model.valence import fer_splits_from_dir

    samples = load_datasets(args.data_dir, ["mosei", "mosi"])
    cb_a = JsonCodebook(args.codebook_dir / "acoustic.json")
    cb_v = JsonCodebook(args.codebook_dir / "visual.json")
    if args.ravdess:
        samples += load_ravdess_featurized(args.ravdess, cb_a, cb_v, cfg.max_nonverbal_len, fold=args.ravdess_fold)
    if args.fer:
        samples += load_fer_featurized(
            args.fer, fer_splits_from_dir(args.fer_dir or args.data_dir / "fer2013"), cb_v, cb_a, cfg.max_nonverbal_len
        )
    return samples


def masked(samples, condition: str):
    from dataclasses import replace

    if condition == "no_text":
        return [replace(s, text="") for s in samples]
    if condition == "no_audio":
        return [replace(s, acoustic_ids=[]) for s in samples]
    if condition == "no_video":
        return [replace(s, visual_ids=[]) for s in samples]
    return samples


def valence_report(preds, labels) -> dict:
    import numpy as np

    from .msa_model.valence import valence_class

    yc, pc = valence_class(labels), valence_class(preds)
    per_class = {
        name: (float((pc[yc == c] == c).mean() * 100) if (yc == c).any() else None)
        for c, name in enumerate(("negative", "neutral", "positive"))
    }
    return {
        "acc3": float((yc == pc).mean() * 100),
        "mae": float(np.abs(np.asarray(preds) - labels).mean()),
        "recall_by_class": per_class,
    }


def baselines(train_labels, test_labels) -> dict:
    import numpy as np

    from .msa_model.valence import valence_class

    yc_tr, yc_te = valence_class(train_labels), valence_class(test_labels)
    major = int(np.bincount(yc_tr, minlength=3).argmax())
    med = float(np.median(train_labels))
    return {
        "chance_acc3": 100 / 3,
        "majority_class": ("negative", "neutral", "positive")[major],
        "majority_acc3": float((yc_te == major).mean() * 100),
        "median_label": med,
        "median_mae": float(np.abs(test_labels - med).mean()),
        "test_class_counts": np.bincount(yc_te, minlength=3).tolist(),
    }


def run(args) -> dict:
    import numpy as np

    from .msa_model.config import model_config_from_dict
    from .msa_model.data import Encoded
    from .msa_model.encoder import load_tokenizer
    from .msa_model.evaluation import eval_sets, predict, torch_predictor
    from .msa_model.metrics import sentiment_metrics

    if args.checkpoint:
        model, _ = load_checkpoint(args.checkpoint)
        cfg = model.config
        predictor = torch_predictor(model)
        what = str(args.checkpoint)
    else:
        from .onnx_io import ort_predictor, ort_session

        manifest = json.loads(args.manifest.read_text())
        cfg = model_config_from_dict(manifest["training"]["modelConfig"])
        predictor = ort_predictor(ort_session(args.onnx))
        what = str(args.onnx)
    tokenizer = load_tokenizer(cfg.text_encoder)
    pads = pads_for(tokenizer, cfg)
    samples = load_samples(args, cfg)
    sets = eval_sets(samples)
    names = [n for n in sets if n.endswith("_test") or n == "mosi_dev" or args.all_sets]
    if args.sets:
        names = [n for n in names if n in args.sets]
    train_by_source = {}
    for s in samples:
        if s.split == "train":
            train_by_source.setdefault(s.source, []).append(s.label)
    out = {"model": what, "sets": {}}
    for name in names:
        rows = sets[name]
        labels = np.array([s.label for s in rows], dtype=np.float32)
        source = rows[0].source
        entry = {
            "n": len(rows),
            "source": source,
            "present": {
                "text": sum(bool(s.text) for s in rows),
                "audio": sum(bool(s.acoustic_ids) for s in rows),
                "video": sum(bool(s.visual_ids) for s in rows),
            },
        }
        if source in train_by_source and source not in ("mosi", "mosei"):
            entry["baselines"] = baselines(np.array(train_by_source[source], dtype=np.float32), labels)
        for cond in CONDITIONS:
            modality = {"no_text": "text", "no_audio": "audio", "no_video": "video"}.get(cond)
            if modality and entry["present"][modality] == 0:
                entry[cond] = entry["all"]  # nothing to mask: the same inputs
                continue
            data = Encoded(masked(rows, cond), tokenizer, cfg.max_text_tokens)
            preds = predict(predictor, data, pads, batch_size=64)
            entry[cond] = valence_report(preds, labels) | {"mmsa": sentiment_metrics(preds, labels)}
            nv = np.array([bool(s.acoustic_ids or s.visual_ids) for s in rows])
            if 0 < nv.sum() < len(rows):  # e.g. FER images where the detector found no face
                entry[cond]["acc3_rows_with_voice_or_face"] = valence_report(preds[nv], labels[nv])["acc3"]
        out["sets"][name] = entry
        print(
            f"{name} (n={len(rows)}): "
            + "  ".join(
                f"{c}: acc3 {entry[c]['acc3']:.1f} mae {entry[c]['mae']:.3f} acc2 {entry[c]['mmsa']['acc2_has0']:.2f}"
                for c in CONDITIONS
            ),
            flush=True,
        )
    if args.batch_check:
        out["batchIndependence"] = batch_check(predictor, sets, tokenizer, cfg, pads)
        print(f"batch independence: {out['batchIndependence']}", flush=True)
    return out


def batch_check(predictor, sets, tokenizer, cfg, pads, n=32, seed=0) -> dict:
    """n mixed test rows (MOSEI text, RAVDESS sentence + voice, RAVDESS voice only, FER faces):
    each scored alone (no padding) and all n in one padded batch; max |difference|."""
    from dataclasses import replace

    import numpy as np

    from .msa_model.data import Encoded, collate

    rng = np.random.default_rng(seed)
    pick = []
    for name, k in (("mosei_test", 10), ("ravdess_test", 8), ("fer_test", 8), ("mosi_dev", 6)):
        rows = sets.get(name, [])
        pick += [rows[i] for i in rng.permutation(len(rows))[:k]]
    rav = sets.get("ravdess_test", [])
    pick += [replace(rav[i], text="") for i in rng.permutation(len(rav))[: max(0, n - len(pick))]]
    data = Encoded(pick[:n], tokenizer, cfg.max_text_tokens)
    together = predictor(collate(data, np.arange(len(data)), *pads))
    alone = np.array([predictor(collate(data, np.array([i]), *pads))[0] for i in range(len(data))])
    d = np.abs(together - alone)
    return {"rows": len(data), "max_abs_diff": float(d.max()), "mean_abs_diff": float(d.mean())}


def markdown(result: dict) -> str:
    lines = [
        "| test set | n | modalities present | "
        + " | ".join(f"{c.replace('_', ' ')}: acc3 / MAE / Acc-2" for c in CONDITIONS)
        + " | majority acc3 / median MAE |",
        "|" + "---|" * (4 + len(CONDITIONS)),
    ]
    for name, e in result["sets"].items():
        pres = ", ".join(f"{k} {v}" for k, v in e["present"].items() if v)
        cells = [f"{e[c]['acc3']:.1f} / {e[c]['mae']:.3f} / {e[c]['mmsa']['acc2_has0']:.1f}" for c in CONDITIONS]
        b = e.get("baselines")
        base = f"{b['majority_acc3']:.1f} ({b['majority_class']}) / {b['median_mae']:.3f}" if b else "-"
        lines.append(f"| {name} | {e['n']} | {pres} | " + " | ".join(cells) + f" | {base} |")
    lines.append("")
    lines.append(
        "acc3: 3-class valence accuracy (%), classes negative < -0.5 <= neutral <= 0.5 < positive; chance 33.3. "
        "Acc-2: MMSA acc2_has0. 'no text' = words replaced by \"\"; 'no audio' / 'no video' = modality absent."
    )
    return "\n".join(lines) + "\n"


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(
        prog="python -m training.ablation", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--checkpoint", type=Path)
    g.add_argument("--onnx", type=Path)
    p.add_argument("--manifest", type=Path, default=MODELS_DIR / "manifest.json")
    p.add_argument("--ravdess", type=Path, default=None)
    p.add_argument("--fer", type=Path, default=None)
    add_ravdess_fold_arg(p)
    p.add_argument("--fer-dir", type=Path, default=None)
    p.add_argument("--codebook-dir", type=Path, default=MODELS_DIR / "codebooks")
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    p.add_argument("--all-sets", action="store_true", help="also the dev sets")
    p.add_argument("--sets", nargs="*", default=None, help="only these evaluation sets (e.g. ravdess_test fer_test)")
    p.add_argument(
        "--batch-check",
        action="store_true",
        help="also score 32 mixed test rows alone vs in one batch (batch independence)",
    )
    p.add_argument("--out", type=Path, default=None, help="folder for ablation.json / ablation.md")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    set_threads(args.threads)
    result = run(args)
    out = args.out or (args.checkpoint.parent if args.checkpoint else args.onnx.parent)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "ablation.json", clean_nans(result))
    (out / "ablation.md").write_text(markdown(result))
    print(f"wrote {out / 'ablation.json'} and {out / 'ablation.md'}")
    return result


if __name__ == "__main__":
    main()
