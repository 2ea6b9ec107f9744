"""Whisper log-mel features in numpy, bit-for-bit the recipe of faster-whisper 1.2.1's FeatureExtractor
plus its segment padding, so the ONNX graphs see what CTranslate2 sees.

For a 16 kHz mono float32 signal x of N samples (CONTRACT.md "Log-mel"):
  1. x' = x followed by 160 zeros (faster-whisper's `padding=160`).
  2. frames i = 0 .. N // 160 (N // 160 + 1 of them): frame i is x'[160 i - 200, 160 i + 200) with
     reflect padding at both ends (numpy "reflect": x'[-1] = x'[1]), times a periodic Hann window
     w[n] = 0.5 - 0.5 cos(2 pi n / 400), n = 0..399.
  3. power = |rfft_400(frame)|^2 (201 bins); mel = filters [80, 201] @ power (slaney mel scale and
     area normalisation, as librosa.filters.mel(sr=16000, n_fft=400, n_mels=80)).
  4. L = log10(max(mel, 1e-10)); L = max(L, max(L) - 8) with the max over ALL those frames;
     features = (L + 4) / 4.
  5. the last frame is dropped: n_frames = N // 160 content frames (faster-whisper's
     `content_frames = features.shape[-1] - 1`).
  6. the encoder input [80, T] is the content frames followed by zeros (the normalised value 0.0,
     as faster-whisper's pad_or_trim pads the features), T = 3000 (30 s, standard) or a trimmed T.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

SAMPLE_RATE = 16000
N_FFT = 400
HOP = 160
N_MELS = 80
N_FRAMES_30S = 3000


@lru_cache(maxsize=2)
def mel_filters(n_mels: int = N_MELS, sr: int = SAMPLE_RATE, n_fft: int = N_FFT) -> np.ndarray:
    """[n_mels, n_fft // 2 + 1] float32, slaney mel (linear below 1 kHz, log above), slaney area norm."""
    fft_freqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sr)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel = min_log_hz / f_sp  # 15
    logstep = np.log(6.4) / 27.0
    max_mel = min_log_mel + np.log(sr / 2 / min_log_hz) / logstep  # mel of 8 kHz = 45.2456...
    mels = np.linspace(0.0, max_mel, n_mels + 2)
    freqs = f_sp * mels
    log_region = mels >= min_log_mel
    freqs[log_region] = min_log_hz * np.exp(logstep * (mels[log_region] - min_log_mel))
    fdiff = np.diff(freqs)
    ramps = freqs[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (freqs[2 : n_mels + 2] - freqs[:n_mels]))[:, None]
    return weights.astype(np.float32)


def log10_mel(audio: np.ndarray) -> np.ndarray:
    """Steps 1-3 and the log10 of step 4: float32 [80, N // 160 + 1], before the dynamic-range clamp."""
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError(f"log_mel wants mono audio [N], got shape {x.shape}")
    x = np.pad(x, (0, HOP))
    x = np.pad(x, (N_FFT // 2, N_FFT // 2), mode="reflect")
    n_frames = 1 + (x.size - N_FFT) // HOP
    frames = np.lib.stride_tricks.as_strided(x, (n_frames, N_FFT), (HOP * x.strides[0], x.strides[0]))
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)
    spec = np.fft.rfft(frames * window, n=N_FFT, axis=-1).astype(np.complex64)  # [F+1, 201]
    power = (np.abs(spec[:-1]) ** 2).T  # [201, F]: the stft's last frame is not used (faster-whisper)
    return np.log10(np.clip(mel_filters() @ power, 1e-10, None))


def log_mel(audio: np.ndarray) -> np.ndarray:
    """audio float32 [N] at 16 kHz -> content features float32 [80, N // 160] (steps 1-5)."""
    log = log10_mel(audio)
    log = np.maximum(log, log.max() - 8.0)
    return ((log + 4.0) / 4.0)[:, :-1].astype(np.float32)


def trimmed_frames(n_content: int, multiple: int = 100, margin: int = 0) -> int:
    """Encoder length T for an utterance of n_content frames: n_content + margin rounded up to a
    multiple of `multiple` (even, so the stride-2 conv gives exactly T/2), at most 3000."""
    if multiple % 2:
        raise ValueError(f"multiple must be even (T/2 encoder positions), got {multiple}")
    t = -(-(n_content + margin) // multiple) * multiple
    return int(min(max(t, multiple), N_FRAMES_30S))


def pad_features(features: np.ndarray, t: int = N_FRAMES_30S) -> np.ndarray:
    """[80, n] -> [80, t]: zero-padded (value 0.0) or cut to t frames (step 6)."""
    out = np.zeros((features.shape[0], t), np.float32)
    n = min(t, features.shape[1])
    out[:, :n] = features[:, :n]
    return out
