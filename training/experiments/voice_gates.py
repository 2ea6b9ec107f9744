"""A fixed subsample of each voice corpus as 16 kHz mono 16-bit WAV, for scripts/voice-gates.ts
(how many utterances the VAD and the acoustic codebook gate leave out per corpus).

    python -m training.experiments.voice_gates [--out /tmp/voice-gates] [--per-corpus 300]
    node --import tsx scripts/voice-gates.ts /tmp/voice-gates

Rows i * N // K (i = 0..K-1) of each corpus in id order (an even spread over speakers and
emotions), from the study's decoded audio cache (corpora.load_audio: Opus -> 16 kHz by ffmpeg).
"""

from __future__ import annotations

import argparse
import csv
import wave
from pathlib import Path

from ..common import DEFAULT_DATA_DIR
from .corpora import CORPORA, list_corpus, load_audio
from .voice_repr import CACHE_DIR


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    p.add_argument("--cache-dir", type=Path, default=CACHE_DIR)
    p.add_argument("--out", type=Path, default=Path("/tmp/voice-gates"))
    p.add_argument("--per-corpus", type=int, default=300)
    args = p.parse_args(argv)
    for c in CORPORA:
        utts = list_corpus(c, args.data_dir)
        waves = load_audio(c, utts, args.cache_dir)
        k = min(args.per_corpus, len(utts))
        d = args.out / c
        d.mkdir(parents=True, exist_ok=True)
        with open(args.out / f"{c}.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["id", "text", "label"])
            for i in (j * len(utts) // k for j in range(k)):
                with wave.open(str(d / f"{utts[i].id}.wav"), "wb") as wf:
                    wf.setnchannels(1)
                    wf.setsampwidth(2)
                    wf.setframerate(16000)
                    wf.writeframes((waves[i] * 32768.0).round().clip(-32768, 32767).astype("<i2").tobytes())
                w.writerow([utts[i].id, "", utts[i].label])
        print(f"{c}: {k} files -> {d}")


if __name__ == "__main__":
    main()
