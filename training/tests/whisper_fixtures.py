"""Shared helpers of the Whisper tests: the installed models, skipping with instructions when absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.whisper.fetch import model_dir, release


def installed_model(name: str) -> Path:
    """Directory with model.bin and the graphs of `name`; skips when the weights are not in the cache."""
    from training.whisper.fetch import install_graphs

    d = model_dir(name)
    bin_path = d / "model.bin"
    if not bin_path.exists() or bin_path.stat().st_size != release(name).model_bin_size:
        pytest.skip(f"Whisper {name} weights not in {d}; get them with: python -m training.whisper.fetch {name}")
    return install_graphs(name, d)
