"""Shared fixtures: scenarios used across the test layers."""

from __future__ import annotations

from pathlib import Path

import pytest

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
