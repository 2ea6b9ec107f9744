"""Sentiment from audio alone against the words given, on the espeak-ng MOSI dev renderings.

    python -m training.whisper.audio_vs_text [--manifest ~/.cache/msa/asr/mosi-dev-espeak/manifest.csv]
        [--asr-text mosi raw nopunct] [--hyps HYPS.csv]

Builds two labelled CSVs over the manifest's rows (labels from MOSI's label.csv): one with the true
transcripts, one with an empty text column and a folder of <id>.wav links, and scores both with the
served model through `msa eval` (the second one through `--media`: VAD + Whisper, as the pipeline
hears; the recognised text cleaned for the model as `--asr-text` says, src/speech/modelText.ts,
one row per cleanup). With `--hyps` (the CSV of `msa asr wer --manifest ... --out`: id, hypothesis),
the recognised texts are read from it instead of recognised again (`msa eval --text-is-recognised`):
the same texts, in seconds. Prints a table and, last, one JSON object {"text": {...}, "audio": {...}}
("audio" holds the first cleanup; "audio_<cleanup>" the others).
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

CLEANUPS = ("raw", "mosi", "nopunct")  # src/speech/modelText.ts MODEL_TEXT_CLEANUPS


def eval_json(args: list[str]) -> dict:
    out = subprocess.run(
        ["node", str(REPO_ROOT / "bin" / "msa.js"), "eval", "--json", *args], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", type=Path, default=DEFAULT_OUT / "manifest.csv")
    ap.add_argument("--model", help="model manifest for msa eval (default: the served one)")
    ap.add_argument("--asr-text", nargs="+", choices=CLEANUPS, help="recognised text's cleanups (default: serving's)")
    ap.add_argument("--hyps", type=Path, help="recognised texts: msa asr wer --out CSV of the same manifest")
    a = ap.parse_args()
    with open(DATA_DIR / "mosi" / "label.csv", newline="") as f:
        labels = {r["id"]: r for r in csv.DictReader(f)}
    with open(a.manifest, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["id"] in labels]
    if not rows:
        raise SystemExit(f"no rows of {a.manifest} have a MOSI label")
    hyps = None
    if a.hyps is not None:
        with open(a.hyps, newline="") as f:
            hyps = {r["id"]: r["hypothesis"] for r in csv.DictReader(f)}
        missing = [r["id"] for r in rows if r["id"] not in hyps]
        if missing:
            raise SystemExit(f"{a.hyps} has no hypothesis for {len(missing)} row(s) of {a.manifest}, e.g. {missing[0]}")
    extra = ["--model", a.model] if a.model else []
    cleanups = a.asr_text or [None]
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / "media").mkdir()
        sources = [("text", lambda r: labels[r["id"]]["text"]), ("audio", lambda r: "")]
        if hyps is not None:
            sources.append(("hyps", lambda r: hyps[r["id"]]))
        for name, text_of in sources:
            with open(d / f"{name}.csv", "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(["id", "text", "label"])
                w.writerows([r["id"], text_of(r), labels[r["id"]]["label"]] for r in rows)
        for r in rows:
            src = Path(r["path"]) if Path(r["path"]).is_absolute() else a.manifest.parent / r["path"]
            (d / "media" / f"{r['id']}.wav").symlink_to(src.resolve())
        result = {"text": eval_json(["--csv", str(d / "text.csv"), *extra])}
        for i, cleanup in enumerate(cleanups):
            how = ["--asr-text", cleanup] if cleanup else []
            if hyps is not None:
                args = ["--csv", str(d / "hyps.csv"), "--text-is-recognised"]
            else:
                args = ["--csv", str(d / "audio.csv"), "--media", str(d / "media")]
            result["audio" if i == 0 else f"audio_{cleanup}"] = eval_json([*args, *how, *extra])
    print(f"{'':<40}{'n':>5}{'Acc-2 non0':>12}{'Acc-2 has0':>12}{'MAE':>8}{'Corr':>8}")
    names = [("text", "words given")] + [
        ("audio" if i == 0 else f"audio_{c}", f"audio only, recognised ({c or 'default'})")
        for i, c in enumerate(cleanups)
    ]
    for name, label in names:
        m = result[name]
        print(f"{label:<40}{m['n']:>5}{m['acc2_non0']:>12.1f}{m['acc2_has0']:>12.1f}{m['mae']:>8.3f}{m['corr']:>8.3f}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
