"""The energy package's data files (``energy/data/*.yaml``) and their named presets.

Every figure in those files carries ``source``, ``date`` and ``verified``; this module reads
them (once, cached) and resolves preset names and aliases case-insensitively, raising a
ColossimError with a "did you mean" for an unknown name.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from colossim.errors import unknown_name_error


@functools.cache
def load(filename: str) -> Any:
    """Parse ``energy/data/<filename>`` (cached; treat the result as read-only)."""
    text = resources.files("colossim.energy").joinpath("data", filename).read_text(encoding="utf-8")
    return yaml.safe_load(text)


def figure(filename: str, *path: str) -> float:
    """The ``value`` of a sourced figure, e.g. ``figure("power.yaml", "storage_w_per_gpu")``."""
    node: Any = load(filename)
    for key in path:
        node = node[key]
    return float(node["value"])


@dataclass(frozen=True, slots=True)
class Preset:
    """A named figure: its value and where it comes from."""

    name: str
    value: float
    basis: str
    source: tuple[str, ...]
    date: str
    verified: bool

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "basis": self.basis, "source": list(self.source),
                "date": self.date, "verified": self.verified}


def _presets(entries: dict[str, Any], value_key: str) -> dict[str, Preset]:
    out: dict[str, Preset] = {}
    for name, body in entries.items():
        if not isinstance(body, dict) or value_key not in body:
            continue
        preset = Preset(name=name, value=float(body[value_key]), basis=str(body.get("basis", "")),
                        source=tuple(body.get("source", [])), date=str(body.get("date", "")),
                        verified=bool(body.get("verified", False)))
        out[name.lower()] = preset
        for alias in body.get("aliases", []):
            out.setdefault(str(alias).lower(), preset)
    return out


@functools.cache
def _pue() -> dict[str, Preset]:
    return _presets(load("facility.yaml")["pue"], "value")


@functools.cache
def _electricity() -> dict[str, Preset]:
    return _presets(load("electricity.yaml"), "usd_per_kwh")


@functools.cache
def _carbon() -> dict[str, Preset]:
    return _presets(load("carbon.yaml"), "g_co2_per_kwh")


def _names(table: dict[str, Preset]) -> list[str]:
    return list(dict.fromkeys(p.name for p in table.values()))


def _lookup(table: dict[str, Preset], kind: str, field: str, name: str) -> Preset:
    try:
        return table[name.lower()]
    except KeyError:
        choices = sorted({*table, *_names(table)})
        raise unknown_name_error(kind, field, name, choices) from None


def pue_preset(name: str, field: str = "power.pue") -> Preset:
    return _lookup(_pue(), "PUE preset", field, name)


def pue_names() -> list[str]:
    return _names(_pue())


def default_pue_name(cooling: str) -> str:
    return str(load("facility.yaml")["default_by_cooling"][cooling])


def price_preset(name: str, field: str = "cost.electricity") -> Preset:
    return _lookup(_electricity(), "electricity price preset", field, name)


def price_names() -> list[str]:
    return _names(_electricity())


def default_price_name() -> str:
    return str(load("electricity.yaml")["default"])


def grid_preset(name: str, field: str = "cost.grid") -> Preset:
    return _lookup(_carbon(), "grid carbon preset", field, name)


def grid_names() -> list[str]:
    return _names(_carbon())


def default_grid_name() -> str:
    return str(load("carbon.yaml")["default"])


def battery_unit() -> dict[str, Any]:
    return dict(load("facility.yaml")["battery_unit"])
