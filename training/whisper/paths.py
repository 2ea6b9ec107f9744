"""Where things live (without importing training.common, which loads torch)."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = Path(os.environ.get("MSA_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))  # = training.common
CACHE_DIR = Path(os.environ.get("MSA_CACHE_DIR", Path.home() / ".cache" / "msa")) / "asr"  # never in git
GRAPHS_DIR = REPO_ROOT / "models" / "whisper"  # committed, weightless graphs
RUNS_DIR = REPO_ROOT / "training" / "runs" / "asr"  # git-ignored results
