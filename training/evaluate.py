"""Evaluate a checkpoint or an ONNX graph on MOSEI valid, MOSI dev and MOSEI test.

python -m training.evaluate --checkpoint training/runs/minilm-v1/best.pt
python -m training.evaluate --onnx models/msa-minilm-cenet.int8.onnx
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .common import DEFAULT_DATA_DIR, MODELS_DIR, clean_nans, load_checkpoint, pads_for, set_threads


def eval_encoded(data_dir: Path, cfg, datasets=("mosei", "mosi"), featurized=()):
    from .msa_model.data import Encoded, load_datasets, load_featurized_jsonl
    from .msa_model.encoder import load_tokenizer
    from .msa_model.evaluation import eval_sets

    tokenizer = load_tokenizer(cfg.text_encoder)
    samples = load_datasets(data_dir, list(datasets))
    for f in featurized:
        samples += load_featurized_jsonl(f, cfg.acoustic_codebook_size, cfg.visual_codebook_size)
    sets = {k: Encoded(v, tokenizer, cfg.max_text_tokens) for k, v in eval_sets(samples).items()}
    return sets, pads_for(tokenizer, cfg)


def evaluate_graph(path: Path, data_dir: Path, cfg, progress: bool = False, with_preds: bool = False):
    from .msa_model.evaluation import evaluate_sets
    from .onnx_io import ort_predictor, ort_session

    sets, pads = eval_encoded(data_dir, cfg)
    metrics, preds = evaluate_sets(ort_predictor(ort_session(path)), sets, pads, progress=progress)
    return (metrics, preds) if with_preds else metrics


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(
        prog="python -m training.evaluate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--checkpoint", type=Path)
    g.add_argument("--onnx", type=Path, help="graph to run with ONNX Runtime (config from --manifest)")
    p.add_argument("--manifest", type=Path, default=MODELS_DIR / "manifest.json")
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    p.add_argument("--out", type=Path, default=None, help="write the metrics JSON here")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    set_threads(args.threads)

    from .msa_model.config import model_config_from_dict
    from .msa_model.evaluation import evaluate_sets, torch_predictor
    from .msa_model.metrics import format_metrics

    if args.checkpoint:
        model, _ = load_checkpoint(args.checkpoint)
        sets, pads = eval_encoded(args.data_dir, model.config)
        metrics, _ = evaluate_sets(torch_predictor(model), sets, pads, progress=True)
    else:
        manifest = json.loads(args.manifest.read_text())
        cfg = model_config_from_dict(manifest["training"]["modelConfig"])
        metrics = evaluate_graph(args.onnx, args.data_dir, cfg, progress=True)
    for k, m in metrics.items():
        print(f"{k} (n={m['n']}): {format_metrics(m)}")
    if args.out:
        args.out.write_text(json.dumps(clean_nans(metrics), indent=2) + "\n")
    return metrics


if __name__ == "__main__":
    main()
