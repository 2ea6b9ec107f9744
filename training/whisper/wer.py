"""Text normalisation and corpus WER (jiwer) for the ASR measurements.

`basic`: lower case, apostrophes dropped (MOSI writes "im", "didnt"), every other character that is
not a-z or 0-9 becomes a space, whitespace collapsed. Whisper's EnglishTextNormalizer is not used: it
expands "i'm" to "i am", which the MOSI references never do.
`nofill`: basic, then the filler words below removed from reference and hypothesis alike (MOSI
transcribes "uh", "um"; Whisper usually omits them).
"""

from __future__ import annotations

import re

FILLERS = frozenset({"uh", "um", "umm", "uhm", "hmm", "hm", "mm", "mhm", "ah", "er", "erm", "eh"})


def normalize(text: str, drop_fillers: bool = False) -> str:
    text = text.lower().replace("\u2019", "'").replace("'", "")
    words = re.sub(r"[^a-z0-9]+", " ", text).split()
    if drop_fillers:
        words = [w for w in words if w not in FILLERS]
    return " ".join(words)


def corpus_wer(refs: list[str], hyps: list[str], drop_fillers: bool = False) -> dict:
    """Word errors over the whole set (not a mean of per-utterance rates)."""
    import jiwer

    r = [normalize(t, drop_fillers) for t in refs]
    h = [normalize(t, drop_fillers) for t in hyps]
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
