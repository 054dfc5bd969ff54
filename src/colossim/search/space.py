"""The plan space: every parallel plan a scenario admits, generated in vectorized chunks.

Dimensions: tp, pp, dp, cp, ep, etp, vpp, micro-batch size, pipeline schedule (1f1b, zero-bubble,
dualpipe), recompute, ZeRO stage and sequence parallelism. Each dimension's candidate values come from the model and cluster
(tp divides the attention heads and fits the NVLink domain; pp divides the layers, is a
power of two, or is the fewest stages for a given number of layers per stage, leaving
uneven stages; vpp divides the layers per stage; cp keeps
seq_len / (2 cp) whole; ep divides the experts; etp is 0, the experts keep the dense TP
split, or for MoE models also 1, each GPU holds whole experts (MoE parallel folding; not
formed where tp = 1, which makes it the same plan); dp divides global_batch / micro_batch);
edges is 0, the layers split evenly, or 1, Megatron-Core's account_for_embedding_in_pipeline_split
and account_for_loss_in_pipeline_split: the embedding and the loss count as one layer each, so
L + 2 slots fill pp x vpp equal chunks and the first and last stages hold one layer fewer than
the others (pp > 2 and (L + 2) divisible by pp * vpp; the Llama 3.1 405B recipes' 15/16.../15).
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
from colossim.scenario.parallel import SCHEDULE_CODES
from colossim.scenario.rules import divisors
from colossim.scenario.training import RECOMPUTE_CODES

DIMENSIONS = ("tp", "pp", "dp", "cp", "ep", "etp", "edges", "vpp", "mbs", "schedule", "recompute", "zero", "sp")
ALIASES = {"micro_batch_size": "mbs", "micro_batch": "mbs", "zero_stage": "zero", "sequence_parallel": "sp",
           "tensor": "tp", "pipeline": "pp", "data": "dp", "context": "cp", "expert": "ep", "expert_tensor": "etp",
           "pipeline_schedule": "schedule", "edge_split": "edges"}
# The caps of the first search (kept for the benchmark's old path, ``legacy=True``); the
# space itself has none: every vpp dividing a stage's layers, every micro-batch size
# dividing the per-replica batch, every cp keeping seq_len / (2 cp) whole.
LEGACY_MAX_CP = 32
LEGACY_MAX_VPP = 8
LEGACY_MICRO_BATCHES = (1, 2, 4, 8)
TAILS = ("recompute", "zero", "sp")  # always-legal dimensions, expanded last


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
    if dim == "schedule" and isinstance(raw, str) and not raw.isdigit():
        if raw not in SCHEDULE_CODES:
            raise field_error("schedule", raw, f"allowed: {', '.join(SCHEDULE_CODES)}", choices=SCHEDULE_CODES)
        return SCHEDULE_CODES[raw]
    if dim == "sp" and isinstance(raw, str) and raw.lower() in ("true", "false", "on", "off", "yes", "no"):
        return int(raw.lower() in ("true", "on", "yes"))
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise field_error(field, raw, "must be an integer") from None
    if dim == "schedule" and value not in SCHEDULE_CODES.values():
        raise field_error(field, value, f"allowed: {', '.join(SCHEDULE_CODES)} (or codes 0-{len(SCHEDULE_CODES) - 1})")
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


def dimension_values(model: ModelSpec, cluster: ClusterSpec, training: TrainingSpec,
                     legacy: bool = False) -> dict[str, list[int]]:
    """Candidate values per dimension before constraints and cross-dimension rules.

    No cap drops a plan the rules allow: vpp takes every divisor of a stage's layers (the
    ``vpp_layers`` rule needs one), mbs every divisor of the global batch (``batch_dp``
    needs dp * mbs to divide it), cp every c with seq_len % 2c == 0 (``cp_seq``) that fits
    the cluster; every schedule (the ``zero_bubble_*`` and ``dualpipe_*`` rules keep the
    legal ones). ``legacy`` restores the first search's caps (vpp <= 8, mbs in 1-8,
    cp <= 32, powers of two, 1F1B only) for the benchmark's comparison."""
    node = cluster.gpus_per_node
    tp = [d for d in divisors(model.num_heads) if d <= max(node, 1)]
    # pp: divisors and powers of two, plus for every c the fewest stages holding at most c
    # layers (ceil(L / c)); any other pp has as many layers on its slowest stage as one of
    # these but more stages, so it is never faster nor leaner (it only leaves fewer GPUs for dp)
    L = model.num_layers
    pp = sorted(set(divisors(L)) | set(_pow2_upto(L)) | {-(-L // c) for c in range(1, L + 1)})
    stage_layers = {p: model.num_layers // p for p in pp if model.num_layers % p == 0}
    # with the edge split, a middle stage holds (L + 2) / pp layers (edge_layers)
    edge_middles = {p: (L + 2) // p for p in pp if edge_split_legal(p, 1, L)}
    ep = divisors(model.moe.num_experts) if model.moe else [1]
    etp = [0, 1] if model.moe and not legacy else [0]  # 0: etp = tp (PlanBatch.expert_tp)
    edges = [0, 1] if edge_middles and not legacy else [0]
    mbs = divisors(training.global_batch_size)
    schedule = sorted(SCHEDULE_CODES.values())
    if legacy:
        mbs = [m for m in LEGACY_MICRO_BATCHES if training.global_batch_size % m == 0]
        schedule = [SCHEDULE_CODES["1f1b"]]
        vpp = sorted({v for per in stage_layers.values() for v in divisors(per) if v <= LEGACY_MAX_VPP})
        cp = [c for c in _pow2_upto(LEGACY_MAX_CP) if training.seq_len % (2 * c) == 0 or c == 1]
    else:
        vpp = sorted({v for per in [*stage_layers.values(), *edge_middles.values()] for v in divisors(per)})
        cp = [c for c in divisors(training.seq_len) if c == 1 or (training.seq_len % (2 * c) == 0
                                                                    and c <= cluster.num_gpus)]
    dp = [d for d in divisors(training.global_batch_size) if d <= cluster.num_gpus]
    return {"tp": tp, "pp": pp, "dp": dp, "cp": cp, "ep": ep, "etp": etp, "edges": edges, "vpp": vpp, "mbs": mbs,
            "schedule": schedule,
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
    """The product of the value lists; ``legal`` rows (built by :func:`legal_rows`) when the
    rules that need no tail dimension are applied before the product is formed."""

    values: dict[str, list[int]]
    legal: dict[str, np.ndarray] | None = None
    num_layers: int = 0  # the model's, for the edge split's stage layers (edge_layers)

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(len(self.values[d]) for d in DIMENSIONS)

    @property
    def product_size(self) -> int:
        return int(np.prod(self.sizes, dtype=np.int64))

    @property
    def tail_sizes(self) -> tuple[int, ...]:
        return tuple(len(self.values[d]) for d in TAILS)

    @property
    def size(self) -> int:
        """Combinations enumerated: the legal rows times the tails, or the whole product."""
        if self.legal is None:
            return self.product_size
        return int(self.legal["tp"].size) * int(np.prod(self.tail_sizes, dtype=np.int64))

    def chunk_starts(self, chunk: int = 1 << 18) -> range:
        return range(0, self.size, chunk)

    @property
    def rows(self) -> int:
        """Legal (tp, pp, dp, cp, ep, etp, edges, vpp, mbs, schedule) rows; each takes every tail combination."""
        assert self.legal is not None
        return int(self.legal["tp"].size)

    def batch(self, start: int, chunk: int = 1 << 18) -> PlanBatch:
        """Combinations [start, start + chunk) in product order (the legal rows keep it)."""
        return self.at(np.arange(start, min(start + chunk, self.size), dtype=np.int64))

    def at(self, i: np.ndarray) -> PlanBatch:
        """The combinations with these indices (product order of the legal rows times the tails)."""
        if self.legal is None:
            idx = np.unravel_index(i, self.sizes)
            cols = {d: np.asarray(self.values[d], dtype=np.int64)[k] for d, k in zip(DIMENSIONS, idx, strict=True)}
        else:
            row, tail = np.divmod(i, int(np.prod(self.tail_sizes, dtype=np.int64)))
            cols = {d: v[row] for d, v in self.legal.items()}
            for d, k in zip(TAILS, np.unravel_index(tail, self.tail_sizes), strict=True):
                cols[d] = np.asarray(self.values[d], dtype=np.int64)[k]
        cols = plan_columns(cols, self.num_layers)
        return PlanBatch.from_arrays(**{**cols, "sp": cols["sp"].astype(bool)})

    def legal_view(self, **scalars: int | bool) -> PlanBatch:
        """The legal rows as a read-only PlanBatch (the tails as ``scalars``)."""
        assert self.legal is not None
        return view_batch(plan_columns(self.legal, self.num_layers), **scalars)

    def chunks(self, chunk: int = 1 << 18) -> Iterator[PlanBatch]:
        """Every combination, ``chunk`` at a time, as PlanBatches."""
        for start in self.chunk_starts(chunk):
            yield self.batch(start, chunk)


def edge_split_legal(pp, vpp, num_layers: int):
    """Where Megatron-Core's edge split applies: more than two stages, and the layers plus the
    embedding and the loss filling pp * vpp equal chunks (ints or arrays)."""
    return (pp > 2) & ((num_layers + 2) % (pp * vpp) == 0)


def edge_layers(pp: np.ndarray, edges: np.ndarray, num_layers: int) -> np.ndarray:
    """Layers on the first (and the last) stage: (L + 2) / pp - 1 under the edge split, else 0
    (balanced: colossim.perf.stages)."""
    return np.where(edges == 1, (num_layers + 2) // np.maximum(pp, 1) - 1, 0)


def plan_columns(cols: dict[str, np.ndarray], num_layers: int) -> dict[str, np.ndarray]:
    """Search columns as PlanBatch columns: ``edges`` becomes first/last_stage_layers."""
    if "edges" not in cols:
        return cols
    out = {d: v for d, v in cols.items() if d != "edges"}
    out["first_stage_layers"] = out["last_stage_layers"] = edge_layers(cols["pp"], cols["edges"], num_layers)
    return out


def view_batch(columns: dict[str, np.ndarray], **scalars: int | bool) -> PlanBatch:
    """A PlanBatch over these columns without copying them; missing columns (and
    ``scalars``) broadcast as read-only views. For the rules and bounds, which only read."""
    n = next(iter(columns.values())).size
    defaults = {"pp": 1, "dp": 1, "cp": 1, "ep": 1, "etp": 0, "vpp": 1, "mbs": 1, "recompute": 0, "zero": 0, "sp": False,
                "first_stage_layers": 0, "last_stage_layers": 0, "schedule": 0, **scalars}
    cols = {}
    for name in PlanBatch.__dataclass_fields__:
        if name in columns:
            cols[name] = columns[name]
        else:
            cols[name] = np.broadcast_to(np.asarray(defaults[name], dtype=bool if name == "sp" else np.int64), (n,))
    return PlanBatch(**cols)


# Rules applied while the legal rows are formed, once the dimensions they read are present
_STAGES = (("tp", ("heads_tp", "kv_heads_tp", "ffn_tp")), ("pp", ()), ("dp", ()), ("cp", ("gpus", "cp_seq")),
           ("ep", ("ep_moe", "ep_experts")), ("etp", ("etp_values", "etp_moe", "ep_dp")), ("edges", ()),
           ("vpp", ("layers_pp", "vpp_pp", "vpp_layers", "vpp_stage_layers", "stage_layers")),
           ("mbs", ("batch_dp", "vpp_micro")),
           ("schedule", ("zero_bubble_vpp", "zero_bubble_pp", "dualpipe_pp", "dualpipe_vpp", "dualpipe_micro")))


def legal_rows(values: dict[str, list[int]], model: ModelSpec, cluster: ClusterSpec,
               training: TrainingSpec) -> dict[str, np.ndarray]:
    """The (tp, pp, dp, cp, ep, etp, edges, vpp, mbs) rows no rule rejects, in product order.

    Built dimension by dimension: each new dimension multiplies only the rows that survived
    the rules on the dimensions before it (the GPU budget once tp, pp, dp, cp are known;
    the expert rules with ep; the interleaving rules with vpp; the batch rules with mbs),
    so the rejected combinations are never formed. Rows stay in the order of the full
    product (earlier dimensions vary slowest), so tie-breaking by arrival is unchanged."""
    return _filter_rows(values, model, cluster, training)[0]


def empty_stage(values: dict[str, list[int]], model: ModelSpec, cluster: ClusterSpec,
                training: TrainingSpec) -> tuple[tuple[str, ...], PlanBatch] | None:
    """Where the legal rows run out: the rules of the first stage that rejects every row, and
    the rows that reached it (what the search blames when nothing is left, without walking
    the whole product); None when some rows are legal."""
    return _filter_rows(values, model, cluster, training, stop_when_empty=True)[1]


def _filter_rows(values: dict[str, list[int]], model: ModelSpec, cluster: ClusterSpec, training: TrainingSpec,
                 stop_when_empty: bool = False) -> tuple[dict[str, np.ndarray], tuple[tuple[str, ...], PlanBatch] | None]:
    from colossim.scenario.rules import RULES

    by_name = {r.name: r for r in RULES}
    rows: dict[str, np.ndarray] = {}
    for dim, rules in _STAGES:
        vals = np.asarray(values[dim], dtype=np.int64)
        n = next(iter(rows.values())).size if rows else 1
        rows = {d: np.repeat(v, vals.size) for d, v in rows.items()}
        rows[dim] = np.tile(vals, n)
        if (rules or dim in ("edges", "vpp")) and rows[dim].size:
            batch = view_batch(plan_columns(rows, model.num_layers))
            ok = np.ones(rows[dim].size, dtype=bool)
            for name in rules:
                ok &= np.asarray(by_name[name].check(model, cluster, training, batch), dtype=bool)
            if dim == "etp":  # etp 1 with tp 1 is the etp-0 plan: not formed (the whole product counts it redundant)
                ok &= (rows["etp"] != 1) | (rows["tp"] > 1)
            if dim in ("edges", "vpp"):  # Megatron's split: pp > 2 stages, L + 2 slots in whole chunks
                ok &= (rows["edges"] == 0) | edge_split_legal(rows["pp"], rows.get("vpp", 1), model.num_layers)
            if stop_when_empty and not ok.any():
                return rows, (rules, batch)
            rows = {d: v[ok] for d, v in rows.items()}
    return rows, None


def build_space(model: ModelSpec, cluster: ClusterSpec, training: TrainingSpec, constraints: Constraints, *,
                naive: bool = False, legacy: bool = False) -> Space:
    """The plan space: legal rows times the tails; ``naive`` enumerates the whole product
    (the first search's path, for the benchmark), ``legacy`` restores its caps."""
    values = constrained_values(dimension_values(model, cluster, training, legacy=legacy), constraints)
    if naive:  # the first search's path never split edges (and the whole product has no edge rule)
        return Space({**values, "edges": [0]}, num_layers=model.num_layers)
    return Space(values, legal_rows(values, model, cluster, training), num_layers=model.num_layers)
