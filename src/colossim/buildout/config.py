"""The optional ``buildout:`` scenario section: how a cluster arrives, powers up and starts training.

Every field has a sourced default (``buildout/data/buildout.yaml``) except the delivery and
the power schedule; a day is counted from day 0 (the first rack on site), or given as a
date when ``start_date`` is set::

    buildout:
      start_date: 2024-05-01           # optional: lets entries use dates
      delivery: {racks_per_day: 20}    # or gpus_per_day, or batches: [{day: 0, racks: 40}, ...]
      install: {rack_h: 8, cabling_h_per_rack: 4, crews: 60}
      burn_in: {days: 3, failure_fraction: 0.03, repair_days: 5}
      network: {spine_days_per_pod: 2, spine_crews: 12, pod_order: sequential}
      power:
        grid: [{day: 0, mw: 8}, {day: 30, mw: 50}]    # MW available from that day on
        onsite: [{day: 20, mw: 35}]                   # turbines, generators
        battery: {mw: 35, mwh: 140}                   # buffers swings; not a steady supply
      training: {min_gpus: 16384, growth_factor: 1.5, start: ready}   # or start: full
      report_day: 122
"""

from __future__ import annotations

import datetime as dt
import functools
from importlib import resources
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    field_validator,
    model_validator,
)

from colossim.errors import ColossimError, field_error
from colossim.scenario.loader import validate_section


