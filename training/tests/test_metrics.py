"""metrics.py against hand-checked cases and the shared vectors for the TypeScript port."""

import json
import math
from pathlib import Path

import pytest

from training.msa_model.metrics import METRIC_NAMES, sentiment_metrics

VECTORS = Path(__file__).with_name("metric_vectors.json")


def test_has0_counts_zero_as_non_negative_and_non0_drops_zero_labels():
    m = sentiment_metrics([0.0, -0.1, 0.3, 0.0], [0.0, 0.0, -0.4, 1.2])
    # has0 (pred>=0, label>=0): (T,T) ok, (F,T) wrong, (T,F) wrong, (T,T) ok
    assert m["acc2_has0"] == pytest.approx(50.0)
    # non0 keeps the last two (pred>0, label>0): (T,F) wrong, (F,T) wrong: a 0.0 prediction is negative here
    assert m["acc2_non0"] == pytest.approx(0.0)
    m = sentiment_metrics([0.0], [1.0])
    assert m["acc2_has0"] == 100.0 and m["acc2_non0"] == 0.0  # 0 is negative for non0, non-negative for has0


def test_round_half_to_even():
    m = sentiment_metrics([0.5, 1.5, 2.5, -2.5], [0.0, 2.0, 2.0, -2.0])
    assert m["acc7"] == 100.0 and m["acc5"] == 100.0


def test_mae_and_corr():
    m = sentiment_metrics([1.0, 2.0, 3.0], [1.0, 2.5, 2.0])
    assert m["mae"] == pytest.approx(0.5)
    assert m["corr"] == pytest.approx(0.6546536707, abs=1e-9)


def test_vectors_file_matches_implementation():
    data = json.loads(VECTORS.read_text())
    assert sum(len(c["pred"]) for c in data["cases"]) >= 300
    for case in data["cases"]:
        got = sentiment_metrics(case["pred"], case["label"])
        for k in METRIC_NAMES:
            want = case["expected"][k]
            if want is None:
                assert math.isnan(got[k]), (case["name"], k)
            else:
                assert got[k] == pytest.approx(want, abs=1e-9), (case["name"], k)
