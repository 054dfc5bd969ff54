"""Options of the network twin: the optional ``network:`` scenario section, names, sizes.

A scenario may carry::

    network:
      routing: ecmp              # ecmp | adaptive | ideal (default: cluster.fabric.routing)
      flows_per_pair: 4          # ECMP: flows (queue pairs) per GPU pair, each hashed on its own
      seed: 7                    # hashing, random placement and random failures
      algorithm: auto            # auto | hierarchical | ring | tree | direct
      placement: {order: tp-cp-ep-dp-pp, node_order: packed}
      failures: {switches: [spine:3], links: [leaf-spine:120], degraded: [{tier: spine-core, fraction: 0.02, factor: 0.5}]}
      second_job: {gpus: 32768, parallel: {tp: 8}, collective: all-reduce, group: dp, size: 2GiB}
      jobs: [{gpus: 16384, parallel: {tp: 8}, placement: random, phase_offset: 0.5, gap: 1.0}, ...]

Every field is validated with :func:`colossim.scenario.loader.validate_section`, so a
mistake names its path (``network.flows_per_pair: 0 is not allowed; ...``).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator

from colossim.errors import ColossimError, field_error

GROUPS = ("dp", "edp", "tp", "ep", "pp", "cp")
COLLECTIVES = ("all-reduce", "all-gather", "reduce-scatter", "all-to-all", "p2p")
ALGORITHMS = ("auto", "nccl", "hierarchical", "ring", "tree", "nvls", "nvls-tree", "sharp", "direct")
ROUTINGS = ("ecmp", "adaptive", "flowlet", "ideal")
TIER_NAMES = ("nic", "leaf-spine", "spine-core")  # cables between tier i-1 and i, bottom up
SWITCH_KINDS = ("leaf", "spine", "core")
NODE_ORDERS = ("packed", "random", "interleaved")
DIMS = ("tp", "cp", "ep", "dp", "pp")
DEFAULT_ORDER = "tp-cp-ep-dp-pp"  # Megatron-Core's default, innermost first (what the step model assumes)

Routing = Literal["ecmp", "adaptive", "flowlet", "ideal"]
Algorithm = Literal["auto", "nccl", "hierarchical", "ring", "tree", "nvls", "nvls-tree", "sharp", "direct"]
Collective = Literal["all-reduce", "all-gather", "reduce-scatter", "all-to-all", "p2p"]
Group = Literal["dp", "edp", "tp", "ep", "pp", "cp"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class Placement(_Strict):
    """How ranks of the parallel plan land on GPUs."""

    order: str = Field(default=DEFAULT_ORDER, description="parallel dimensions innermost first, e.g. tp-cp-ep-pp-dp")
    node_order: Literal["packed", "random", "interleaved"] = Field(
        default="packed",
        description="packed: consecutive nodes; random: the scheduler hands out nodes in any order (seeded); "
                    "interleaved: every other node (a second job takes the rest)",
    )

    @field_validator("order")
    @classmethod
    def _order(cls, value: str) -> str:
        dims = value.replace(",", "-").replace(" ", "").split("-")
        if sorted(dims) != sorted(DIMS):
            raise ValueError(f"order must list each of {', '.join(DIMS)} once (innermost first), got {value!r}")
        return "-".join(dims)

    @property
    def dims(self) -> tuple[str, ...]:
        return tuple(self.order.split("-"))


class Degraded(_Strict):
    """Links of one tier running below line rate (a flapping optic, a lane down)."""

    tier: Literal["nic", "leaf-spine", "spine-core"]
    fraction: float = Field(gt=0.0, le=1.0, description="share of the tier's cables affected (chosen with the seed)")
    factor: float = Field(ge=0.0, lt=1.0, description="capacity left on an affected cable (0 = down)")


class Failures(_Strict):
    """Failed switches and links. Names are ``kind:index`` (``spine:3``, ``leaf-spine:120``)."""

    switches: tuple[str, ...] = Field(default=(), description="failed switches: leaf:i, spine:i, core:i")
    links: tuple[str, ...] = Field(default=(), description="failed cables (both directions): tier:index")
    degraded: tuple[Degraded, ...] = Field(default=(), description="random cables of a tier at reduced capacity")

    @property
    def any(self) -> bool:
        return bool(self.switches or self.links or self.degraded)


class SecondJob(_Strict):
    """A second training job on the same fabric (its collective runs concurrently)."""

    gpus: PositiveInt | None = Field(default=None, description="GPUs of the second job (default: those the first leaves)")
    parallel: dict[str, int] = Field(default_factory=dict, description="tp, cp, ep, pp (dp fills the GPUs)")
    collective: Collective = "all-reduce"
    group: Group = "dp"
    size: str | float = Field(default="1GiB", description="buffer per rank (1GiB, 512MB, or bytes)")

    @field_validator("parallel")
    @classmethod
    def _parallel(cls, value: dict[str, int]) -> dict[str, int]:
        for key, v in value.items():
            if key not in ("tp", "cp", "ep", "pp"):
                raise ValueError(f"unknown dimension {key!r}; allowed: tp, cp, ep, pp (dp fills the GPUs)")
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{key} must be a positive integer, got {v!r}")
        return value


JOB_PLACEMENTS = ("packed", "spread", "random", "topology-aware")


class JobSpec(SecondJob):
    """One more training job on the fabric: its own plan, collective, placement and timing."""

    name: str | None = Field(default=None, description="label in the report (default: job N)")
    placement: Literal["packed", "spread", "random", "topology-aware"] = Field(
        default="packed", description="packed: the lowest free nodes; spread: free nodes evenly strided; random: "
                                      "free nodes in any order (seeded); topology-aware: the pods with most free "
                                      "nodes first, so the job crosses as few pods as it can")
    phase_offset: float = Field(default=0.0, ge=0.0, lt=1.0, description="start delay as a fraction of the job's "
                                                                          "cycle (collective + gap)")
    gap: float = Field(default=0.0, ge=0.0, description="compute time between collectives, in units of the job's "
                                                        "collective time alone (0: back to back, the worst case)")


class NetworkConfig(_Strict):
    """The ``network:`` section. Everything is optional."""

    routing: Routing | None = Field(default=None, description="ecmp (per-flow hashing), adaptive (per-packet spraying, fluid limit), flowlet (adaptive routing simulated: each switch balances its own ports, remote hops from stale reports) or ideal (default: cluster.fabric.routing)")
    flows_per_pair: PositiveInt = Field(default=1, le=256, description="ECMP: hashed flows (queue pairs) per GPU pair")
    seed: int = Field(default=0, ge=0, description="seed for hashing, random placement and random failures")
    algorithm: Algorithm = "auto"
    rails: PositiveInt | None = Field(default=None, description="rails per server (default: GPUs per server when rail-optimized)")
    pxn: bool = Field(default=True, description="NCCL PXN: cross-rail traffic hops over NVLink to the GPU on the destination's rail")
    nic_cable: Literal["optics", "dac"] = Field(default="optics", description="NIC-to-leaf cables (dac: copper inside the rack)")
    placement: Placement = Placement()
    failures: Failures = Failures()
    second_job: SecondJob | None = None
    jobs: tuple[JobSpec, ...] = Field(default=(), description="more jobs on the same fabric (any number), each with "
                                                             "its plan, collective, placement, phase offset and gap")
    gap: float = Field(default=0.0, ge=0.0, description="the scenario's job: compute between collectives, in units "
                                                        "of its collective time alone (with jobs)")
    max_flows: PositiveInt = Field(default=2_000_000, description="all-to-all: flows simulated at once before sampling rounds")


def network_config(scenario: Any = None, **overrides: Any) -> NetworkConfig:
    """The scenario's ``network`` section (validated), with command-line overrides on top."""
    from colossim.scenario.loader import validate_section

    body: dict[str, Any] = dict(scenario.sections.get("network") or {}) if scenario is not None else {}
    body.update({k: v for k, v in overrides.items() if v is not None})
    return validate_section(NetworkConfig, body, "network")


