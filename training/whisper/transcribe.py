"""Reference transcriber: numpy log-mel + the ONNX graphs (onnxruntime) + greedy decoding.

    python -m training.whisper.transcribe FILE... [--model tiny.en|base] [--mode 30s|trim]

Mirrors faster-whisper's greedy path (beam 1, temperature 0, without timestamps, no VAD, no
conditioning on previous text): 30-s windows of content frames, each padded with 0.0 to T frames.
`--mode 30s` pads to T = 3000 (what Whisper was trained on); `--mode trim:MULTIPLE:MARGIN` uses
T = round_up(frames + margin, multiple) (mel.trimmed_frames), so the encoder runs on the utterance only;
"+guardK" stops a row whose tokens end with the same span (>= K tokens) twice (decode.ends_in_loop),
which trimming needs. `--mode trim` = trim:100:50+guard4 (the recommended setting).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .audio import load_audio
from .decode import Timing, WhisperOnnx
from .fetch import ensure_model
from .mel import N_FRAMES_30S, log_mel, pad_features, trimmed_frames


@dataclass(frozen=True)
class Mode:
    """How the encoder input is sized (full 30 s, or trimmed to the utterance) and whether the
    decoder stops a repeated span (decode.ends_in_loop; needed with trimming, off for parity)."""

    trim: bool = False
    multiple: int = 100
    margin: int = 0
    repeat_guard: int = 0

    @staticmethod
    def parse(spec: str) -> Mode:
        """ "30s" | "trim:MULTIPLE:MARGIN" (frames), optionally followed by "+guardK" (repeat guard,
        spans >= K tokens); "trim" alone is the recommended "trim:100:50+guard4"."""
        if spec == "trim":
            return Mode(True, 100, 50, 4)
        body, _, guard = spec.partition("+guard")
        try:
            repeat_guard = int(guard) if guard else 0
            parts = body.split(":")
            if body == "30s":
                return Mode(repeat_guard=repeat_guard)
            if parts[0] == "trim" and len(parts) == 3:
                return Mode(True, int(parts[1]), int(parts[2]), repeat_guard)
        except ValueError:
            pass
        raise ValueError(f"mode {spec!r}: expected 30s, trim or trim:MULTIPLE:MARGIN, optionally +guardK")

    def __str__(self) -> str:
        body = f"trim:{self.multiple}:{self.margin}" if self.trim else "30s"
        return body + (f"+guard{self.repeat_guard}" if self.repeat_guard else "")

    def frames(self, n_content: int) -> int:
        return trimmed_frames(n_content, self.multiple, self.margin) if self.trim else N_FRAMES_30S


def windows(audio: np.ndarray, mode: Mode) -> list[np.ndarray]:
    """Encoder inputs [80, T] of one signal: consecutive 30-s windows of its content frames."""
    feats = log_mel(audio)
    n = feats.shape[1]
    return [
        pad_features(feats[:, s : s + N_FRAMES_30S], mode.frames(min(N_FRAMES_30S, n - s)))
        for s in range(0, max(n, 1), N_FRAMES_30S)
    ]


def transcribe_signals(
    model: WhisperOnnx, signals: list[np.ndarray], mode: Mode, batch_size: int = 8, timing: Timing | None = None
) -> list[str]:
    """Text per signal. Windows of equal T are batched together (padding rows to a longer T
    would change their result), so batching gives the same text as one row at a time."""
    items = [(i, w) for i, sig in enumerate(signals) for w in windows(sig, mode)]
    texts: dict[int, list[str]] = {i: [] for i in range(len(signals))}
    order = sorted(range(len(items)), key=lambda k: (items[k][1].shape[1], k))
    results: dict[int, str] = {}
    start = 0
    while start < len(order):
        t = items[order[start]][1].shape[1]
        group = [k for k in order[start : start + batch_size] if items[k][1].shape[1] == t]
        mel = np.stack([items[k][1] for k in group])
        for k, text in zip(group, model.transcribe_mel(mel, mode.repeat_guard, timing), strict=True):
            results[k] = text
        start += len(group)
    for k in range(len(items)):
        texts[items[k][0]].append(results[k])
    return ["".join(parts).strip() for _, parts in sorted(texts.items())]


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--model", default="tiny.en", help="tiny.en or base (installed on first use)")
    p.add_argument(
        "--mode",
        default="30s",
        help="30s, trim:MULTIPLE:MARGIN (frames), +guardK adds the repeat guard; trim = trim:100:50+guard4",
    )
    p.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")
    p.add_argument("--batch-size", type=int, default=8)
    args = p.parse_args(argv)
    model = WhisperOnnx(ensure_model(args.model), threads=args.threads)
    texts = transcribe_signals(model, [load_audio(f) for f in args.files], Mode.parse(args.mode), args.batch_size)
    for f, text in zip(args.files, texts, strict=True):
        sys.stdout.write(f"{f}\t{text}\n")


if __name__ == "__main__":
    main()
