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
chains, scalar all-reduces, host synchronisation and the batch broadcast). With
``defer_output_wgrad`` the last stage's output-layer weight gradients wait for the flush
and only what outlasts its drain idle time is exposed (perf/deferral.py). docs/methodology.md
derives each term.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

from colossim.perf import (
    comm,
    deferral,
    experts,
    exposure,
    fsdp,
    moe,
    offload,
    schedule,
    step_costs,
)
from colossim.perf.cp import cp_exposed_s
from colossim.perf.flops import (
    causal_skipped_flops_per_step,
    model_flops_per_step,
    recompute_flops_per_step,
)
from colossim.perf.hardware import Hardware, resolve_hardware
from colossim.perf.layer import (
    ACT_BYTES,
    FUSED_ATTENTION_KERNELS,
    layer_times,
    logits_gemm_s,
    logits_s,
    shapes,
)
from colossim.perf.memory import MEMORY_FIELDS, stage_activation_bytes, step_memory
from colossim.perf.recompute import selective_s as recompute_s
from colossim.perf.stages import dense_count, layer_params, stage_layers
from colossim.scenario.batch import PlanBatch
from colossim.scenario.cluster import ClusterSpec
from colossim.scenario.model import ModelSpec
from colossim.scenario.parallel import SCHEDULE_CODES
from colossim.scenario.training import TrainingSpec

TIME_FIELDS = ("compute_forward_s", "compute_backward_s", "compute_recompute_s", "tp_exposed_s",
               "pp_bubble_s", "pp_p2p_s", "dp_exposed_s", "ep_all_to_all_s", "cp_exposed_s", "optimizer_s")
