"""Training: a few steps on real rows lower the loss; the command runs end to end."""

import json

import numpy as np
import pytest
import torch


def test_few_steps_on_real_rows_lower_the_loss(data_dir):
    from training.msa_model.config import ModelConfig
    from training.msa_model.data import Encoded, collate, load_mosi_csv
    from training.msa_model.encoder import load_tokenizer
    from training.msa_model.model import MSAModel

    torch.manual_seed(0)
    rows = [s for s in load_mosi_csv(data_dir / "mosi" / "label.csv") if s.split == "train"][:16]
    cfg = ModelConfig(dropout=0.0, modality_dropout=0.0)
    tok = load_tokenizer()
    data = Encoded(rows, tok, cfg.max_text_tokens)
    model = MSAModel(cfg)
    batch = collate(data, np.arange(len(rows)), tok.pad_token_id, cfg.acoustic_pad, cfg.visual_pad)
    inputs = [
        batch[k] for k in ("input_ids", "attention_mask", "acoustic_ids", "acoustic_mask", "visual_ids", "visual_mask")
    ]
    opt = torch.optim.AdamW(model.parameter_groups(1e-4, 3e-3, 0.0))
    losses = []
    for _ in range(12):
        loss = torch.nn.functional.l1_loss(model(*inputs)[0], batch["labels"])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses


def test_train_command_end_to_end(tmp_path):
    from training.evaluate import main as evaluate_main  # noqa: F401  (importable)
    from training.train import main

    rng = np.random.default_rng(0)
    path = tmp_path / "feat.jsonl"
    words = ["good", "bad", "great", "awful", "fine", "okay"]
    with open(path, "w") as f:
        for i in range(40):
            w = words[i % 6]
            label = {"good": 1.5, "bad": -1.5, "great": 2.5, "awful": -2.5, "fine": 0.5, "okay": 0.0}[w]
            split = "train" if i < 28 else ("dev" if i < 34 else "test")
            f.write(
                json.dumps(
                    {
                        "id": str(i),
                        "text": f"it was {w}",
                        "label": label,
                        "split": split,
                        "acoustic_ids": rng.integers(0, 8, 4).tolist() if i % 2 else [],
                        "visual_ids": [],
                    }
                )
                + "\n"
            )
    result = main(
        [
            "--datasets",
            "none",
            "--featurized",
            str(path),
            "--tiny-encoder",
            "--runs-dir",
            str(tmp_path),
            "--run-name",
            "t",
            "--epochs",
            "2",
            "--batch-size",
            "8",
            "--eval-every",
            "3",
            "--no-progress",
            "--acoustic-codebook-size",
            "8",
            "--visual-codebook-size",
            "6",
        ]
    )
    run_dir = tmp_path / "t"
    for name in ("best.pt", "history.json", "curve.png", "metrics.json"):
        assert (run_dir / name).exists(), name
    assert set(result["metrics"]) == {"featurized_dev", "featurized_test"}
    assert result["steps"] == 8


def test_ema_weights_are_what_is_evaluated_and_saved(tmp_path):
    """With --ema-decay the saved checkpoint holds the moving average, not the last weights: the
    same seeded run without it (one evaluation, at the last step) saves different weights, and a
    decay of 0 saves exactly the live weights of a repeat run."""
    import torch

    from training.train import main

    path = tmp_path / "feat.jsonl"
    with open(path, "w") as f:
        for i in range(24):
            w, label = [("good", 1.5), ("bad", -1.5), ("fine", 0.5)][i % 3]
            f.write(
                json.dumps(
                    {
                        "id": str(i),
                        "text": f"it was {w}",
                        "label": label,
                        "split": "train" if i < 18 else "dev",
                        "acoustic_ids": [],
                        "visual_ids": [],
                    }
                )
                + "\n"
            )

    def run(name, *extra):
        main(
            [
                "--datasets",
                "none",
                "--featurized",
                str(path),
                "--tiny-encoder",
                "--runs-dir",
                str(tmp_path),
                "--run-name",
                name,
                "--epochs",
                "2",
                "--batch-size",
                "6",
                "--eval-every",
                "1000",
                "--no-progress",
                "--acoustic-codebook-size",
                "8",
                "--visual-codebook-size",
                "6",
                *extra,
            ]
        )
        return torch.load(tmp_path / name / "best.pt", map_location="cpu", weights_only=False)["model"]

    live, again, averaged = run("live"), run("again"), run("ema", "--ema-decay", "0.9")
    same = all(torch.equal(live[k], again[k]) for k in live)
    assert same, "training is not deterministic under a fixed seed; the comparison below means nothing"
    moved = [k for k in live if live[k].is_floating_point() and not torch.allclose(live[k], averaged[k])]
    assert moved, "the EMA run saved the live weights"


