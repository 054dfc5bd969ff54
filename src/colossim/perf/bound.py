"""A cheap lower bound on the step model's step time (the plan search's branch and bound).

``evaluate`` sums, per step, ``n_micro * slowest_stage_total + bubble + p2p + dp_exposed +
optimizer (+ exposed activation offload)``, every term non-negative, where a stage's total is
its forward + backward + recompute compute plus its exposed TP, EP and CP communication. Keeping
only the compute part of each stage gives a lower bound:

    lower = n_micro * max_stage(compute) + bubble_1f1b(compute)

- compute of a stage: its layers' forward + backward (+ the forward again under full
  recompute), the MTP modules and the output head on the last stage, exactly the terms
  ``step.evaluate`` adds (the same ``layer_times`` and ``logits_s``); left out, so the bound
  stays below: the gradient-accumulation adds, selective recompute, all communication, and
  the exposed part of deferred output-layer weight gradients (the last stage's pace sheds
  them as in ``step.evaluate``, perf/deferral.py);
- the slowest stage's total is at least every stage's compute (DualPipe ranks pair stage i
  with stage pp-1-i: their mean);
- the 1F1B bubble, sum - max of the stage times over vpp, only grows with each stage time,
  so it is at least the same expression on compute alone; zero-bubble and DualPipe bubbles
  are bounded by 0.

Layer times depend on (tp, cp, ep, micro-batch, etp, sp) only: they are computed once per distinct
combination and gathered, so a bound costs a few array operations per plan.
tests/test_search_bound.py checks ``lower <= evaluate(...).step_time_s`` plan by plan.
"""

from __future__ import annotations

import numpy as np

from colossim.perf import deferral
from colossim.perf.hardware import Hardware
from colossim.perf.layer import layer_times, logits_gemm_s, logits_s, shapes
from colossim.perf.schedule import chunk_factor
from colossim.perf.stages import dense_count, stage_layers
from colossim.scenario.batch import PlanBatch
from colossim.scenario.model import ModelSpec
from colossim.scenario.parallel import SCHEDULE_CODES
from colossim.scenario.training import TrainingSpec


def _dense_index(col: np.ndarray) -> tuple[np.ndarray, int]:
    """Each value's rank among the column's distinct values, and how many there are (linear
    time through a lookup table when the values are small, as plan dimensions are)."""
    top = int(col.max()) if col.size else 0
    if int(col.min(initial=0)) >= 0 and top < 1 << 22:
        present = np.zeros(top + 1, dtype=bool)
        present[col] = True
        lut = np.cumsum(present) - 1
        return lut[col], int(lut[-1]) + 1
    uniq, index = np.unique(col, return_inverse=True)
    return index.reshape(-1), int(uniq.size)


def _per_key_compute(model: ModelSpec, training: TrainingSpec, plans: PlanBatch, hw: Hardware,
                     sp_options: tuple[bool, ...] | None):
    """Per plan: dense and MoE layer fwd+bwd, their forwards, and the output head's fwd+bwd;
    with ``sp_options``, the least of each over those sequence-parallel settings (the plan's
    own sp ignored: every term below is a non-negative combination of these)."""
    cols = (plans.tp, plans.cp, plans.ep, plans.mbs, plans.expert_tp) + (() if sp_options else (plans.sp.astype(np.int64),))
    code = np.zeros(len(plans), dtype=np.int64)
    for col in cols:  # one mixed-radix integer per (tp, cp, ep, mbs, etp, sp)
        index, n = _dense_index(col)
        code = code * n + index
    _, first, inverse = np.unique(code, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    tp, cp, ep, mbs, etp = (c[first] for c in cols[:5])
    heads = 1.0 + model.mtp_depth
    best = None
    for sp in sp_options or (plans.sp[first],):
        sh = shapes(model, training, tp, cp, mbs, np.broadcast_to(np.asarray(sp, dtype=bool), tp.shape))
        dense = layer_times(model, training, sh, tp, ep, mbs, hw, moe_layer=False)
        moe = layer_times(model, training, sh, tp, ep, mbs, hw, moe_layer=True, etp=etp) if model.moe else dense
        log_f, log_b = logits_s(model, training, sh, tp, hw)
        out = [np.broadcast_to(np.asarray(a, dtype=float), tp.shape) for a in
               (dense.fwd + dense.bwd, moe.fwd + moe.bwd, dense.fwd, moe.fwd, heads * (log_f + log_b),
                heads * logits_gemm_s(model, sh, tp, hw))]
        best = out if best is None else [np.minimum(x, y) for x, y in zip(best, out, strict=True)]
    assert best is not None
    return [a[inverse] for a in best]


def step_time_lower_bound_s(model: ModelSpec, training: TrainingSpec, plans: PlanBatch, hw: Hardware,
                            sp_options: tuple[bool, ...] | None = None) -> np.ndarray:
    """A lower bound on ``evaluate(model, cluster, training, plans, hw).step_time_s`` per plan;
    with ``sp_options``, on every plan that differs from it only in sequence parallelism
    (taking one of those values) or takes more recompute."""
    if len(plans) == 0:
        return np.zeros(0)
    dense_c, moe_c, dense_f, moe_f, head_c, head_w = _per_key_compute(model, training, plans, hw, sp_options)
    pp, vpp = plans.pp, plans.vpp
    n_micro = plans.micro_batches(training.global_batch_size)
    # a deferred output-layer weight gradient leaves the last stage's pace (its exposed rest is dropped)
    k = deferral.deferred_micro_batches(training, pp, plans.schedule, n_micro)
    head_last = head_c - deferral.per_micro_batch_s(head_w, 1.0, k, n_micro)
    full = plans.recompute == 2
    layers = stage_layers(model.num_layers, pp, plans.first_stage_layers, plans.last_stage_layers)

    def compute(n_layers: np.ndarray, before: np.ndarray, last: np.ndarray | bool, head: np.ndarray) -> np.ndarray:
        n_layers = n_layers + np.where(last, model.mtp_depth, 0)
        n_dense = dense_count(model, before, n_layers)
        n_moe = n_layers - n_dense
        c = n_dense * dense_c + n_moe * moe_c + np.where(full, n_dense * dense_f + n_moe * moe_f, 0.0)
        return c + np.where(last, head, 0.0)

    first = compute(layers.first, np.zeros_like(pp), pp == 1, head_c)
    middle = compute(layers.middle, layers.first, False, head_c)
    last = compute(layers.last, model.num_layers - layers.last, True, head_last)
    dual = plans.schedule == SCHEDULE_CODES["dualpipe"]
    pair = 0.5 * (first + last)
    first_r, last_r = np.where(dual, pair, first), np.where(dual, pair, last)
    slowest = np.maximum(np.maximum(first_r, np.where(layers.has_middle, middle, 0.0)), last_r)
    # 1F1B (interleaved) fill and drain on compute alone: sum - max over the pp stages, / vpp
    f = first * chunk_factor(layers.first, vpp)
    m = middle * chunk_factor(layers.middle, vpp)
    la = last * chunk_factor(layers.last, vpp)
    total = f + np.maximum(pp - 2, 0) * m + np.where(pp > 1, la, 0.0)
    top = np.maximum(np.maximum(f, np.where(layers.has_middle, m, 0.0)), np.where(pp > 1, la, 0.0))
    bubble = np.where(plans.schedule == SCHEDULE_CODES["1f1b"], (total - top) / vpp, 0.0)
    return n_micro * slowest + bubble
