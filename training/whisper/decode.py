"""Greedy Whisper decoding over the ONNX graphs with onnxruntime, batched across rows.

The reference for what the Node runtime does: encoder once per batch, then the decoder with the
prompt (L = len(prompt)), then one token per call, feeding self_k_out/self_v_out back as self_k/self_v.
Rows that reached <|endoftext|> keep being fed <|endoftext|> (their output is ignored) so the batch
stays rectangular.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .tokens import TokenConfig, decode_text, vocabulary


def ort_session(path: Path, threads: int = 1, optimize: bool = True):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    if not optimize:
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


@dataclass
class Timing:
    encoder_s: float = 0.0
    decoder_s: float = 0.0
    decoder_calls: int = 0
    tokens: list[int] = field(default_factory=list)  # tokens generated per row (eot excluded)


def ends_in_loop(tokens: list[int], min_span: int) -> int:
    """Length k of a span that the sequence ends with twice in a row (tokens[-2k:-k] == tokens[-k:],
    k >= min_span), else 0. A trimmed encoder input (no long zero tail telling the decoder where the
    audio ends) makes Whisper repeat the utterance until the token limit; this catches the second copy
    as soon as it is complete, so the caller drops it and ends the row. Off (0) for parity with
    faster-whisper, which has no such guard."""
    for k in range(min_span, len(tokens) // 2 + 1):
        if tokens[-k:] == tokens[-2 * k : -k]:
            return k
    return 0


class WhisperOnnx:
    """Encoder + decoder sessions of one installed model directory (graphs beside model.bin)."""

    def __init__(
        self, model_dir: Path, threads: int = 1, encoder_file: str = "encoder.onnx", decoder_file: str = "decoder.onnx"
    ):
        self.dir = Path(model_dir)
        info = json.loads((self.dir / "whisper.json").read_text())
        self.tokens = TokenConfig.from_json(info["tokens"])
        self.dims = info["dims"]
        self.vocab = vocabulary(self.dir)
        if len(self.vocab) != self.tokens.n_vocab:
            raise ValueError(
                f"{self.dir}/vocabulary.txt has {len(self.vocab)} tokens, whisper.json says {self.tokens.n_vocab}"
            )
        self.encoder = ort_session(self.dir / encoder_file, threads)
        self.decoder = ort_session(self.dir / decoder_file, threads)
        # -inf masks added to the logits (float32 [V]); the begin mask also holds the per-step one.
        self.suppress = np.zeros(self.tokens.n_vocab, np.float32)
        self.suppress[self.tokens.suppress] = -np.inf
        self.suppress_first = self.suppress.copy()
        self.suppress_first[self.tokens.suppress_begin] = -np.inf

    def encode(self, mel: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """mel [B, 80, T] -> cross_k, cross_v [n_layer, B, T/2, d], hidden [B, T/2, d]."""
        return tuple(
            self.encoder.run(["cross_k", "cross_v", "hidden"], {"mel": np.ascontiguousarray(mel, dtype=np.float32)})
        )

    def block2(self, mel: np.ndarray) -> np.ndarray:
        """mel [B, 80, T] -> the residual stream after encoder block 2 [B, T/2, d] (the voice path's input)."""
        return self.encoder.run(["block2"], {"mel": np.ascontiguousarray(mel, dtype=np.float32)})[0]

    def greedy(
        self,
        cross_k: np.ndarray,
        cross_v: np.ndarray,
        max_new_tokens: int | None = None,
        repeat_guard: int = 0,
        timing: Timing | None = None,
    ) -> list[list[int]]:
        """Greedy tokens per row (without prompt and <|endoftext|>); repeat_guard: see ends_in_loop."""
        tc = self.tokens
        n_layer, batch, _, d = cross_k.shape
        limit = min(max_new_tokens or tc.max_new_tokens, tc.max_new_tokens)
        tokens = np.tile(np.asarray(tc.prompt, np.int64), (batch, 1))  # [B, len(prompt)]
        self_k = np.zeros((n_layer, batch, 0, d), np.float32)
        self_v = np.zeros((n_layer, batch, 0, d), np.float32)
        out: list[list[int]] = [[] for _ in range(batch)]
        done = np.zeros(batch, bool)
        for step in range(limit):
            t0 = time.perf_counter()
            logits, self_k, self_v = self.decoder.run(
                None, {"tokens": tokens, "self_k": self_k, "self_v": self_v, "cross_k": cross_k, "cross_v": cross_v}
            )
            if timing is not None:
                timing.decoder_s += time.perf_counter() - t0
                timing.decoder_calls += 1
            logits = logits + (self.suppress_first if step == 0 else self.suppress)
            nxt = logits.argmax(axis=-1)  # [B]
            for i in range(batch):
                if not done[i]:
                    if nxt[i] == tc.eot:
                        done[i] = True
                    else:
                        out[i].append(int(nxt[i]))
                        if repeat_guard and (k := ends_in_loop(out[i], repeat_guard)):
                            del out[i][-k:]
                            done[i] = True
            if done.all():
                break
            tokens = np.where(done, tc.eot, nxt).astype(np.int64)[:, None]
        if timing is not None:
            timing.tokens.extend(len(o) for o in out)
        return out

    def text(self, token_ids: list[int]) -> str:
        return decode_text(token_ids, self.vocab, self.tokens.eot)

    def transcribe_mel(self, mel: np.ndarray, repeat_guard: int = 0, timing: Timing | None = None) -> list[str]:
        """mel [B, 80, T] (already padded) -> text per row."""
        t0 = time.perf_counter()
        cross_k, cross_v, _ = self.encode(mel)
        if timing is not None:
            timing.encoder_s += time.perf_counter() - t0
        return [self.text(t) for t in self.greedy(cross_k, cross_v, repeat_guard=repeat_guard, timing=timing)]
