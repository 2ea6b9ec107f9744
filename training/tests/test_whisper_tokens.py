"""Token conventions and byte-level BPE decoding (what the Node side reimplements)."""

import json

import pytest

from training.tests.whisper_fixtures import installed_model
from training.whisper.fetch import GRAPHS_DIR
from training.whisper.tokens import decode_text, token_config_from_model_dir, vocabulary


@pytest.mark.parametrize("name", ["tiny.en", "base"])
def test_decode_text_equals_tokenizers(name):
    tokenizers = pytest.importorskip("tokenizers")
    d = installed_model(name)
    hf = tokenizers.Tokenizer.from_file(str(d / "tokenizer.json"))
    vocab = vocabulary(d)
    cfg = token_config_from_model_dir(d)
    assert len(vocab) == cfg.n_vocab
    for text in [" Hello wörld, é中文! it's 42.", " naïve café — “quotes”\n new line", " ♪ 🙂"]:
        ids = hf.encode(text, add_special_tokens=False).ids
        assert decode_text(ids, vocab, cfg.eot) == hf.decode(ids) == text
    # A multi-byte character cut between tokens decodes to U+FFFD, as tokenizers does.
    ids = hf.encode(" 𝄞", add_special_tokens=False).ids
    assert len(ids) >= 3
    for k in range(1, len(ids)):
        assert decode_text(ids[:k], vocab, cfg.eot) == hf.decode(ids[:k])
    assert decode_text(ids[:-1], vocab, cfg.eot).endswith("\ufffd")


@pytest.mark.parametrize("name,prompt", [("tiny.en", [50257, 50362]), ("base", [50258, 50259, 50359, 50363])])
def test_token_config_is_committed_and_as_faster_whisper(name, prompt):
    d = installed_model(name)
    cfg = token_config_from_model_dir(d)
    assert cfg.prompt == prompt and cfg.max_new_tokens == 224
    assert cfg.suppress_begin == [220, cfg.eot]
    assert json.loads((GRAPHS_DIR / name / "whisper.json").read_text())["tokens"] == cfg.to_json()
    fw = pytest.importorskip("faster_whisper.transcribe")
    import tokenizers
    from faster_whisper.tokenizer import Tokenizer

    tok = Tokenizer(
        tokenizers.Tokenizer.from_file(str(d / "tokenizer.json")), cfg.multilingual, task="transcribe", language="en"
    )
    assert list(fw.get_suppressed_tokens(tok, [-1])) == cfg.suppress
