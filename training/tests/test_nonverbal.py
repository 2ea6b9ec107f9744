"""RAVDESS / FER-2013 mapping and splits, codebook JSON quantisation, featurize rows -> samples,
mixed batches."""

import json
from pathlib import Path

import numpy as np
import pytest

from training.msa_model.codebook import JsonCodebook
from training.msa_model.nonverbal_data import featurized_ids, load_fer_featurized, load_ravdess_featurized
from training.msa_model.valence import (
    FER_VALENCE,
    RAVDESS_SPLIT_ACTORS,
    RAVDESS_VALENCE,
    fer_splits,
    fer_splits_from_dir,
    parse_ravdess,
    ravdess_label,
    ravdess_split,
    ravdess_text,
    valence_class,
)
from training.train import mixed_batches, parse_mix


def test_ravdess_name_mapping():
    r = parse_ravdess("/x/03-01-05-02-01-01-21.flac")
    assert (r.emotion, r.intensity, r.statement, r.actor) == ("angry", 2, 1, 21)
    assert ravdess_label("03-01-05-02-01-01-21") == -2.5
    assert ravdess_label("03-01-05-01-01-01-21") == -2.0
    assert ravdess_label("03-01-01-01-02-01-03") == 0.0
    assert ravdess_label("03-01-03-02-02-01-03") == 2.5
    assert ravdess_text("03-01-03-02-02-01-03") == "Dogs are sitting by the door"
    with pytest.raises(ValueError):
        parse_ravdess("03-01-09-01-01-01-01.flac")
    with pytest.raises(ValueError):
        parse_ravdess("foo.flac")


def test_mapping_classes():
    # every emotion has a fixed class; strong never flips the class
    cls = {e: tuple(valence_class(v).tolist()) for e, v in RAVDESS_VALENCE.items()}
    assert cls["happy"] == (2, 2) and cls["neutral"] == (1, 1) and cls["calm"] == (1, 1) and cls["surprised"] == (1, 1)
    assert all(cls[e] == (0, 0) for e in ("sad", "angry", "fearful", "disgust"))
    assert [
        int(valence_class(FER_VALENCE[e])) for e in ("angry", "disgust", "fear", "sad", "neutral", "surprise", "happy")
    ] == [0, 0, 0, 0, 1, 1, 2]
    assert valence_class([-0.5, 0.5, -0.51, 0.51]).tolist() == [1, 1, 0, 2]


def test_ravdess_split_by_actor_no_actor_in_two_splits():
    seen = {}
    for split, actors in RAVDESS_SPLIT_ACTORS.items():
        for a in actors:
            assert a not in seen, f"actor {a} in {seen.get(a)} and {split}"
            seen[a] = split
            assert ravdess_split(a) == split
    assert sorted(seen) == list(range(1, 25))
    for actors in RAVDESS_SPLIT_ACTORS.values():  # both sexes in every split (odd male, even female)
        assert {a % 2 for a in actors} == {0, 1}


def test_ravdess_real_files_split_by_actor(data_dir):
    files = sorted((data_dir / "ravdess").glob("*.flac"))
    if not files:
        pytest.skip("no RAVDESS")
    assert len(files) == 1440
    actors = {}
    for f in files:
        actors.setdefault(ravdess_split(parse_ravdess(f.name).actor), set()).add(parse_ravdess(f.name).actor)
    assert (
        not (actors["train"] & actors["dev"])
        and not (actors["train"] & actors["test"])
        and not (actors["dev"] & actors["test"])
    )


def test_fer_splits_stratified_deterministic():
    files = {"happy": [str(i) for i in range(100)], "disgust": [str(i) for i in range(47)]}
    a, b = fer_splits(files), fer_splits(files)
    assert a == b
    for cls, n in (("happy", 100), ("disgust", 47)):
        counts = {
            s: sum(1 for k, v in a.items() if k.startswith(cls + "/") and v == s) for s in ("train", "dev", "test")
        }
        assert sum(counts.values()) == n
        assert counts["train"] == round(0.7 * n) and counts["dev"] == round(0.15 * n)
    assert fer_splits(files, seed=1) != a


