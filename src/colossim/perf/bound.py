"""A cheap lower bound on the step model's step time (the plan search's branch and bound).

``evaluate`` sums, per step, ``n_micro * slowest_stage_total + bubble + p2p + dp_exposed +
optimizer (+ exposed activation offload)``, every term non-negative, where a stage's total is
its forward + backward + recompute compute plus its exposed TP, EP and CP communication. Keeping
only the compute part of each stage gives a lower bound:

    lower = n_micro * max_stage(compute) + bubble_1f1b(compute)

- compute of a stage: its layers' forward + backward (+ the forward again under full
  recompute), the MTP modules and the output head on the last stage, exactly the terms
  ``step.evaluate`` adds (the same ``layer_times`` and ``logits_s``); left out, so the bound
  stays below: the gradient-accumulation adds, selective recompute, all communication.
- the slowest stage's total is at least every stage's compute (DualPipe ranks pair stage i
  with stage pp-1-i: their mean);
- the 1F1B bubble, sum - max of the stage times over vpp, only grows with each stage time,
  so it is at least the same expression on compute alone; zero-bubble and DualPipe bubbles
  are bounded by 0.

Layer times depend on (tp, cp, ep, micro-batch, sp) only: they are computed once per distinct
combination and gathered, so a bound costs a few array operations per plan.
tests/test_search_bound.py checks ``lower <= evaluate(...).step_time_s`` plan by plan.
"""

from __future__ import annotations

import numpy as np

from colossim.perf.hardware import Hardware
from colossim.perf.layer import layer_times, logits_s, shapes
from colossim.perf.schedule import chunk_factor
from colossim.perf.stages import dense_count, stage_layers
from colossim.scenario.batch import PlanBatch
from colossim.scenario.model import ModelSpec
from colossim.scenario.parallel import SCHEDULE_CODES
from colossim.scenario.training import TrainingSpec


def _per_key_compute(model: ModelSpec, training: TrainingSpec, plans: PlanBatch, hw: Hardware):
    """Per plan: dense and MoE layer fwd+bwd, their forwards, and the output head's fwd+bwd."""
    cols = (plans.tp, plans.cp, plans.ep, plans.mbs, plans.sp.astype(np.int64))
    code = np.zeros(len(plans), dtype=np.int64)
    for col in cols:  # one mixed-radix integer per (tp, cp, ep, mbs, sp): a 1-D unique is fast
        _, index = np.unique(col, return_inverse=True)
        code = code * (int(index.max()) + 1) + index.reshape(-1)
    _, first, inverse = np.unique(code, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    tp, cp, ep, mbs, sp = (c[first] for c in cols)
    sp = sp.astype(bool)
    sh = shapes(model, training, tp, cp, mbs, sp)
    dense = layer_times(model, training, sh, tp, ep, mbs, hw, moe_layer=False)
    moe = layer_times(model, training, sh, tp, ep, mbs, hw, moe_layer=True) if model.moe else dense
    log_f, log_b = logits_s(model, sh, tp, hw)
    heads = 1.0 + model.mtp_depth
    out = [np.broadcast_to(np.asarray(a, dtype=float), tp.shape) for a in
           (dense.fwd + dense.bwd, moe.fwd + moe.bwd, dense.fwd, moe.fwd, heads * (log_f + log_b))]
    return [a[inverse] for a in out]


def step_time_lower_bound_s(model: ModelSpec, training: TrainingSpec, plans: PlanBatch, hw: Hardware) -> np.ndarray:
    """A lower bound on ``evaluate(model, cluster, training, plans, hw).step_time_s`` per plan."""
    if len(plans) == 0:
        return np.zeros(0)
    dense_c, moe_c, dense_f, moe_f, head_c = _per_key_compute(model, training, plans, hw)
    pp, vpp = plans.pp, plans.vpp
    full = plans.recompute == 2
    layers = stage_layers(model.num_layers, pp, plans.first_stage_layers, plans.last_stage_layers)

    def compute(n_layers: np.ndarray, before: np.ndarray, last: np.ndarray | bool) -> np.ndarray:
        n_layers = n_layers + np.where(last, model.mtp_depth, 0)
        n_dense = dense_count(model, before, n_layers)
        n_moe = n_layers - n_dense
        c = n_dense * dense_c + n_moe * moe_c + np.where(full, n_dense * dense_f + n_moe * moe_f, 0.0)
        return c + np.where(last, head_c, 0.0)

    first = compute(layers.first, np.zeros_like(pp), pp == 1)
    middle = compute(layers.middle, layers.first, False)
    last = compute(layers.last, model.num_layers - layers.last, True)
    dual = plans.schedule == SCHEDULE_CODES["dualpipe"]
    pair = 0.5 * (first + last)
    first_r, last_r = np.where(dual, pair, first), np.where(dual, pair, last)
    slowest = np.maximum(np.maximum(first_r, np.where(layers.has_middle, middle, 0.0)), last_r)
    n_micro = training.global_batch_size // (plans.dp * plans.mbs)
    # 1F1B (interleaved) fill and drain on compute alone: sum - max over the pp stages, / vpp
    f = first * chunk_factor(layers.first, vpp)
    m = middle * chunk_factor(layers.middle, vpp)
    la = last * chunk_factor(layers.last, vpp)
    total = f + np.maximum(pp - 2, 0) * m + np.where(pp > 1, la, 0.0)
    top = np.maximum(np.maximum(f, np.where(layers.has_middle, m, 0.0)), np.where(pp > 1, la, 0.0))
    bubble = np.where(plans.schedule == SCHEDULE_CODES["1f1b"], (total - top) / vpp, 0.0)
    return n_micro * slowest + bubble
