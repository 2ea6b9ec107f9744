"""Whisper hyper-parameters, read from the CTranslate2 variables (no config needed)."""

from __future__ import annotations

from dataclasses import dataclass

from .ct2_reader import Ct2Model


@dataclass(frozen=True)
class WhisperDims:
    n_mels: int  # 80
    n_audio_ctx: int  # 1500 encoder positions (30 s)
    n_audio_layer: int
    n_audio_head: int
    n_text_ctx: int  # 448 decoder positions
    n_text_layer: int
    n_text_head: int
    d_model: int  # encoder and decoder width (equal in every Whisper size)
    n_vocab: int

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_text_head


def _count_layers(ct2: Ct2Model, prefix: str) -> int:
    n = 0
    while f"{prefix}/layer_{n}/ffn/linear_0/weight" in ct2:
        n += 1
    return n


def dims_from_ct2(ct2: Ct2Model) -> WhisperDims:
    if ct2.spec != "WhisperSpec":
        raise ValueError(f"{ct2.path} holds a {ct2.spec!r} model, not WhisperSpec")
    d_model, n_mels, kernel = ct2["encoder/conv1/weight"].shape
    if kernel != 3:
        raise ValueError(f"encoder/conv1 kernel {kernel}, Whisper has 3")
    dims = WhisperDims(
        n_mels=n_mels,
        n_audio_ctx=ct2["encoder/position_encodings/encodings"].shape[0],
        n_audio_layer=_count_layers(ct2, "encoder"),
        n_audio_head=int(ct2.scalar("encoder/num_heads")),
        n_text_ctx=ct2["decoder/position_encodings/encodings"].shape[0],
        n_text_layer=_count_layers(ct2, "decoder"),
        n_text_head=int(ct2.scalar("decoder/num_heads")),
        d_model=d_model,
        n_vocab=ct2["decoder/embeddings/weight"].shape[0],
    )
    # CT2 flags the graphs below assume (Whisper: pre-norm, exact GELU, no embedding scale).
    for name, want in (("decoder/pre_norm", 1), ("decoder/activation", 3), ("decoder/scale_embeddings", 0)):
        if name in ct2 and int(ct2.scalar(name)) != want:
            raise ValueError(f"{ct2.path}: {name} = {ct2.scalar(name)}, the Whisper graphs need {want}")
    return dims
