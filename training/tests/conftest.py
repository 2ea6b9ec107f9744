import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

from training.common import DEFAULT_DATA_DIR  # noqa: E402
from training.msa_model.config import ModelConfig  # noqa: E402
from training.msa_model.model import MSAModel  # noqa: E402

torch.set_num_threads(2)


@pytest.fixture
def tiny_config() -> ModelConfig:
    return ModelConfig(
        tiny_encoder=True,
        acoustic_codebook_size=8,
        visual_codebook_size=6,
        nonverbal_dim=16,
        memory_size=10,
        memory_dim=16,
        head_hidden=16,
        dropout=0.1,
    )


@pytest.fixture
def tiny_model(tiny_config) -> MSAModel:
    torch.manual_seed(0)
    model = MSAModel(tiny_config)
    # Non-trivial enhancement so masking tests see the non-verbal path at work.
    torch.nn.init.normal_(model.enhancement.project.weight, std=0.5)
    return model.eval()


@pytest.fixture
def data_dir():
    if not (DEFAULT_DATA_DIR / "mosi" / "label.csv").exists():
        pytest.skip(f"labelled data not found in {DEFAULT_DATA_DIR} (set MSA_DATA_DIR)")
    return DEFAULT_DATA_DIR


def make_batch(cfg: ModelConfig, b=3, t=9, la=5, lv=4, seed=0) -> dict:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1000, 29000, (b, t), generator=g)
    am = torch.ones(b, t, dtype=torch.long)
    am[1, 5:] = 0
    am[2, 3:] = 0
    ids[am == 0] = 0
    a = torch.randint(0, cfg.acoustic_codebook_size, (b, la), generator=g)
    a_m = torch.ones(b, la, dtype=torch.long)
    a_m[1, 2:] = 0
    a[a_m == 0] = cfg.acoustic_pad
    v = torch.randint(0, cfg.visual_codebook_size, (b, lv), generator=g)
    v_m = torch.ones(b, lv, dtype=torch.long)
    v_m[2, 1:] = 0
    v[v_m == 0] = cfg.visual_pad
    return {
        "input_ids": ids,
        "attention_mask": am,
        "acoustic_ids": a,
        "acoustic_mask": a_m,
        "visual_ids": v,
        "visual_mask": v_m,
    }


def run(model, batch):
    from training.onnx_io import INPUT_NAMES

    with torch.no_grad():
        return model(*(batch[k] for k in INPUT_NAMES))
