"""Loaders (transcript CSVs, featurized JSONL, MMSA pickle) and batching."""

import json
import pickle

import numpy as np
import pytest

from training.msa_model.codebook import JsonCodebook, fit_codebook, load_codebook_dir, save_codebook
from training.msa_model.data import (
    bucketed_batches,
    collate,
    load_featurized_jsonl,
    load_mmsa_pkl,
    load_mosei_csv,
    load_mosi_csv,
    pad_nonverbal,
)


class FakeEncoded:
    def __init__(self, samples, token_ids):
        self.samples, self.token_ids = samples, token_ids
        self.labels = np.array([s.label for s in samples], dtype=np.float32)


def test_real_csvs_load_with_expected_splits(data_dir):
    mosi = load_mosi_csv(data_dir / "mosi" / "label.csv")
    mosei = load_mosei_csv(data_dir / "mosei" / "label.csv")
    assert {s.split for s in mosi} == {"train", "dev"}
    assert {s.split for s in mosei} == {"train", "dev", "test"}
    assert sum(s.split == "train" for s in mosi) == 1281 and sum(s.split == "dev" for s in mosi) == 229
    assert sum(s.split == "dev" for s in mosei) == 1861
    assert all(-3 <= s.label <= 3 and not s.acoustic_ids and not s.visual_ids for s in mosi + mosei)
    assert next(s for s in mosi if s.id == "03bSnISJMiM_1").label == pytest.approx(2.4)


def test_featurized_jsonl(tmp_path):
    path = tmp_path / "train.jsonl"
    rows = [
        {"id": "a", "text": "so good", "label": 2.0, "split": "train", "acoustic_ids": [1, 2, 3], "visual_ids": [0]},
        {"id": "b", "text": "meh", "label": -0.4, "split": "valid", "acoustic_ids": [], "visual_ids": [5, 5]},
        {"id": "c", "text": "no media", "label": 0.0, "split": "test"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    samples = load_featurized_jsonl(path, k_acoustic=8, k_visual=6)
    assert [s.split for s in samples] == ["train", "dev", "test"]
    assert samples[0].acoustic_ids == [1, 2, 3] and samples[1].acoustic_ids == [] and samples[2].visual_ids == []
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(rows[0] | {"visual_ids": [6]}) + "\n")
    with pytest.raises(ValueError, match="index 6 outside 0..5"):
        load_featurized_jsonl(bad, k_acoustic=8, k_visual=6)


def test_mmsa_pickle_is_quantised_with_codebooks(tmp_path):
    rng = np.random.default_rng(0)
    n, la, lv, da, dv = 4, 6, 5, 3, 2
    audio = rng.normal(size=(n, la, da)).astype(np.float32)
    vision = rng.normal(size=(n, lv, dv)).astype(np.float32)
    vision[1, 3:] = 0  # zero-padded frames, no lengths given
    split = {
        "raw_text": ["a", "b", "c", "d"],
        "audio": audio,
        "vision": vision,
        "regression_labels": np.array([1.0, -2.0, 0.0, 0.4], dtype=np.float32),
        "id": ["v1$_$0", "v1$_$1", "v2$_$0", "v2$_$1"],
        "audio_lengths": [6, 2, 6, 0],
    }
    path = tmp_path / "mosi.pkl"
    with open(path, "wb") as f:
        pickle.dump({"train": split, "valid": split, "test": split}, f)
    save_codebook(tmp_path / "cb" / "acoustic.json", fit_codebook(audio.reshape(-1, da), "acoustic", 4))
    save_codebook(tmp_path / "cb" / "visual.json", fit_codebook(vision[0], "visual", 3))
    cb = load_codebook_dir(tmp_path / "cb")
    samples = load_mmsa_pkl(path, cb, max_len=4)
    assert len(samples) == 12 and {s.split for s in samples} == {"train", "dev", "test"}
    s0, s1, s3 = samples[0], samples[1], samples[3]
    assert len(s0.acoustic_ids) == 4  # 6 frames subsampled to max_len
    assert len(s1.acoustic_ids) == 2 and len(s1.visual_ids) == 3  # lengths / zero frames dropped
    assert s3.acoustic_ids == []  # length 0: modality absent
    assert all(0 <= i < 4 for i in s0.acoustic_ids) and s1.label == -2.0
    # Quantisation is nearest centroid in standardised units.
    frame = audio[1, 0]
    z = (frame - cb.acoustic.mean) / cb.acoustic.std
    assert s1.acoustic_ids[0] == int(((cb.acoustic.centroids - z) ** 2).sum(-1).argmin())


def test_codebook_rejects_wrong_width(tmp_path):
    save_codebook(
        tmp_path / "c.json",
        {
            "version": 1,
            "modality": "acoustic",
            "k": 2,
            "dim": 3,
            "featureNames": ["a", "b", "c"],
            "mean": [0, 0, 0],
            "std": [1, 1, 1],
            "centroids": [[0, 0, 0], [0, 0, 0]],
        },
    )
    cb = JsonCodebook(tmp_path / "c.json")
    with pytest.raises(ValueError, match="2 features"):
        cb.quantise(np.zeros((1, 2), np.float32))


def test_absent_modality_is_one_pad_with_mask_zero():
    ids, mask = pad_nonverbal([[], []], pad=32)
    assert ids.tolist() == [[32], [32]] and mask.tolist() == [[0], [0]]
    ids, mask = pad_nonverbal([[1, 2], []], pad=32)
    assert ids.tolist() == [[1, 2], [32, 32]] and mask.tolist() == [[1, 1], [0, 0]]


def test_collate_and_modality_dropout():
    from training.msa_model.data import Sample

    samples = [Sample(str(i), "x", 0.5 * i, "train", "t", [1, 2], [3]) for i in range(4)]
    data = FakeEncoded(samples, [[101, 7, 102], [101, 102], [101, 5, 6, 102], [101, 102]])
    b = collate(data, np.array([0, 1, 2, 3]), 0, 8, 6)
    assert b["input_ids"].shape == (4, 4) and b["attention_mask"].sum().item() == 11
    assert b["acoustic_mask"].sum().item() == 8 and b["labels"].tolist() == [0.0, 0.5, 1.0, 1.5]
    rng = np.random.default_rng(0)
    dropped = collate(data, np.arange(4), 0, 8, 6, modality_dropout=1.0, rng=rng)
    assert dropped["acoustic_mask"].sum() == 0 and dropped["visual_ids"].tolist() == [[6]] * 4


def test_bucketed_batches_cover_every_row_once():
    lengths = np.random.default_rng(0).integers(3, 60, size=1000)
    for rng in (None, np.random.default_rng(1)):
        batches = bucketed_batches(lengths, 32, rng)
        flat = np.concatenate(batches)
        assert sorted(flat.tolist()) == list(range(1000))
        spread = np.mean([lengths[b].max() - lengths[b].min() for b in batches])
        assert spread < 10  # similar lengths together


def test_collate_row_without_words_is_text_absent():
    """An empty text is [CLS] [SEP] with mask 0 (text absent: no text term), as src/model/windowInputs.ts."""
    from training.msa_model.data import Sample

    samples = [Sample("a", "", 1.0, "train", "t", [1], []), Sample("b", "good", 1.0, "train", "t", [], [])]
    data = FakeEncoded(samples, [[101, 102], [101, 7, 102]])
    b = collate(data, np.array([0, 1]), 0, 8, 6)
    assert b["input_ids"][0, :2].tolist() == [101, 102]
    assert b["attention_mask"].tolist() == [[0, 0, 0], [1, 1, 1]]
