"""The training-step model: one code path for one plan or millions.

``evaluate(model, cluster, training, plans)`` returns a :class:`StepArrays` with the time
breakdown, memory breakdown and throughput of every plan in the batch.

Schedule (Narayanan et al. 2021, section 2.2): with m = global_batch / (dp * micro_batch)
micro-batches, a stage spends m * t_mb on forward+backward work, and the pipeline adds a
bubble of (pp - 1) / vpp * t_mb (1F1B: (pp-1)/m of the ideal time; interleaved: divided by
vpp), where t_mb is the slowest stage's per-micro-batch time including its exposed TP,
EP and CP communication. Pipeline sends cost 2 exchanges per micro-batch and virtual stage
when blocking, only the fill and drain when asynchronous; without sequence parallelism the
receiver also all-gathers the tensor-parallel slices. Without gradient-accumulation fusion
every micro-batch's backward ends with an add of its weight gradients into the main
gradient buffer. Data-parallel gradient reduction (and ZeRO's parameter gathering) overlaps
the last micro-batch's backward (forward) pass when ``overlap_dp_comm``; what does not fit
is exposed, and the last gradient bucket's reduction always is. The ``optimizer`` term holds
everything the step pays once (perf/step_costs.py: optimizer pass, master copies, kernel
chains, scalar all-reduces, host synchronisation and the batch broadcast). docs/methodology.md
derives each term.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from colossim.perf import comm, exposure, step_costs
from colossim.perf.flops import model_flops_per_step, recompute_flops_per_step
from colossim.perf.hardware import Hardware, resolve_hardware
from colossim.perf.layer import ACT_BYTES, layer_times, logits_s, shapes
from colossim.perf.memory import FIXED_BUFFER_BYTES, in_flight, layer_activation, state_bytes
from colossim.perf.stages import dense_count, layer_params, stage_layers
from colossim.scenario.batch import PlanBatch
from colossim.scenario.cluster import ClusterSpec
from colossim.scenario.model import ModelSpec
from colossim.scenario.training import TrainingSpec

TIME_FIELDS = ("compute_forward_s", "compute_backward_s", "compute_recompute_s", "tp_exposed_s",
               "pp_bubble_s", "pp_p2p_s", "dp_exposed_s", "ep_all_to_all_s", "cp_exposed_s", "optimizer_s")
MEMORY_FIELDS = ("weights_bytes", "gradients_bytes", "optimizer_bytes", "activations_bytes", "buffers_bytes")


@dataclass(frozen=True, slots=True)
class StepArrays:
    compute_forward_s: np.ndarray
    compute_backward_s: np.ndarray
    compute_recompute_s: np.ndarray
    tp_exposed_s: np.ndarray
    pp_bubble_s: np.ndarray
    pp_p2p_s: np.ndarray
    dp_exposed_s: np.ndarray
    ep_all_to_all_s: np.ndarray
    cp_exposed_s: np.ndarray
    optimizer_s: np.ndarray
    step_time_s: np.ndarray
    weights_bytes: np.ndarray
    gradients_bytes: np.ndarray
    optimizer_bytes: np.ndarray
    activations_bytes: np.ndarray
    buffers_bytes: np.ndarray
    memory_bytes: np.ndarray
    hbm_bytes: float
    n_micro: np.ndarray
    gpus_used: np.ndarray
    model_flops_per_step: float
    hardware_flops_per_step: np.ndarray
    tokens_per_step: int
    peak_flops: float

    def __len__(self) -> int:
        return int(self.step_time_s.shape[0])

    @property
    def fits(self) -> np.ndarray:
        return self.memory_bytes <= self.hbm_bytes

    @property
    def tokens_per_s(self) -> np.ndarray:
        return self.tokens_per_step / self.step_time_s

    @property
    def mfu(self) -> np.ndarray:
        return self.model_flops_per_step / (self.step_time_s * self.gpus_used * self.peak_flops)

    @property
    def hfu(self) -> np.ndarray:
        return self.hardware_flops_per_step / (self.step_time_s * self.gpus_used * self.peak_flops)

    @property
    def model_tflops_per_gpu(self) -> np.ndarray:
        return self.model_flops_per_step / (self.step_time_s * self.gpus_used) / 1e12

    def take(self, index: np.ndarray) -> StepArrays:
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = v[index] if isinstance(v, np.ndarray) else v
        return StepArrays(**out)


@dataclass(frozen=True, slots=True)
class _StageWork:
    """Per-micro-batch time of one stage, split by kind."""

    fwd: np.ndarray
    bwd: np.ndarray
    rec: np.ndarray
    tp: np.ndarray
    ep: np.ndarray
    cp: np.ndarray

    @property
    def total(self) -> np.ndarray:
        return self.fwd + self.bwd + self.rec + self.tp + self.ep + self.cp


def evaluate(model: ModelSpec, cluster: ClusterSpec, training: TrainingSpec, plans: PlanBatch,
             hw: Hardware | None = None, collectives: comm.AnalyticCollectives | None = None) -> StepArrays:
    """Step time, memory and throughput of every plan (assumed valid: see scenario.rules).

    ``collectives`` replaces the analytic collective costs (the network twin's flow model).
    """
    hw = hw or resolve_hardware(cluster, training)
    coll = collectives or comm.AnalyticCollectives(hw)
    tp, pp, dp, cp, ep, vpp, mbs = (plans.tp, plans.pp, plans.dp, plans.cp, plans.ep, plans.vpp, plans.mbs)
    recompute, zero = plans.recompute, plans.zero
    n_micro = training.global_batch_size // (dp * mbs)
    sh = shapes(model, training, tp, cp, mbs, plans.sp)
    layers = stage_layers(model.num_layers, pp, plans.first_stage_layers, plans.last_stage_layers)

    dense_t = layer_times(model, training, sh, tp, ep, mbs, hw, moe_layer=False)
    moe_t = layer_times(model, training, sh, tp, ep, mbs, hw, moe_layer=True) if model.moe else dense_t
    comm_t = exposure.layer_comm(model, sh, tp, cp, ep, dense_t, coll)
    log_f, log_b = logits_s(model, sh, tp, hw)
    tp_ar = coll.all_reduce(ACT_BYTES * sh.tokens * model.hidden_size, tp, np.ones_like(tp), "tp")

    params = layer_params(model, tp, ep, pp, training.seq_len)
    accum_b = 0.0 if training.grad_accumulation_fusion else exposure.grad_accumulation_bytes(training)

    def work(n_layers: np.ndarray, before: np.ndarray, first: bool, last: bool) -> _StageWork:
        n_dense = dense_count(model, before, n_layers)
        n_moe = n_layers - n_dense
        fwd = n_dense * dense_t.fwd + n_moe * moe_t.fwd
        bwd = n_dense * dense_t.bwd + n_moe * moe_t.bwd
        if accum_b:
            stage_p = (n_dense * params.dense_layer + n_moe * (params.moe_shared + params.moe_experts)
                       + np.where(first, params.embedding, 0.0) + np.where(last, params.output, 0.0))
            bwd = bwd + stage_p * accum_b / hw.hbm_bytes_s + n_layers * exposure.PARAM_TENSORS_PER_LAYER * hw.kernel_overhead_s
        rec = np.where(recompute == 2, fwd, np.where(recompute == 1, n_layers * dense_t.attn_core_fwd, 0.0))
        tp_layer = (exposure.tp_exposed(dense_t, tp_ar, tp, recompute, plans.sp, training, hw.comm_sm_fraction) * n_dense
                    + exposure.tp_exposed(moe_t, tp_ar, tp, recompute, plans.sp, training, hw.comm_sm_fraction) * n_moe)
        tp_layer = tp_layer + np.where(first, tp_ar, 0.0) + np.where(last, tp_ar, 0.0)  # embedding, logits
        fwd = fwd + np.where(last, log_f, 0.0)
        bwd = bwd + np.where(last, log_b, 0.0)
        ep_s = n_moe * comm_t["ep"] * np.where(recompute == 2, 1.5, 1.0)
        cp_s = n_layers * comm_t["cp"]
        return _StageWork(fwd, bwd, rec, tp_layer, ep_s, cp_s)

    zero_i = np.zeros_like(pp)
    first_w = work(layers.first, zero_i, True, pp == 1)
    mid_w = work(layers.middle, layers.first, False, False)
    last_w = work(layers.last, model.num_layers - layers.last, pp == 1, True)
    t_mb = np.maximum(np.maximum(first_w.total, np.where(layers.has_middle, mid_w.total, 0.0)), last_w.total)
    slow = _slowest(first_w, mid_w, last_w, layers.has_middle)

    # Fill and drain pass once through every other stage: a pipeline of stage times t_i
    # takes (m - 1) * max(t) + sum(t) (the bottleneck sets the steady state), so the
    # bubble is (sum(t) - max(t)) / vpp; with equal stages, (pp - 1) / vpp * t.
    stage_sum = first_w.total + np.maximum(pp - 2, 0) * mid_w.total + np.where(pp > 1, last_w.total, 0.0)
    bubble = (stage_sum - t_mb) / vpp
    p2p = exposure.pp_p2p(model, training, sh, tp, pp, cp, dp, vpp, plans.sp, n_micro, coll)

    dense_p, expert_p = _stage_params(model, params, layers, pp)
    layer_p = np.maximum(params.dense_layer, params.moe_shared + params.moe_experts) if model.moe else params.dense_layer
    dp_exposed = exposure.dp_exposed(training, dense_p, expert_p, tp, cp, dp, ep, zero, n_micro, slow.fwd,
                                       slow.bwd + slow.rec, coll, step_costs.bucket_params(training, layer_p))
    most_layers = np.maximum(np.maximum(layers.first, layers.middle), layers.last)
    tensors = step_costs.param_tensors(most_layers, pp == 1, np.ones_like(pp, dtype=bool))
    opt = step_costs.once_per_step_s(training, hw, coll, dense_p, expert_p, tensors, tp, pp, cp, dp, ep, zero, mbs, n_micro)

    step = n_micro * (slow.fwd + slow.bwd + slow.rec + slow.tp + slow.ep + slow.cp) + bubble + p2p + dp_exposed + opt
    mem = _memory(model, training, sh, tp, pp, vpp, dp * cp, ep, zero, mbs, recompute, n_micro, layers, params)
    mflops = model_flops_per_step(model, training.seq_len, training.global_batch_size)
    rec_flops = np.array([recompute_flops_per_step(model, training.seq_len, training.global_batch_size, r) for r in range(3)])
    return StepArrays(
        compute_forward_s=n_micro * slow.fwd, compute_backward_s=n_micro * slow.bwd,
        compute_recompute_s=n_micro * slow.rec, tp_exposed_s=n_micro * slow.tp, pp_bubble_s=bubble,
        pp_p2p_s=p2p, dp_exposed_s=dp_exposed, ep_all_to_all_s=n_micro * slow.ep,
        cp_exposed_s=n_micro * slow.cp, optimizer_s=opt, step_time_s=step, **mem,
        hbm_bytes=hw.hbm_capacity, n_micro=n_micro, gpus_used=tp * pp * cp * dp,
        model_flops_per_step=mflops, hardware_flops_per_step=mflops + rec_flops[recompute],
        tokens_per_step=training.tokens_per_step, peak_flops=hw.peak_flops,
    )


def _slowest(first: _StageWork, mid: _StageWork, last: _StageWork, has_mid: np.ndarray) -> _StageWork:
    """Per plan, the stage with the largest per-micro-batch time (its split by kind)."""
    f, m, la = first.total, np.where(has_mid, mid.total, -1.0), last.total
    pick_mid = (m >= f) & (m >= la)
    pick_last = ~pick_mid & (la > f)
    out = {}
    for name in ("fwd", "bwd", "rec", "tp", "ep", "cp"):
        out[name] = np.where(pick_mid, getattr(mid, name), np.where(pick_last, getattr(last, name), getattr(first, name)))
    return _StageWork(**out)


def _stage_params(model: ModelSpec, params, layers, pp) -> tuple[np.ndarray, np.ndarray]:
    """Dense and expert parameters of the stage holding the most (for DP traffic and the optimizer)."""
    def stage(n_layers, before, first, last):
        n_dense = dense_count(model, before, n_layers)
        n_moe = n_layers - n_dense
        dense = n_dense * params.dense_layer + n_moe * params.moe_shared
        dense = dense + np.where(first, params.embedding, 0.0) + np.where(last, params.output, 0.0)
        return dense, n_moe * params.moe_experts

    zero_i = np.zeros_like(pp)
    fd, fe = stage(layers.first, zero_i, True, pp == 1)
    md, me = stage(layers.middle, layers.first, False, False)
    ld, le = stage(layers.last, model.num_layers - layers.last, False, True)
    total_f, total_m, total_l = fd + fe, np.where(layers.has_middle, md + me, 0.0), ld + le
    pick_m = (total_m >= total_f) & (total_m >= total_l)
    pick_l = ~pick_m & (total_l > total_f)
    dense = np.where(pick_m, md, np.where(pick_l, ld, fd))
    experts = np.where(pick_m, me, np.where(pick_l, le, fe))
    return dense, experts


def _memory(model, training, sh, tp, pp, vpp, dp_cp, ep, zero, mbs, recompute, n_micro, layers, params) -> dict[str, np.ndarray]:
    dense_act = layer_activation(model, training, sh, tp, mbs, recompute, moe_layer=False)
    moe_act = layer_activation(model, training, sh, tp, mbs, recompute, moe_layer=True) if model.moe else dense_act
    h = model.hidden_size
    emb_act = (ACT_BYTES + (1.0 if training.dropout else 0.0)) * sh.tokens * h / sh.sp_div
    logit_act = 6.0 * sh.tokens * model.vocab_size / tp  # bf16 logits + fp32 softmax for the loss

    def stage(n_layers, before, stage_idx, first, last):
        n_dense = dense_count(model, before, n_layers)
        n_moe = n_layers - n_dense
        act_layer = (n_dense * dense_act.stored + n_moe * moe_act.stored)
        flight = in_flight(pp, vpp, n_micro, stage_idx)
        act = act_layer * flight + np.where(first, emb_act * flight, 0.0) + np.where(last, logit_act, 0.0)
        act = act + np.where(recompute == 2, np.maximum(dense_act.full, moe_act.full), 0.0)
        dense_p = n_dense * params.dense_layer + n_moe * params.moe_shared
        dense_p = dense_p + np.where(first, params.embedding, 0.0) + np.where(last, params.output, 0.0)
        st = state_bytes(dense_p, n_moe * params.moe_experts, dp_cp, ep, zero, training)
        # ZeRO-3 gathers one layer ahead: two of this stage's layers in full, but only the
        # parts that are sharded at all (a shard group of one gathers nothing)
        edp = np.maximum(dp_cp // ep, 1)
        gathered_moe = (params.moe_shared * (dp_cp > 1) + params.moe_experts * (edp > 1)) * (n_moe > 0)
        gathered_dense = params.dense_layer * (dp_cp > 1) * (n_dense > 0)
        layer_w = np.maximum(gathered_dense, gathered_moe) * ACT_BYTES
        buffers = FIXED_BUFFER_BYTES + np.where(zero == 3, 2.0 * layer_w, 0.0)
        return st.weights, st.grads, st.optimizer, act, buffers

    zero_i = np.zeros_like(pp)
    candidates = [
        stage(layers.first, zero_i, 0, True, pp == 1),
        stage(layers.middle, layers.first, 1, False, False),
        stage(layers.last, model.num_layers - layers.last, np.maximum(pp - 1, 0), pp == 1, True),
    ]
    totals = [sum(c) for c in candidates]
    totals[1] = np.where(layers.has_middle, totals[1], -1.0)
    best = np.argmax(np.stack(totals), axis=0)
    out = {}
    for j, name in enumerate(MEMORY_FIELDS):
        out[name] = np.choose(best, [c[j] for c in candidates])
    out["memory_bytes"] = sum(out[n] for n in MEMORY_FIELDS)
    return out
