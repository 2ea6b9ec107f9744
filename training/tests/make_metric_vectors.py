"""Writes training/tests/metric_vectors.json: (pred, label) cases and the metric values that
training/msa_model/metrics.py gives for them. The TypeScript metrics must reproduce these.

    python -m training.tests.make_metric_vectors
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from training.msa_model.metrics import METRIC_NAMES, sentiment_metrics

OUT = Path(__file__).with_name("metric_vectors.json")


def main_case(rng: np.random.Generator, n: int = 300) -> tuple[list[float], list[float]]:
    # Labels like the data: MOSI averages (multiples of 0.2), MOSEI thirds, exact zeros, ties.
    pool = np.concatenate(
        [
            np.round(np.arange(-3, 3.01, 0.2), 1),
            np.round(np.arange(-9, 10) / 3, 7),
            [0.0] * 10,
            [0.5, -0.5, 1.5, -1.5, 2.5, -2.5],
        ]
    )
    labels = rng.choice(pool, n)
    preds = np.clip(labels + rng.normal(0, 0.8, n), -3.4, 3.4)
    # Exact zeros and .5 ties in the predictions too, and values outside [-3, 3].
    special = [0.0, -0.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 3.5, -3.5, 2.0, -2.0, 3.0, -3.0, 1e-7, -1e-7]
    idx = rng.choice(n, 80, replace=False)
    preds[idx] = rng.choice(special, 80)
    return [round(float(x), 6) for x in preds], [float(x) for x in labels]


def main() -> None:
    rng = np.random.default_rng(2026)
    cases = []
    p, y = main_case(rng)
    cases.append(("main: 300 pairs with zeros, .5 ties and out-of-range values", p, y))
    cases.append(
        (
            "ties: half to even in Acc-5/Acc-7",
            [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49, 2.6, -3.5, 3.5],
            [0.0, 2.0, 2.0, 0.0, -2.0, -2.0, 1.0, 3.0, -3.0, 2.5],
        )
    )
    cases.append(
        (
            "zeros: has0 counts 0 as non-negative, non0 drops label 0",
            [0.0, -0.1, 0.3, 0.0, -1.0, 2.0],
            [0.0, 0.0, -0.4, 1.2, -2.0, 0.0],
        )
    )
    cases.append(("all labels zero: non0 metrics are null", [0.3, -0.2, 0.0], [0.0, 0.0, 0.0]))
    cases.append(("constant predictions: corr is null", [1.0, 1.0, 1.0, 1.0], [1.0, -1.0, 2.0, 0.0]))
    out = {
        "description": "Expected outputs of training/msa_model/metrics.py sentiment_metrics. Accuracies and F1 in "
        "percent; mae and corr plain. Rounding for Acc-5/Acc-7 is numpy np.round (half to even). "
        "has0: class x >= 0 for both pred and label; non0: only label != 0, class x > 0; F1 is "
        "weighted by label support (sklearn average='weighted', zero_division=0). null = undefined "
        "(NaN). Compare with a tolerance of 1e-9.",
        "metrics": list(METRIC_NAMES),
        "cases": [],
    }
    for name, p, y in cases:
        m = sentiment_metrics(p, y)
        out["cases"].append(
            {
                "name": name,
                "pred": p,
                "label": y,
                "expected": {k: (None if m[k] != m[k] else m[k]) for k in METRIC_NAMES},
            }
        )
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
