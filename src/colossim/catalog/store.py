"""Reading the catalog's YAML files and resolving names and aliases."""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import yaml

from colossim.catalog.entries import EfficiencyProfile, GPUEntry, SwitchEntry
from colossim.errors import unknown_name_error

# Keys in preset files that document a preset rather than configure it.
META_KEYS = ("source", "published_rounding_b", "aliases")


@functools.cache
def load_data(filename: str) -> Any:
    """Parse ``catalog/data/<filename>`` (cached; treat the result as read-only)."""
    text = resources.files("colossim.catalog").joinpath("data", filename).read_text(encoding="utf-8")
    return yaml.safe_load(text)


def _index(entries: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for entry in entries:
        out[entry.name.lower()] = entry
        for alias in entry.aliases:
            out.setdefault(alias.lower(), entry)
    return out


@functools.cache
def _gpus() -> dict[str, GPUEntry]:
    return _index([GPUEntry(**d) for d in load_data("gpus.yaml")])


@functools.cache
def _switches() -> dict[str, SwitchEntry]:
    return _index([SwitchEntry(**d) for d in load_data("switches.yaml")])


@functools.cache
def _profiles() -> dict[str, EfficiencyProfile]:
    data = load_data("efficiency.yaml")
    return {name: EfficiencyProfile(name=name, **body) for name, body in data["profiles"].items()}


def gpus() -> list[GPUEntry]:
    """Every GPU, in catalog order, once each."""
    return list({id(g): g for g in _gpus().values()}.values())


def gpu_names() -> list[str]:
    return [g.name for g in gpus()]


def gpu(name: str, field: str = "cluster.gpu") -> GPUEntry:
    try:
        return _gpus()[name.lower()]
    except KeyError:
        raise unknown_name_error("GPU", field, name, gpu_names()) from None


def switch_names() -> list[str]:
    return list(dict.fromkeys(s.name for s in _switches().values()))


def switch(name: str, field: str = "cluster.fabric.switch") -> SwitchEntry:
    try:
        return _switches()[name.lower()]
    except KeyError:
        raise unknown_name_error("switch", field, name, switch_names()) from None


def efficiency_profile(name: str) -> EfficiencyProfile:
    return _profiles()[name]


def model_names() -> list[str]:
    return [k for k in load_data("models.yaml")["presets"]]


def model_preset(name: str, field: str = "model") -> dict[str, Any]:
    """A model preset as a plain mapping of ModelSpec fields (plus META_KEYS)."""
    presets = load_data("models.yaml")["presets"]
    key = name.lower()
    if key not in presets:
        raise unknown_name_error("model preset", field, name, presets)
    return dict(presets[key])


def cluster_names() -> list[str]:
    return list(load_data("clusters.yaml"))


def cluster_preset(name: str, field: str = "cluster") -> dict[str, Any]:
    presets = load_data("clusters.yaml")
    key = name.lower()
    if key not in presets:
        raise unknown_name_error("cluster preset", field, name, presets)
    return dict(presets[key])
