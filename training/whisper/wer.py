"""Text normalisation and corpus WER (jiwer) for the ASR measurements.

Normalisations (the same names in Node: src/speech/wer.ts, `msa asr wer --normalise`):

- `whisper`: Whisper's EnglishTextNormalizer (openai-whisper `whisper/normalizers/english.py`, as
  shipped by the PyPI package whisper-normalizer): fillers (hmm, mm, mhm, mmm, uh, um) removed,
  contractions expanded ("i'm" -> "i am"; MOSI's apostrophe-less "im" stays "im"), British
  spellings made American, numbers written as digits, symbols removed. What Whisper's published
  WERs are computed on.
- `whisper-noapos`: apostrophes dropped from both sides first (MOSI writes "im", "dont", "didnt"
  and Whisper "I'm", "don't", "didn't"; the normaliser expands only the latter, to "i am", "do not",
  so plain `whisper` counts two errors where the words agree), then `whisper`.
- `basic`: lower case, apostrophes dropped (MOSI writes "im", "didnt"), every other character that
  is not a-z or 0-9 becomes a space, whitespace collapsed.
- `nofill`: basic, then the filler words below removed from reference and hypothesis alike.

    python -m training.whisper.wer parity --out test/fixtures/whisper-normaliser-parity.json \\
        [--hyps CSV ...]   # the fixture of the Node port's parity test (texts and Python's output)
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import re
from pathlib import Path

FILLERS = frozenset({"uh", "um", "umm", "uhm", "hmm", "hm", "mm", "mhm", "ah", "er", "erm", "eh"})
NORMALISATIONS = ("whisper-noapos", "whisper", "basic", "nofill")


@functools.cache
def _whisper_normaliser():
    from whisper_normalizer.english import EnglishTextNormalizer

    return EnglishTextNormalizer()


def normalize(text: str, how: str = "basic") -> str:
    if how == "whisper":
        return _whisper_normaliser()(text)
    if how == "whisper-noapos":
        return _whisper_normaliser()(text.replace("\u2019", "").replace("'", ""))
    if how not in ("basic", "nofill"):
        raise ValueError(f"normalisation {how!r}: expected one of {NORMALISATIONS}")
    text = text.lower().replace("\u2019", "'").replace("'", "")
    words = re.sub(r"[^a-z0-9]+", " ", text).split()
    if how == "nofill":
        words = [w for w in words if w not in FILLERS]
    return " ".join(words)


def corpus_wer(refs: list[str], hyps: list[str], how: str = "basic") -> dict:
    """Word errors over the whole set (not a mean of per-utterance rates)."""
    import jiwer

    r = [" ".join(normalize(t, how).split()) for t in refs]
    h = [" ".join(normalize(t, how).split()) for t in hyps]
    keep = [i for i, t in enumerate(r) if t]  # a reference with no words left has no WER
    out = jiwer.process_words([r[i] for i in keep], [h[i] for i in keep])
    n = out.hits + out.substitutions + out.deletions
    return {
        "wer": (out.substitutions + out.deletions + out.insertions) / max(n, 1),
        "words": n,
        "sub": out.substitutions,
        "del": out.deletions,
        "ins": out.insertions,
        "exact": sum(r[i] == h[i] for i in keep) / max(len(keep), 1),
    }


# Texts that exercise each rule of the normaliser (numbers, currencies, contractions, titles,
# brackets, spellings, symbols, diacritics), beside the measured sets' references and hypotheses.
EDGE_CASES = [
    "",
    "   ",
    "Um, I'm gonna colour twenty-five things, uh... it's $20 million.",
    "one oh one; double seven; triple zero; two thousand and twenty four",
    "ten thousand dollars and five cents, 3.5 percent, fifty per cent",
    "twenty first century, the 1960s, 274th, 32nd, one and a half, two and a half hundred",
    "minus five, plus 3, positive thinking, negative",
    "Mr. Smith and Dr. Jones met St. John's Prof. Lee, y'all",
    "He'd been there; she's gone; they'd done it; it's got to be; won't can't shouldn't ma'am",
    "[laughs] (inaudible) <noise> hmm mm mhm mmm uh um umm",
    "café naïve Æsop Øresund straße Łódź, \u201cquoted\u201d \u2014 dashes \u2019apostrophe\u2019",
    "1,000,000 people; 3.14; version 1.2.3; 10% off; $0.07; \u00a35 and \u00a23",
    "the theatre centre organised a programme in the honour of the neighbour",
    "first second third fourth fifth ninth twelfth twentieth hundredth thousands millions",
    "one ones 1s I have 1 dog and 2 cats, point five, point",
    "a1b2 3rd 4 th 5 s abc123def",
    "sixty seven eighty nine ninety nine hundred ninety nine thousand nine hundred ninety nine",
    "one two three four five six seven eight nine ten eleven twelve nineteen",
    "a decillion and one, two quadrillion three",
    "$5 and \u00a27, \u20ac10 and 50 cents, five pounds, 2 euros",
    "Kids are talking by the door",
    "don\u2019t I\u2019m it\u2019s we\u2019re they\u2019ve you\u2019ll he\u2019d",
]


def _parity(out: Path, hyp_csvs: list[Path]) -> None:
    """Every text once: the MOSI references, the hypotheses of the given `msa asr wer --out` CSVs
    (columns id, reference, hypothesis), the edge cases; with Python's output for each."""
    from .paths import DATA_DIR

    texts: list[str] = list(EDGE_CASES)
    with open(DATA_DIR / "mosi" / "label.csv", newline="") as f:
        texts += [r["text"] for r in csv.DictReader(f) if r["mode"] == "dev"]
    for path in hyp_csvs:
        with open(path, newline="") as f:
            texts += [r["hypothesis"] for r in csv.DictReader(f)]
    seen: set[str] = set()
    unique = [t for t in texts if not (t in seen or seen.add(t))]
    import whisper_normalizer

    cases = [{"text": t, **{how: normalize(t, how) for how in ("whisper", "whisper-noapos", "basic")}} for t in unique]
    out.write_text(
        json.dumps(
            {"source": f"whisper-normalizer {whisper_normalizer.__version__} EnglishTextNormalizer", "cases": cases},
            indent=0,
            ensure_ascii=False,
        )
        + "\n"
    )
    print(f"{out}: {len(cases)} texts")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    par = sub.add_parser("parity", help="write the parity fixture of the Node normaliser")
    par.add_argument("--out", type=Path, required=True)
    par.add_argument("--hyps", type=Path, nargs="*", default=[], help="msa asr wer --out CSVs")
    a = p.parse_args(argv)
    _parity(a.out, a.hyps)


if __name__ == "__main__":
    main()
