"""WER normalisations of training/whisper/wer.py (the Node port's parity: test/unit/whisperNormaliser.test.ts)."""

from __future__ import annotations

import pytest

from training.whisper.wer import corpus_wer, normalize


def test_whisper_normaliser_removes_fillers_expands_contractions_writes_digits():
    assert normalize("Um, I'm gonna colour twenty-five things.", "whisper") == "i am going to color 25 things"


def test_whisper_noapos_keeps_mosi_contractions_one_word():
    assert normalize("I'm sure", "whisper") == "i am sure"
    assert normalize("I'm sure", "whisper-noapos") == normalize("im sure", "whisper-noapos") == "im sure"


def test_basic_and_nofill():
    assert normalize("Uh, I didn't -- really!", "basic") == "uh i didnt really"
    assert normalize("Uh, I didn't -- really!", "nofill") == "i didnt really"
    with pytest.raises(ValueError, match="normalisation 'other'"):
        normalize("x", "other")


def test_corpus_wer_per_normalisation():
    refs, hyps = ["um im sure it was twenty minutes"], ["I'm sure it was 20 minutes."]
    assert corpus_wer(refs, hyps, "whisper-noapos")["wer"] == 0
    assert corpus_wer(refs, hyps, "whisper")["wer"] == pytest.approx(2 / 6)
    assert corpus_wer(refs, hyps, "basic")["wer"] == pytest.approx(2 / 7)
