"""Shared fixtures: scenarios used across the test layers."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings

# Property tests draw the same examples on every run and machine (a CI failure is reproducible,
# never a lucky draw): derandomized, no example database. HYPOTHESIS_PROFILE=explore draws new
# examples on each run, for hunting.
settings.register_profile("reproducible", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "reproducible"))

# The suite never reads the user catalog of whoever runs it: after the README tour's
# `colossim catalog import-hf`, ~/.config/colossim holds models the catalog tests would
# then check against published figures they do not have. Tests that want a user catalog set
# their own COLOSSIM_HOME (tests/test_hf.py); subprocesses inherit this empty one.
os.environ["COLOSSIM_HOME"] = tempfile.mkdtemp(prefix="colossim-home-")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


@pytest.fixture
def flagship_path() -> Path:
    return EXAMPLES / "grok1-colossus-100k.yaml"


@pytest.fixture
def small_dense() -> dict:
    """A small, fast Llama-3-8B scenario on 64 H100."""
    return {
        "model": "llama3-8b",
        "cluster": {"gpu": "h100-sxm", "num_gpus": 64},
        "training": {"seq_len": 4096, "global_batch_size": 64},
        "parallel": {"tp": 2, "pp": 2, "dp": 16},
    }