_UNITS = {"": 1, "b": 1, "k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(value: str | float | int, field: str = "--size") -> float:
    """Bytes from ``1GiB``, ``512MB``, ``4e9`` or a number; SI (MB = 1e6) and binary (MiB = 2^20) units."""
    if isinstance(value, bool):
        raise field_error(field, value, "a size such as 1GiB, 512MB or a number of bytes")
    if isinstance(value, (int, float)):
        size = float(value)
    else:
        match = _SIZE.match(str(value))
        unit = match.group(2).lower() if match else None
        if match is None or unit not in _UNITS:
            raise field_error(field, value, "a size such as 1GiB, 512MB, 64KiB or a number of bytes "
                              "(units: B, KB, MB, GB, TB = powers of 1000; KiB, MiB, GiB, TiB = powers of 1024)")
        size = float(match.group(1)) * _UNITS[unit]
    if not size > 0 or size != size or size == float("inf"):
        raise field_error(field, value, "a size must be a positive, finite number of bytes")
    from colossim import gate

    gate.check_field("network.size", size, field)  # 1e308 bytes gives a 1e290 s collective
    return size


def require_scipy(what: str) -> None:
    """The flow simulation needs scipy.sparse (the ``network`` extra): a clear error without it."""
    try:
        import scipy.sparse  # noqa: F401
    except ModuleNotFoundError:
        raise ColossimError(f"{what} needs scipy: pip install 'colossim[network]'", field="network") from None


def check_choice(field: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise field_error(field, value, f"allowed: {', '.join(choices)}", choices=choices)
    return value


def parse_target(text: str, kinds: tuple[str, ...], field: str) -> tuple[str, int]:
    """``spine:3`` -> ("spine", 3), with a clear error for anything else."""
    kind, _, index = str(text).partition(":")
    if kind not in kinds or not index.strip().isdigit():
        raise ColossimError(f"{field}: {text!r} is not allowed; write kind:index with kind one of {', '.join(kinds)}",
                            field=field, value=text, allowed=f"{'|'.join(kinds)}:<index>")
    return kind, int(index)
