"""Memory per GPU: weights, gradients, optimizer states, activations, buffers.

- Mixed-precision Adam (Rajbhandari et al. 2020, ZeRO): 2-byte weights, 2-byte gradients
  (4 with fp32 reduction), 12 bytes of fp32 master weights, momentum and variance per
  parameter (8 with bf16 moments, ``optimizer_state_dtype``: DeepSeek-V3 Sec. 3.3.4). ZeRO-1 shards the optimizer states over the data-parallel ranks (dp*cp, as
  Megatron-Core's distributed optimizer), ZeRO-2 also the gradients, ZeRO-3 the weights.
  Expert parameters shard over their own data-parallel group, tp*cp*dp/(ep*etp)
  (dp*cp/ep when etp = tp; perf/experts.py). FP8 training
  keeps bf16 weights plus a 1-byte fp8 copy of the transformer layers' GEMM weights
  (Transformer Engine), or the fp8 weights only with fp8 parameters (``param_gather_dtype:
  fp8``); the embedding and the output layer stay bf16 with no fp8 copy
  (Megatron's embedding and output_layer are not TE modules; DeepSeek-V3 Sec. 3.3: the
  embedding and output head keep their original precision).
- Activations per layer and micro-batch follow Korthikanti et al. 2022 (Table 2, Eq. 1-2:
  s*b*h*(34 + 5*a*s/h) bytes for a GPT without parallelism), generalised tensor by tensor
  to GQA, gated FFNs, MoE and flash attention (which keeps no s x s matrix); sequence
  parallelism divides the norm/dropout/residual tensors by tp; selective recompute drops
  the attention-score tensors; full recompute keeps each layer's input only, plus one
  layer's working set.
- Logits: the last stage keeps one micro-batch's logits for the loss's backward: 6 bytes
  per logit with an fp32 loss (bf16 logits plus the fp32 softmax at the loss), 2 with an
  in-place loss kernel (``cross_entropy: inplace``, DeepSeek LLM Sec. 3.3), per MTP module too.
  With ``defer_output_wgrad`` it also keeps each deferred micro-batch's logits gradient and
  output-layer input until the flush (perf/deferral.py).
- In flight on a pipeline rank: what its schedule holds (colossim.perf.schedule): 1F1B and
  ZB-H1 min(pp - stage, m) micro-batches, interleaved 1 + (pp-1)/(pp*vpp) times more
  (Korthikanti Eq. 3-4; Megatron's warm-up count), DualPipe pp + 1 micro-batches of its
  two stages (DeepSeek-V3 Table 2: pp of the stage its direction starts with and one of
  the other on an end rank, as DualPipe's code schedules them) and both stages' weights,
  gradients and states.
- Offload (``training.offload``): optimizer states live in host memory (ZeRO-Offload);
  offloaded activations leave two layers' worth on the GPU (the one in use and the one
  being copied).
- FSDP without resharding after forward keeps the stage's weights gathered (ZeRO-2's memory).
- Reserve: the CUDA context and library handles (CUDA_CONTEXT_BYTES) plus one set of
  NCCL buffers per communicator the plan opens (NCCL_COMMUNICATOR_BYTES), plus the
  gathered weights of two layers under ZeRO-3. Capacity is what the driver exposes
  (catalog ``hbm_exposed_mib``: an H100 80GB shows 81,559 MiB = 85.5e9 bytes).
- Allocator fragmentation: FRAGMENTATION_FRACTION of the memory that churns every step
  (activations and gather buffers) is reserved by PyTorch's caching allocator but unusable.

Left out: pipeline send buffers and the spike of the first optimizer step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from colossim.perf import deferral, experts
from colossim.perf.layer import ACT_BYTES, FUSED_ATTENTION_KERNELS, Shapes, head_dims
from colossim.perf.schedule import ScheduleResult
from colossim.perf.stages import LayerParams, StageLayers, dense_count
from colossim.scenario.batch import PlanBatch
from colossim.scenario.model import ModelSpec
from colossim.scenario.training import TrainingSpec

MEMORY_FIELDS = ("weights_bytes", "gradients_bytes", "optimizer_bytes", "activations_bytes", "buffers_bytes",
                 "fragmentation_bytes")

# CUDA context, cuBLAS/cuDNN handles and workspaces of one PyTorch process on Hopper:
# 0.5-0.6 GB measured (torch.cuda.memory: the gap between nvidia-smi and reserved bytes)
CUDA_CONTEXT_BYTES = 0.6e9
# One NCCL communicator: NCCL_BUFFSIZE (4 MiB, NCCL docs "Environment Variables") for the
# Simple protocol plus LL128 (~4.7 MiB) and LL buffers, per channel and ring peer (send and
# receive), 16 channels typical on NVLink + 8 NICs: about 0.3 GB
NCCL_COMMUNICATOR_BYTES = 0.3e9
# PyTorch's caching allocator keeps freed blocks for reuse; blocks split for one size can
# not serve a larger one. Reserved-but-unusable bytes reach 43% of the churning memory in
# the worst case without care (Huang et al. 2025, arXiv:2507.16274, STWeaver) and are kept
# to a few percent with expandable segments (PYTORCH_CUDA_ALLOC_CONF, PyTorch 2.1+), which
# Megatron-LM and torchtitan recipes set: Megatron's per-rank memory report (max reserved
# over max allocated) typically shows 2-5% in steady state. 3% is assumed (an assumption,
# not a fitted value: no run in the validation set reports its peak memory).
FRAGMENTATION_FRACTION = 0.03
OPTIMIZER_BYTES_PER_PARAM = 12.0  # fp32 master + Adam m + v
E5M6_BYTES = 1.5  # DeepSeek-V3's 12-bit format for the attention output projection's cached input
MASTER_BYTES_PER_PARAM = 4.0
MOMENT_BYTES = {"fp32": 4.0, "bf16": 2.0}  # each of Adam's two moments
LOGIT_BYTES = {"fp32": 6.0, "inplace": 2.0}  # per logit kept for the loss's backward (module docstring)


def optimizer_bytes_per_param(training: TrainingSpec) -> float:
    """fp32 master weights plus Adam's two moments in ``optimizer_state_dtype``."""
    return MASTER_BYTES_PER_PARAM + 2.0 * MOMENT_BYTES[training.optimizer_state_dtype]


