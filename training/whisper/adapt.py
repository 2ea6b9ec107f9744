"""Adapting tiny.en to unfamiliar voices: low-rank adapters (LoRA) trained on espeak-ng speech in
voices the spoken MOSI dev set never uses (`adapt_data`), merged into a copy of `model.bin`.

    python -m training.whisper.adapt_data                       # the speech (6.5 min)
    python -m training.whisper.adapt check                      # PyTorch = the ONNX graphs
    python -m training.whisper.adapt train [--epochs 1] [--rank 16] [--out DIR]   # 30 min on 2 cores
    python -m training.whisper.adapt valid --model-dir DIR      # WER on the selection set
    python -m training.whisper.adapt export [--model-dir DIR] [--merge-factor 0.5]  # models/whisper/tiny.en-voices/

Trained: the encoder's blocks after the voice path's (`torch_whisper.VOICE_BLOCK`) and every
decoder linear (`adapted`), with teacher forcing on the served prompt ([sot, notimestamps]) and the
recogniser's own input (trimmed encoder input, `Mode.parse("trim")`). Selection: WER of the MOSEI
valid renderings after each epoch, decoded by the served graphs over the merged weights. MOSI dev is
never seen. `DIR` (default ~/.cache/msa/asr/models/tiny.en-voices-trained, never the served
tiny.en-voices) receives `model.bin` (the merged weights at the original offsets, float16 as
stored) with the graphs, `whisper.json`, vocabulary and tokenizer of the base model beside it, and
`adapter.bin`, `adapter.json` (the adapters, see `write_model`), and `<DIR>-train.json` (what was
trained, on what, the selection WER per epoch).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import shutil
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F
from tqdm import tqdm

from .adapt_data import DEFAULT_OUT as DATA_OUT
from .audio import load_audio
from .ct2_reader import read_ct2
from .decode import WhisperOnnx
from .encoder_graph import VOICE_BLOCK
from .fetch import ensure_model
from .mel import log_mel, pad_features
from .merge import merge_into
from .paths import CACHE_DIR, GRAPHS_DIR
from .torch_whisper import Whisper
from .transcribe import Mode, transcribe_signals
from .wer import corpus_wer

MODE = Mode.parse("trim")
TRAINING_KEYS = ("rank", "alpha", "lr", "batch", "train_rows", "valid_rows", "trainable", "valid_wer_base", "epochs")
SEED = 20261208
# Where training writes: never the served model's directory (`tiny.en-voices`, which Node's install
# and fetch.install_adapted fill from the committed adapters), so a run cannot be served by mistake.
TRAINED_DIR = CACHE_DIR / "models" / "tiny.en-voices-trained"


def adapted(name: str) -> bool:
    """Which linears get an adapter: every decoder linear, and the encoder's blocks after the voice
    path's (layer_2, layer_3 of tiny.en). (Adapting only the acoustic side, the encoder's blocks and
    the decoder's cross-attention keys and values, was tried and cost natural speech more: README,
    Speech recognition, "Voices it never heard".)"""
    if name.startswith("decoder/"):
        return True
    layer = int(name.split("/")[1].removeprefix("layer_"))
    return layer >= VOICE_BLOCK


def load_model(base: str, rank: int, alpha: float) -> tuple[Whisper, Path]:
    base_dir = ensure_model(base)
    return Whisper(read_ct2(base_dir / "model.bin"), rank, alpha, adapted), base_dir


def mel_of(path: str) -> np.ndarray:
    feats = log_mel(load_audio(path))
    return pad_features(feats, MODE.frames(feats.shape[1]))


def parity(model: Whisper, onnx: WhisperOnnx, mel: np.ndarray) -> dict[str, float]:
    """Max |PyTorch - ONNX| of block2, hidden and the first logits for one mel [1, 80, T], and
    whether the first token agrees."""
    cross_k, cross_v, hidden = onnx.encode(mel)
    with torch.no_grad():
        front = model.encode_front(torch.from_numpy(mel))
        h = model.encode_back(front)
        prompt = torch.tensor([onnx.tokens.prompt])
        logits = model.decode(prompt, h)[0, -1].numpy()
    empty = np.zeros((onnx.dims["n_text_layer"], 1, 0, model.d), np.float32)
    feeds = {"tokens": prompt.numpy(), "self_k": empty, "self_v": empty, "cross_k": cross_k, "cross_v": cross_v}
    ref = onnx.decoder.run(["logits"], feeds)[0][0]
    return {
        "block2": float(np.abs(front.numpy() - onnx.block2(mel)).max()),
        "hidden": float(np.abs(h.numpy() - hidden).max()),
        "logits": float(np.abs(logits - ref).max()),
        "same_argmax": bool(logits.argmax() == ref.argmax()),
    }


def check(base: str) -> None:
    """PyTorch encoder and decoder against the ONNX graphs on two selection-set utterances."""
    model, base_dir = load_model(base, 0, 1.0)
    onnx = WhisperOnnx(base_dir, 2)
    for row in read_rows(DATA_OUT / "valid.csv")[:2]:
        print(row["id"], parity(model, onnx, mel_of(row["path"])[None]))


def read_rows(path: Path) -> list[dict]:
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run python -m training.whisper.adapt_data first")
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def targets(rows: list[dict], base_dir: Path, prompt: list[int], eot: int) -> list[list[int]]:
    """prompt + the text's tokens (" " + text, as Whisper writes a segment) + eot."""
    import tokenizers

    tok = tokenizers.Tokenizer.from_file(str(base_dir / "tokenizer.json"))
    return [prompt + tok.encode(" " + r["text"], add_special_tokens=False).ids + [eot] for r in rows]


