"""Test vectors for the TypeScript side (models/whisper/test_vectors.json).

    python -m training.whisper.vectors

- `mel`: a 0.3-s synthetic signal (int16 samples; value = s / 32768) -> its full log-mel [80, 30],
  the log10 maximum used for the dynamic range, and mel filter checks.
- `trimmed_frames`: (content frames, multiple, margin) -> T examples.
- `models.<name>`: shared/data/samples/03bSnISJMiM_1.wav (16-bit 16 kHz PCM) through each mode:
  T, a few features, the encoder's hidden[0, 0, :8], the first decoder step's top-5 logits after
  the suppression masks (token id, value) and raw logits at fixed ids, the greedy tokens and text.
"""

from __future__ import annotations

import numpy as np

from .audio import load_audio
from .decode import WhisperOnnx
from .export import compact_json
from .fetch import ensure_model
from .mel import N_FRAMES_30S, log10_mel, log_mel, mel_filters, pad_features, trimmed_frames
from .paths import DATA_DIR, GRAPHS_DIR
from .transcribe import Mode

VECTORS = GRAPHS_DIR / "test_vectors.json"
SAMPLE = "samples/03bSnISJMiM_1.wav"
MODES = ("30s", "trim:100:50+guard4")
FIXED_IDS = (220, 264, 50256, 50257, 50358)


def synthetic_signal() -> np.ndarray:
    """int16 [4800]: two tones (one swelling) and seeded noise."""
    t = np.arange(4800) / 16000
    x = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.2 * (t / 0.3) * np.sin(2 * np.pi * 1234.5 * t)
    x += 0.01 * np.random.default_rng(0).standard_normal(t.size)
    return np.round(x * 32767).astype(np.int16)


def _round(a, digits=6):
    return np.round(np.asarray(a, np.float64), digits).tolist()


def mel_vectors() -> dict:
    s = synthetic_signal()
    audio = s.astype(np.float32) / 32768
    feats = log_mel(audio)
    filters = mel_filters()
    return {
        "signal_int16": s.tolist(),
        "n_samples": int(s.size),
        "n_frames": int(feats.shape[1]),
        "log10_max_over_all_frames": round(float(log10_mel(audio).max()), 6),
        "features": _round(feats),
        "filters_shape": list(filters.shape),
        "filters_row_sums": _round(filters.sum(axis=1), 9),
        "filters_at": [[i, j, float(filters[i, j])] for i, j in ((0, 1), (1, 2), (10, 12), (40, 33), (79, 190))],
    }


def model_vectors(name: str) -> dict:
    model = WhisperOnnx(ensure_model(name), threads=1)
    audio = load_audio(DATA_DIR / SAMPLE)
    feats = log_mel(audio)
    out = {
        "sample": SAMPLE,
        "n_samples": int(audio.size),
        "n_content_frames": int(feats.shape[1]),
        "features_first_frame_first8": _round(feats[:8, 0]),
        "features_sum": float(feats.sum(dtype=np.float64)),
        "prompt": model.tokens.prompt,
        "modes": {},
    }
    for spec in MODES:
        mode = Mode.parse(spec)
        t = mode.frames(min(feats.shape[1], N_FRAMES_30S))
        mel = pad_features(feats, t)[None]
        cross_k, cross_v, hidden = model.encode(mel)
        batch, d = 1, cross_k.shape[-1]
        empty = np.zeros((cross_k.shape[0], batch, 0, d), np.float32)
        logits, _, _ = model.decoder.run(
            None,
            {
                "tokens": np.asarray([model.tokens.prompt], np.int64),
                "self_k": empty,
                "self_v": empty,
                "cross_k": cross_k,
                "cross_v": cross_v,
            },
        )
        masked = logits[0] + model.suppress_first
        top = np.argsort(-masked)[:5]
        tokens = model.greedy(cross_k, cross_v, repeat_guard=mode.repeat_guard)[0]
        out["modes"][spec] = {
            "T": int(t),
            "hidden_0_0_first8": _round(hidden[0, 0, :8], 5),
            "first_step_top5_masked": [[int(i), round(float(masked[i]), 4)] for i in top],
            "first_step_raw_logits_at": {str(i): round(float(logits[0, i]), 4) for i in FIXED_IDS},
            "tokens": tokens,
            "text": model.text(tokens),
        }
    return out


def build() -> dict:
    return {
        "about": "Whisper test vectors for the TypeScript port; see training/whisper/CONTRACT.md. "
        "Tolerances: features 1e-4 absolute, hidden/logits 2e-3 relative to their scale; tokens and text exact.",
        "mel": mel_vectors(),
        "trimmed_frames": [
            {"content_frames": n, "multiple": g, "margin": m, "T": trimmed_frames(n, g, m)}
            for n, g, m in ((1, 100, 0), (330, 100, 0), (400, 100, 0), (330, 100, 50), (2990, 100, 50), (5000, 100, 0))
        ],
        "models": {name: model_vectors(name) for name in ("tiny.en", "base")},
    }


def main() -> None:
    VECTORS.write_text(compact_json(build()))
    print(VECTORS)


if __name__ == "__main__":
    main()