__all__ = ["MEMORY_FIELDS", "TIME_FIELDS", "StepArrays", "evaluate"]


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
    fragmentation_bytes: np.ndarray
    memory_bytes: np.ndarray
    hbm_bytes: float
    n_micro: np.ndarray
    gpus_used: np.ndarray
    model_flops_per_step: float
    hardware_flops_per_step: np.ndarray
    # the FLOPs the GPUs run: model + recompute FLOPs without the causal half of the attention
    # matrix, which the counts above include by convention (perf/flops.py)
    executed_model_flops_per_step: float
    executed_flops_per_step: np.ndarray
    tokens_per_step: int
    peak_flops: float
    weight_copies: np.ndarray  # model stages each pipeline rank holds (DualPipe: 2)

    def __len__(self) -> int:
        return int(self.step_time_s.shape[0])

    @property
    def fits(self) -> np.ndarray:
        return self.memory_bytes <= self.hbm_bytes

    @property
    def tokens_per_s(self) -> np.ndarray:
        return self.tokens_per_step / self.step_time_s

    def share_of_peak(self, flops_per_step: np.ndarray | float) -> np.ndarray:
        """``flops_per_step`` over what the plan's GPUs could do at peak in one step."""
        return flops_per_step / (self.step_time_s * self.gpus_used * self.peak_flops)

    @property
    def mfu(self) -> np.ndarray:
        return self.share_of_peak(self.model_flops_per_step)

    @property
    def hfu(self) -> np.ndarray:
        return self.share_of_peak(self.hardware_flops_per_step)

    @property
    def executed_mfu(self) -> np.ndarray:
        """MFU without the causal half of the attention matrix: the model FLOPs the GPUs run."""
        return self.share_of_peak(self.executed_model_flops_per_step)

    @property
    def executed_utilization(self) -> np.ndarray:
        """HFU without the causal half of the attention matrix: the share of peak the GPUs run."""
        return self.share_of_peak(self.executed_flops_per_step)

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
    wgrad: np.ndarray  # weight-gradient GEMMs inside bwd (zero-bubble and DualPipe move them)

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
    etp, recompute = plans.expert_tp, plans.recompute
    zero = _effective_zero(training, plans)
    dual = plans.schedule == SCHEDULE_CODES["dualpipe"]
    n_micro = plans.micro_batches(training.global_batch_size)
    sh = shapes(model, training, tp, cp, mbs, plans.sp)
    layers = stage_layers(model.num_layers, pp, plans.first_stage_layers, plans.last_stage_layers)

    dense_t = layer_times(model, training, sh, tp, ep, mbs, hw, moe_layer=False)
    moe_t = layer_times(model, training, sh, tp, ep, mbs, hw, moe_layer=True, etp=etp) if model.moe else dense_t
    log_f, log_b = logits_s(model, training, sh, tp, hw)
    tp_ar = coll.all_reduce(ACT_BYTES * sh.tokens * model.hidden_size, tp, np.ones_like(tp), "tp")

    params = layer_params(model, tp, ep, pp, training.seq_len, etp)
    moe_tp = exposure.moe_tp_share(model, tp, etp)
    accum_b = 0.0 if training.grad_accumulation_fusion else exposure.grad_accumulation_bytes(training)
    cp_layer = cp_exposed_s(model, training, sh, tp, cp, dense_t, coll)
    sel_dense = recompute_s(model, training, sh, tp, hw, dense_t, moe_layer=False)
    sel_moe = recompute_s(model, training, sh, tp, hw, moe_t, moe_layer=True) if model.moe else sel_dense
    ep_total = (moe.all_to_all_s(model, training, sh, tp, cp, ep, coll, etp) if model.moe
                else np.zeros_like(tp, dtype=float))
    ep_layer = moe.ep_exposed(ep_total, moe_t.fwd + moe_t.bwd, dual | training.ep_overlap, dual)

    def work(n_layers: np.ndarray, before: np.ndarray, first: bool, last: bool) -> _StageWork:
        n_layers = n_layers + np.where(last, model.mtp_depth, 0)  # MTP modules follow the last layer
        n_dense = dense_count(model, before, n_layers)
        n_moe = n_layers - n_dense
        fwd = n_dense * dense_t.fwd + n_moe * moe_t.fwd
        bwd = n_dense * dense_t.bwd + n_moe * moe_t.bwd
        if accum_b:
            stage_p = (n_dense * params.dense_layer + n_moe * (params.moe_shared + params.moe_experts)
                       + np.where(first, params.embedding, 0.0) + np.where(last, params.output, 0.0))
            bwd = bwd + stage_p * accum_b / hw.hbm_bytes_s + n_layers * exposure.PARAM_TENSORS_PER_LAYER * hw.kernel_overhead_s
        selective = n_dense * sel_dense + n_moe * sel_moe
        rec = np.where(recompute == 2, fwd, np.where(recompute == 1, selective, 0.0))
        tp_layer = (exposure.tp_exposed(dense_t, tp_ar, tp, recompute, plans.sp, training, hw.comm_sm_fraction) * n_dense
                    + exposure.tp_exposed(moe_t, tp_ar, tp, recompute, plans.sp, training, hw.comm_sm_fraction, moe_tp)
                    * n_moe)
        tp_layer = tp_layer + np.where(first, tp_ar, 0.0) + np.where(last, tp_ar, 0.0)  # embedding, logits
        heads = 1.0 + model.mtp_depth  # main and MTP passes through the shared output head
        fwd = fwd + np.where(last, heads * log_f, 0.0)
        bwd = bwd + np.where(last, heads * log_b, 0.0)
        ep_s = n_moe * ep_layer * np.where(recompute == 2, 1.5, 1.0)
        cp_s = n_layers * cp_layer
        wgrad = n_dense * dense_t.gemm_fwd + n_moe * moe_t.gemm_fwd
        return _StageWork(fwd, bwd, rec, tp_layer, ep_s, cp_s, wgrad)

    zero_i = np.zeros_like(pp)
    first_w = work(layers.first, zero_i, True, pp == 1)
    mid_w = work(layers.middle, layers.first, False, False)
    last_w = work(layers.last, model.num_layers - layers.last, pp == 1, True)
    # the output layer's weight gradients of the deferred micro-batches leave the last stage's pace
    deferred = deferral.deferred_micro_batches(training, pp, plans.schedule, n_micro)
    heads = 1.0 + model.mtp_depth
    log_w = logits_gemm_s(model, sh, tp, hw)
    last_w = replace(last_w, bwd=last_w.bwd - deferral.per_micro_batch_s(log_w, heads, deferred, n_micro))
    # DualPipe: rank i runs half the micro-batches through stage i, half through stage pp-1-i
    pair = _mix(_average(first_w, last_w), first_w, dual)
    first_r, last_r = pair, _mix(pair, last_w, dual)
    slow = _slowest(first_r, mid_w, last_r, layers.has_middle)
    sched = schedule.run(_stage_times(first_r, mid_w, last_r, layers, pp, vpp, n_micro), plans.schedule)
    bubble = sched.bubble_s
    idle = deferral.drain_idle_s(_backward_part(first_r) * schedule.chunk_factor(layers.first, vpp),
                                 _backward_part(mid_w) * schedule.chunk_factor(layers.middle, vpp), pp, vpp)
    deferred_s = deferral.exposed_s(log_w, heads, deferred, idle)
    p2p = exposure.pp_p2p(model, training, sh, tp, pp, cp, dp, vpp, plans.sp, n_micro, coll)

    dense_p, expert_p = _stage_params(model, params, layers, pp, dual)
    layer_p = np.maximum(params.dense_layer, params.moe_shared + params.moe_experts) if model.moe else params.dense_layer
    dp_exposed = exposure.dp_exposed(training, dense_p, expert_p, tp, cp, dp, ep, zero, slow.fwd,
                                     slow.bwd + slow.rec, coll, step_costs.bucket_params(training, layer_p, dp), etp)
    dp_exposed = np.where(zero == 3, fsdp.zero3_exposed_s(training, dense_p, expert_p, tp, cp, dp, ep, n_micro, slow.fwd,
                                                          slow.bwd + slow.rec, layers.middle, coll, etp), dp_exposed)
    offloaded = (offload.optimizer_s(dense_p, expert_p, dp * cp, ep, zero, training, hw, slow.bwd,
                                     experts.expert_dp(tp, cp, dp, ep, etp))
                 if training.offload.optimizer else None)
    most_layers = np.maximum(np.maximum(layers.first, layers.middle), layers.last)
    tensors = step_costs.param_tensors(most_layers, pp == 1, np.ones_like(pp, dtype=bool))
    opt = step_costs.once_per_step_s(training, hw, coll, dense_p, expert_p, tensors, tp, pp, cp, dp, ep, zero, mbs,
                                     n_micro, optimizer_pass_s=offloaded, etp=etp)

    step = (n_micro * (slow.fwd + slow.bwd + slow.rec + slow.tp + slow.ep + slow.cp) + deferred_s + bubble + p2p
            + dp_exposed + opt)
    if training.offload.activations:
        step = step + n_micro * offload.activation_exposed_s(stage_activation_bytes(model, training, sh, tp, mbs, recompute, layers, etp),
                                                               slow.fwd, slow.bwd, hw)
    mem = step_memory(model, training, sh, plans, zero, layers, params, sched)
    mflops = model_flops_per_step(model, training.seq_len, training.global_batch_size)
    rec_flops = np.array([recompute_flops_per_step(model, training.seq_len, training.global_batch_size, r,
                                                   training.recompute_modules) for r in range(3)])
    # fused kernels skip the masked half; the unfused path multiplies the whole matrix (perf/layer.py)
    causal = training.attention_kernel in FUSED_ATTENTION_KERNELS
    skipped = np.array([causal_skipped_flops_per_step(model, training.seq_len, training.global_batch_size, r,
                                                      training.recompute_modules) if causal else 0.0
                        for r in range(3)])
    return StepArrays(
        compute_forward_s=n_micro * slow.fwd, compute_backward_s=n_micro * slow.bwd + deferred_s,
        compute_recompute_s=n_micro * slow.rec, tp_exposed_s=n_micro * slow.tp, pp_bubble_s=bubble,
        pp_p2p_s=p2p, dp_exposed_s=dp_exposed, ep_all_to_all_s=n_micro * slow.ep,
        cp_exposed_s=n_micro * slow.cp, optimizer_s=opt, step_time_s=step, **mem,
        hbm_bytes=hw.hbm_capacity, n_micro=n_micro, gpus_used=tp * pp * cp * dp,
        model_flops_per_step=mflops, hardware_flops_per_step=mflops + rec_flops[recompute],
        executed_model_flops_per_step=mflops - float(skipped[0]),
        executed_flops_per_step=mflops + rec_flops[recompute] - skipped[recompute],
        tokens_per_step=training.tokens_per_step, peak_flops=hw.peak_flops, weight_copies=sched.weight_copies,
    )


