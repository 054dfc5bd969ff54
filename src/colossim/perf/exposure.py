"""How much of each collective the step pays for: overlap windows, SM contention,
pipeline sends, data-parallel reduction and the optimizer pass.

Split from :mod:`colossim.perf.step`, which assembles these terms per pipeline stage;
docs/methodology.md derives each one.
"""

from __future__ import annotations

import numpy as np

from colossim.perf import comm, experts
from colossim.perf.hardware import Hardware
from colossim.perf.layer import ACT_BYTES, LayerTimes
from colossim.scenario.model import ModelSpec
from colossim.scenario.training import TrainingSpec

# Optimizer step per parameter of the GPU's shard (Megatron's fp32 optimizer path): the
# gradient norm reads the fp32 gradient (4), clipping scales it (4 + 4), fused Adam reads
# master, gradient, m, v and writes master, m, v (16 + 12), and the bf16 copy of the
# weights is refreshed (4 + 2).
ADAM_BYTES_PER_PARAM = 46.0
# Once per step every framework also passes over the GPU's whole (unsharded) main-gradient
# buffer: zeroing it before the first micro-batch (Megatron's zero_grad_buffer) and scaling
# it by 1/dp in place before the reduction (read + write).
GRAD_BUFFER_PASSES = 3.0

# Without gradient-accumulation fusion the weight-gradient GEMM writes its result in the
# training dtype and a separate kernel adds it into the main gradient buffer after every
# micro-batch (Megatron-LM's DDP param hook ``main_grad.add_(grad)``; DeepSpeed's
# BF16_Optimizer ``update_hp_grads``): write 2 + read 2 + read and write the main gradient.
PARAM_TENSORS_PER_LAYER = 12  # weights and biases of QKV, projection, FC1, FC2; two norms' scale and shift
# tp_overlap "full": in the backward pass only the row-parallel layers' data-gradient GEMMs
# run chunked beside their all-gather (TE's ub_overlap_ag on dgrad); the column-parallel
# layers' reduce-scatter overlaps the weight-gradient GEMM in bulk (whole GEMMs)
CHUNKED_BWD_SHARE = 0.5
# Transformer Engine userbuffers' SM budgets (module/base.py initialize_ub): 1 SM for a ring_exchange
# (the copy engines move the data); 16, the default of pipeline and bulk overlaps, is what the
# profile's comm_sm_fraction prices (training.tp_overlap_rs_sms / _bulk_sms set a recipe's own)
UB_RING_EXCHANGE_SMS = 1.0
UB_DEFAULT_SMS = 16.0


def grad_accumulation_bytes(training: TrainingSpec) -> float:
    main = 4.0 if training.grad_reduce_in_fp32 else ACT_BYTES
    return 2.0 * ACT_BYTES + 2.0 * main


def overlapped(total: np.ndarray, window: np.ndarray, sm_fraction: float) -> np.ndarray:
    """Time a collective adds when it runs beside ``window`` seconds of compute: what does
    not fit in the window, plus the compute slowed by the SMs the collective's kernels
    occupy while hidden (NCCL runs one SM per channel, 8-32 channels)."""
    hidden = np.minimum(total, window)
    return total - hidden + sm_fraction * hidden