def batches(items: list[tuple[torch.Tensor, list[int]]], size: int, rng: random.Random) -> list[list[int]]:
    """Indices grouped by encoder length (the front's T/2 positions: rows of a batch must share it,
    since padding changes the encoder's output), shuffled, at most `size` each."""
    by_t: dict[int, list[int]] = defaultdict(list)
    for i, (front, _) in enumerate(items):
        by_t[front.shape[0]].append(i)
    out = []
    for idx in by_t.values():
        rng.shuffle(idx)
        out += [idx[s : s + size] for s in range(0, len(idx), size)]
    rng.shuffle(out)
    return out


def write_model(model: Whisper, base_dir: Path, out: Path) -> None:
    """Copies the base model directory to `out`; writes the adapters (`adapter.bin`: float32 A
    then B of each adapted linear; `adapter.json`: where each sits, and where its weight sits in
    model.bin) and out's model.bin with them merged in (`merge_into`)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "model.bin.verified").unlink(missing_ok=True)  # an install's marker: these are other weights
    for f in base_dir.iterdir():
        if f.is_file() and f.name not in ("model.bin", "model.bin.verified", "adapter.bin", "adapter.json"):
            shutil.copyfile(f, out / f.name)
    ct2 = read_ct2(base_dir / "model.bin")
    tensors, blob = [], bytearray()
    for lin in model.linears():
        if not lin.rank:
            continue
        t = ct2[lin.name + "/weight"]
        if t.dtype != "float16":
            raise TypeError(f"{lin.name}/weight is {t.dtype}; only float16 weights can be adapted in place")
        a = lin.a.detach().numpy().astype("<f4")
        b = lin.b.detach().numpy().astype("<f4")
        tensors.append({"name": lin.name + "/weight", "offset": t.offset, "shape": list(t.shape), "rank": lin.rank,
                        "scale": lin.scale, "a": len(blob), "b": len(blob) + a.nbytes})  # fmt: skip
        blob += a.tobytes() + b.tobytes()
    weights = bytearray((base_dir / "model.bin").read_bytes())
    merge_into(weights, bytes(blob), tensors)
    (out / "model.bin").write_bytes(weights)
    (out / "adapter.bin").write_bytes(bytes(blob))
    (out / "adapter.json").write_text(json.dumps({"tensors": tensors}, indent=1))


def valid_wer(model_dir: Path, rows: list[dict], threads: int = 2) -> float:
    onnx = WhisperOnnx(model_dir, threads)
    hyps = transcribe_signals(onnx, [load_audio(r["path"]) for r in rows], MODE)
    return corpus_wer([r["text"] for r in rows], hyps, "whisper-noapos")["wer"]


def train(args) -> None:
    torch.manual_seed(SEED)
    torch.set_num_threads(args.threads)
    rng = random.Random(SEED)
    model, base_dir = load_model(args.base, args.rank, args.alpha)
    tc = WhisperOnnx(base_dir, 1).tokens
    rows = read_rows(args.data / "train.csv")[: args.limit or None]
    valid = read_rows(args.data / "valid.csv")[: args.valid_rows]
    toks = targets(rows, base_dir, tc.prompt, tc.eot)
    # The frozen front (mel -> block2) once per row, kept as float16: the epochs train only what follows.
    items = []
    with torch.no_grad():
        for r, t in tqdm(list(zip(rows, toks, strict=True)), desc="front"):
            items.append((model.encode_front(torch.from_numpy(mel_of(r["path"])[None]))[0].half(), t))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    steps = args.epochs * len(batches(items, args.batch, random.Random(0)))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 50) * max(0.0, 1 - s / steps))
    log = {"base": args.base, "rank": args.rank, "alpha": args.alpha, "lr": args.lr, "batch": args.batch,
           "train_rows": len(rows), "valid_rows": len(valid), "adapted": [m.name for m in model.linears() if m.rank],
           "trainable": sum(p.numel() for p in params), "epochs": []}  # fmt: skip
    base_wer = valid_wer(base_dir, valid, args.threads)
    print(f"selection WER before: {base_wer:.4f}")
    log["valid_wer_base"] = base_wer
    best = base_wer
    for epoch in range(args.epochs):
        model.train()
        losses, t0 = [], time.time()
        bar = tqdm(batches(items, args.batch, rng), desc=f"epoch {epoch + 1}")
        for idx in bar:
            front = torch.stack([items[i][0] for i in idx]).float()
            length = max(len(items[i][1]) for i in idx)
            tok = torch.full((len(idx), length), tc.eot, dtype=torch.long)
            tgt = torch.full((len(idx), length), -100, dtype=torch.long)
            for j, i in enumerate(idx):
                t = items[i][1]
                tok[j, : len(t)] = torch.tensor(t)
                tgt[j, len(tc.prompt) - 1 : len(t) - 1] = torch.tensor(t[len(tc.prompt) :])
            logits = model.decode(tok[:, :-1] if length > 1 else tok, model.encode_back(front))
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt[:, : logits.shape[1]].reshape(-1))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            losses.append(loss.item())
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}")
        cand = args.out.with_name(args.out.name + f"-epoch{epoch + 1}")
        write_model(model, base_dir, cand)
        wer = valid_wer(cand, valid, args.threads)
        log["epochs"].append({"epoch": epoch + 1, "loss": float(np.mean(losses)), "valid_wer": wer,
                              "seconds": time.time() - t0, "dir": str(cand)})  # fmt: skip
        print(f"epoch {epoch + 1}: loss {np.mean(losses):.3f}, selection WER {wer:.4f} (before {base_wer:.4f})")
        if wer < best:
            best = wer
            if args.out.exists():
                shutil.rmtree(args.out)
            shutil.copytree(cand, args.out)
        (args.out.parent / (args.out.name + "-train.json")).write_text(json.dumps(log, indent=1))
    print(f"best selection WER {best:.4f}; model in {args.out if args.out.exists() else '(none better than base)'}")


def export(model_dir: Path, name: str, base: str, factor: float) -> Path:
    """The committed form of an adapted model: `models/whisper/<name>/` with `adapter.bin` and a
    whisper.json that is the base's plus `adapter` (base, file, sha256, tensors) and the merged
    model.bin's sha256, which Node's install checks after merging (src/speech/whisper/adapter.ts).

    `factor` scales every adapter (W + factor * scale * B @ A): between the base (0) and the
    trained model (1) in weight space, as robust fine-tuning does (Wortsman et al. 2022, WiSE-FT),
    to keep what the base hears well. The shipped tiny.en-voices uses 0.5, fixed before measuring."""
    import hashlib

    base_dir = ensure_model(base)
    spec = json.loads((GRAPHS_DIR / base / "whisper.json").read_text())
    blob = (model_dir / "adapter.bin").read_bytes()
    tensors = json.loads((model_dir / "adapter.json").read_text())["tensors"]
    trained = json.loads((model_dir.parent / (model_dir.name + "-train.json")).read_text())
    weights = bytearray((base_dir / "model.bin").read_bytes())
    merge_into(weights, blob, tensors, factor)
    spec["name"] = name
    spec["source"] += "; low-rank adapters for unfamiliar voices merged in (training/whisper/adapt.py)"
    spec["model_bin"] = {**spec["model_bin"], "sha256": hashlib.sha256(weights).hexdigest()}
    training = {k: trained[k] for k in TRAINING_KEYS}
    for e in training["epochs"]:
        e.pop("dir", None)
    spec["adapter"] = {
        "base": base,
        "file": "adapter.bin",
        "sha256": hashlib.sha256(blob).hexdigest(),
        "merge_factor": factor,
        "training": training,
        "tensors": tensors,
    }
    dest = GRAPHS_DIR / name
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "adapter.bin").write_bytes(blob)
    (dest / "whisper.json").write_text(json.dumps(spec, indent=1) + "\n")
    return dest


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check")
    t = sub.add_parser("train")
    v = sub.add_parser("valid")
    e = sub.add_parser("export")
    e.add_argument("--model-dir", type=Path, default=TRAINED_DIR)
    e.add_argument("--name", default="tiny.en-voices")
    e.add_argument("--merge-factor", type=float, default=0.5, help="adapters scaled by this (0 = base, 1 = as trained)")
    for s in (c, t, v, e):
        s.add_argument("--base", default="tiny.en")
        s.add_argument("--data", type=Path, default=DATA_OUT)
        s.add_argument("--threads", type=int, default=2)
    t.add_argument("--epochs", type=int, default=1, help="the shipped adapters: 1")
    t.add_argument("--rank", type=int, default=16)
    t.add_argument("--alpha", type=float, default=32.0)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--batch", type=int, default=8)
    t.add_argument("--limit", type=int, default=0, help="train rows (0 = all)")
    t.add_argument("--valid-rows", type=int, default=300)
    t.add_argument("--out", type=Path, default=TRAINED_DIR)
    v.add_argument("--model-dir", type=Path, required=True)
    args = p.parse_args(argv)
    if args.cmd == "check":
        check(args.base)
    elif args.cmd == "train":
        train(args)
    elif args.cmd == "export":
        print(export(args.model_dir, args.name, args.base, args.merge_factor))
    else:
        print(f"{valid_wer(args.model_dir, read_rows(args.data / 'valid.csv'), args.threads):.4f}")


if __name__ == "__main__":
    main()
