"""Prediction over an encoded set, and the named evaluation splits."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from .data import Encoded, Sample, bucketed_batches, collate
from .metrics import sentiment_metrics

# Report names are `<source>_<split>`, except MOSEI's dev split, reported under its own name.
RENAMED = {"mosei_dev": "mosei_valid"}


def eval_set_name(source: str, split: str) -> str:
    name = f"{source}_{split}"
    return RENAMED.get(name, name)


def eval_sets(samples: list[Sample]) -> dict[str, list[Sample]]:
    """Every dev and test split present, by report name (mosei_valid, mosi_dev, mosei_test, ...)."""
    out: dict[str, list[Sample]] = {}
    for s in samples:
        if s.split in ("dev", "test"):
            out.setdefault(eval_set_name(s.source, s.split), []).append(s)
    return dict(sorted(out.items()))


def dev_names(sets: dict) -> list[str]:
    return [n for n, data in sets.items() if data.samples[0].split == "dev"]


Predictor = Callable[[dict[str, torch.Tensor]], np.ndarray]


def torch_predictor(model: torch.nn.Module) -> Predictor:
    def run(batch: dict[str, torch.Tensor]) -> np.ndarray:
        with torch.no_grad():
            score, _ = model(
                batch["input_ids"],
                batch["attention_mask"],
                batch["acoustic_ids"],
                batch["acoustic_mask"],
                batch["visual_ids"],
                batch["visual_mask"],
            )
        return score.numpy()

    return run


def predict(
    predictor: Predictor,
    data: Encoded,
    pads: tuple[int, int, int],
    batch_size: int = 64,
    progress: bool = False,
    desc: str = "eval",
) -> np.ndarray:
    """Scores in the order of `data.samples`; batches are length-sorted for speed."""
    preds = np.zeros(len(data), dtype=np.float32)
    batches = bucketed_batches(data.lengths(), batch_size, None)
    if progress:
        from tqdm import tqdm

        batches = tqdm(batches, desc=desc, leave=False, mininterval=5)
    for idx in batches:
        preds[idx] = predictor(collate(data, idx, *pads))
    return preds


def evaluate_sets(
    predictor: Predictor,
    sets: dict[str, Encoded],
    pads: tuple[int, int, int],
    batch_size: int = 64,
    progress: bool = False,
) -> tuple[dict[str, dict], dict[str, np.ndarray]]:
    metrics, preds = {}, {}
    for name, data in sets.items():
        preds[name] = predict(predictor, data, pads, batch_size, progress, name)
        metrics[name] = sentiment_metrics(preds[name], data.labels) | {"n": len(data)}
    return metrics, preds


def dev_mae(preds: dict[str, np.ndarray], sets: dict[str, Encoded], selection: str = "pooled") -> float:
    """Selection criterion: MAE pooled over all dev samples (MOSEI valid + MOSI dev, ...), or with
    `selection="mean"` the mean of the dev sets' MAEs (small corpora count as much as big ones)."""
    names = dev_names(sets)
    if selection == "mean":
        return float(np.mean([np.abs(preds[n] - sets[n].labels).mean() for n in names]))
    err = np.concatenate([np.abs(preds[n] - sets[n].labels) for n in names])
    return float(err.mean())