@dataclass(frozen=True, slots=True)
class LayerActivation:
    stored: np.ndarray  # bytes kept per layer per micro-batch under the plan's recompute
    full: np.ndarray  # bytes of one layer with nothing recomputed (the recompute working set)


def layer_activation(model: ModelSpec, training: TrainingSpec, sh: Shapes, tp: np.ndarray,
                     mbs: np.ndarray, recompute: np.ndarray, *, moe_layer: bool,
                     expert_share: np.ndarray | float = 1.0) -> LayerActivation:
    """Bytes one layer keeps per micro-batch. Selective recompute drops what its modules
    re-run (training.recompute_modules): core_attn the attention scores, layernorm the norm
    outputs (the QKV and FC1 inputs), mla_up_proj MLA's full-width Q, K and V (the latents
    stay), moe_act the expert activation output. An fp8 MoE dispatch keeps the dispatched
    tokens and the expert activation input in fp8 for the backward (DeepSeek-V3 Sec. 3.3.4).
    ``activation_cache_dtype: fp8`` keeps every Linear's input in fp8 (the attention output
    projection's in E5M6, 1.5 bytes) and the SwiGLU inputs of the MoE layer's experts too
    (DeepSeek-V3 Sec. 3.3.4, "Low-Precision Activation"); Q, K, V and norm inputs stay bf16.
    ``expert_share`` (etp/tp, perf/experts.py): a GPU's experts keep the dispatched tokens of
    its etp ETP ranks (tokens*share*top_k x h); their activations, tokens*share*top_k x
    expert_ffn/etp, are the same bytes whatever etp."""
    h, t, sp = model.hidden_size, sh.tokens, sh.sp_div
    d_qk, d_v = head_dims(model)
    mods = set(training.recompute_modules)
    mask = 1.0 if training.dropout else 0.0
    fp8_cache = training.activation_cache_dtype == "fp8"
    lin = 1.0 if fp8_cache else ACT_BYTES  # a Linear's input kept for its weight gradient
    proj_in = E5M6_BYTES if fp8_cache else ACT_BYTES
    norm_out = lin * t * h / sp  # one norm's output: the QKV (or FC1) input
    # attention block: norm input, QKV input, Q, K, V, projection input, dropout mask
    qkv = ACT_BYTES * t * (sh.heads * d_qk + sh.kv_heads * (d_qk + d_v))
    attn_rest = (2.0 + mask) * t * h / sp + proj_in * t * sh.heads * d_v
    if model.mla is not None:
        attn_rest = attn_rest + lin * t * (model.mla.kv_lora_rank + (model.mla.q_lora_rank or 0)) / tp
    if training.attention_kernel in FUSED_ATTENTION_KERNELS:
        scores = 4.0 * t * sh.heads  # fp32 log-sum-exp per row
    else:
        scores = (2.0 + 3.0 * mask) * mbs * sh.heads * sh.seq_q * training.seq_len
    gate = 2.0 if model.is_gated else 1.0
    ffn_rest = (2.0 + mask) * t * h / sp
    if moe_layer:
        assert model.moe is not None
        moe = model.moe
        routed = t * moe.top_k
        low = 1.0 if training.moe_dispatch_dtype == "fp8" else ACT_BYTES
        act_in = low * routed * gate * model.expert_ffn / tp
        act_out = lin * routed * model.expert_ffn / tp
        # the dispatched input; and the expert output, which the router-probability gradient
        # needs unless the probabilities scale the recomputed activation (weighted SwiGLU)
        ffn_rest = ffn_rest + routed * expert_share * h * (low + (0.0 if "moe_act" in mods else ACT_BYTES))
        if moe.num_shared_experts:
            width = moe.num_shared_experts * model.shared_expert_ffn / tp
            act_in, act_out = act_in + lin * t * gate * width, act_out + lin * t * width
    else:
        act_in = ACT_BYTES * t * gate * model.ffn_hidden_size / tp
        act_out = lin * t * model.ffn_hidden_size / tp
    full = attn_rest + qkv + 2.0 * norm_out + scores + ffn_rest + act_in + act_out
    selective = (full - ("core_attn" in mods) * scores - ("layernorm" in mods) * 2.0 * norm_out
                 - ("mla_up_proj" in mods and model.mla is not None) * qkv - ("moe_act" in mods) * act_out)
    layer_input = ACT_BYTES * t * h / sp
    if "alternate_mm" in mods and not moe_layer:
        selective = alternate_mm_kept(model, sh, tp)
    stored = np.where(recompute == 2, layer_input, np.where(recompute == 1, selective, full))
    return LayerActivation(stored=stored, full=full)


