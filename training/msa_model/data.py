"""Labelled samples from the three sources, and batching.

Sources (all give `Sample`s; absent non-verbal modalities are empty index lists):
  * transcript CSVs of CMU-MOSI / CMU-MOSEI (`load_mosi_csv`, `load_mosei_csv`): text only;
  * rows that already hold codebook ids (`load_featurized_jsonl`, format in README.md; the raw
    vectors of `msa featurize` are quantised by nonverbal_data.py);
  * MMSA / CENet `.pkl` feature files (`load_mmsa_pkl`), quantised with given codebooks (JSON,
    `codebook.load_codebook_dir`).
Splits are named train / dev / test everywhere (MOSEI's `valid` is `dev`).
"""

from __future__ import annotations

import csv
import json
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .codebook import Codebooks

SPLIT_ALIASES = {"train": "train", "dev": "dev", "valid": "dev", "validation": "dev", "test": "test"}


@dataclass
class Sample:
    id: str
    text: str
    label: float
    split: str
    source: str
    acoustic_ids: list[int] = field(default_factory=list)  # empty = modality absent
    visual_ids: list[int] = field(default_factory=list)


def canonical_split(name: str, where: str) -> str:
    try:
        return SPLIT_ALIASES[name.strip().lower()]
    except KeyError:
        raise ValueError(f"{where}: unknown split {name!r}; expected one of {sorted(SPLIT_ALIASES)}") from None


def load_mosi_csv(path: Path) -> list[Sample]:
    """`id,text,label,mode` (modes train, dev)."""
    with open(path, newline="", encoding="utf-8") as f:
        return [
            Sample(r["id"], r["text"], float(r["label"]), canonical_split(r["mode"], str(path)), "mosi")
            for r in csv.DictReader(f)
        ]


def load_mosei_csv(path: Path) -> list[Sample]:
    """`video_id,clip_id,text,label,mode` (modes train, valid, test)."""
    with open(path, newline="", encoding="utf-8") as f:
        return [
            Sample(
                f"{r['video_id']}_{r['clip_id']}",
                r["text"],
                float(r["label"]),
                canonical_split(r["mode"], str(path)),
                "mosei",
            )
            for r in csv.DictReader(f)
        ]


def check_ids(ids: list[int], k: int, what: str) -> list[int]:
    bad = [i for i in ids if not 0 <= int(i) < k]
    if bad:
        raise ValueError(
            f"{what}: codebook index {bad[0]} outside 0..{k - 1}; was it featurized with another codebook?"
        )
    return [int(i) for i in ids]


def load_featurized_jsonl(path: Path, k_acoustic: int, k_visual: int, source: str = "featurized") -> list[Sample]:
    """One JSON object per line: id, text, label, split, acoustic_ids, visual_ids, and an optional
    source that overrides `source` for that row (e.g. "mosei" for transcript rows whose labels were
    rewritten, so `--mix` counts them as text; see README.md)."""
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            r = json.loads(line)
            where = f"{path}:{n}"
            for key in ("id", "text", "label", "split"):
                if key not in r:
                    raise ValueError(f"{where}: missing field {key!r}")
            out.append(
                Sample(
                    str(r["id"]),
                    r["text"],
                    float(r["label"]),
                    canonical_split(r["split"], where),
                    str(r.get("source") or source),
                    check_ids(r.get("acoustic_ids") or [], k_acoustic, where),
                    check_ids(r.get("visual_ids") or [], k_visual, where),
                )
            )
    return out


def valid_frames(frames: np.ndarray, length: int | None) -> np.ndarray:
    """Drops padding frames: the first `length` if given, else rows that are not all zero."""
    if length is not None:
        return frames[: int(length)]
    return frames[np.abs(frames).sum(-1) > 0]


def load_mmsa_pkl(path: Path, codebooks: Codebooks, source: str = "mmsa", max_len: int = 64) -> list[Sample]:
    """MMSA-style feature pickle: {'train'|'valid'|'test': {'raw_text', 'audio' (N,La,da),
    'vision' (N,Lv,dv), 'regression_labels' (N,), optional 'id', 'audio_lengths',
    'vision_lengths'}}. Frames are quantised with `codebooks` (`JsonCodebook.quantise`: nearest
    centroid after standardisation) and uniformly subsampled to at most `max_len` indices."""
    with open(path, "rb") as f:
        data = pickle.load(f)
    out = []
    for split_name, part in data.items():
        split = canonical_split(split_name, str(path))
        for key in ("raw_text", "audio", "vision", "regression_labels"):
            if key not in part:
                raise ValueError(f"{path}: split {split_name!r} has no {key!r} (keys: {sorted(part)})")
        n = len(part["raw_text"])
        ids = part.get("id", [f"{split_name}_{i}" for i in range(n)])
        a_len, v_len = part.get("audio_lengths"), part.get("vision_lengths")
        for i in range(n):
            a = valid_frames(np.asarray(part["audio"][i], dtype=np.float32), None if a_len is None else a_len[i])
            v = valid_frames(np.asarray(part["vision"][i], dtype=np.float32), None if v_len is None else v_len[i])
            out.append(
                Sample(
                    str(ids[i]),
                    str(part["raw_text"][i]),
                    float(np.asarray(part["regression_labels"][i]).reshape(-1)[0]),
                    split,
                    source,
                    subsample(codebooks.acoustic.quantise(a), max_len),
                    subsample(codebooks.visual.quantise(v), max_len),
                )
            )
    return out


