"""Speech for adapting the recogniser to unfamiliar voices: espeak-ng renderings of MOSEI train
transcripts (training) and MOSEI valid transcripts (checkpoint selection) in voices that the
spoken MOSI dev set (`espeak_mosi`: en, en-us, en+m3, en+f2, en+f4, en-us+klatt) never uses.

    python -m training.whisper.adapt_data [--train 6000] [--valid 300] [--out ~/.cache/msa/asr/adapt-espeak]

Voices: six other English dialects of espeak-ng (Scottish, Received Pronunciation, Caribbean, New
York City, Lancaster, West Midlands), each plain or with one of eleven variants that the test set
does not use either (m1 m2 m4 m5 m6 m7 f1 f3 f5 klatt2 klatt3); rates 130, 160, 190 words per
minute. MOSEI's parenthesised annotations are removed first (`clean`). Each row draws its voice
and rate from a fixed seed. MOSI is never rendered here: its dev set is the measurement, and
MOSEI's own test split is left alone. Rows longer than 28 s of speech are skipped (Whisper hears at
most 30 s). Writes `train.csv` and `valid.csv` (id, voice, rate, path, text).
"""

from __future__ import annotations

import argparse
import csv
import random
import re
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tqdm import tqdm

from .espeak_mosi import RATES, VOICES
from .espeak_mosi import render as render_espeak
from .paths import CACHE_DIR, DATA_DIR

SEED = 20261208
DEFAULT_OUT = CACHE_DIR / "adapt-espeak"
DIALECTS = ("en-gb-scotland", "en-gb-x-rp", "en-029", "en-us-nyc", "en-gb-x-gbclan", "en-gb-x-gbcwmd")
VARIANTS = ("", "+m1", "+m2", "+m4", "+m5", "+m6", "+m7", "+f1", "+f3", "+f5", "+klatt2", "+klatt3")
TRAIN_VOICES = tuple(d + v for d in DIALECTS for v in VARIANTS)
MAX_SECONDS = 28.0
FIELDS = ["id", "voice", "rate", "path", "text"]

assert not set(TRAIN_VOICES) & set(VOICES), "adaptation voices must not be the test set's"


def clean(text: str) -> str:
    """MOSEI's annotations in parentheses ("(uhh)", "(stutter)") are not words anyone says as written:
    espeak-ng would read "stutter" aloud, and Whisper does not write fillers. They go."""
    return " ".join(re.sub(r"\([^)]*\)", " ", text).split())


def mosei_rows(data_dir: Path, mode: str, n: int, seed: int) -> list[dict]:
    with open(data_dir / "mosei" / "label.csv", newline="") as f:
        rows = [
            {"id": f"{r['video_id']}_{r['clip_id']}", "text": clean(r["text"])}
            for r in csv.DictReader(f)
            if r["mode"].strip() == mode and clean(r["text"])
        ]
    if not rows:
        raise ValueError(f"no MOSEI rows with mode {mode!r} in {data_dir / 'mosei' / 'label.csv'}")
    random.Random(seed).shuffle(rows)
    return rows[:n]


def seconds(path: Path) -> float:
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


def render_set(rows: list[dict], out: Path, name: str, seed: int) -> Path:
    rng = random.Random(seed)
    jobs = []
    for row in rows:
        voice, rate = rng.choice(TRAIN_VOICES), rng.choice(RATES)
        path = out / name / f"{voice.replace('+', '_')}-{rate}" / f"{row['id']}.wav"
        jobs.append({"id": row["id"], "voice": voice, "rate": rate, "path": path, "text": row["text"]})

    def one(job: dict) -> dict | None:
        if not job["path"].exists():
            job["path"].parent.mkdir(parents=True, exist_ok=True)
            render_espeak(job["text"], job["voice"], job["rate"], job["path"])
        return job if seconds(job["path"]) <= MAX_SECONDS else None

    with ThreadPoolExecutor(2) as pool:
        done = list(tqdm(pool.map(one, jobs), total=len(jobs), desc=f"render {name}"))
    kept = [j for j in done if j is not None]
    manifest = out / f"{name}.csv"
    with open(manifest, "w", newline="") as f:
        w = csv.DictWriter(f, FIELDS)
        w.writeheader()
        w.writerows({**j, "path": str(j["path"])} for j in kept)
    print(f"{manifest}: {len(kept)} rows ({len(jobs) - len(kept)} over {MAX_SECONDS:.0f} s skipped)")
    return manifest


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", type=Path, default=DATA_DIR)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--train", type=int, default=6000, help="MOSEI train rows")
    p.add_argument("--valid", type=int, default=300, help="MOSEI valid rows (checkpoint selection)")
    args = p.parse_args(argv)
    render_set(mosei_rows(args.data_dir, "valid", args.valid, SEED), args.out, "valid", SEED + 1)
    render_set(mosei_rows(args.data_dir, "train", args.train, SEED), args.out, "train", SEED)


if __name__ == "__main__":
    main()