def tp_exposed(t: LayerTimes, ar_s: np.ndarray, tp: np.ndarray, recompute: np.ndarray, sp: np.ndarray,
                training: TrainingSpec, sm_fraction: float, share: np.ndarray | float = 1.0) -> np.ndarray:
    """Exposed tensor-parallel communication of one layer and micro-batch.

    Two all-reduce-sized collectives in the forward pass (after the row-parallel attention
    projection and FC2), two in the backward pass (input gradients of the column-parallel
    QKV and FC1), two more when the forward is recomputed. Sequence parallelism swaps each
    for an all-gather + reduce-scatter pair of the same cost and, because only the sharded
    layer input is kept, gathers the inputs of QKV and FC1 again in the backward pass for
    their weight gradients: one more all-reduce-sized cost (Korthikanti et al. 2022, Sec. 4.2.2).

    ``none``: everything exposed (Megatron-LM 2021). ``backward`` (Megatron-LM's async TP,
    2022): the column-parallel layers' input-gradient collectives run beside their data-
    and weight-gradient GEMMs (half the layer's GEMM time; all of it with SP); with SP the
    row-parallel layers' output-gradient all-gather is synchronous (their data-gradient GEMM
    needs it), one all-reduce-sized cost exposed. ``full`` (Transformer Engine userbuffers):
    each GEMM runs in tp chunks beside the ring exchange of the next or previous chunk; the
    reduce-scatter of the last chunk after each forward row-parallel GEMM stays exposed
    (1/tp of the forward reduce-scatters), the rest hides behind the layer's GEMMs if they
    are long enough. Hidden communication still slows compute by the SMs it occupies.
    The chunked GEMMs run less efficiently than whole ones and the copy engines' traffic
    shares HBM with them: both are added (perf/layer.py ``chunked_tp_costs``).
    ``share`` scales the layer's collectives (and the copy engines' traffic): an MoE layer
    whose routed experts leave the TP split (etp = 1, no shared experts) keeps only the
    attention block's half of them (:func:`moe_tp_share`); the windows they hide behind stay.
    """
    ar_s = ar_s * share
    t_copy = t.tp_copy_hbm_s * share
    fwd = (2.0 + np.where(recompute == 2, 2.0, 0.0)) * ar_s
    bwd = (2.0 + np.where(sp, 1.0, 0.0)) * ar_s
    if training.tp_overlap == "none":
        return fwd + bwd
    if training.tp_overlap == "backward":
        # With SP the row-parallel layers' backward all-gathers its output gradient before
        # the data-gradient GEMM can start (synchronous): one all-reduce-sized cost exposed;
        # the column-parallel re-gather and reduce-scatter run beside dgrad and wgrad.
        exposed = np.where(sp, 1.0, 0.0) * ar_s
        return fwd + exposed + overlapped(bwd - exposed, np.where(sp, 1.0, 0.5) * t.gemm_fwd, sm_fraction)
    if training.tp_overlap == "forward":
        return _forward_only_exposed(t, fwd, bwd, tp, recompute, sm_fraction, t_copy)
    # full: each GEMM runs in tp chunks along the sequence beside the ring exchange of the
    # next (all-gather) or previous (reduce-scatter) chunk; only the reduce-scatter of the
    # last chunk after each forward row-parallel GEMM finds no GEMM left to hide behind.
    # Priced beside the hidden traffic (perf/layer.py chunked_tp_costs): the chunked GEMMs'
    # lost efficiency, forward and the backward's chunked data-gradient GEMMs (half of the
    # backward's overlapped GEMMs: CHUNKED_BWD_SHARE), and the copy engines' HBM traffic.
    tail = fwd / (2.0 * tp)
    chunking = t.gemm_chunk_loss * (1.0 + CHUNKED_BWD_SHARE) + t_copy
    hidden = fwd + bwd - tail
    sms = _userbuffers_sm_fraction(fwd, bwd, tail, hidden, sp, training, sm_fraction)
    return tail + overlapped(hidden, 3.0 * t.gemm_fwd, sms) + chunking


def _userbuffers_sm_fraction(fwd, bwd, tail, hidden, sp, training: TrainingSpec, sm_fraction: float):
    """The compute share the hidden ``full`` overlap traffic takes, slot by slot of Transformer
    Engine's userbuffers (transformer_engine/pytorch/module/base.py initialize_ub, TE 1.x-2.x).
    The all-gathers before the column-parallel forward GEMMs (qkv_fprop, fc1_fprop) and the
    row-parallel data-gradient GEMMs (proj_dgrad, fc2_dgrad) are ``ring_exchange`` in every
    default and recipe: copy-engine peer-to-peer on 1 SM. The forward reduce-scatters
    (proj_fprop, fc2_fprop; TE's default ``pipeline``) run on ``training.tp_overlap_rs_sms``
    SMs, the backward's re-gather and reduce-scatter beside the column-parallel GEMMs (``bulk``)
    on ``training.tp_overlap_bulk_sms`` (both 16 by default; recipes state their own, NVIDIA's
    MLPerf yamls 1-24). Each SM costs ``sm_fraction / UB_DEFAULT_SMS`` of the time its traffic
    hides (``sm_fraction`` prices an NCCL-style kernel on 16 SMs). Of the forward traffic half
    is all-gather, half reduce-scatter (its last chunk, ``tail``, is exposed and hides nothing);
    of the SP backward's three all-reduce-sized units one is the two dgrad all-gathers, two the
    bulk pairs (without SP all of it is bulk). Left out: set_sm_margin (a GEMM launched on the
    SMs left over for its whole length, not only while the traffic runs)."""
    ring_bwd = np.where(sp, 1.0 / 3.0, 0.0) * bwd
    ring = 0.5 * fwd + ring_bwd
    rs = 0.5 * fwd - tail
    bulk = bwd - ring_bwd  # ring + rs + bulk = hidden
    sms = ring * UB_RING_EXCHANGE_SMS + rs * training.tp_overlap_rs_sms + bulk * training.tp_overlap_bulk_sms
    return sm_fraction / UB_DEFAULT_SMS * sms / np.maximum(hidden, 1e-30)