def subsample(ids: list[int], max_len: int) -> list[int]:
    if len(ids) <= max_len:
        return ids
    pick = np.linspace(0, len(ids) - 1, max_len).round().astype(int)
    return [ids[i] for i in pick]


def load_datasets(data_dir: Path, names: list[str]) -> list[Sample]:
    loaders = {
        "mosi": lambda: load_mosi_csv(data_dir / "mosi" / "label.csv"),
        "mosei": lambda: load_mosei_csv(data_dir / "mosei" / "label.csv"),
    }
    out = []
    for name in names:
        if name in loaders:
            out += loaders[name]()
        elif name.endswith(".jsonl"):
            raise ValueError("pass featurized files with --featurized (they need the codebook sizes)")
        else:
            raise ValueError(f"unknown dataset {name!r}; expected mosi or mosei")
    return out


class Encoded:
    """Samples tokenised once, ready for batching."""

    def __init__(self, samples: list[Sample], tokenizer, max_tokens: int) -> None:
        self.samples = samples
        enc = tokenizer([s.text for s in samples], truncation=True, max_length=max_tokens)
        self.token_ids: list[list[int]] = enc["input_ids"]
        self.labels = np.array([s.label for s in samples], dtype=np.float32)

    def __len__(self) -> int:
        return len(self.samples)

    def lengths(self) -> np.ndarray:
        return np.array([len(t) for t in self.token_ids])


def bucketed_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator | None) -> list[np.ndarray]:
    """Batches of similar token length (little padding). With `rng`: shuffled pools of 50
    batches, each sorted by length, then the batch order shuffled. Without: sorted by length."""
    if rng is None:
        order = np.argsort(lengths, kind="stable")
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    perm = rng.permutation(len(lengths))
    pool = batch_size * 50
    batches = []
    for start in range(0, len(perm), pool):
        chunk = perm[start : start + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def pad_nonverbal(seqs: list[list[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Index lists -> ids (B, L), mask (B, L); an empty list is one pad index with mask 0."""
    width = max(1, max(len(s) for s in seqs))
    ids = torch.full((len(seqs), width), pad, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        if s:
            ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
            mask[i, : len(s)] = 1
    return ids, mask


def collate(
    data: Encoded,
    idx: np.ndarray,
    pad_token: int,
    acoustic_pad: int,
    visual_pad: int,
    modality_dropout: float = 0.0,
    rng: np.random.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """Model inputs (names of the ONNX contract) and `labels` for the samples `idx`."""
    toks = [data.token_ids[i] for i in idx]
    t = max(len(x) for x in toks)
    input_ids = torch.full((len(idx), t), pad_token, dtype=torch.long)
    attention_mask = torch.zeros((len(idx), t), dtype=torch.long)
    for j, x in enumerate(toks):
        input_ids[j, : len(x)] = torch.tensor(x, dtype=torch.long)
        # A row without words ([CLS] [SEP] of "") is text ABSENT (mask 0: no text term, contribution
        # exactly 0), as the Node side feeds it (src/model/windowInputs.ts textMask).
        if data.samples[idx[j]].text.strip():
            attention_mask[j, : len(x)] = 1
    a_seqs = [data.samples[i].acoustic_ids for i in idx]
    v_seqs = [data.samples[i].visual_ids for i in idx]
    if modality_dropout > 0 and rng is not None:
        a_seqs = [[] if rng.random() < modality_dropout else s for s in a_seqs]
        v_seqs = [[] if rng.random() < modality_dropout else s for s in v_seqs]
    acoustic_ids, acoustic_mask = pad_nonverbal(a_seqs, acoustic_pad)
    visual_ids, visual_mask = pad_nonverbal(v_seqs, visual_pad)
    return {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "acoustic_ids": acoustic_ids,
        "acoustic_mask": acoustic_mask,
        "visual_ids": visual_ids,
        "visual_mask": visual_mask,
        "labels": torch.from_numpy(data.labels[idx]),
    }