def test_fer_real_split(data_dir):
    if not (data_dir / "fer2013").exists():
        pytest.skip("no FER-2013")
    sp = fer_splits_from_dir(data_dir / "fer2013")
    assert len(sp) == 6470
    assert sum(v == "test" for v in sp.values()) in range(960, 985)


def write_codebook(path: Path, modality: str, names, centroids, mean, std):
    path.write_text(
        json.dumps(
            {
                "version": 1,
                "modality": modality,
                "k": len(centroids),
                "dim": len(names),
                "featureNames": names,
                "mean": mean,
                "std": std,
                "centroids": centroids,
                "fittedOn": {"vectors": 1, "sources": [], "seed": 1, "iterations": 1, "inertia": 0, "createdAt": "x"},
            }
        )
    )
    return JsonCodebook(path)


def test_json_codebook_quantises_as_typescript(tmp_path):
    cb = write_codebook(tmp_path / "a.json", "acoustic", ["x", "y"], [[0, 0], [1, 1], [-1, 2]], [10, 0], [2, 1])
    # z = ((x - 10) / 2, y): (10, 0) -> (0, 0) -> 0; (12, 1) -> (1, 1) -> 1; (8, 2) -> (-1, 2) -> 2
    assert cb.quantise([[10, 0], [12, 1], [8, 2]]) == [0, 1, 2]
    assert cb.quantise([]) == []
    with pytest.raises(ValueError):
        cb.quantise([[1, 2, 3]])


def test_gate_drops_sequences_unlike_the_training_data(tmp_path):
    """As src/features/codebook.ts quantiseGated: a sequence whose median nearest-centroid
    distance is over the gate gives no ids; featurized_ids then leaves the modality absent."""
    from training.msa_model.nonverbal_data import featurized_ids

    path = tmp_path / "g.json"
    write_codebook(path, "acoustic", ["x", "y"], [[0, 0], [1, 1]], [0, 0], [1, 1])
    d = json.loads(path.read_text())
    d["gate"] = {"maxMedianDistance": 2.0, "statistic": "test", "fittedOn": "test"}
    path.write_text(json.dumps(d))
    cb = JsonCodebook(path)
    near, far = [[0.1, 0], [1, 1.2], [0, 0.3]], [[10, 10], [20, 0], [0, 30]]
    assert cb.quantise_gated(near) == ([0, 1, 0], False)
    assert cb.quantise_gated(far) == ([], True)
    assert cb.quantise_gated(near + far[:2]) == (cb.quantise(near + far[:2]), False)  # the median decides
    assert featurized_ids({"acoustic": far}, cb, None) == ([], [])
    assert featurized_ids({"acoustic": near}, cb, None) == ([0, 1, 0], [])