@functools.cache
def defaults() -> dict[str, Any]:
    text = resources.files("colossim.buildout").joinpath("data", "buildout.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def default(group: str, name: str) -> Any:
    entry = defaults()[group][name]
    return entry["value"] if isinstance(entry, dict) else entry


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Dated(_Strict):
    """A schedule entry: a day number or a date (with ``start_date``)."""

    day: NonNegativeFloat | None = None
    date: dt.date | None = None


class Batch(Dated):
    gpus: PositiveInt | None = None
    racks: PositiveInt | None = None


class Supply(Dated):
    mw: NonNegativeFloat = Field(description="MW available from this day on (a level, not an increment)")


class DeliveryConfig(_Strict):
    gpus_per_day: PositiveFloat | None = None
    racks_per_day: PositiveFloat | None = None
    start_day: NonNegativeFloat = 0.0
    batches: list[Batch] | None = None


class InstallConfig(_Strict):
    rack_h: PositiveFloat = Field(default_factory=lambda: float(default("install", "rack_h")))
    cabling_h_per_rack: NonNegativeFloat = Field(default_factory=lambda: float(default("install", "cabling_h_per_rack")))
    crews: PositiveInt = Field(default_factory=lambda: int(default("install", "crews")))


class BurnInConfig(_Strict):
    days: NonNegativeFloat = Field(default_factory=lambda: float(default("burn_in", "days")))
    failure_fraction: float = Field(default_factory=lambda: float(default("burn_in", "failure_fraction")), ge=0.0, lt=1.0)
    repair_days: NonNegativeFloat = Field(default_factory=lambda: float(default("burn_in", "repair_days")))


class NetworkConfig(_Strict):
    pod_gpus: PositiveInt | None = Field(default=None, description="GPUs per pod (default: the cluster's rack group)")
    spine_days_per_pod: NonNegativeFloat = Field(default_factory=lambda: float(default("network", "spine_days_per_pod")))
    spine_crews: PositiveInt = Field(default_factory=lambda: int(default("network", "spine_crews")))
    pod_order: Literal["sequential", "interleaved"] = "sequential"
    interleave_pods: PositiveInt = Field(default=4, description="pods filled side by side with pod_order: interleaved (halls)")


class BatteryConfig(_Strict):
    mw: NonNegativeFloat = 0.0
    mwh: NonNegativeFloat = 0.0


class PowerSupplyConfig(_Strict):
    grid: list[Supply] = Field(default_factory=list)
    onsite: list[Supply] = Field(default_factory=list)
    grid_mw_per_month: NonNegativeFloat | None = Field(default=None, description="a ramp: grid MW added every 30 days")
    battery: BatteryConfig = BatteryConfig()


class TrainingPlanConfig(_Strict):
    min_gpus: PositiveInt = Field(default_factory=lambda: int(default("training", "min_gpus")))
    growth_factor: float = Field(default_factory=lambda: float(default("training", "growth_factor")), gt=1.0)
    start: Literal["ready", "full"] = Field(default="ready", description="train on what is ready, or wait for the whole cluster")
    reshard_factor: NonNegativeFloat = Field(default_factory=lambda: float(default("training", "reshard_factor")))
    failures: bool = Field(default=True, description="discount tokens by the ETTR at each scale (Daly's model)")
    search_fixed: dict[str, int] | None = Field(
        default=None, description="plan dimensions held fixed in each re-plan (default: the scenario's tp, cp, ep, sp, and etp for MoE)")

    @field_validator("search_fixed")
    @classmethod
    def _known_dimensions(cls, fixed: dict[str, int] | None) -> dict[str, int] | None:
        """Names the plan search knows (``--fix``'s), each value in its range: a typo is refused, not ignored."""
        if fixed is None:
            return None
        from colossim.search.space import canonical, parse_value

        return {canonical(k): parse_value(canonical(k), v, f"search_fixed.{k}") for k, v in fixed.items()}


class BuildoutConfig(_Strict):
    start_date: dt.date | None = None
    cluster_gpus: PositiveInt | None = Field(default=None, description="GPUs at full build (default: cluster.num_gpus)")
    existing_gpus: NonNegativeInt = Field(default=0, description="GPUs already installed, burned in and on the fabric at day 0 (an expansion)")
    delivery: DeliveryConfig = DeliveryConfig()
    install: InstallConfig = InstallConfig()
    burn_in: BurnInConfig = BurnInConfig()
    network: NetworkConfig = NetworkConfig()
    power: PowerSupplyConfig = PowerSupplyConfig()
    training: TrainingPlanConfig = TrainingPlanConfig()
    report_day: NonNegativeInt = 122
    horizon_days: PositiveInt = Field(default=730, le=5000)

    @model_validator(mode="after")
    def _report_within_horizon(self) -> BuildoutConfig:
        if self.report_day > self.horizon_days:  # tokens "by day N" past the simulated days would be day 730's
            raise ValueError(f"report_day ({self.report_day}) is after horizon_days ({self.horizon_days}), the last day "
                             f"simulated; give a report_day (--day) of at most {self.horizon_days} or raise horizon_days "
                             "(at most 5000)")
        return self


def buildout_config(section: Any) -> BuildoutConfig:
    if section is None:
        raise ColossimError("buildout: missing; the scenario needs a buildout: section with a delivery schedule "
                            "and a power schedule (see docs/buildout.md)", field="buildout", allowed="a mapping")
    return validate_section(BuildoutConfig, section, "buildout")


def entry_day(entry: Dated, start: dt.date | None, field: str) -> float:
    """The day number of a schedule entry (``day`` or ``date``)."""
    if (entry.day is None) == (entry.date is None):
        raise field_error(field, entry.model_dump(exclude_none=True), "give exactly one of day or date")
    if entry.day is not None:
        return float(entry.day)
    assert entry.date is not None
    if start is None:
        raise field_error(field, str(entry.date), "a date needs buildout.start_date (or use day: N)")
    days = (entry.date - start).days
    if days < 0:
        raise field_error(field, str(entry.date), f"dates cannot be before buildout.start_date ({start})")
    return float(days)


def increasing_days(entries: list[Any], start: dt.date | None, field: str) -> list[float]:
    """Day numbers of a schedule, refused unless they never go backwards."""
    days = [entry_day(e, start, f"{field}[{i}]") for i, e in enumerate(entries)]
    for i in range(1, len(days)):
        if days[i] < days[i - 1]:
            raise field_error(f"{field}[{i}]", days[i], f"dates go backwards: day {days[i]:g} comes after day "
                              f"{days[i - 1]:g}; list the entries in time order")
    return days