def _forward_only_exposed(t: LayerTimes, fwd: np.ndarray, bwd: np.ndarray, tp: np.ndarray, recompute: np.ndarray,
                          sm_fraction: float, t_copy: np.ndarray | float) -> np.ndarray:
    """``forward`` (PyTorch async TP, torchtitan 2024): the forward pass's all-gather ->
    matmul and matmul -> reduce-scatter run chunked as in ``full`` (the recomputed forward
    too, it replays the same compiled graph); the backward's collectives stay synchronous.
    Sources: the pass's published traces are the three forward patterns only (torchtitan
    PR #429, 2024-06: all-gather -> QKV, all-gather -> FFN, FFN -> reduce-scatter), and the
    PyTorch team's ablation reports "~20% forward pass speedup and ~8% E2E speedup in
    Llama3 70B" (discuss.pytorch.org/t/209487, 2024-09): with full recompute a step runs two
    forward passes of ~1/4 of it each, so ~20% of each is ~10% E2E, leaving no room for a
    backward gain. The pass runs after autograd and could in principle match backward
    patterns; the published figures say it did not pay off there."""
    passes = 1.0 + np.where(recompute == 2, 1.0, 0.0)
    tail = fwd / (2.0 * tp)
    chunking = passes * (t.gemm_chunk_loss + 0.5 * t_copy)  # two of the four all-gathers are forward
    return tail + overlapped(fwd - tail, passes * t.gemm_fwd, sm_fraction) + chunking + bwd


def moe_tp_share(model: ModelSpec, tp: np.ndarray, etp: np.ndarray | None) -> np.ndarray | float:
    """Share of the four per-layer TP collectives an MoE layer pays. With etp = 1 < tp
    (MoE parallel folding, perf/experts.py) the routed experts run on each GPU's own
    sequence-parallel tokens and the EP all-to-all replaces the FFN block's all-gather and
    reduce-scatter (Megatron-Core's alltoall dispatcher, ETP = 1): only the attention block's
    two (forward: its output reduce-scatter and input all-gather; backward: the same pair,
    and half of the SP re-gather and of a recomputed forward's) remain, 1/2 of the layer's.
    Shared experts keep the dense TP split and so their FFN-block collectives: share 1."""
    if etp is None or model.moe is None or model.moe.num_shared_experts:
        return 1.0
    return np.where(experts.folded(tp, etp), 0.5, 1.0)


def pp_p2p(model: ModelSpec, training: TrainingSpec, sh, tp, pp, cp, dp, vpp, sp, n_micro,
            coll: comm.AnalyticCollectives) -> np.ndarray:
    """Pipeline sends. Each TP rank sends 1/tp of the activation. With sequence parallelism
    that is its own sequence shard; without it every rank needs the whole tensor, so the
    receiver all-gathers the slices over NVLink (Megatron's scatter/gather optimisation,
    Narayanan et al. 2021 Sec. 4.1; DeepSpeed's partitioned pipeline tensors). A blocking
    exchange sends to one neighbour and receives from the other at once (Megatron's
    batch_isend_irecv); DeepSpeed's PipelineEngine runs the send and the receive one after
    the other (blocking SendActivation/RecvGrad instructions), twice the time.

    Overlapped (``overlap_pp_comm``), the warm-up's 2(pp-1) exchanges stay exposed and each
    of the steady state's 2 x n_micro x vpp exchanges exposes the family's
    ``p2p_exposed_fraction`` of its transfer time (efficiency profile, fitted)."""
    full = ACT_BYTES * sh.tokens * model.hidden_size
    one = coll.p2p(full / tp, tp * cp * dp, "pp")
    one = one + np.where(sp, 0.0, coll.all_gather(full, tp, np.ones_like(tp), "tp"))
    one = one * (1.0 if training.pipeline_p2p_batched else 2.0)
    exposed_share = coll.hw.p2p_exposed_fraction if training.overlap_pp_comm else 1.0
    messages = 2.0 * (pp - 1) + exposed_share * 2.0 * n_micro * vpp
    tied = np.zeros_like(one)
    if model.tied_embeddings:
        grad = ACT_BYTES * model.vocab_size * model.hidden_size / tp
        tied = coll.all_reduce(grad, np.full_like(pp, 2), tp * cp * dp * np.maximum(pp - 1, 1), "embedding")
    return np.where(pp > 1, messages * one + tied, 0.0)