def test_featurize_rows_to_samples(tmp_path):
    cb_a = write_codebook(tmp_path / "a.json", "acoustic", ["x", "y"], [[0, 0], [5, 5]], [0, 0], [1, 1])
    cb_v = write_codebook(tmp_path / "v.json", "visual", ["f"], [[0], [1], [2]], [0], [1])
    rows = [
        {
            "id": "03-01-03-02-01-01-05",
            "media": "03-01-03-02-01-01-05.flac",
            "text": "",
            "label": None,
            "acoustic": [[0, 0], [5, 5], [4, 4]],
            "visual": [],
            "acousticNames": ["x", "y"],
            "visualNames": ["f"],
        },
        {
            "id": "03-01-04-01-02-01-22",
            "media": "03-01-04-01-02-01-22.flac",
            "text": "",
            "label": None,
            "acoustic": [],
            "visual": [],
            "acousticNames": ["x", "y"],
            "visualNames": ["f"],
        },
    ]
    (tmp_path / "r.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    s = load_ravdess_featurized(tmp_path / "r.jsonl", cb_a, cb_v)
    assert [x.split for x in s] == ["train", "test"] and [x.label for x in s] == [2.5, -1.5]
    assert s[0].acoustic_ids == [0, 1, 1] and s[0].text == "Kids are talking by the door"
    assert s[1].acoustic_ids == [] and s[1].visual_ids == []
    fer = [
        {
            "id": "happy/1",
            "media": "happy/1.jpg",
            "text": "",
            "label": None,
            "acoustic": [],
            "visual": [[1.9]],
            "visualNames": ["f"],
        },
        {
            "id": "sad/2",
            "media": "sad/2.jpg",
            "text": "",
            "label": None,
            "acoustic": [],
            "visual": [None],
            "visualNames": ["f"],
        },
    ]
    (tmp_path / "f.jsonl").write_text("\n".join(json.dumps(r) for r in fer) + "\n")
    f = load_fer_featurized(tmp_path / "f.jsonl", {"happy/1": "test", "sad/2": "train"}, cb_v)
    assert f[0].visual_ids == [2] and f[0].label == 2.0 and f[0].text == "" and f[0].split == "test"
    assert f[1].visual_ids == [] and f[1].label == -1.5  # no face: no id (pipeline), modality absent
    # layouts must match the codebook
    with pytest.raises(ValueError):
        featurized_ids({"id": "x", "acoustic": [[1, 2]], "acousticNames": ["y", "x"]}, cb_a, None)
    # cap: evenly subsampled as the pipeline
    a, _ = featurized_ids({"id": "x", "acoustic": [[0, 0]] * 50 + [[5, 5]] * 50}, cb_a, None, max_len=4)
    assert a == [0, 0, 1, 1]


class S:
    def __init__(self, source):
        self.source = source


def test_mixed_batches_fixed_proportions():
    train = [S("mosei")] * 100 + [S("mosi")] * 10 + [S("ravdess")] * 7 + [S("fer")] * 13
    mix = parse_mix("text=2,ravdess=1,fer=1")
    assert mix == {"text": 0.5, "ravdess": 0.25, "fer": 0.25}
    batches = list(mixed_batches(train, mix, 8, 20, np.random.default_rng(0)))
    assert len(batches) == 20
    for b in batches:
        src = [train[i].source for i in b]
        assert sum(s in ("mosi", "mosei") for s in src) == 4 and src.count("ravdess") == 2 and src.count("fer") == 2
    # every ravdess row is seen before any is repeated
    rav = [i for b in batches for i in b if train[i].source == "ravdess"]
    assert sorted(rav[:7]) == list(range(110, 117))
    with pytest.raises(SystemExit):
        list(mixed_batches(train, parse_mix("text=1,meld=1"), 8, 1, np.random.default_rng(0)))


def test_multisource_train_command_end_to_end(tmp_path):
    """RAVDESS + FER featurize output, mixed batches, text dropout, mean selection, init checkpoint."""
    from training.train import main

    rng = np.random.default_rng(0)
    names_a, names_v = ["a0", "a1"], ["v0"]
    write_codebook(tmp_path / "acoustic.json", "acoustic", names_a, rng.normal(size=(8, 2)).tolist(), [0, 0], [1, 1])
    write_codebook(tmp_path / "visual.json", "visual", names_v, np.linspace(-2, 2, 6)[:, None].tolist(), [0], [1])
    rav = []
    for actor in (1, 2, 17, 21):
        for emo in (1, 3, 5):
            rav.append(
                {
                    "id": f"03-01-0{emo}-01-01-01-{actor:02d}",
                    "media": f"03-01-0{emo}-01-01-01-{actor:02d}.flac",
                    "text": "",
                    "label": None,
                    "acoustic": rng.normal(size=(5, 2)).tolist(),
                    "visual": [],
                    "acousticNames": names_a,
                    "visualNames": names_v,
                }
            )
    (tmp_path / "rav.jsonl").write_text("\n".join(json.dumps(r) for r in rav) + "\n")
    fer_dir = tmp_path / "fer2013"
    fer = []
    for cls in ("happy", "sad", "neutral"):
        (fer_dir / cls).mkdir(parents=True)
        for i in range(10):
            (fer_dir / cls / f"{i}.jpg").write_bytes(b"")
            fer.append(
                {
                    "id": f"{cls}/{i}",
                    "media": f"{cls}/{i}.jpg",
                    "text": "",
                    "label": None,
                    "acoustic": [],
                    "visual": [[float(rng.normal())]] if i % 3 else [None],
                    "visualNames": names_v,
                }
            )
    (tmp_path / "fer.jsonl").write_text("\n".join(json.dumps(r) for r in fer) + "\n")
    words = ["good", "bad", "fine"]
    feat = tmp_path / "text.jsonl"
    feat.write_text(
        "\n".join(
            json.dumps(
                {
                    "id": str(i),
                    "text": f"it was {words[i % 3]}",
                    "label": [1.5, -1.5, 0.0][i % 3],
                    "split": "train" if i < 20 else "dev",
                }
            )
            for i in range(26)
        )
        + "\n"
    )
    common = [
        "--datasets",
        "none",
        "--featurized",
        str(feat),
        "--tiny-encoder",
        "--runs-dir",
        str(tmp_path),
        "--batch-size",
        "8",
        "--eval-every",
        "2",
        "--no-progress",
        "--acoustic-codebook-size",
        "8",
        "--visual-codebook-size",
        "6",
        "--ravdess",
        str(tmp_path / "rav.jsonl"),
        "--fer",
        str(tmp_path / "fer.jsonl"),
        "--fer-dir",
        str(fer_dir),
        "--codebook-dir",
        str(tmp_path),
    ]
    first = main(common + ["--run-name", "a", "--epochs", "1"])
    assert {"ravdess_dev", "ravdess_test", "fer_dev", "fer_test", "featurized_dev"} <= set(first["metrics"])
    result = main(
        common
        + [
            "--run-name",
            "b",
            "--epochs",
            "1",
            "--mix",
            "featurized=2,ravdess=1,fer=1",
            "--text-dropout",
            "0.5",
            "--selection",
            "mean",
            "--init-checkpoint",
            str(tmp_path / "a" / "best.pt"),
        ]
    )
    assert result["train_config"]["mix"] == "featurized=2,ravdess=1,fer=1"
    assert (tmp_path / "b" / "best.pt").exists()
    # cross-validation fold 0: actors 1-4 are tested, 21-24 select, the rest train
    fold0 = main(common + ["--run-name", "c", "--epochs", "1", "--ravdess-fold", "0"])
    assert (fold0["metrics"]["ravdess_test"]["n"], fold0["metrics"]["ravdess_dev"]["n"], fold0["ravdess_fold"]) == (
        6,
        3,
        0,
    )
    assert (first["metrics"]["ravdess_test"]["n"], first["metrics"]["ravdess_dev"]["n"]) == (3, 3)


def test_sequence_normalisation_as_typescript(tmp_path):
    """The case test/unit/codebook.test.ts checks for normaliseSequence: n0 = 2 prior vectors (mean 0,
    std 1) and [1], [3] give mean 1, var 2, so [0, sqrt 2]; quantising uses the normalised values."""
    path = tmp_path / "n.json"
    write_codebook(path, "acoustic", ["x"], [[0.0], [1.4]], [0], [1])
    d = json.loads(path.read_text())
    d["sequenceNorm"] = {"priorVectors": 2, "mean": [0], "std": [1]}
    path.write_text(json.dumps(d))
    cb = JsonCodebook(path)
    z = cb.normalise([[1], [3]])
    assert z[0, 0] == 0 and abs(z[1, 0] - np.sqrt(2)) < 1e-15
    assert cb.quantise([[1], [3]]) == [0, 1]
    # a channel offset and gain leave a long sequence's ids as they were
    x = np.where(np.arange(200) % 3 == 0, 3.0, -1.0)[:, None]
    assert cb.quantise(x) == cb.quantise(x * 1.3 + 50) == [1 if i % 3 == 0 else 0 for i in range(200)]


def test_ravdess_folds_test_every_actor_once_and_fold_5_is_the_fixed_split():
    from training.msa_model.valence import RAVDESS_FOLDS, ravdess_split

    tested = [a for f in range(RAVDESS_FOLDS) for a in range(1, 25) if ravdess_split(a, f) == "test"]
    assert sorted(tested) == list(range(1, 25))
    for f in range(RAVDESS_FOLDS):
        split = {a: ravdess_split(a, f) for a in range(1, 25)}
        for part, n in (("test", 4), ("dev", 4), ("train", 16)):
            actors = [a for a, s in split.items() if s == part]
            assert len(actors) == n and sum(a % 2 for a in actors) == n // 2  # half male (odd), half female
    assert all(ravdess_split(a, 5) == ravdess_split(a) for a in range(1, 25))
    with pytest.raises(ValueError, match="fold 6"):
        ravdess_split(1, 6)
    with pytest.raises(ValueError, match="actor 25"):
        ravdess_split(25)
