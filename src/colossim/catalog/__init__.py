"""The catalog: hardware, model and cluster facts as data, each with its source.

Data lives in ``catalog/data/*.yaml`` and is read once, lazily. Lookups accept catalog
names and aliases, case-insensitively; an unknown name raises a ColossimError with a
"did you mean". Later subsystems (network, power, reliability) keep their own data files
beside these and load them through :func:`load_data`.
"""

from __future__ import annotations

from colossim.catalog.entries import EfficiencyProfile, GPUEntry, SwitchEntry
from colossim.catalog.store import (
    cluster_names,
    cluster_preset,
    efficiency_profile,
    gpu,
    gpu_names,
    gpus,
    load_data,
    model_names,
    model_preset,
    switch,
    switch_names,
)

__all__ = [
    "EfficiencyProfile",
    "GPUEntry",
    "SwitchEntry",
    "cluster_names",
    "cluster_preset",
    "efficiency_profile",
    "gpu",
    "gpu_names",
    "gpus",
    "load_data",
    "model_names",
    "model_preset",
    "switch",
    "switch_names",
]