def alternate_mm_kept(model: ModelSpec, sh: Shapes, tp: np.ndarray) -> np.ndarray:
    """torchtitan's op-level selective checkpointing (parallelize_llama.py _save_list and
    "save output of all compute ops, except every second mm", counted per layer): a layer
    keeps its input, the outputs of its 1st, 3rd, 5th and 7th matmul (wq: Q, wv: V, w1: the
    gate, w2: the FFN output) and of the attention kernel (its output and log-sum-exp);
    norms, RoPE, wk, wo, w3 and the activation re-run in the backward. Counted in Llama's
    order (separate wq, wk, wv; gated FFN w1, w3, w2); MoE layers keep their other modules'
    rule."""
    h, t = model.hidden_size, sh.tokens
    d_qk, d_v = head_dims(model)
    kept = 2.0 * t * h / sh.sp_div + t * h  # the input; w2's output (before the TP reduce)
    kept = kept + t * (sh.heads * d_qk + sh.kv_heads * d_v + model.ffn_hidden_size / tp + sh.heads * d_v)
    return ACT_BYTES * kept + 4.0 * t * sh.heads


@dataclass(frozen=True, slots=True)
class StateBytes:
    weights: np.ndarray
    grads: np.ndarray
    optimizer: np.ndarray


def state_bytes(dense_params: np.ndarray, expert_params: np.ndarray, dp_cp: np.ndarray, ep: np.ndarray,
                zero: np.ndarray, training: TrainingSpec, bf16_only_params: np.ndarray | float = 0.0,
                edp: np.ndarray | None = None) -> StateBytes:
    """Weights, gradients and Adam states of the parameters a GPU owns before sharding.
    ``bf16_only_params`` (part of ``dense_params``: the embedding and output layer) get no fp8 copy.
    ``edp``: the experts' data-parallel size (default dp_cp // ep, perf/experts.py)."""
    fp8 = 1.0 if training.precision == "fp8" else 0.0
    grad_b = 4.0 if training.grad_reduce_in_fp32 else ACT_BYTES
    edp = np.maximum(dp_cp // ep, 1) if edp is None else edp

    def sharded(bytes_per_param: float, stage: int, dense_params=dense_params) -> np.ndarray:
        dense = np.where(zero >= stage, dense_params / dp_cp, dense_params)
        experts = np.where(zero >= stage, expert_params / edp, expert_params)
        return bytes_per_param * (dense + experts)

    # GEMM weights: bf16 plus TE's fp8 copy; with fp8 parameters (param_gather_dtype fp8,
    # Megatron-Core --fp8-param-gather: "keep the compute param in fp8 (do not use any other
    # intermediate dtype)") the fp8 copy only. The embedding and output layer stay bf16.
    gemm_b = 1.0 if training.param_gather_dtype == "fp8" else ACT_BYTES + fp8
    weights = sharded(gemm_b, 3)
    if fp8:
        weights = weights + (ACT_BYTES - gemm_b) * np.where(zero >= 3, bf16_only_params / dp_cp, bf16_only_params)
    return StateBytes(weights=weights, grads=sharded(grad_b, 2),
                      optimizer=sharded(optimizer_bytes_per_param(training), 1))


def reserve_bytes(plans: PlanBatch, moe: bool) -> np.ndarray:
    """CUDA context plus one NCCL buffer set per communicator the plan opens."""
    dp_cp = plans.dp * plans.cp
    edp = experts.expert_dp(plans.tp, plans.cp, plans.dp, plans.ep, plans.expert_tp)
    comms = ((plans.tp > 1).astype(float) + (plans.cp > 1) + (dp_cp > 1) + (plans.ep > 1)
             + ((edp > 1) & moe) + 2.0 * (plans.pp > 1))  # pp: one per neighbour
    return CUDA_CONTEXT_BYTES + NCCL_COMMUNICATOR_BYTES * comms


@dataclass(frozen=True, slots=True)
class _Stage:
    weights: np.ndarray
    grads: np.ndarray
    optimizer: np.ndarray
    act_micro: np.ndarray  # stored activations of one micro-batch through the stage
    act_fixed: np.ndarray  # logits/loss and the recompute working set (once)
    act_layer: np.ndarray  # the stage's largest layer's stored activations (offload double buffer)
    gather: np.ndarray  # ZeRO-3 gathered weights of two layers


def _activations(model: ModelSpec, training: TrainingSpec, sh: Shapes, tp, mbs, recompute, etp=None):
    dense_act = layer_activation(model, training, sh, tp, mbs, recompute, moe_layer=False)
    share = experts.token_share(tp, etp)
    moe_act = (layer_activation(model, training, sh, tp, mbs, recompute, moe_layer=True, expert_share=share)
               if model.moe else dense_act)
    return dense_act, moe_act


def stage_activation_bytes(model: ModelSpec, training: TrainingSpec, sh: Shapes, tp, mbs, recompute,
                           layers: StageLayers, etp=None) -> np.ndarray:
    """Stored activations of one micro-batch through the largest stage (what offload copies)."""
    dense_act, moe_act = _activations(model, training, sh, tp, mbs, recompute, etp)
    per_layer = np.maximum(dense_act.stored, moe_act.stored)
    return per_layer * np.maximum(np.maximum(layers.first, layers.middle), layers.last)


def step_memory(model: ModelSpec, training: TrainingSpec, sh: Shapes, plans: PlanBatch, zero: np.ndarray,
                layers: StageLayers, params: LayerParams, sched: ScheduleResult) -> dict[str, np.ndarray]:
    """Memory of the fullest pipeline rank, by kind (MEMORY_FIELDS) and in total."""
    tp, pp, ep, mbs, recompute = plans.tp, plans.pp, plans.ep, plans.mbs, plans.recompute
    dp_cp = plans.dp * plans.cp
    dense_act, moe_act = _activations(model, training, sh, tp, mbs, recompute, plans.expert_tp)
    emb_act = (ACT_BYTES + (1.0 if training.dropout else 0.0)) * sh.tokens * model.hidden_size / sh.sp_div
    logit_act = LOGIT_BYTES[training.cross_entropy] * sh.tokens * model.vocab_size / tp
    edp = experts.expert_dp(tp, plans.cp, plans.dp, ep, plans.expert_tp)
    n_micro = plans.micro_batches(training.global_batch_size)
    deferred = deferral.buffer_bytes(model, sh, tp, deferral.deferred_micro_batches(training, pp, plans.schedule, n_micro))

    def stage(n_layers, before, first, last) -> _Stage:
        n_layers = n_layers + np.where(last, model.mtp_depth, 0)  # MTP modules follow the last layer
        n_dense = dense_count(model, before, n_layers)
        n_moe = n_layers - n_dense
        act_micro = n_dense * dense_act.stored + n_moe * moe_act.stored + np.where(first, emb_act, 0.0)
        fixed = (np.where(last, (1.0 + model.mtp_depth) * logit_act + deferred, 0.0)
                 + np.where(recompute == 2, np.maximum(dense_act.full, moe_act.full), 0.0))
        layer = np.maximum(np.where(n_dense > 0, dense_act.stored, 0.0), np.where(n_moe > 0, moe_act.stored, 0.0))
        dense_p = n_dense * params.dense_layer + n_moe * params.moe_shared
        io_p = np.where(first, params.embedding, 0.0) + np.where(last, params.output, 0.0)
        st = state_bytes(dense_p + io_p, n_moe * params.moe_experts, dp_cp, ep, zero, training, io_p, edp)
        # ZeRO-3 gathers one layer ahead: two of this stage's layers in full, but only the
        # parts that are sharded at all (a shard group of one gathers nothing)
        gathered_moe = (params.moe_shared * (dp_cp > 1) + params.moe_experts * (edp > 1)) * (n_moe > 0)
        gathered_dense = params.dense_layer * (dp_cp > 1) * (n_dense > 0)
        gather = np.where(zero == 3, 2.0 * np.maximum(gathered_dense, gathered_moe) * ACT_BYTES, 0.0)
        optimizer = np.zeros_like(st.optimizer) if training.offload.optimizer else st.optimizer
        return _Stage(st.weights, st.grads, optimizer, act_micro, fixed, layer, gather)

    zero_i = np.zeros_like(pp)
    first = stage(layers.first, zero_i, True, pp == 1)
    mid = stage(layers.middle, layers.first, False, False)
    last = stage(layers.last, model.num_layers - layers.last, pp == 1, True)
    dual = sched.weight_copies > 1
    ranks = [_rank(first, sched.in_flight_first, training), _rank(mid, sched.in_flight_middle, training),
             _rank(last, sched.in_flight_last, training)]
    paired = _pair(first, last, sched.in_flight_first, training)  # DualPipe: stage i with stage pp-1-i
    mid_pair = _pair(mid, mid, sched.in_flight_middle, training)
    ranks = [{k: np.where(dual, p[k], r[k]) for k in r} for r, p in zip(ranks, (paired, mid_pair, paired), strict=True)]
    reserve = reserve_bytes(plans, model.moe is not None)
    for r in ranks:
        r["buffers_bytes"] = reserve + r.pop("gather")
        r["fragmentation_bytes"] = FRAGMENTATION_FRACTION * (r["activations_bytes"] + r["buffers_bytes"] - reserve)
    totals = [sum(r[n] for n in MEMORY_FIELDS) for r in ranks]
    totals[1] = np.where(layers.has_middle, totals[1], -1.0)
    best = np.argmax(np.stack(totals), axis=0)
    out = {name: np.choose(best, [r[name] for r in ranks]) for name in MEMORY_FIELDS}
    out["memory_bytes"] = sum(out[n] for n in MEMORY_FIELDS)
    return out


def _held_activations(act_micro, act_layer, act_fixed, flight, training: TrainingSpec) -> np.ndarray:
    if training.offload.activations:
        return 2.0 * act_layer + act_fixed
    return act_micro * flight + act_fixed


def _rank(s: _Stage, flight: np.ndarray, training: TrainingSpec) -> dict[str, np.ndarray]:
    return {"weights_bytes": s.weights, "gradients_bytes": s.grads, "optimizer_bytes": s.optimizer,
            "activations_bytes": _held_activations(s.act_micro, s.act_layer, s.act_fixed, flight, training),
            "gather": s.gather}


def _pair(a: _Stage, b: _Stage, flight: np.ndarray, training: TrainingSpec) -> dict[str, np.ndarray]:
    """A DualPipe rank: both stages' states and pp + 1 micro-batches of activations. An end
    rank (0 or pp-1) starts its direction with stage 0 (``a``) and holds pp micro-batches of
    it at the peak, and one of stage pp-1 (``b``): deepseek-ai/DualPipe dualpipe.py step():
    2(pp/2 - r - 1) + (r + 1) + 1 forward chunks of phase 0 and r + 1 of phase 1 on the rank
    r from its end, r = 0 here (middle ranks pair equal stages: the split does not matter)."""
    held_b = np.minimum(flight, 1.0)
    act = _held_activations((flight - held_b) / flight * a.act_micro + held_b / flight * b.act_micro,
                            np.maximum(a.act_layer, b.act_layer), a.act_fixed + b.act_fixed, flight, training)
    return {"weights_bytes": a.weights + b.weights, "gradients_bytes": a.grads + b.grads,
            "optimizer_bytes": a.optimizer + b.optimizer, "activations_bytes": act,
            "gather": np.maximum(a.gather, b.gather)}