def param_gather_bytes(training: TrainingSpec) -> float:
    """Bytes per parameter of a data-parallel parameter all-gather: 1 with fp8 gathers
    (``param_gather_dtype: fp8``; Megatron-Core --fp8-param-gather, NeMo fp8_params). Left
    out: the embedding and output layer, which stay bf16 there, are counted at 1 byte too."""
    return 1.0 if training.param_gather_dtype == "fp8" else ACT_BYTES


def _dp_collectives(training: TrainingSpec, dense_p, expert_p, tp, cp, dp, ep, zero,
                    coll: comm.AnalyticCollectives, etp=None) -> tuple[np.ndarray, np.ndarray]:
    """Gradient reduction and (ZeRO >= 1) parameter gathering of ``dense_p``/``expert_p``
    (experts over their own data-parallel group, perf/experts.py)."""
    grad_b = 4.0 if training.grad_reduce_in_fp32 else ACT_BYTES
    gather_b = param_gather_bytes(training)
    dp_cp = dp * cp
    edp = experts.expert_dp(tp, cp, dp, ep, etp)
    groups = ((dense_p, dp_cp, tp, "dp"), (expert_p, edp, experts.edp_stride(tp, cp, ep, etp), "edp"))
    reduce = np.zeros_like(dense_p, dtype=float)
    gather = np.zeros_like(dense_p, dtype=float)
    for p, n, s, g in groups:
        reduce = reduce + np.where(zero == 0, coll.all_reduce(p * grad_b, n, s, g), coll.reduce_scatter(p * grad_b, n, s, g))
        gather = gather + np.where(zero >= 1, coll.all_gather(p * gather_b, n, s, g), 0.0)
    return reduce, gather


def dp_exposed(training: TrainingSpec, dense_p, expert_p, tp, cp, dp, ep, zero, fwd_mb, bwd_mb,
                coll: comm.AnalyticCollectives, bucket_p: np.ndarray | None = None, etp=None) -> np.ndarray:
    """Exposed data-parallel traffic. Overlapped reduction runs bucket by bucket beside the
    backward pass; the last bucket (``bucket_p`` parameters, perf/step_costs.py) is reduced
    after the last gradient is produced and hides behind nothing, nor does the first
    bucket's parameter gather before the first forward layer (the latency tail). ZeRO-3 with
    resharding gathers again every micro-batch: perf/fsdp.py prices that case."""
    reduce, gather = _dp_collectives(training, dense_p, expert_p, tp, cp, dp, ep, zero, coll, etp)
    if not training.overlap_dp_comm:
        return reduce + gather
    sm = coll.hw.comm_sm_fraction_scaleout
    tail_r = tail_g = np.zeros_like(reduce)
    if bucket_p is not None:
        total = np.maximum(dense_p + expert_p, 1.0)
        share = np.minimum(bucket_p / total, 1.0)
        tail_r, tail_g = share * reduce, share * gather
    return overlapped(reduce - tail_r, bwd_mb, sm) + tail_r + overlapped(gather - tail_g, fwd_mb, sm) + tail_g


def optimizer_s(dense_p, expert_p, dp_cp, ep, zero, training: TrainingSpec, hw: Hardware,
                edp: np.ndarray | None = None) -> np.ndarray:
    """``edp``: the experts' data-parallel size (default dp_cp // ep, perf/experts.py)."""
    edp = np.maximum(dp_cp // ep, 1) if edp is None else edp
    shard = np.where(zero >= 1, dense_p / dp_cp + expert_p / edp, dense_p + expert_p)
    local_grads = np.where(zero >= 2, shard, dense_p + expert_p)
    grad_b = 4.0 if training.grad_reduce_in_fp32 else ACT_BYTES
    buffer_s = GRAD_BUFFER_PASSES * grad_b * local_grads / hw.hbm_bytes_s
    # bf16 moments (optimizer_state_dtype) halve the 16 bytes that read and write m and v
    adam_b = ADAM_BYTES_PER_PARAM - (8.0 if training.optimizer_state_dtype == "bf16" else 0.0)
    return shard * adam_b / hw.hbm_bytes_s + buffer_s + 20 * hw.kernel_overhead_s


