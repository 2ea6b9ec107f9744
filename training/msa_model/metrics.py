"""The regression metrics of CMU-MOSI / CMU-MOSEI, as the MMSA benchmark defines them.

For predictions p and labels y (sentiment in [-3, 3]):
  acc2_has0 / f1_has0: all samples; class = (x >= 0) for both p and y (negative vs non-negative).
  acc2_non0 / f1_non0: only samples with y != 0; class = (x > 0) for both p and y.
  acc5: round(clip(p, -2, 2)) == round(clip(y, -2, 2)); acc7 likewise with clip to [-3, 3].
  mae: mean |p - y|; corr: Pearson correlation (NaN when either side is constant).
Rounding is numpy's np.round: round half to EVEN (0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -0.5 -> -0,
-1.5 -> -2), exactly as MMSA. F1 is scikit-learn's f1_score(average='weighted'): per-class
F1 weighted by the support of each class in the labels (a class absent from both gives no
term; 0/0 precision or recall counts as 0).
Accuracies and F1 are percentages; mae and corr are plain numbers.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import f1_score

METRIC_NAMES = ("acc2_has0", "f1_has0", "acc2_non0", "f1_non0", "acc5", "acc7", "mae", "corr")


def sentiment_metrics(preds, labels) -> dict[str, float]:
    p = np.asarray(preds, dtype=np.float64).reshape(-1)
    y = np.asarray(labels, dtype=np.float64).reshape(-1)
    if p.shape != y.shape or p.size == 0:
        raise ValueError(f"need equally many predictions and labels, got {p.size} and {y.size}")
    out: dict[str, float] = {}
    has0_p, has0_y = p >= 0, y >= 0
    out["acc2_has0"] = 100.0 * float(np.mean(has0_p == has0_y))
    out["f1_has0"] = 100.0 * float(f1_score(has0_y, has0_p, average="weighted", zero_division=0))
    nz = y != 0
    if nz.any():
        non0_p, non0_y = p[nz] > 0, y[nz] > 0
        out["acc2_non0"] = 100.0 * float(np.mean(non0_p == non0_y))
        out["f1_non0"] = 100.0 * float(f1_score(non0_y, non0_p, average="weighted", zero_division=0))
    else:
        out["acc2_non0"] = out["f1_non0"] = float("nan")
    out["acc5"] = 100.0 * float(np.mean(np.round(np.clip(p, -2, 2)) == np.round(np.clip(y, -2, 2))))
    out["acc7"] = 100.0 * float(np.mean(np.round(np.clip(p, -3, 3)) == np.round(np.clip(y, -3, 3))))
    out["mae"] = float(np.mean(np.abs(p - y)))
    if p.std() == 0 or y.std() == 0:
        out["corr"] = float("nan")
    else:
        out["corr"] = float(np.corrcoef(p, y)[0, 1])
    return out


def format_metrics(m: dict[str, float]) -> str:
    return " ".join(f"{k}={m[k]:.2f}" if k not in ("mae", "corr") else f"{k}={m[k]:.4f}" for k in METRIC_NAMES)
