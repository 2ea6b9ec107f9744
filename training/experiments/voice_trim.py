"""Voice features under the recogniser's encoder sizing, so one encoder run could serve ASR and voice.

    python -m training.experiments.voice_trim [--multiple 100] [--margin 50] [--corpora ...]

The recogniser sizes the encoder input as `trim:MULTIPLE:MARGIN` (training/whisper/CONTRACT.md
section 6): the utterance's n = N // 160 content frames of log-mel followed by 0.0 frames up to
T = min(3000, max(MULTIPLE, ceil((n + MARGIN) / MULTIPLE) * MULTIPLE)). The first reader was
trained with `"padding": "none"` (faster-whisper's N // 160 + 1 frames, no tail). This caches
whisper-tiny.en blocks 1-2 pooled (mean, std) over the positions that cover the utterance only
(ceil(n / 2)) under trim sizing, exactly as src/voice/encoder.ts feeds the served encoder, as the
representation `whisper-tiny.en-trim<MULTIPLE>-<MARGIN>` beside the study's caches, so
`voice_reader --padding trim:MULTIPLE:MARGIN` and `voice_fusion` can read it. The encoder's
attention sees the zero tail, so the covered positions' states change a little.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from ..common import DEFAULT_DATA_DIR
from .corpora import CORPORA, list_corpus, load_audio
from .extract import cache_path
from .voice_repr import CACHE_DIR

MODEL = "tiny.en"
LAYERS = 2  # blocks 1..2 (1-based) are kept; block 2 is the reader's


def trim_rep(multiple: int, margin: int) -> str:
    return f"whisper-{MODEL}-trim{multiple}-{margin}"


def encoder_upto(model_dir: Path, layers: int):
    """The study's WhisperEncoder cut after block `layers`, every output a raw residual stream
    (layers() puts the final LayerNorm on its last output: here it is left out)."""
    from .whisper_encoder import WhisperEncoder

    class Upto(WhisperEncoder):
        def _ln(self, x, name):
            return x if name == "layer_norm" else super()._ln(x, name)

    enc = Upto(model_dir)
    enc.n_layers = layers
    return enc


def trimmed_block_features(enc, audio: np.ndarray, multiple: int, margin: int) -> np.ndarray:
    """audio -> (LAYERS, 2 d): blocks 1..LAYERS, mean then std over the covered positions, the
    log-mel followed by 0.0 frames up to the trimmed length (multiple=0: no tail, padding "none")."""
    from ..whisper.mel import pad_features, trimmed_frames
    from .whisper_encoder import covered_positions, log_mel, pool

    mel, n = log_mel(audio, False)  # faster-whisper's N // 160 + 1 frames (the study's input)
    if multiple:
        # The recogniser's content frames are N // 160 (CONTRACT.md section 5 step 5: the last,
        # half-padded frame only counts for the maximum), so the served encoder run has those
        # (src/voice/encoder.ts, logMel without keepLast): the same here.
        n -= 1
        mel = pad_features(mel[:, :n], trimmed_frames(n, multiple, margin))
    k = covered_positions(n)
    return np.stack([pool(h[:k]) for h in enc.layers(mel)[:LAYERS]])


def extract_trim(corpus: str, data_dir: Path, cache_dir: Path, multiple: int, margin: int, log=print) -> Path:
    rep = trim_rep(multiple, margin)
    out = cache_path(cache_dir, rep, corpus)
    utts = list_corpus(corpus, data_dir)
    if out.exists() and list(np.load(out)["ids"]) == [u.id for u in utts]:
        log(f"{rep} {corpus}: cached {out}")
        return out
    waves = load_audio(corpus, utts, cache_dir)
    enc = encoder_upto(cache_dir / "models" / MODEL, LAYERS)
    t0 = time.time()
    xs = []
    for i, w in enumerate(waves):
        xs.append(trimmed_block_features(enc, w, multiple, margin))
        if (i + 1) % 500 == 0:
            log(f"{rep} {corpus}: {i + 1}/{len(waves)} ({time.time() - t0:.0f} s)")
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        out,
        ids=np.array([u.id for u in utts]),
        X=np.stack(xs).astype(np.float32),
        seconds=np.array([len(w) / 16000 for w in waves]),
        extract_s=time.time() - t0,
    )
    log(f"{rep} {corpus}: {len(waves)} utterances in {time.time() - t0:.0f} s -> {out}")
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    p.add_argument("--cache-dir", type=Path, default=CACHE_DIR)
    p.add_argument("--multiple", type=int, default=100)
    p.add_argument("--margin", type=int, default=50)
    p.add_argument("--corpora", nargs="+", choices=CORPORA, default=list(CORPORA))
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    for c in args.corpora:
        extract_trim(c, args.data_dir, args.cache_dir, args.multiple, args.margin, log=lambda m: print(m, flush=True))


if __name__ == "__main__":
    main()
