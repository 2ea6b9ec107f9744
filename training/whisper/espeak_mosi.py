"""Synthetic spoken MOSI: espeak-ng renderings of the MOSI dev transcripts (229 rows), 16 kHz mono wav.

    python -m training.whisper.espeak_mosi [--out ~/.cache/msa/asr/mosi-dev-espeak]

Two sets, each with a manifest CSV (id, voice, rate, path, text) for others to reuse:
  manifest.csv           one voice and rate per row, drawn with random.Random(SEED) in CSV order
                         (voice = rng.choice(VOICES), then rate = rng.choice(RATES))
  manifest-en-us-160.csv every row in plain en-us at 160 words per minute
espeak-ng writes 22050 Hz; ffmpeg resamples to 16 kHz 16-bit mono. The text is the transcript as
MOSI has it (lower case, no punctuation; fillers such as "uh" are spoken).
"""

from __future__ import annotations

import argparse
import csv
import random
import subprocess
import tempfile
from pathlib import Path

from .paths import CACHE_DIR, DATA_DIR

VOICES = ("en-us", "en", "en+m3", "en+f2", "en+f4", "en-us+klatt")
RATES = (130, 160, 190)
SEED = 20240601
PLAIN = ("en-us", 160)
DEFAULT_OUT = CACHE_DIR / "mosi-dev-espeak"
FIELDS = ["id", "voice", "rate", "path", "text"]


def mosi_rows(data_dir: Path, split: str = "dev") -> list[dict]:
    with open(data_dir / "mosi" / "label.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["mode"].strip() == split]
    if not rows:
        raise ValueError(f"no MOSI rows with mode {split!r} in {data_dir / 'mosi' / 'label.csv'}")
    return rows


def render(text: str, voice: str, rate: int, path: Path) -> None:
    with tempfile.NamedTemporaryFile(suffix=".wav") as tmp:
        subprocess.run(
            # a leading space: a text starting with "-" (MOSEI has some) is not read as an option
            ["espeak-ng", "-v", voice, "-s", str(rate), "-w", tmp.name, " " + text],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [
                "ffmpeg",
                "-nostdin",
                "-loglevel",
                "error",
                "-y",
                "-i",
                tmp.name,
                "-ac",
                "1",
                "-ar",
                "16000",
                "-sample_fmt",
                "s16",
                str(path),
            ],
            check=True,
        )


def assignments(rows: list[dict]) -> list[tuple[str, int]]:
    rng = random.Random(SEED)
    out = []
    for _ in rows:
        voice = rng.choice(VOICES)
        out.append((voice, rng.choice(RATES)))
    return out


def build(data_dir: Path, out: Path) -> tuple[Path, Path]:
    rows = mosi_rows(data_dir)
    sets = {"manifest.csv": assignments(rows), "manifest-en-us-160.csv": [PLAIN] * len(rows)}
    manifests = []
    for manifest, voices in sets.items():
        records = []
        for row, (voice, rate) in zip(rows, voices, strict=True):
            path = out / f"{voice.replace('+', '_')}-{rate}" / f"{row['id']}.wav"
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                render(row["text"], voice, rate, path)
            records.append({"id": row["id"], "voice": voice, "rate": rate, "path": str(path), "text": row["text"]})
        with open(out / manifest, "w", newline="") as f:
            w = csv.DictWriter(f, FIELDS)
            w.writeheader()
            w.writerows(records)
        manifests.append(out / manifest)
    return manifests[0], manifests[1]


def read_manifest(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", type=Path, default=DATA_DIR)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = p.parse_args(argv)
    for m in build(args.data_dir, args.out):
        print(m)


if __name__ == "__main__":
    main()
