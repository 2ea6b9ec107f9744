"""Audio in: any file ffmpeg reads -> float32 mono 16 kHz in [-1, 1).

Decoded to 16-bit PCM first and divided by 32768, as faster-whisper's decode_audio does, so both
see the same samples from 16-bit sources (FLAC/WAV at 16 kHz need no resampling).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from .mel import SAMPLE_RATE


def load_audio(path: str | Path) -> np.ndarray:
    cmd = [
        "ffmpeg",
        "-nostdin",
        "-loglevel",
        "error",
        "-i",
        str(path),
        "-vn",
        "-f",
        "s16le",
        "-ac",
        "1",
        "-ar",
        str(SAMPLE_RATE),
        "-",
    ]
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg could not decode {path}: {proc.stderr.decode(errors='replace').strip()}")
    return np.frombuffer(proc.stdout, np.int16).astype(np.float32) / 32768.0
