"""Recognised train text: the recogniser's hypotheses joined to their labels and splits."""

import csv
import json

import pytest


def write_csv(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def test_hypotheses_join_labels_and_splits(tmp_path):
    from training.whisper.espeak_train import asr_rows

    m1, m2 = tmp_path / "manifest.csv", tmp_path / "manifest-valid.csv"
    write_csv(m1, [{"id": "a", "text": "it was good", "label": "1.5", "split": "train"}])
    write_csv(
        m2,
        [
            {"id": "b", "text": "it was bad", "label": "-2", "split": "dev"},
            {"id": "c", "text": "mm", "label": "0", "split": "dev"},
        ],
    )
    h = tmp_path / "hyps.csv"
    write_csv(
        h,
        [
            {"id": "a", "reference": "it was good", "hypothesis": " It was good. ", "errors": "0", "words": "3"},
            {"id": "b", "reference": "it was bad", "hypothesis": "It was bat.", "errors": "1", "words": "3"},
            {"id": "c", "reference": "mm", "hypothesis": "", "errors": "1", "words": "1"},
        ],
    )
    out = tmp_path / "rows.jsonl"
    summary = asr_rows([m1, m2], [h], out)
    assert summary == {"rows": 2, "empty": 1, "out": str(out)}
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows == [
        {"id": "asr-a", "text": "It was good.", "label": 1.5, "split": "train"},
        {"id": "asr-b", "text": "It was bat.", "label": -2.0, "split": "dev"},
    ]
    write_csv(h, [{"id": "zz", "reference": "", "hypothesis": "x", "errors": "0", "words": "0"}])
    with pytest.raises(ValueError, match="not in the manifests"):
        asr_rows([m1, m2], [h], out)


def test_train_rows_are_train_only_and_seeded(data_dir):
    from training.whisper.espeak_train import train_rows, valid_rows

    a, b = train_rows(data_dir, 50), train_rows(data_dir, 50)
    assert a == b and {r["split"] for r in a} == {"train"}
    assert sum(r["corpus"] == "mosei" for r in a) == 50
    dev = valid_rows(data_dir, 20)
    assert len(dev) == 20 and {r["split"] for r in dev} == {"dev"}
    assert not {r["id"] for r in dev} & {r["id"] for r in a}


def test_distill_rows_label_recognised_words_with_the_served_answer_for_the_true_words(tmp_path):
    """Consistency rows: a recognised train utterance gets the served model's score for its true
    transcript (the same value as that transcript's own row), clean train rows get the served
    model's score, and dev / test rows keep their human labels."""
    from training.common import REPO_ROOT
    from training.whisper.espeak_train import distill_rows

    models = REPO_ROOT / "models"
    if not (models / "manifest.json").exists():
        pytest.skip("no shipped model")
    data = tmp_path / "data"
    (data / "mosi").mkdir(parents=True)
    (data / "mosei").mkdir()
    write_csv(
        data / "mosi" / "label.csv",
        [
            {"id": "m_1", "text": "i really loved this movie", "label": "2.4", "mode": "train"},
            {"id": "m_2", "text": "it was a complete waste of time", "label": "-2.2", "mode": "train"},
            {"id": "m_3", "text": "the acting was okay", "label": "0.2", "mode": "dev"},
        ],
    )
    write_csv(
        data / "mosei" / "label.csv",
        [
            {"video_id": "v", "clip_id": "1", "text": "Great phone.", "label": "2.0", "mode": "train"},
            {"video_id": "v", "clip_id": "2", "text": "Awful service.", "label": "-2.0", "mode": "valid"},
        ],
    )
    man = tmp_path / "manifest.csv"
    write_csv(
        man,
        [
            {"id": "m_1", "text": "i really loved this movie", "label": "2.4", "split": "train"},
            {"id": "v_2", "text": "Awful service.", "label": "-2.0", "split": "dev"},
        ],
    )
    hyps = tmp_path / "hyps.csv"
    write_csv(
        hyps,
        [
            {"id": "m_1", "reference": "", "hypothesis": "I really love this movie.", "errors": "1", "words": "5"},
            {"id": "v_2", "reference": "", "hypothesis": "Awful service.", "errors": "0", "words": "2"},
        ],
    )
    out = tmp_path / "rows.jsonl"
    counts = distill_rows(data, [man], [hyps], models, out)
    assert {k: counts[k] for k in ("clean_train", "asr_train", "asr_dev", "clean_eval")} == {
        "clean_train": 3,
        "asr_train": 1,
        "asr_dev": 1,
        "clean_eval": 2,
    }
    rows = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert rows["asr-m_1"]["label"] == rows["m_1"]["label"] and rows["asr-m_1"]["source"] == "asr"
    assert rows["m_1"]["label"] != 2.4 and rows["m_1"]["label"] > 0 > rows["m_2"]["label"]
    assert rows["asr-v_2"] == {
        "id": "asr-v_2",
        "text": "Awful service.",
        "label": -2.0,
        "split": "dev",
        "source": "asr",
    }
    assert rows["m_3"]["label"] == 0.2 and rows["m_3"]["split"] == "dev"
    from training.msa_model.data import load_featurized_jsonl

    loaded = {s.id: s for s in load_featurized_jsonl(out, 32, 32)}
    # a row's own source wins over the file's: --mix then counts clean rows as text and asr as asr
    assert (loaded["m_1"].source, loaded["asr-m_1"].source, loaded["v_2"].source) == ("mosi", "asr", "mosei")
