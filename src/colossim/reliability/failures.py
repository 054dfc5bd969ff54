"""Failure classes, their rates per unit-day, and the interruption rate of one job.

A job spanning ``n_u`` units of kind ``u`` (GPUs, servers, scale-out links, or the job
itself) sees failures of class ``c`` as a Poisson process of rate ``n_u(c) * r_c`` per day
(independent exponential lifetimes, superposed). The default rates are Llama 3's 54-day
interruption table on 16,384 H100 (arXiv:2407.21783, Table 5) divided by that job's
exposure, with the arithmetic kept in ``data/failure_rates.yaml``.

Left out: infant mortality and wear-out (rates are constant in time), correlated failures
(a power or cooling domain taking many servers at once), failures of spare or idle
servers, and "lemon" nodes that fail again and again (Kokolis et al. 2025).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
import yaml

from colossim.errors import ColossimError, field_error, unknown_name_error
from colossim.reliability.config import ReliabilityConfig
from colossim.scenario.cluster import FabricSpec

UNITS = ("gpu", "server", "link", "job")
SECONDS_PER_DAY = 86400.0


@functools.cache
def load_reliability_data(filename: str) -> Any:
    """Parse ``reliability/data/<filename>`` (cached; treat as read-only)."""
    text = resources.files("colossim.reliability").joinpath("data", filename).read_text(encoding="utf-8")
    return yaml.safe_load(text)


def figure(entry: Any) -> float:
    """The number of a ``{value, source, date, verified}`` figure (or a bare number)."""
    return float(entry["value"] if isinstance(entry, dict) else entry)


@dataclass(frozen=True, slots=True)
class FailureClass:
    """One component class: what it counts, how often it fails, what a failure costs."""

    name: str
    unit: str
    rate_per_unit_day: float
    repair_h: float
    takes_server: bool
    planned: bool = False
    detect_s: float | None = None  # None: the recovery preset's detection time
    source: str = ""


@dataclass(frozen=True, slots=True)
class Footprint:
    """How many units of each kind one job spans."""

    gpus: int
    servers: int
    links: float

    def units(self, unit: str) -> float:
        return {"gpu": float(self.gpus), "server": float(self.servers), "link": self.links, "job": 1.0}[unit]


def links_per_gpu(fabric: FabricSpec) -> float:
    """Scale-out links per GPU in a fat tree: one per tier, thinned by the oversubscription
    below it (Llama 3's 3 tiers with 1:7 above the pod: 1 + 1 + 1/7 = 2.143)."""
    total, thin = 0.0, 1.0
    for tier in range(fabric.tiers):
        total += 1.0 / thin
        if tier < len(fabric.oversubscription):
            thin *= fabric.oversubscription[tier]
    return total


def footprint(gpus: int, gpus_per_server: int, fabric: FabricSpec) -> Footprint:
    return Footprint(gpus=gpus, servers=math.ceil(gpus / gpus_per_server), links=gpus * links_per_gpu(fabric))


def preset_names() -> list[str]:
    return list(load_reliability_data("failure_rates.yaml")["presets"])


def class_names() -> list[str]:
    return list(load_reliability_data("failure_rates.yaml")["classes"])


def preset_classes(name: str, field: str = "reliability.failure_preset") -> list[FailureClass]:
    """The classes of a preset, with their catalog defaults (unit, repair time, flags)."""
    data = load_reliability_data("failure_rates.yaml")
    preset = data["presets"].get(name.lower())
    if preset is None:
        raise unknown_name_error("failure preset", field, name, data["presets"])
    out = []
    for cname, rate in preset["rates"].items():
        base = data["classes"][cname]
        out.append(FailureClass(
            name=cname, unit=base["unit"], rate_per_unit_day=figure(rate), repair_h=figure(base["repair_h"]),
            takes_server=bool(base["takes_server"]), planned=bool(base.get("planned", False)),
            source=str(preset["source"]),
        ))
    return out


def _overridden(base: FailureClass | None, name: str, o: Any) -> FailureClass:
    if base is None:
        known = class_names()
        data = load_reliability_data("failure_rates.yaml")["classes"]
        if name in data:  # a catalog class the preset lacks: start from its defaults at rate 0
            d = data[name]
            base = FailureClass(name=name, unit=d["unit"], rate_per_unit_day=0.0, repair_h=figure(d["repair_h"]),
                                takes_server=bool(d["takes_server"]), planned=bool(d.get("planned", False)))
        elif o.rate_per_unit_day is None or o.unit is None:
            raise field_error(f"reliability.failure_classes.{name}", name,
                              f"a new class needs rate_per_unit_day and unit; known classes: {', '.join(known)}",
                              choices=known)
        else:
            base = FailureClass(name=name, unit=o.unit, rate_per_unit_day=0.0, repair_h=0.0, takes_server=False)
    changes = {k: v for k, v in o.model_dump().items() if v is not None}
    fields = {f: getattr(base, f) for f in FailureClass.__slots__}
    fields.update(changes)
    if changes:
        fields["source"] = (base.source + "; " if base.source else "") + "overridden in the scenario"
    return FailureClass(**fields)


def failure_classes(config: ReliabilityConfig) -> tuple[FailureClass, ...]:
    """The preset's classes with the scenario's per-class overrides and ``rate_scale``."""
    classes = {c.name: c for c in preset_classes(config.failure_preset)}
    for name, override in config.failure_classes.items():
        classes[name] = _overridden(classes.get(name), name, override)
    out = []
    for c in classes.values():
        rate = c.rate_per_unit_day * config.rate_scale
        detect = 0.0 if c.planned else c.detect_s
        out.append(FailureClass(name=c.name, unit=c.unit, rate_per_unit_day=rate, repair_h=c.repair_h,
                                takes_server=c.takes_server and not c.planned, planned=c.planned,
                                detect_s=detect, source=c.source))
    if not any(c.rate_per_unit_day > 0 for c in out):
        raise ColossimError("reliability: every failure rate is zero; nothing can interrupt the job "
                            "(raise rate_scale or a class's rate_per_unit_day)", field="reliability.failure_classes")
    return tuple(out)


def job_rates_per_day(classes: tuple[FailureClass, ...], fp: Footprint) -> np.ndarray:
    """Failures per day of each class for a job spanning ``fp``."""
    return np.array([c.rate_per_unit_day * fp.units(c.unit) for c in classes], dtype=float)


def mttf_hours(rate_per_day: float) -> float:
    """Mean time to failure of a Poisson process of the given daily rate (inf at rate 0)."""
    return math.inf if rate_per_day <= 0 else 24.0 / rate_per_day
