"""Sentiment from audio alone against the words given, on the espeak-ng MOSI dev renderings.

    python -m training.whisper.audio_vs_text [--manifest ~/.cache/msa/asr/mosi-dev-espeak/manifest.csv]

Builds two labelled CSVs over the manifest's rows (labels from MOSI's label.csv): one with the true
transcripts, one with an empty text column and a folder of <id>.wav links, and scores both with the
served model through `msa eval` (the second one through `--media`: VAD + Whisper, as the pipeline
hears). Prints a table and, last, one JSON object {"text": {...}, "audio": {...}}.
Make the renderings first with `python -m training.whisper.espeak_mosi`.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import tempfile
from pathlib import Path

from .espeak_mosi import DEFAULT_OUT
from .paths import DATA_DIR, REPO_ROOT


def eval_json(args: list[str]) -> dict:
    out = subprocess.run(
        ["node", str(REPO_ROOT / "bin" / "msa.js"), "eval", "--json", *args], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", type=Path, default=DEFAULT_OUT / "manifest.csv")
    ap.add_argument("--model", help="model manifest for msa eval (default: the served one)")
    a = ap.parse_args()
    with open(DATA_DIR / "mosi" / "label.csv", newline="") as f:
        labels = {r["id"]: r for r in csv.DictReader(f)}
    with open(a.manifest, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["id"] in labels]
    if not rows:
        raise SystemExit(f"no rows of {a.manifest} have a MOSI label")
    extra = ["--model", a.model] if a.model else []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / "media").mkdir()
        for name, text_of in (("text", lambda r: labels[r["id"]]["text"]), ("audio", lambda r: "")):
            with open(d / f"{name}.csv", "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(["id", "text", "label"])
                w.writerows([r["id"], text_of(r), labels[r["id"]]["label"]] for r in rows)
        for r in rows:
            src = Path(r["path"]) if Path(r["path"]).is_absolute() else a.manifest.parent / r["path"]
            (d / "media" / f"{r['id']}.wav").symlink_to(src.resolve())
        result = {
            "text": eval_json(["--csv", str(d / "text.csv"), *extra]),
            "audio": eval_json(["--csv", str(d / "audio.csv"), "--media", str(d / "media"), *extra]),
        }
    print(f"{'':<32}{'n':>5}{'Acc-2 non0':>12}{'Acc-2 has0':>12}{'MAE':>8}{'Corr':>8}")
    for name, label in (("text", "words given"), ("audio", "audio only (recognised words)")):
        m = result[name]
        print(f"{label:<32}{m['n']:>5}{m['acc2_non0']:>12.1f}{m['acc2_has0']:>12.1f}{m['mae']:>8.3f}{m['corr']:>8.3f}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
