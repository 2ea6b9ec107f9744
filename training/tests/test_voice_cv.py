"""training/experiments/voice_cv.py on a small made-up corpus: one fold gets its own codebook (fitted by
`msa codebook fit` on that fold's train actors only), a gate, a stage-2 run and a score on its
held-out actors."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from training.common import MODELS_DIR


def test_one_fold_end_to_end(tmp_path, data_dir):
    if shutil.which("node") is None:
        pytest.skip("node not found")
    from training.experiments.voice_cv import main as voice_cv
    from training.train import main as train

    rng = np.random.default_rng(0)
    names_a = json.loads((MODELS_DIR / "codebooks/acoustic.json").read_text())["featureNames"]
    names_v = json.loads((MODELS_DIR / "codebooks/visual.json").read_text())["featureNames"]
    rav = []
    for actor in range(1, 25):
        for emo in (1, 3, 5):
            name = f"03-01-0{emo}-01-01-01-{actor:02d}"
            # actors 1-4 (fold 0's test block) far from the rest: a codebook that saw them would have a mean near 8
            x = rng.normal(size=(4, len(names_a))) + (50.0 if actor <= 4 else 0.0)
            rav.append(
                {
                    "id": name,
                    "media": f"{name}.flac",
                    "text": "",
                    "label": None,
                    "acoustic": x.tolist(),
                    "visual": [],
                    "acousticNames": names_a,
                    "visualNames": names_v,
                }
            )
    (tmp_path / "rav.jsonl").write_text("\n".join(json.dumps(r) for r in rav) + "\n")
    fer_dir, fer = tmp_path / "fer2013", []
    for cls in ("happy", "sad", "neutral"):
        (fer_dir / cls).mkdir(parents=True)
        for i in range(8):
            (fer_dir / cls / f"{i}.jpg").write_bytes(b"")
            fer.append(
                {
                    "id": f"{cls}/{i}",
                    "media": f"{cls}/{i}.jpg",
                    "text": "",
                    "label": None,
                    "acoustic": [],
                    "visual": [rng.normal(size=len(names_v)).tolist()],
                    "visualNames": names_v,
                }
            )
    (tmp_path / "fer.jsonl").write_text("\n".join(json.dumps(r) for r in fer) + "\n")
    tiny = (
        "--tiny-encoder --acoustic-codebook-size 32 --visual-codebook-size 32 --batch-size 8 --eval-every 4 --epochs 1"
    )
    stage1 = train(
        [
            "--datasets",
            "none",
            "--ravdess",
            str(tmp_path / "rav.jsonl"),
            "--codebook-dir",
            str(MODELS_DIR / "codebooks"),
            "--fer",
            str(tmp_path / "fer.jsonl"),
            "--fer-dir",
            str(fer_dir),
            "--runs-dir",
            str(tmp_path),
            "--run-name",
            "stage1",
            "--no-progress",
            *tiny.split(),
        ]
    )
    assert stage1["best_step"] is not None
    out = tmp_path / "cv"
    manifest = tmp_path / "manifest.json"
    manifest.write_text((MODELS_DIR / "manifest.json").read_text())
    result = voice_cv(
        [
            "--update-manifest",
            str(manifest),
            "--ravdess",
            str(tmp_path / "rav.jsonl"),
            "--fer",
            str(tmp_path / "fer.jsonl"),
            "--fer-dir",
            str(fer_dir),
            "--init-checkpoint",
            str(tmp_path / "stage1/best.pt"),
            "--folds",
            "0",
            "--out",
            str(out),
            "--train-args",
            tiny,
        ]
    )
    (fold,) = result["folds"]
    assert fold["test_actors"] == [1, 2, 3, 4] and fold["n"] == 12
    assert 0 <= fold["acc3"] <= 100 and fold["mae"] > 0
    codebook = json.loads((out / "fold-0/codebooks/acoustic.json").read_text())
    assert codebook["fittedOn"]["vectors"] == 16 * 3 * 4, "fitted on fold 0's 16 train actors only"
    assert max(abs(m) for m in codebook["mean"]) < 1, "the held-out actors did not reach the codebook"
    assert "fold 0" in codebook["gate"]["fittedOn"]
    assert (out / "cv.md").read_text().startswith("| fold |")
    recorded = json.loads(manifest.read_text())
    assert recorded["voiceCrossValidation"]["acc3PerFold"] == [round(fold["acc3"], 2)]
    assert recorded["file"] == json.loads((MODELS_DIR / "manifest.json").read_text())["file"]
    manifest.write_text((MODELS_DIR / "manifest.json").read_text())
    voice_cv(["--out", str(out), "--record-only", "--update-manifest", str(manifest)])
    assert json.loads(manifest.read_text())["voiceCrossValidation"] == recorded["voiceCrossValidation"]


def test_session_running_normalisation_uses_the_past_of_the_session():
    from training.experiments.session_norm import running_normalise

    mean, std = np.zeros(1), np.ones(1)
    a, b = np.full((4, 1), 10.0), np.full((4, 1), 10.0)
    first, second = running_normalise([a, b], mean, std, prior_vectors=4)
    # first: 4 prior vectors (0, var 1) + 4 at 10 -> mean 5; second: 4 prior + 8 at 10 -> mean 20/3
    assert first[0, 0] == pytest.approx((10 - 5) / np.sqrt((4 * 1 + 400) / 8 - 25))
    assert second[0, 0] == pytest.approx((10 - 20 / 3) / np.sqrt((4 * 1 + 800) / 12 - (20 / 3) ** 2))
    # a long session is centred on itself: a microphone's offset and gain (here 1 std and x1.5) go away
    rng = np.random.default_rng(1)
    x = [rng.normal(size=(50, 2)) for _ in range(20)]
    clean = running_normalise(x, np.zeros(2), np.ones(2), 40)[-1]
    louder = running_normalise([v * 1.5 + 1 for v in x], np.zeros(2), np.ones(2), 40)[-1]
    assert np.abs(clean - louder).max() < 0.2