def test_init_checkpoint_with_another_codebook_size(tiny_model, tiny_config):
    """A stage-1 checkpoint seeds a model whose acoustic codebook has another k: everything loads
    but the acoustic embedding table, which is initialised afresh; a text-path mismatch refuses."""
    import dataclasses

    import torch

    from training.msa_model.model import MSAModel
    from training.train import load_init_weights

    bigger = MSAModel(dataclasses.replace(tiny_config, acoustic_codebook_size=12))
    fresh = load_init_weights(bigger, tiny_model.state_dict())
    assert fresh == ["acoustic_embedding.weight"]
    loaded = bigger.state_dict()
    for k, v in tiny_model.state_dict().items():
        if k not in fresh:
            assert torch.equal(loaded[k], v), k
    assert loaded["acoustic_embedding.weight"].shape[0] == 13

    other_text = MSAModel(dataclasses.replace(tiny_config, max_text_tokens=tiny_config.max_text_tokens))
    state = dict(tiny_model.state_dict())
    name = next(k for k in state if k.startswith("encoder.") and state[k].dim() == 2)
    state[name] = torch.zeros(state[name].shape[0] + 1, state[name].shape[1])
    with pytest.raises(SystemExit, match="text-path"):
        load_init_weights(other_text, state)


def test_soup_averages_weights(tmp_path, tiny_model, tiny_config):
    import torch

    from training.common import save_checkpoint
    from training.msa_model.model import MSAModel
    from training.soup import main as soup

    torch.manual_seed(1)
    other = MSAModel(tiny_config)
    save_checkpoint(tmp_path / "a.pt", tiny_model, {})
    save_checkpoint(tmp_path / "b.pt", other, {})
    out = soup(["--out", str(tmp_path / "s.pt"), str(tmp_path / "a.pt"), str(tmp_path / "b.pt")])
    s = torch.load(out, map_location="cpu", weights_only=False)["model"]
    a, b = tiny_model.state_dict(), other.state_dict()
    k = next(k for k in a if a[k].is_floating_point() and not torch.equal(a[k], b[k]))
    assert torch.allclose(s[k], (a[k] + b[k]) / 2)


def test_fine_tune_with_frozen_nonverbal_paths(tmp_path, tiny_model):
    """`--init-checkpoint` with `--freeze-nonverbal`: the initial weights are evaluated at step 0
    (a candidate for best.pt), the text path learns, and every non-verbal tensor (embeddings,
    enhancement, audio / video terms) is saved exactly as it was loaded."""
    from training.common import save_checkpoint
    from training.train import main

    init = tmp_path / "init.pt"
    save_checkpoint(init, tiny_model, {})
    path = tmp_path / "feat.jsonl"
    with open(path, "w") as f:
        for i in range(30):
            w, label = [("good", 2.0), ("bad", -2.0), ("fine", 0.5)][i % 3]
            split = "train" if i < 24 else "dev"
            f.write(json.dumps({"id": str(i), "text": f"it was {w}", "label": label, "split": split}) + "\n")
    cfg = tiny_model.config
    main(
        [
            "--datasets",
            "none",
            "--featurized",
            str(path),
            "--tiny-encoder",
            "--nonverbal-dim",
            str(cfg.nonverbal_dim),
            "--memory-size",
            str(cfg.memory_size),
            "--memory-dim",
            str(cfg.memory_dim),
            "--head-hidden",
            str(cfg.head_hidden),
            "--acoustic-codebook-size",
            str(cfg.acoustic_codebook_size),
            "--visual-codebook-size",
            str(cfg.visual_codebook_size),
            "--runs-dir",
            str(tmp_path),
            "--run-name",
            "ft",
            "--init-checkpoint",
            str(init),
            "--freeze-nonverbal",
            "--epochs",
            "4",
            "--batch-size",
            "6",
            "--eval-every",
            "4",
            "--head-lr",
            "0.01",
            "--weight-decay",
            "0.1",
            "--no-progress",
        ]
    )
    history = json.loads((tmp_path / "ft" / "history.json").read_text())
    assert history[0]["step"] == 0, "the initial weights were not evaluated"
    saved = torch.load(tmp_path / "ft" / "best.pt", weights_only=False)
    before = tiny_model.state_dict()
    nonverbal = [k for k in before if not k.startswith(("encoder.", "head.text."))]
    assert any(k.startswith("enhancement.") for k in nonverbal) and any(k.startswith("head.audio.") for k in nonverbal)
    for k in nonverbal:
        assert torch.equal(saved["model"][k], before[k]), f"{k} moved although frozen"
    assert saved["step"] > 0, "no step beat the initial weights on dev; the test learns nothing"
    moved = [k for k in before if k.startswith("head.text.") and not torch.equal(saved["model"][k], before[k])]
    assert moved, "the text path did not learn"
