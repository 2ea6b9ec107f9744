"""MELD out-of-domain check (training/meld_eval.py): loading, class cuts, and a real run of the
shipped graph on MELD rows it never saw."""

from __future__ import annotations

import numpy as np
import pytest

from training.common import MODELS_DIR
from training.meld_eval import best_edge, load_meld, main, split_metrics
from training.msa_model.valence import valence_class


def test_load_meld_maps_sentiment_and_straightens_quotes(tmp_path):
    f = tmp_path / "x.csv"
    f.write_text(
        "Sr No.,Utterance,Speaker,Emotion,Sentiment\n"
        "1,\u201cIt\u2019s fine\u201d,A,joy,positive\n2,ok,B,neutral,Neutral\n3,no!,C,anger,negative\n",
        encoding="utf-8",
    )
    assert load_meld(f) == (['"It\'s fine"', "ok", "no!"], [2, 1, 0])
    assert load_meld(f, limit=2)[1] == [2, 1]
    f.write_text("Sr No.,Utterance,Speaker,Emotion,Sentiment\n1,hm,A,joy,happy\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"x.csv:2: Sentiment 'happy'"):
        load_meld(f)


def test_class_cuts_and_the_dev_edge():
    scores = np.array([-2.0, -0.8, -0.3, 0.0, 0.4, 0.9, 1.5])
    assert valence_class(scores, 0.5).tolist() == [0, 0, 1, 1, 1, 2, 2]
    assert valence_class(scores, 1.0).tolist() == [0, 1, 1, 1, 1, 1, 2]
    truth = [0, 1, 1, 1, 1, 1, 2]  # separable only with an edge between 0.9 and 1.5 (and above 0.8)
    assert 0.9 <= best_edge(scores, truth) < 1.5
    m = split_metrics(scores, truth, {"project_edge": 0.5, "dev_edge": 1.0})
    assert m["dev_edge"]["acc3"] == 100.0 and m["project_edge"]["acc3"] == pytest.approx(100 * 5 / 7)
    assert m["acc2_polar"] == 100.0 and m["majority"] == {"class": "neutral", "acc3": pytest.approx(100 * 5 / 7)}


def test_shipped_graph_on_meld_rows(data_dir, tmp_path):
    """The served text path, on dialogue it never saw, orders the classes: positive utterances
    score above neutral ones and neutral above negative ones, and it beats chance."""
    if not (data_dir / "meld" / "dev_sent_emo.csv").exists():
        pytest.skip("MELD not found")
    manifest = tmp_path / "manifest.json"
    manifest.write_text((MODELS_DIR / "manifest.json").read_text())
    r = main(
        [
            "--onnx",
            str(MODELS_DIR / "msa-minilm-cenet.int8-weights.onnx"),
            "--limit",
            "300",
            "--out",
            str(tmp_path),
            "--update-manifest",
            str(manifest),
        ]
    )
    for m in r["splits"].values():
        s = m["mean_score"]
        assert s["positive"] > s["neutral"] > s["negative"], s
        assert m["acc2_polar"] > 55 and m["project_edge"]["acc3"] > 40
    assert (tmp_path / "meld.md").read_text().startswith("| MELD split")
    import json

    recorded = json.loads(manifest.read_text())
    assert (
        recorded["outOfDomain"]["meld"]["n"] == 300
        and recorded["version"] == json.loads((MODELS_DIR / "manifest.json").read_text())["version"]
    )
