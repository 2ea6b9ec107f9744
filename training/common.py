"""Shared command-line plumbing: paths, seeding, threads, checkpoints."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import json  # noqa: E402
import random  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from .msa_model.config import ModelConfig, model_config_from_dict, to_dict  # noqa: E402
from .msa_model.model import MSAModel  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = Path(os.environ.get("MSA_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))
DEFAULT_RUNS_DIR = REPO_ROOT / "training" / "runs"
MODELS_DIR = REPO_ROOT / "models"


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def set_threads(n: int) -> None:
    torch.set_num_threads(n)


def save_checkpoint(path: Path, model: MSAModel, extra: dict) -> None:
    torch.save({"model": model.state_dict(), "model_config": to_dict(model.config)} | extra, path)


def load_checkpoint(path: Path) -> tuple[MSAModel, dict]:
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} not found; train one with python -m training.train")
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    model = MSAModel(model_config_from_dict(ckpt["model_config"]))
    model.load_state_dict(ckpt["model"])
    model.eval()
    return model, ckpt


def pads_for(tokenizer, config: ModelConfig) -> tuple[int, int, int]:
    return tokenizer.pad_token_id, config.acoustic_pad, config.visual_pad


def add_ravdess_fold_arg(p) -> None:
    """`--ravdess-fold K`: the RAVDESS actor split of cross-validation fold K (`valence.ravdess_split`)."""
    p.add_argument(
        "--ravdess-fold",
        type=int,
        default=None,
        choices=range(6),
        help="RAVDESS actor split of this cross-validation fold (training/experiments/voice_cv.py); "
        "default the fixed split",
    )


def record_in_manifests(paths, key: str, value) -> None:
    """Sets top-level `key` of each model manifest (JSON, indent 2, as training.export writes it)."""
    for path in paths:
        manifest = json.loads(Path(path).read_text())
        manifest[key] = value
        Path(path).write_text(json.dumps(manifest, indent=2) + "\n")


def write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=2, allow_nan=False, default=_nan_to_none) + "\n")


def _nan_to_none(o):  # pragma: no cover
    raise TypeError(f"not JSON serialisable: {o!r}")


def clean_nans(obj):
    """NaN -> None, recursively (JSON has no NaN)."""
    if isinstance(obj, float) and obj != obj:
        return None
    if isinstance(obj, dict):
        return {k: clean_nans(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [clean_nans(v) for v in obj]
    return obj
