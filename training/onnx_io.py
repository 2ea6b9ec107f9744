"""ONNX contract (src/model/types.ts) and an ONNX Runtime predictor."""

from __future__ import annotations

from pathlib import Path

import numpy as np

INPUT_NAMES = ["input_ids", "attention_mask", "acoustic_ids", "acoustic_mask", "visual_ids", "visual_mask"]
OUTPUT_NAMES = ["score", "contributions"]
INPUT_SHAPES = {
    "input_ids": ["B", "T"],
    "attention_mask": ["B", "T"],
    "acoustic_ids": ["B", "La"],
    "acoustic_mask": ["B", "La"],
    "visual_ids": ["B", "Lv"],
    "visual_mask": ["B", "Lv"],
}
OUTPUT_SHAPES = {"score": ["B"], "contributions": ["B", 3]}


def ort_session(path: Path, threads: int = 2):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def ort_run(session, batch: dict) -> tuple[np.ndarray, np.ndarray]:
    feeds = {
        k: np.asarray(batch[k].numpy() if hasattr(batch[k], "numpy") else batch[k], dtype=np.int64) for k in INPUT_NAMES
    }
    score, contributions = session.run(OUTPUT_NAMES, feeds)
    return score, contributions


def ort_predictor(session):
    return lambda batch: ort_run(session, batch)[0]
