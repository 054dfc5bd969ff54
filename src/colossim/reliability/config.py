"""The optional ``reliability:`` scenario section (and the command-line flags over it).

Every field has a default, so a scenario without the section still runs: Llama 3's
failure rates, Meta-like recovery, Tectonic storage, synchronous checkpoints at Daly's
interval, the cluster's idle servers as hot spares. Validated with
:func:`colossim.scenario.loader.validate_section`, so mistakes name their field::

    reliability:
      failure_preset: llama3            # llama3, meta-rsc1, meta-rsc2, opt-175b, bloom-176b
      failure_classes:                  # per-class overrides, or new classes
        gpu: {rate_per_unit_day: 1.5e-4, repair_h: 48}
      checkpoint: {interval: daly, mode: async, storage: tectonic-llama3}
      recovery: {preset: meta-llama3, detect_s: 120}
      spares: {servers: 64, when_exhausted: shrink}
      stragglers: {slow_server_fraction: 0.005, slowdown: 1.05}
      run_days: 54                      # failure-free compute days (default: from total_tokens)
      replications: 1000
      seed: 0
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    field_validator,
)

from colossim.errors import ColossimError, field_error
from colossim.scenario.loader import validate_section

Unit = Literal["gpu", "server", "link", "job"]
INTERVAL_POLICIES = ("young", "daly", "simulate")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class ClassOverride(_Strict):
    """Changes to one failure class; a new class needs ``rate_per_unit_day`` and ``unit``."""

    rate_per_unit_day: NonNegativeFloat | None = Field(default=None, description="failures per unit per day")
    unit: Unit | None = Field(default=None, description="what the rate counts: gpu, server, link or job")
    repair_h: NonNegativeFloat | None = Field(default=None, description="hours until a failed server is back in the spare pool")
    detect_s: NonNegativeFloat | None = Field(default=None, description="detection time for this class (default: the recovery preset's)")
    takes_server: bool | None = Field(default=None, description="the failed server leaves the job until repaired")
    planned: bool | None = Field(default=None, description="an operator stop after a checkpoint: no lost work")


class CheckpointConfig(_Strict):
    interval: str | float = Field(
        default="daly", description="minutes of training between checkpoints, or young, daly, simulate"
    )
    mode: Literal["sync", "async"] = Field(default="sync", description="sync: training waits for the write; async: only for the host copy")
    storage: str = Field(default="tectonic-llama3", description="storage preset (save and load bandwidth)")
    save_tbps: PositiveFloat | None = Field(default=None, description="aggregate save bandwidth, TB/s (overrides the preset)")
    load_tbps: PositiveFloat | None = Field(default=None, description="aggregate load bandwidth, TB/s (overrides the preset)")
    bytes_per_param: PositiveFloat | None = Field(default=None, description="checkpoint bytes per parameter (default 14)")
    size_tb: PositiveFloat | None = Field(default=None, description="checkpoint size, TB (overrides the parameter count)")
    async_blocking_s: NonNegativeFloat | None = Field(default=None, description="training pause per async save, s")

    @field_validator("interval", mode="before")
    @classmethod
    def _interval(cls, value: Any) -> str | float:
        allowed = "use young, daly, simulate or a positive number of minutes"
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not allowed; {allowed}")
        if isinstance(value, str):
            word = value.strip().lower()
            if word in INTERVAL_POLICIES:
                return word
            try:
                value = float(word)
            except ValueError:
                raise ValueError(f"{value!r} is not allowed; {allowed}") from None
        if isinstance(value, (int, float)) and value > 0 and value != float("inf"):
            return float(value)
        raise ValueError(f"{value!r} is not allowed; {allowed}")


class RecoveryConfig(_Strict):
    preset: str = Field(default="meta-llama3", description="recovery preset (detection, restart, communicator init)")
    detect_s: NonNegativeFloat | None = None
    restart_s: NonNegativeFloat | None = None
    comm_init_s: NonNegativeFloat | None = None
    comm_init_ref_gpus: PositiveInt | None = None
    comm_init_exponent: NonNegativeFloat | None = None
    reload_s: NonNegativeFloat | None = Field(default=None, description="checkpoint reload, s (default: size / load bandwidth)")


class SparesConfig(_Strict):
    servers: NonNegativeInt | None = Field(default=None, description="hot spare servers (default: the cluster's idle servers)")
    repair_h: NonNegativeFloat | None = Field(
        default=None, description="repair turnaround of every server-taking class, h (default: each class's own)"
    )
    when_exhausted: Literal["wait", "shrink"] = Field(
        default="wait", description="wait for a repaired server, or restart with fewer data-parallel replicas"
    )


class StragglerConfig(_Strict):
    enabled: bool = True
    slow_server_fraction: float | None = Field(default=None, ge=0.0, le=1.0, description="share of slow servers")
    slowdown: float | None = Field(default=None, ge=1.0, description="step-time factor when the job holds a slow server")


class ReliabilityConfig(_Strict):
    failure_preset: str = Field(default="llama3", description="failure-rate preset")
    failure_classes: dict[str, ClassOverride] = Field(default_factory=dict)
    rate_scale: NonNegativeFloat = Field(default=1.0, description="multiplies every failure rate (what-if)")
    checkpoint: CheckpointConfig = CheckpointConfig()
    recovery: RecoveryConfig = RecoveryConfig()
    spares: SparesConfig = SparesConfig()
    stragglers: StragglerConfig = StragglerConfig()
    run_days: PositiveFloat | None = Field(default=None, description="failure-free compute days (default: total_tokens / tokens_per_s)")
    replications: PositiveInt = Field(default=500, le=1_000_000, description="Monte Carlo replications")
    seed: NonNegativeInt = Field(default=0, description="random seed (recorded in every result)")


def _set(body: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    node = body
    for part in parents:
        child = node.get(part)
        node[part] = dict(child) if isinstance(child, dict) else {}
        node = node[part]
    node[leaf] = value


def reliability_config(section: Any = None, overrides: dict[str, tuple[str, Any]] | None = None) -> ReliabilityConfig:
    """The scenario's ``reliability:`` section with command-line overrides applied.

    ``overrides`` maps a dotted field path to ``(flag, value)``; an invalid value is
    reported under its flag (``--replications: -5 is not allowed; ...``).
    """
    if section is not None and not isinstance(section, dict):
        raise ColossimError(f"reliability: expected a mapping, got {section!r}", field="reliability", value=section)
    validate_section(ReliabilityConfig, section, "reliability")  # the file's own mistakes first
    body: dict[str, Any] = dict(section or {})
    flags: dict[str, str] = {}
    for path, (flag, value) in (overrides or {}).items():
        if value is None:
            continue
        _set(body, path, value)
        flags[f"reliability.{path}"] = flag
    try:
        return validate_section(ReliabilityConfig, body, "reliability")
    except ColossimError as exc:
        name = flags.get(exc.field or "")
        if name is None:
            raise
        allowed = (exc.allowed or "see --help").split("is not allowed; ", 1)[-1]
        allowed = allowed[:1].lower() + allowed[1:]
        raise field_error(name, exc.value, allowed) from None
