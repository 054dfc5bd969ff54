"""The divisibility and size rules a parallel plan must obey, vectorized.

One table serves both the scenario check (a batch of one; the first broken rule becomes
a ColossimError naming the field) and the plan search (counts of candidates each rule
removed). Rules follow Megatron-Core's own argument checks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from colossim.scenario.batch import PlanBatch
from colossim.scenario.cluster import ClusterSpec
from colossim.scenario.model import ModelSpec
from colossim.scenario.training import TrainingSpec

Check = Callable[[ModelSpec, ClusterSpec, TrainingSpec, PlanBatch], np.ndarray]


@dataclass(frozen=True)
class Rule:
    name: str
    field: str
    check: Check  # True where the plan obeys the rule
    message: str  # formatted with the plan's row, the model, cluster and training


def divisors(n: int) -> list[int]:
    """Every divisor of n, ascending (O(sqrt n))."""
    small = [d for d in range(1, int(n**0.5) + 1) if n % d == 0]
    return sorted(set(small + [n // d for d in small]))


def _n_micro(t: TrainingSpec, b: PlanBatch) -> np.ndarray:
    return b.micro_batches(t.global_batch_size)


def _stage_layers_ok(m: ModelSpec, b: PlanBatch) -> np.ndarray:
    first, last = b.first_stage_layers, b.last_stage_layers
    fixed = first + last
    middle = np.maximum(b.pp - (first > 0) - (last > 0), 0)
    rest = m.num_layers - fixed
    return (rest >= middle) & ((middle > 0) | (rest == 0)) & ((b.pp > 1) | (fixed == 0))


RULES: tuple[Rule, ...] = (
    Rule("gpus", "parallel", lambda m, c, t, b: b.tp * b.pp * b.cp * b.dp <= c.num_gpus,
         "tp*pp*cp*dp = {world} GPUs but cluster.num_gpus is {num_gpus}; lower a parallel degree or grow the cluster"),
    Rule("heads_tp", "parallel.tp", lambda m, c, t, b: m.num_heads % b.tp == 0,
         "model.num_heads ({num_heads}) must be divisible by parallel.tp ({tp})"),
    # each TP rank holds whole key/value groups: Megatron-Core's attention.py divides
    # num_query_groups by the TP size (divide() asserts it), as torchtitan splits wk/wv; no
    # training stack here replicates a group over several ranks
    Rule("kv_heads_tp", "parallel.tp",
         lambda m, c, t, b: m.kv_heads % b.tp == 0,
         "model.num_kv_heads ({kv_heads}) must be divisible by parallel.tp ({tp}): each tensor-parallel rank "
         "holds whole key/value heads"),
    Rule("ffn_tp", "parallel.tp", lambda m, c, t, b: m.ffn_hidden_size % b.tp == 0,
         "model.ffn_hidden_size ({ffn_hidden_size}) must be divisible by parallel.tp ({tp})"),
    Rule("batch_dp", "training.global_batch_size",
         lambda m, c, t, b: t.global_batch_size % (b.dp * b.mbs) == 0,
         "training.global_batch_size ({global_batch_size}) must be divisible by dp*micro_batch_size "
         "({dp}*{micro_batch_size} = {dp_mbs})"),
    Rule("layers_pp", "parallel.pp", lambda m, c, t, b: b.pp * b.vpp <= m.num_layers,
         "pp*vpp ({pp}*{vpp}) exceeds model.num_layers ({num_layers})"),
    Rule("vpp_pp", "parallel.vpp", lambda m, c, t, b: (b.vpp == 1) | (b.pp > 1),
         "parallel.vpp ({vpp}) > 1 needs a pipeline (pp > 1)"),
    Rule("vpp_layers", "parallel.vpp",
         lambda m, c, t, b: (b.vpp == 1) | (m.num_layers % (b.pp * b.vpp) == 0) | (b.first_stage_layers + b.last_stage_layers > 0),
         "the interleaved schedule needs model.num_layers ({num_layers}) divisible by pp*vpp ({pp}*{vpp})"),
    Rule("vpp_micro", "parallel.vpp",
         lambda m, c, t, b: (b.vpp == 1) | (_n_micro(t, b) % b.pp == 0),
         "the interleaved schedule (vpp={vpp}) needs the micro-batch count ({n_micro}) to be a multiple of pp ({pp})"),
    Rule("zero_bubble_vpp", "parallel.schedule", lambda m, c, t, b: (b.schedule != 1) | (b.vpp == 1),
         "zero-bubble (ZB-H1) runs one chunk per rank: it needs vpp = 1, got vpp={vpp}"),
    Rule("zero_bubble_pp", "parallel.schedule", lambda m, c, t, b: (b.schedule != 1) | (b.pp > 1),
         "zero-bubble needs a pipeline (pp > 1), got pp={pp}"),
    Rule("dualpipe_pp", "parallel.schedule", lambda m, c, t, b: (b.schedule != 2) | ((b.pp % 2 == 0) & (b.pp > 1)),
         "dualpipe pairs stage i with stage pp-1-i: it needs an even pp, got pp={pp}"),
    Rule("dualpipe_vpp", "parallel.schedule", lambda m, c, t, b: (b.schedule != 2) | (b.vpp == 1),
         "dualpipe runs two chunks per rank by itself: it needs vpp = 1, got vpp={vpp}"),
    Rule("dualpipe_micro", "parallel.schedule", lambda m, c, t, b: (b.schedule != 2) | (_n_micro(t, b) % 2 == 0),
         "dualpipe feeds micro-batches from both ends: it needs an even micro-batch count, got {n_micro}"),
    Rule("vpp_stage_layers", "parallel.vpp",
         lambda m, c, t, b: (b.vpp == 1) | (((b.first_stage_layers == 0) | (b.first_stage_layers >= b.vpp))
                                            & ((b.last_stage_layers == 0) | (b.last_stage_layers >= b.vpp))),
         "the interleaved schedule gives each of a stage's vpp ({vpp}) chunks a layer: first/last_stage_layers "
         "({first_stage_layers}/{last_stage_layers}) must be at least vpp"),
    Rule("stage_layers", "parallel.first_stage_layers", lambda m, c, t, b: _stage_layers_ok(m, b),
         "first/last_stage_layers ({first_stage_layers}/{last_stage_layers}) leave no valid split of "
         "{num_layers} layers over pp={pp} stages"),
    Rule("ep_moe", "parallel.ep", lambda m, c, t, b: (b.ep == 1) | (m.moe is not None),
         "parallel.ep ({ep}) > 1 needs a mixture-of-experts model (model.moe)"),
    Rule("ep_experts", "parallel.ep",
         lambda m, c, t, b: (m.moe is None) | (((m.moe.num_experts if m.moe else 1) % b.ep) == 0),
         "model.moe.num_experts ({num_experts}) must be divisible by parallel.ep ({ep})"),
    Rule("etp_values", "parallel.etp", lambda m, c, t, b: (b.expert_tp == 1) | (b.expert_tp == b.tp),
         "parallel.etp ({etp}) must be 1 or parallel.tp ({tp})"),
    Rule("etp_moe", "parallel.etp", lambda m, c, t, b: (b.expert_tp == b.tp) | (m.moe is not None),
         "parallel.etp ({etp}) differs from parallel.tp ({tp}) but the model has no experts (model.moe)"),
    Rule("ep_dp", "parallel.ep", lambda m, c, t, b: (b.tp * b.cp * b.dp) % (b.ep * b.expert_tp) == 0,
         "ep*etp ({ep}*{etp}) must divide tp*cp*dp ({tp}*{cp}*{dp}): the experts fold over the GPUs "
         "of a pipeline stage"),
    Rule("etp_sp", "parallel.sequence_parallel", lambda m, c, t, b: (b.expert_tp == b.tp) | b.sp,
         "parallel.etp ({etp}) < parallel.tp ({tp}) needs sequence parallelism (parallel.sequence_parallel: true), "
         "as Megatron-Core requires for MoE with tensor parallelism"),
    Rule("cp_seq", "parallel.cp", lambda m, c, t, b: (b.cp == 1) | (t.seq_len % (2 * b.cp) == 0),
         "training.seq_len ({seq_len}) must be divisible by 2*cp ({cp2}) for load-balanced context parallelism"),
    Rule("sp_seq", "parallel.sequence_parallel",
         lambda m, c, t, b: ~b.sp | (t.seq_len // b.cp % b.tp == 0),
         "sequence parallelism needs seq_len/cp ({seq_cp}) divisible by tp ({tp})"),
)


def check_plans(model: ModelSpec, cluster: ClusterSpec, training: TrainingSpec, batch: PlanBatch) -> np.ndarray:
    """Index+1 of the first rule each plan breaks (0 where it obeys all), as int16."""
    code = np.zeros(len(batch), dtype=np.int16)
    for i, rule in enumerate(RULES, start=1):
        broken = (code == 0) & ~np.asarray(rule.check(model, cluster, training, batch), dtype=bool)
        code[broken] = i
    return code


def describe(code: int, model: ModelSpec, cluster: ClusterSpec, training: TrainingSpec,
             batch: PlanBatch, i: int = 0) -> tuple[Rule, str]:
    """The rule behind a code and its message for plan ``i``."""
    rule = RULES[code - 1]
    row = batch.row(i)
    values = {
        **row, "world": row["tp"] * row["pp"] * row["cp"] * row["dp"], "num_gpus": cluster.num_gpus,
        "num_heads": model.num_heads, "kv_heads": model.kv_heads, "ffn_hidden_size": model.ffn_hidden_size,
        "global_batch_size": training.global_batch_size, "dp_mbs": row["dp"] * row["micro_batch_size"],
        "num_layers": model.num_layers, "n_micro": training.global_batch_size // max(row["dp"] * row["micro_batch_size"], 1),
        "num_experts": model.moe.num_experts if model.moe else 0, "seq_len": training.seq_len,
        "cp2": 2 * row["cp"], "seq_cp": training.seq_len // row["cp"],
    }
    return rule, rule.message.format(**values)
