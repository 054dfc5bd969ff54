"""The plan space: every parallel plan a scenario admits, generated in vectorized chunks.

Dimensions: tp, pp, dp, cp, ep, vpp, micro-batch size, recompute, ZeRO stage and sequence
parallelism. Each dimension's candidate values come from the model and cluster
(tp divides the attention heads and fits the NVLink domain; pp divides the layers, is a
power of two, or is the fewest stages for a given number of layers per stage, leaving
uneven stages; vpp divides the layers per stage; cp keeps
seq_len / (2 cp) whole; ep divides the experts; dp divides global_batch / micro_batch).
The product of the value lists is enumerated lazily, chunk by chunk (index arithmetic on
numpy arrays, no Python object per plan), and :mod:`colossim.scenario.rules` removes the
combinations that break a divisibility or size rule, counting each reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from colossim import gate
from colossim.errors import ColossimError, field_error
from colossim.scenario import ClusterSpec, ModelSpec, PlanBatch, TrainingSpec
from colossim.scenario.rules import divisors
from colossim.scenario.training import RECOMPUTE_CODES

DIMENSIONS = ("tp", "pp", "dp", "cp", "ep", "vpp", "mbs", "recompute", "zero", "sp")
ALIASES = {"micro_batch_size": "mbs", "micro_batch": "mbs", "zero_stage": "zero", "sequence_parallel": "sp",
           "tensor": "tp", "pipeline": "pp", "data": "dp", "context": "cp", "expert": "ep"}
MAX_CP = 32
MAX_VPP = 8
MICRO_BATCHES = (1, 2, 4, 8)


@dataclass(frozen=True)
class Constraints:
    """User bounds on the space: fixed values and inclusive ranges per dimension."""

    fixed: dict[str, int] = field(default_factory=dict)
    minimum: dict[str, int] = field(default_factory=dict)
    maximum: dict[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        parts = [f"{k}={v}" for k, v in self.fixed.items()]
        parts += [f"{k}>={v}" for k, v in self.minimum.items()]
        parts += [f"{k}<={v}" for k, v in self.maximum.items()]
        return ", ".join(parts) or "none"


def parse_value(dim: str, raw: str | int | bool, field: str | None = None) -> int:
    """A constraint value as the integer code the batch uses (recompute names, booleans),
    within the dimension's range (colossim.bounds.DIMENSIONS); errors name ``field``."""
    field = field or dim
    if isinstance(raw, bool) and dim != "sp":
        raise field_error(field, raw, "must be an integer, not true/false")
    if dim == "recompute" and isinstance(raw, str) and not raw.isdigit():
        if raw not in RECOMPUTE_CODES:
            raise field_error("recompute", raw, f"allowed: {', '.join(RECOMPUTE_CODES)}", choices=RECOMPUTE_CODES)
        return RECOMPUTE_CODES[raw]
    if dim == "sp" and isinstance(raw, str) and raw.lower() in ("true", "false", "on", "off", "yes", "no"):
        return int(raw.lower() in ("true", "on", "yes"))
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise field_error(field, raw, "must be an integer") from None
    gate.check_dimension(dim, value, field)
    return value


def canonical(dim: str) -> str:
    key = ALIASES.get(dim, dim)
    if key not in DIMENSIONS:
        raise field_error("constraint", dim, f"unknown dimension; allowed: {', '.join(DIMENSIONS)}",
                          choices=[*DIMENSIONS, *ALIASES])
    return key


def _pow2_upto(n: int) -> list[int]:
    out, v = [], 1
    while v <= n:
        out.append(v)
        v *= 2
    return out


def dimension_values(model: ModelSpec, cluster: ClusterSpec, training: TrainingSpec) -> dict[str, list[int]]:
    """Candidate values per dimension before constraints and cross-dimension rules."""
    node = cluster.gpus_per_node
    tp = [d for d in divisors(model.num_heads) if d <= max(node, 1)]
    # pp: divisors and powers of two, plus for every c the fewest stages holding at most c
    # layers (ceil(L / c)); any other pp has as many layers on its slowest stage as one of
    # these but more stages, so it is never faster nor leaner (it only leaves fewer GPUs for dp)
    L = model.num_layers
    pp = sorted(set(divisors(L)) | set(_pow2_upto(L)) | {-(-L // c) for c in range(1, L + 1)})
    stage_layers = {p: model.num_layers // p for p in pp if model.num_layers % p == 0}
    vpp = sorted({v for per in stage_layers.values() for v in divisors(per) if v <= MAX_VPP})
    cp = [c for c in _pow2_upto(MAX_CP) if training.seq_len % (2 * c) == 0 or c == 1]
    ep = divisors(model.moe.num_experts) if model.moe else [1]
    mbs = [m for m in MICRO_BATCHES if training.global_batch_size % m == 0]
    dp = [d for d in divisors(training.global_batch_size) if d <= cluster.num_gpus]
    return {"tp": tp, "pp": pp, "dp": dp, "cp": cp, "ep": ep, "vpp": vpp, "mbs": mbs,
            "recompute": [0, 1, 2], "zero": [0, 1, 2, 3], "sp": [0, 1]}


def constrained_values(values: dict[str, list[int]], c: Constraints) -> dict[str, list[int]]:
    out = {}
    for dim, vals in values.items():
        if dim in c.fixed:
            vals = [c.fixed[dim]]  # a fixed value outside the natural list is still tried (the rules judge it)
        vals = [v for v in vals if c.minimum.get(dim, -1) <= v <= c.maximum.get(dim, 1 << 62)]
        if not vals:
            bounds = f"between {c.minimum.get(dim, '-')} and {c.maximum.get(dim, '-')}"
            raise ColossimError(f"no candidate {dim} {bounds}; the space offers {values[dim]}", field=dim)
        out[dim] = vals
    return out


@dataclass(frozen=True)
class Space:
    values: dict[str, list[int]]

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(len(self.values[d]) for d in DIMENSIONS)

    @property
    def size(self) -> int:
        return int(np.prod(self.sizes, dtype=np.int64))

    def chunks(self, chunk: int = 1 << 18) -> Iterator[PlanBatch]:
        """The whole product, ``chunk`` combinations at a time, as PlanBatches."""
        tables = [np.asarray(self.values[d], dtype=np.int64) for d in DIMENSIONS]
        for start in range(0, self.size, chunk):
            idx = np.unravel_index(np.arange(start, min(start + chunk, self.size), dtype=np.int64), self.sizes)
            cols = {d: t[i] for d, t, i in zip(DIMENSIONS, tables, idx, strict=True)}
            yield PlanBatch.from_arrays(**{**cols, "sp": cols["sp"].astype(bool)})


def build_space(model: ModelSpec, cluster: ClusterSpec, training: TrainingSpec, constraints: Constraints) -> Space:
    return Space(constrained_values(dimension_values(model, cluster, training), constraints))