def _effective_zero(training: TrainingSpec, plans: PlanBatch) -> np.ndarray:
    """FSDP without resharding after forward keeps the gathered weights for the whole step:
    one gather and one reduce-scatter per step, ZeRO-2's traffic and weight memory."""
    return np.where((plans.zero == 3) & (not training.reshard_after_forward), 2, plans.zero)


def memory_only(model: ModelSpec, training: TrainingSpec, plans: PlanBatch) -> dict[str, np.ndarray]:
    """The memory part of :func:`evaluate` without the step time (the search screens plans
    with it). Only the schedule's in-flight counts and weight copies enter memory, and
    those depend on pp, vpp and the micro-batch count alone, so stage times are zeros."""
    tp, pp, vpp, mbs = plans.tp, plans.pp, plans.vpp, plans.mbs
    n_micro = plans.micro_batches(training.global_batch_size)
    sh = shapes(model, training, tp, plans.cp, mbs, plans.sp)
    layers = stage_layers(model.num_layers, pp, plans.first_stage_layers, plans.last_stage_layers)
    params = layer_params(model, tp, plans.ep, pp, training.seq_len, plans.expert_tp)
    none = np.zeros(pp.shape)
    times = schedule.StageTimes(
        first=none, middle=none, last=none, has_middle=layers.has_middle, wgrad_first=none, wgrad_middle=none,
        wgrad_last=none, chunk_first=none + 1.0, chunk_middle=none + 1.0, chunk_last=none + 1.0, pp=pp, vpp=vpp,
        n_micro=n_micro)
    sched = schedule.run(times, plans.schedule)
    return step_memory(model, training, sh, plans, _effective_zero(training, plans), layers, params, sched)


