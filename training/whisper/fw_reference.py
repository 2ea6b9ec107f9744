"""faster-whisper (CTranslate2) run the way training.whisper.transcribe mirrors it: the reference.

Greedy: beam_size 1, one temperature 0 (no fallback), without timestamps, no VAD, no conditioning
on previous text, language "en", and no_speech_threshold None (the no-speech skip is a segment
filter on top of decoding; the ONNX reference does not apply it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

GREEDY = dict(
    beam_size=1,
    best_of=1,
    temperature=[0.0],
    without_timestamps=True,
    vad_filter=False,
    condition_on_previous_text=False,
    language="en",
    no_speech_threshold=None,
)


def load_faster_whisper(model_dir: Path, compute_type: str = "float32", threads: int = 1):
    from faster_whisper import WhisperModel

    return WhisperModel(str(model_dir), device="cpu", compute_type=compute_type, cpu_threads=threads, num_workers=1)


def fw_transcribe(model, audio: np.ndarray, with_tokens: bool = False):
    """Text (and, with_tokens, the number of generated text tokens)."""
    segments = list(model.transcribe(np.asarray(audio, np.float32), **GREEDY)[0])
    text = "".join(s.text for s in segments).strip()
    return (text, sum(len(s.tokens) for s in segments)) if with_tokens else text
