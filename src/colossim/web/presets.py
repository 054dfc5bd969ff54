"""Ready-made scenarios for the dashboard's preset menu: catalog presets plus a plan.

Each entry is a scenario mapping exactly as a scenario file would hold it (model and
cluster by catalog name); the page shows it as a form and as YAML. Derived from a few
bases rather than copied, so a change to a base reaches its variants.
"""

from __future__ import annotations

from typing import Any

import yaml

_FLAGSHIP_TRAINING = {"seq_len": 8192, "global_batch_size": 12288, "micro_batch_size": 1, "precision": "bf16",
                      "recompute": "none", "zero_stage": 2, "total_tokens": 6.0e12}

PRESETS: dict[str, dict[str, Any]] = {
    "llama3-8b-64": {
        "name": "Llama 3 8B on 64 H100 (quick to search)",
        "model": "llama3-8b",
        "cluster": {"preset": "dgx-superpod-h100", "num_gpus": 64},
        "training": {"seq_len": 4096, "global_batch_size": 64, "total_tokens": 1.0e11},
        "parallel": {"tp": 2, "pp": 2},
    },
    "llama3-70b-1k": {
        "name": "Llama 3 70B on a 1k-GPU H100 SuperPOD",
        "model": "llama3-70b",
        "cluster": {"preset": "dgx-superpod-h100", "num_gpus": 1024},
        "training": {"seq_len": 8192, "global_batch_size": 1024, "recompute": "selective", "total_tokens": 1.5e12},
        "parallel": {"tp": 8, "pp": 4},
    },
    "llama3-405b-24k": {
        "name": "Llama 3 405B on Meta's 24k H100 cluster",
        "model": "llama3-405b",
        "cluster": "llama3-24k",
        "training": {"seq_len": 8192, "global_batch_size": 2048, "total_tokens": 15.6e12},
        "parallel": {"tp": 8, "pp": 16},
    },
    "grok1-colossus-100k": {
        "name": "Grok-1 on Colossus (100k H100)",
        "model": "grok-1",
        "cluster": "colossus-100k",
        "training": _FLAGSHIP_TRAINING,
        "parallel": {"tp": 8, "pp": 1, "dp": 12288, "ep": 8, "sequence_parallel": True},
    },
    "grok1-colossus-200k": {
        "name": "Grok-1 on Colossus (200k GPUs)",
        "model": "grok-1",
        "cluster": "colossus-200k",
        "training": {**_FLAGSHIP_TRAINING, "global_batch_size": 24576},
        "parallel": {"tp": 8, "pp": 1, "ep": 8},
    },
}


def listing() -> list[dict[str, Any]]:
    """Every preset as {id, name, scenario, yaml}."""
    return [{"id": key, "name": body["name"], "scenario": body,
             "yaml": yaml.safe_dump(body, sort_keys=False, width=100)} for key, body in PRESETS.items()]