def _slowest(first: _StageWork, mid: _StageWork, last: _StageWork, has_mid: np.ndarray) -> _StageWork:
    """Per plan, the stage with the largest per-micro-batch time (its split by kind)."""
    f, m, la = first.total, np.where(has_mid, mid.total, -1.0), last.total
    pick_mid = (m >= f) & (m >= la)
    pick_last = ~pick_mid & (la > f)
    out = {}
    for name in _WORK_FIELDS:
        out[name] = np.where(pick_mid, getattr(mid, name), np.where(pick_last, getattr(last, name), getattr(first, name)))
    return _StageWork(**out)


_WORK_FIELDS = ("fwd", "bwd", "rec", "tp", "ep", "cp", "wgrad")


def _backward_part(w: _StageWork) -> np.ndarray:
    """A stage's per-micro-batch time spent in the backward (its communication split pro rata)."""
    compute = w.fwd + w.bwd + w.rec
    return w.total * (w.bwd + w.rec) / np.where(compute > 0, compute, 1.0)


def _average(a: _StageWork, b: _StageWork) -> _StageWork:
    return _StageWork(**{n: 0.5 * (getattr(a, n) + getattr(b, n)) for n in _WORK_FIELDS})


def _mix(yes: _StageWork, no: _StageWork, mask: np.ndarray) -> _StageWork:
    return _StageWork(**{n: np.where(mask, getattr(yes, n), getattr(no, n)) for n in _WORK_FIELDS})


def _stage_times(first: _StageWork, mid: _StageWork, last: _StageWork, layers, pp, vpp, n_micro) -> schedule.StageTimes:
    return schedule.StageTimes(
        first=first.total, middle=mid.total, last=last.total, has_middle=layers.has_middle,
        wgrad_first=first.wgrad, wgrad_middle=mid.wgrad, wgrad_last=last.wgrad,
        chunk_first=schedule.chunk_factor(layers.first, vpp), chunk_middle=schedule.chunk_factor(layers.middle, vpp),
        chunk_last=schedule.chunk_factor(layers.last, vpp), pp=pp, vpp=vpp, n_micro=n_micro)


def _stage_params(model: ModelSpec, params, layers, pp, dual) -> tuple[np.ndarray, np.ndarray]:
    """Dense and expert parameters of the rank holding the most (for DP traffic and the
    optimizer); a DualPipe rank holds stage i and stage pp-1-i."""
    def stage(n_layers, before, first, last):
        n_layers = n_layers + np.where(last, model.mtp_depth, 0)
        n_dense = dense_count(model, before, n_layers)
        n_moe = n_layers - n_dense
        dense = n_dense * params.dense_layer + n_moe * params.moe_shared
        dense = dense + np.where(first, params.embedding, 0.0) + np.where(last, params.output, 0.0)
        return dense, n_moe * params.moe_experts

    zero_i = np.zeros_like(pp)
    fd, fe = stage(layers.first, zero_i, True, pp == 1)
    md, me = stage(layers.middle, layers.first, False, False)
    ld, le = stage(layers.last, model.num_layers - layers.last, False, True)
    # DualPipe ranks: (first, last) and (middle, middle)
    fd, fe, ld, le = (np.where(dual, fd + ld, fd), np.where(dual, fe + le, fe),
                      np.where(dual, fd + ld, ld), np.where(dual, fe + le, le))
    md, me = np.where(dual, 2.0 * md, md), np.where(dual, 2.0 * me, me)
    total_f, total_m, total_l = fd + fe, np.where(layers.has_middle, md + me, 0.0), ld + le
    pick_m = (total_m >= total_f) & (total_m >= total_l)
    pick_l = ~pick_m & (total_l > total_f)
    dense = np.where(pick_m, md, np.where(pick_l, ld, fd))
    experts = np.where(pick_m, me, np.where(pick_l, le, fe))
    return dense, experts
