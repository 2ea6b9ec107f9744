"""Whisper token conventions for greedy transcription, as faster-whisper 1.2.1 + CTranslate2 apply them.

- prompt: English-only models `[<|startoftranscript|>, <|notimestamps|>]`; multilingual models
  `[<|startoftranscript|>, <|en|>, <|transcribe|>, <|notimestamps|>]` (language fixed to English).
- every step: logits of `suppress` set to -inf (faster-whisper `suppress_tokens=[-1]`, resolved by
  `get_suppressed_tokens`: the tokenizer's non-speech symbols plus transcribe, translate, sot,
  sot_prev, sot_lm, no_speech; NOT config.json's `suppress_ids`, which faster-whisper replaces).
- first generated token only: also -inf on `suppress_begin` (config.json `suppress_ids_begin`:
  " " (220) and <|endoftext|>), CT2's `suppress_blank`.
- stop at <|endoftext|> or after `max_new_tokens` = min(448 // 2, 448 - (len(prompt) - 1)) = 224
  tokens (CT2 WhisperReplica::generate with faster-whisper's max_length 448).
- text = byte-level BPE decode of the tokens < <|endoftext|>.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

N_TEXT_CTX = 448


@dataclass(frozen=True)
class TokenConfig:
    multilingual: bool
    n_vocab: int
    eot: int
    sot: int
    no_timestamps: int
    prompt: list[int]
    suppress: list[int]
    suppress_begin: list[int]
    max_new_tokens: int
    lang_ids: list[int]  # multilingual only: <|en|> ... (language detection = argmax after [sot])

    def to_json(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_json(d: dict) -> TokenConfig:
        return TokenConfig(**d)


def _special_ids(tokenizer_json: dict) -> dict[str, int]:
    return {t["content"]: t["id"] for t in tokenizer_json["added_tokens"]}


def token_config_from_model_dir(model_dir: Path) -> TokenConfig:
    """Derives the conventions from a faster-whisper model directory (tokenizer.json, config.json),
    computing the non-speech tokens exactly as faster-whisper does (needs `tokenizers`)."""
    import tokenizers
    from faster_whisper.tokenizer import Tokenizer

    hf = tokenizers.Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    config = json.loads((model_dir / "config.json").read_text())
    special = _special_ids(json.loads((model_dir / "tokenizer.json").read_text()))
    n_vocab = len(vocabulary(model_dir))
    multilingual = n_vocab >= 51865  # the test CT2 uses (WhisperReplica: vocabulary size 51865)
    tok = Tokenizer(hf, multilingual, task="transcribe", language="en")
    no_speech = special.get("<|nospeech|>", special.get("<|nocaptions|>"))
    suppress = set(tok.non_speech_tokens) | {
        tok.transcribe,
        tok.translate,
        tok.sot,
        tok.sot_prev,
        tok.sot_lm,
        no_speech,
    }
    prompt = list(tok.sot_sequence) + [tok.no_timestamps]
    return TokenConfig(
        multilingual=multilingual,
        n_vocab=n_vocab,
        eot=tok.eot,
        sot=tok.sot,
        no_timestamps=tok.no_timestamps,
        prompt=prompt,
        suppress=sorted(suppress),
        suppress_begin=list(config["suppress_ids_begin"]),
        max_new_tokens=min(N_TEXT_CTX // 2, N_TEXT_CTX - (len(prompt) - 1)),
        lang_ids=list(config.get("lang_ids", [])) if multilingual else [],
    )


@lru_cache(maxsize=4)
def vocabulary(model_dir: Path) -> tuple[str, ...]:
    """vocabulary.txt: token i on line i. Byte-level tokens never contain "\n" (it is "Ċ"), so
    splitting on "\n" alone is exact (str.splitlines would also split on other characters)."""
    text = (Path(model_dir) / "vocabulary.txt").read_text(encoding="utf-8")
    return tuple(text.removesuffix("\n").split("\n"))


@lru_cache(maxsize=1)
def byte_decoder() -> dict[str, int]:
    """GPT-2's bytes_to_unicode, inverted: the printable character standing for each byte."""
    printable = (
        list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    )
    chars, n = list(printable), 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + n)
            n += 1
    return {chr(c): byte for byte, c in zip(printable, chars, strict=True)}


def decode_text(token_ids: list[int], vocab: tuple[str, ...], eot: int) -> str:
    """Byte-level BPE decode of the text tokens (ids >= eot are special and dropped); invalid
    UTF-8 (a character split across the last tokens) becomes U+FFFD, as tokenizers does."""
    table = byte_decoder()
    raw = bytes(table[ch] for t in token_ids if t < eot for ch in vocab[t])
    return raw.decode("utf-8", errors="replace")
