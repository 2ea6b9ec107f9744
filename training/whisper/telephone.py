"""Telephone copies of test audio: what a call centre's recordings sound like, for the WER and
audio-only sentiment figures.

    python -m training.whisper.telephone --manifest ~/.cache/msa/asr/mosi-dev-espeak/manifest.csv \\
        [--out ~/.cache/msa/asr/telephone/mosi-dev-espeak/manifest]
    python -m training.whisper.telephone --ravdess ../shared/data/ravdess [--out .../telephone/ravdess]

The channel is narrowband G.711 telephony, made by ffmpeg: band-limited to 300-3400 Hz (the
telephone band), resampled to 8 kHz, and mu-law coded (8 bits a sample, 64 kbit/s), written as a
mu-law wav. `msa asr wer`, `msa eval --media` and the pipeline read it as they read any other
file: decoded, and resampled back to 16 kHz for the recogniser.

- `--manifest`: one copy per row, `<out>/<id>.wav`, and `<out>/manifest.csv` with the same columns,
  its `path` pointing at the copy (`msa asr wer --manifest`, `training.whisper.audio_vs_text
  --manifest`).
- `--ravdess`: every RAVDESS file, keeping its name (the reference is read from the name) with
  `.wav`, so `msa asr wer --ravdess <out> --per-actor 8` picks the same files as from the original.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .paths import CACHE_DIR

RATE = 8000
BAND_HZ = (300, 3400)
DEFAULT_OUT = CACHE_DIR / "telephone"


def telephone(src: Path, dst: Path) -> None:
    """`src` through the telephone channel into `dst` (8 kHz mono mu-law wav)."""
    if not src.is_file():
        raise FileNotFoundError(f"telephone: no audio file {src}")
    low, high = BAND_HZ
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(src)]
        + ["-af", f"highpass=f={low},lowpass=f={high}", "-ac", "1", "-ar", str(RATE), "-c:a", "pcm_mulaw", str(dst)],
        check=True,
    )


def _convert_all(pairs: list[tuple[Path, Path]], workers: int) -> None:
    for _, d in pairs:
        d.parent.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max(1, workers)) as pool:
        for future in [pool.submit(telephone, s, d) for s, d in pairs]:
            future.result()


def from_manifest(manifest: Path, out: Path, workers: int = 2) -> Path:
    """Telephone copies of a manifest's rows (`id`, `path` absolute or relative to the CSV) and
    their manifest, `<out>/manifest.csv`."""
    with open(manifest, newline="") as f:
        reader = csv.DictReader(f)
        fields = list(reader.fieldnames or [])
        rows = list(reader)
    missing = {"id", "path"} - set(fields)
    if missing:
        raise ValueError(f"{manifest}: no column {', '.join(sorted(missing))} (have {', '.join(fields)})")
    ids = [r["id"] for r in rows]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{manifest}: ids repeat, so copies named by id would overwrite each other")
    pairs = [(manifest.parent / r["path"], out / f"{r['id']}.wav") for r in rows]
    _convert_all(pairs, workers)
    target = out / "manifest.csv"
    with open(target, "w", newline="") as f:
        w = csv.DictWriter(f, fields)
        w.writeheader()
        w.writerows({**r, "path": str(dst)} for r, (_, dst) in zip(rows, pairs, strict=True))
    return target


def from_ravdess(ravdess: Path, out: Path, workers: int = 2) -> Path:
    """Telephone copies of every RAVDESS file (03-01-...-AA.flac|wav), names kept, as .wav."""
    files = sorted(p for p in ravdess.iterdir() if p.suffix in (".flac", ".wav") and p.name.startswith("03-"))
    if not files:
        raise ValueError(f"no RAVDESS files (03-01-EE-II-SS-RR-AA.flac|wav) in {ravdess}")
    _convert_all([(p, out / f"{p.stem}.wav") for p in files], workers)
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--manifest", type=Path, help="CSV with id, path (and any other columns, kept)")
    src.add_argument("--ravdess", type=Path, help="a folder of RAVDESS files")
    p.add_argument("--out", type=Path, help=f"default {DEFAULT_OUT}/<manifest folder>/<manifest name>, or .../ravdess")
    p.add_argument("--workers", type=int, default=2, help="ffmpeg processes at once")
    args = p.parse_args(argv)
    if args.manifest:
        m = args.manifest.resolve()
        out = args.out or DEFAULT_OUT / m.parent.name / m.stem
        print(from_manifest(args.manifest, out, args.workers))
    else:
        print(from_ravdess(args.ravdess, args.out or DEFAULT_OUT / "ravdess", args.workers))


if __name__ == "__main__":
    main()
