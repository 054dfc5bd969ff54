"""Memory per GPU: weights, gradients, optimizer states, activations, buffers.

- Mixed-precision Adam (Rajbhandari et al. 2020, ZeRO): 2-byte weights, 2-byte gradients
  (4 with fp32 reduction), 12 bytes of fp32 master weights, momentum and variance per
  parameter. ZeRO-1 shards the optimizer states over the data-parallel ranks (dp*cp, as
  Megatron-Core's distributed optimizer), ZeRO-2 also the gradients, ZeRO-3 the weights.
  Expert parameters shard over their own data-parallel group, dp*cp/ep. FP8 training
  keeps bf16 weights plus a 1-byte fp8 copy (Transformer Engine).
- Activations per layer and micro-batch follow Korthikanti et al. 2022 (Table 2, Eq. 1-2:
  s*b*h*(34 + 5*a*s/h) bytes for a GPT without parallelism), generalised tensor by tensor
  to GQA, gated FFNs, MoE and flash attention (which keeps no s x s matrix); sequence
  parallelism divides the norm/dropout/residual tensors by tp; selective recompute drops
  the attention-score tensors; full recompute keeps each layer's input only, plus one
  layer's working set.
- In flight on a pipeline stage: 1F1B keeps min(pp - stage, m) micro-batches; the
  interleaved schedule keeps 1 + (pp-1)/(pp*vpp) times more (Korthikanti Eq. 3-4; Megatron's
  warm-up count (pp-1)*2 + (vpp-1)*pp + 1 chunk micro-batches on the first rank).
- Buffers: a fixed 2 GB for the CUDA context, NCCL communicators and library workspaces
  (measured ranges: 0.5-1 GB CUDA context, 0.2-0.5 GB per NCCL communicator), plus the
  gathered weights of two layers under ZeRO-3.

Left out: allocator fragmentation (often 5-15% of activations), pipeline send buffers,
and the spike of the first optimizer step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from colossim.perf.layer import ACT_BYTES, Shapes, head_dims
from colossim.scenario.model import ModelSpec
from colossim.scenario.training import TrainingSpec

FIXED_BUFFER_BYTES = 2.0e9
OPTIMIZER_BYTES_PER_PARAM = 12.0  # fp32 master + Adam m + v


@dataclass(frozen=True, slots=True)
class LayerActivation:
    stored: np.ndarray  # bytes kept per layer per micro-batch under the plan's recompute
    full: np.ndarray  # bytes of one layer with nothing recomputed (the recompute working set)


def layer_activation(model: ModelSpec, training: TrainingSpec, sh: Shapes, tp: np.ndarray,
                     mbs: np.ndarray, recompute: np.ndarray, *, moe_layer: bool) -> LayerActivation:
    h, t, sp = model.hidden_size, sh.tokens, sh.sp_div
    d_qk, d_v = head_dims(model)
    mask = 1.0 if training.dropout else 0.0
    # attention block: norm input, QKV input, Q, K, V, projection input, dropout mask
    attn = (4.0 + mask) * t * h / sp + ACT_BYTES * t * (sh.heads * d_qk + sh.kv_heads * (d_qk + d_v) + sh.heads * d_v)
    if model.mla is not None:
        attn = attn + ACT_BYTES * t * (model.mla.kv_lora_rank + (model.mla.q_lora_rank or 0)) / tp
    if training.attention_kernel == "flash":
        scores = 4.0 * t * sh.heads  # fp32 log-sum-exp per row
    else:
        scores = (2.0 + 3.0 * mask) * mbs * sh.heads * sh.seq_q * training.seq_len
    gate = 2.0 if model.is_gated else 1.0
    if moe_layer:
        assert model.moe is not None
        moe = model.moe
        routed = t * moe.top_k
        ffn = (4.0 + mask) * t * h / sp + ACT_BYTES * routed * (2.0 * h + (gate + 1.0) * model.expert_ffn / tp)
        if moe.num_shared_experts:
            ffn = ffn + ACT_BYTES * t * (gate + 1.0) * moe.num_shared_experts * model.shared_expert_ffn / tp
    else:
        ffn = (4.0 + mask) * t * h / sp + ACT_BYTES * t * (gate + 1.0) * model.ffn_hidden_size / tp
    full = attn + scores + ffn
    selective = attn + ffn
    layer_input = ACT_BYTES * t * h / sp
    stored = np.where(recompute == 2, layer_input, np.where(recompute == 1, selective, full))
    return LayerActivation(stored=stored, full=full)


def in_flight(pp: np.ndarray, vpp: np.ndarray, n_micro: np.ndarray, stage: int) -> np.ndarray:
    """Micro-batches whose activations a stage holds at its peak (in whole-stage units)."""
    one_f_one_b = np.minimum(np.maximum(pp - stage, 1), n_micro).astype(float)
    warmup_chunks = (pp - 1 - stage) * 2 + (vpp - 1) * pp + 1
    interleaved = np.minimum(warmup_chunks, n_micro * vpp) / vpp
    return np.where(vpp > 1, interleaved, one_f_one_b)


@dataclass(frozen=True, slots=True)
class StateBytes:
    weights: np.ndarray
    grads: np.ndarray
    optimizer: np.ndarray


def state_bytes(dense_params: np.ndarray, expert_params: np.ndarray, dp_cp: np.ndarray, ep: np.ndarray,
                zero: np.ndarray, training: TrainingSpec) -> StateBytes:
    """Weights, gradients and Adam states of the parameters a GPU owns before sharding."""
    weight_b = ACT_BYTES + (1.0 if training.precision == "fp8" else 0.0)
    grad_b = 4.0 if training.grad_reduce_in_fp32 else ACT_BYTES
    edp = np.maximum(dp_cp // ep, 1)

    def sharded(bytes_per_param: float, stage: int) -> np.ndarray:
        dense = np.where(zero >= stage, dense_params / dp_cp, dense_params)
        experts = np.where(zero >= stage, expert_params / edp, expert_params)
        return bytes_per_param * (dense + experts)

    return StateBytes(weights=sharded(weight_b, 3), grads=sharded(grad_b, 2),
                      optimizer=sharded(OPTIMIZER_BYTES_PER_PARAM, 1))
