"""Whisper encoder features: the CTranslate2 weights run in a small PyTorch port, so that every
layer's hidden states are available (CTranslate2's `Whisper.encode` returns the last one only).

Parity: `check_parity` compares the port's last layer with `ctranslate2.models.Whisper.encode` on
the same log-mel (the study records the maximum absolute difference). The input is faster-whisper's
FeatureExtractor log-mel (80 bins, 10 ms hop), either padded with zeros to 3000 frames (30 s, as
faster-whisper's `pad_or_trim` does before decoding) or not padded at all (the dynamic-length ONNX
encoder the product will run). Pooling is over the encoder positions that cover the utterance only:
ceil(T / 2) positions for T mel frames (conv2 has stride 2).
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

CT2_DTYPES = (np.float32, np.int8, np.int16, np.int32, np.float16)
N_FRAMES_30S = 3000


def read_ct2_variables(path: Path, prefix: str = "encoder/") -> dict[str, np.ndarray]:
    """The variables of a CTranslate2 model.bin (binary version 6 layout: header, then per variable
    name, rank, shape, dtype id, byte count, bytes) whose name starts with `prefix`, as float32."""
    b = Path(path).read_bytes()
    o = 0

    def take(fmt):
        nonlocal o
        (v,) = struct.unpack_from(fmt, b, o)
        o += struct.calcsize(fmt)
        return v

    def text():
        nonlocal o
        n = take("H")
        s = b[o : o + n - 1].decode()
        o += n
        return s

    version = take("I")
    if version != 6:
        raise ValueError(f"{path}: CTranslate2 binary version {version}, the reader knows 6")
    text(), take("I")  # spec name, revision
    out = {}
    for _ in range(take("I")):
        name = text()
        shape = [take("I") for _ in range(take("B"))]
        dtype = CT2_DTYPES[take("B")]
        nbytes = take("I")
        if name.startswith(prefix):
            out[name] = np.frombuffer(b, dtype, nbytes // np.dtype(dtype).itemsize, o).reshape(shape).astype(np.float32)
        o += nbytes
    return out


class WhisperEncoder:
    """Whisper's audio encoder (conv x2 + sinusoidal positions + pre-LN transformer + final LN),
    weights from CTranslate2. `layers(mel)` -> every block's output, the last after the final LN."""

    def __init__(self, model_dir: Path) -> None:
        v = {
            k.removeprefix("encoder/"): torch.from_numpy(a.copy())
            for k, a in read_ct2_variables(Path(model_dir) / "model.bin").items()
        }
        self.v = v
        self.n_layers = 1 + max(
            int(k.split("/")[0].split("_")[1]) for k in v if k.startswith("layer_") and k.split("/")[0][6:].isdigit()
        )
        self.n_heads = int(v["num_heads"])
        self.dim = v["conv1/bias"].shape[0]

    def _ln(self, x, name):
        return F.layer_norm(x, (self.dim,), self.v[f"{name}/gamma"], self.v[f"{name}/beta"], 1e-5)

    def _lin(self, x, name):
        return F.linear(x, self.v[f"{name}/weight"], self.v[f"{name}/bias"])

    @torch.no_grad()
    def layers(self, mel: np.ndarray) -> list[np.ndarray]:
        """mel (80, T) -> [n_layers arrays (ceil(T/2), dim)]: block outputs 1..n, the last one
        after the final layer norm (what CTranslate2's encode returns)."""
        v, h = self.v, self.n_heads
        x = torch.from_numpy(np.ascontiguousarray(mel, dtype=np.float32))[None]  # (1, 80, T)
        x = F.gelu(F.conv1d(x, v["conv1/weight"], v["conv1/bias"], padding=1))
        x = F.gelu(F.conv1d(x, v["conv2/weight"], v["conv2/bias"], stride=2, padding=1))  # (1, d, T')
        x = x[0].T  # (T', d)
        x = x + v["position_encodings/encodings"][: x.shape[0]]
        out = []
        for i in range(self.n_layers):
            p = f"layer_{i}"
            q, k, val = self._lin(self._ln(x, f"{p}/self_attention/layer_norm"), f"{p}/self_attention/linear_0").chunk(
                3, -1
            )
            q, k, val = (t.reshape(-1, h, self.dim // h).transpose(0, 1) for t in (q, k, val))  # (h, T', dh)
            a = F.scaled_dot_product_attention(q[None], k[None], val[None])[0]  # (h, T', dh)
            x = x + self._lin(a.transpose(0, 1).reshape(-1, self.dim), f"{p}/self_attention/linear_1")
            y = self._ln(x, f"{p}/ffn/layer_norm")
            x = x + self._lin(F.gelu(self._lin(y, f"{p}/ffn/linear_0")), f"{p}/ffn/linear_1")
            out.append(x.numpy().copy())
        out[-1] = self._ln(x, "layer_norm").numpy()
        return out


def log_mel(audio: np.ndarray, pad_30s: bool) -> tuple[np.ndarray, int]:
    """audio (n,) float32 16 kHz -> (mel (80, T or 3000), T frames that cover the audio).
    faster-whisper's FeatureExtractor (it appends 160 zero samples); padded: zeros up to 3000
    frames as faster-whisper's `pad_or_trim` (audio over 30 s would be cut: none here is)."""
    from faster_whisper.feature_extractor import FeatureExtractor

    mel = _feature_extractor(FeatureExtractor).__call__(audio)
    t = mel.shape[1]
    if pad_30s:
        from faster_whisper.audio import pad_or_trim

        mel = pad_or_trim(mel, N_FRAMES_30S)
        t = min(t, N_FRAMES_30S)
    return mel.astype(np.float32), t


_FE = None


def _feature_extractor(cls):
    global _FE
    if _FE is None:
        _FE = cls(feature_size=80)
    return _FE


def covered_positions(t_frames: int) -> int:
    """Encoder positions that cover t mel frames (conv2 stride 2, padding 1)."""
    return math.ceil(t_frames / 2)


def pool(h: np.ndarray) -> np.ndarray:
    """(L, d) hidden states -> (2d,) mean then standard deviation over positions."""
    return np.concatenate([h.mean(0), h.std(0)]).astype(np.float32)


def check_parity(model_dir: Path, audio: np.ndarray, pad_30s: bool) -> float:
    """Max |port - CTranslate2| over the covered positions of the last layer (float32 on CPU)."""
    import ctranslate2

    mel, t = log_mel(audio, pad_30s)
    ct2 = ctranslate2.models.Whisper(str(model_dir), device="cpu", compute_type="float32", intra_threads=1)
    ref = np.array(ct2.encode(ctranslate2.StorageView.from_array(mel[None]), to_cpu=True))[0]
    ours = WhisperEncoder(model_dir).layers(mel)[-1]
    n = covered_positions(t)
    return float(np.abs(ref[:n] - ours[:n]).max())
