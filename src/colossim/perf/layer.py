"""Time of one transformer layer for one micro-batch on one GPU, vectorized over plans.

Every operation is costed on a roofline: time = max(FLOPs / achievable FLOP/s,
bytes / achievable HBM bandwidth) + a fixed per-kernel cost (launch, ramp and tail
waves), so small GEMMs and thin attention batches lose efficiency by themselves.

- GEMMs (Megatron tensor parallelism, Shoeybi et al. 2019): QKV and FC1 are split by
  columns, the output projection and FC2 by rows; each rank multiplies all the micro-
  batch's tokens. Backward runs two GEMMs of the forward's size (data and weight gradient).
- Attention core: FlashAttention (fused, causal half of the matrix, backward 2.5x the
  forward's FLOPs: Dao 2023) or the unfused Megatron kernels (QK^T and AV as batched GEMMs
  over the full matrix, plus scale-mask-softmax and dropout over the a*s^2 scores).
- Memory-bound work: norms, residual adds, dropout, activation function, RoPE, MoE token
  permutation; bytes counted per token from the tensors each kernel reads and writes;
  backward moves about twice the forward's bytes. Fused kernels (apex/TE/jit fusions,
  torch.compile) read their inputs and write their output once; PyTorch eager composite
  ops (``elementwise_kernels: eager``) pass every intermediate through HBM
  (EAGER_BYTES_PER_ELEMENT). With sequence parallelism norms,
  residuals and dropout touch only 1/tp of the tokens (Korthikanti et al. 2022).
- MoE (Megatron-Core): each GPU runs its E/ep experts as one grouped GEMM. Experts keep
  the dense TP split by default (etp = tp): M = tokens*top_k*ep/E per expert, width
  expert_ffn/tp. With their own split etp (MoE parallel folding, perf/experts.py) a GPU's
  experts see the tokens of its etp ETP ranks only: M = tokens*(etp/tp)*top_k*ep/E, width
  expert_ffn/etp, so the expert FLOPs per GPU are the same (tokens*top_k*expert_ffn/tp) in
  fewer, larger GEMMs; the router and the permutation run on the GPU's tokens*(etp/tp).

Left out: kernel fusion beyond what is listed, GEMM wave quantization, clock throttling
(folded into the sustained GEMM fraction), imbalance between experts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from colossim.perf import experts as experts_mod
from colossim.perf.hardware import FLASH_ATTENTION_KERNELS, Hardware
from colossim.scenario.model import ModelSpec
from colossim.scenario.training import TrainingSpec

ACT_BYTES = 2.0  # bf16/fp16 activations (fp8 GEMMs still read and write bf16 tensors)
# attention kernels that never hold the score matrix (FlashAttention v1/v2 class, cuDNN); the rest is unfused
FUSED_ATTENTION_KERNELS = (*FLASH_ATTENTION_KERNELS, "cudnn")
ELEMENTWISE_KERNELS_FWD = 16  # norms, residual adds, bias-activation, dropouts, RoPE, QKV split/transpose copies, TP collectives
# HBM bytes per element of PyTorch eager composite ops on bf16 tensors (fused: what one kernel reads and writes).
# rmsnorm (nn.RMSNorm / torchtitan norms.py in eager): x.float() 2+4, pow 4+4, mean 4, x*rsqrt 4+4, type_as 4+2,
#   *weight 2+2 = 36 (fused: 2+2 = 4); a LayerNorm is one native ATen kernel either way (4).
# gated activation: silu(a) 2+2, silu(a)*b 4+2 = 10 (fused: 6). RoPE (torchtitan apply_rotary_emb): float cast 2+4,
#   complex multiply 8+8, type_as 4+2 = 28 (fused: 4). Residual adds are one kernel either way.
EAGER_BYTES_PER_ELEMENT = {"rmsnorm": 36.0, "gated_act": 10.0, "rope": 28.0}
# FP8 GEMMs read fp8 operands that a quantizing pass makes from the bf16 activations (DeepSeek-V3
# Sec. 3.5.2: activations are read from HBM, quantized and written back before the MMA reads
# them again). Bytes per element of a GEMM input, by fp8 recipe (training.fp8_recipe):
# - delayed: the cast (read 2, write 1) uses the scale of the amax history and takes the new amax
#   in the same pass (Transformer Engine 1.10 transformer_engine/common/transpose/cast_transpose.cu);
# - current: an amax pass (read 2) before the cast, "because cache cannot fit in the entire tensor
#   to compute amax and quantize" (TE 2.4 pytorch/csrc/extensions/activation.cpp and cast.cpp:
#   nvte_compute_amax, then the quantize); torchao's dynamic tensorwise scaling likewise;
# - mxfp8: one pass computes each 32-element block's E8M0 scale and writes row-wise and
#   column-wise copies with their scales (TE 2.4 common/util/cast_kernels.cuh cast_mxfp8_2D_kernel);
# - blockwise: DeepSeek-V3's tiles are scaled online in the quantizing pass (Sec. 3.3.2): one pass.
# A tensor-scaled input is also written transposed where fp8 GEMMs run only in the TN layout
# (Hopper: efficiency profile fp8_tn_only). Left out: Transformer Engine's fusions of the cast into
# the norm or activation that produces the input (delayed scaling in TE 1.x: the producer writes
# fp8 itself), and the scales' own bytes of the block recipes (1 per 32 or 128 elements). The
# backward pays it again on the output gradients, taken as twice the forward (every elementwise
# kernel's backward is).
FP8_QUANTIZE_BYTES = {"delayed": 3.0, "current": 5.0, "mxfp8": 4.0, "blockwise": 3.0}
FP8_TRANSPOSED_COPY_BYTES = 1.0


def fp8_quantize_bytes(recipe: str, tn_only: bool) -> float:
    """HBM bytes per element of quantizing one fp8 GEMM input (the table above)."""
    transposed = FP8_TRANSPOSED_COPY_BYTES if tn_only and recipe in ("delayed", "current", "blockwise") else 0.0
    return FP8_QUANTIZE_BYTES[recipe] + transposed


def gemm_shape(mn: np.ndarray | float, k: np.ndarray | float, half_output: np.ndarray | float,
               half_k: np.ndarray | float) -> np.ndarray | float:
    """The share of its sustained rate a GEMM with ``mn`` output elements and reduction length
    ``k`` reaches: mn/(mn + half_output) * k/(k + half_k) (:func:`gemm_s`; calibration/profile.py
    fits the two halves with this same function). Broadcasts."""
    return mn / (mn + half_output) * k / (k + half_k)


def gemm_s(m: np.ndarray, n: np.ndarray | float, k: np.ndarray | float, hw: Hardware,
           flops_s: float, count: np.ndarray | float = 1.0) -> np.ndarray:
    """``count`` GEMMs of (m x k) @ (k x n) in one kernel (batched or grouped).

    Efficiency falls for small shapes: the output must cover the GPU's SMs with tiles,
    m*n/(m*n + half_output), and each tile's reduction must be long enough to amortise
    its prologue and epilogue, k/(k + half_k). Both halves come from the GPU's profile.
    Every kernel also pays a fixed GPU time, ``gemm_floor_s`` (first loads, pipeline fill,
    epilogue), which dominates below ~1k cubed. On Hopper and Blackwell the three are fitted
    together to one GPU's measured GEMM table (benchmarks/gemm_curve.py; ``colossim calibrate``
    for a user's sweep); a profile without a floor pays ``kernel_overhead_s`` per GEMM.
    """
    flops = 2.0 * m * n * k * count
    traffic = ACT_BYTES * (m * k + k * n + m * n) * count
    mn = m * n * count
    shape = gemm_shape(mn, k, hw.gemm_half_output, hw.gemm_half_k)
    return np.maximum(flops / (flops_s * shape), traffic / hw.hbm_bytes_s) + hw.gemm_floor_s


@dataclass(frozen=True, slots=True)
class LayerTimes:
    """Per layer, per micro-batch, per GPU (seconds)."""

    fwd: np.ndarray  # forward compute
    bwd: np.ndarray  # backward compute
    attn_core_fwd: np.ndarray  # what selective recompute re-runs
    attn_core_bwd: np.ndarray
    gemm_fwd: np.ndarray  # GEMM share of fwd (TP overlap hides comm behind it)
    # tp_overlap "full" only (exposure.tp_exposed): the forward TP GEMMs run as tp chunks of
    # tokens/tp rows, each less efficient than the whole; and the copy-engine traffic of the
    # ring exchange in HBM
    gemm_chunk_loss: np.ndarray | float = 0.0
    tp_copy_hbm_s: np.ndarray | float = 0.0


@dataclass(frozen=True, slots=True)
class Shapes:
    """Per-plan shapes shared by the time and memory models."""

    tokens: np.ndarray  # tokens per micro-batch per GPU before the sequence-parallel split
    seq_q: np.ndarray  # query length per GPU (seq_len / cp)
    heads: np.ndarray  # attention heads per GPU
    kv_heads: np.ndarray
    sp_div: np.ndarray  # tp where sequence parallelism shards norms/dropout, else 1


def shapes(model: ModelSpec, training: TrainingSpec, tp: np.ndarray, cp: np.ndarray,
           mbs: np.ndarray, sp: np.ndarray) -> Shapes:
    seq_q = training.seq_len / cp
    return Shapes(
        tokens=mbs * seq_q,
        seq_q=seq_q,
        heads=model.num_heads / tp,
        kv_heads=np.maximum(model.kv_heads / tp, 1.0),
        sp_div=np.where(sp, tp, 1).astype(float),
    )


def head_dims(model: ModelSpec) -> tuple[int, int]:
    if model.mla is not None:
        return model.mla.qk_nope_head_dim + model.mla.qk_rope_head_dim, model.mla.v_head_dim
    return model.dim_head, model.dim_head


def attention_projection_s(model: ModelSpec, sh: Shapes, hw: Hardware) -> np.ndarray:
    h, t = model.hidden_size, sh.tokens
    d_qk, d_v = head_dims(model)
    if model.mla is not None:
        m = model.mla
        q = (gemm_s(t, m.q_lora_rank, h, hw, hw.gemm_flops) + gemm_s(t, sh.heads * d_qk, m.q_lora_rank, hw, hw.gemm_flops)
             if m.q_lora_rank else gemm_s(t, sh.heads * d_qk, h, hw, hw.gemm_flops))
        kv = gemm_s(t, m.kv_lora_rank + m.qk_rope_head_dim, h, hw, hw.gemm_flops)
        kv = kv + gemm_s(t, sh.heads * (m.qk_nope_head_dim + d_v), m.kv_lora_rank, hw, hw.gemm_flops)
        return q + kv + gemm_s(t, h, sh.heads * d_v, hw, hw.gemm_flops)
    qkv = gemm_s(t, (sh.heads + 2 * sh.kv_heads) * d_qk, h, hw, hw.gemm_flops)
    return qkv + gemm_s(t, h, sh.heads * d_v, hw, hw.gemm_flops)


def attention_core_s(model: ModelSpec, training: TrainingSpec, sh: Shapes, mbs: np.ndarray,
                     hw: Hardware) -> tuple[np.ndarray, np.ndarray]:
    """Forward and backward time of QK^T, softmax and AV."""
    d_qk, d_v = head_dims(model)
    s_k = float(training.seq_len)
    batch = mbs * sh.heads
    if training.attention_kernel in FUSED_ATTENTION_KERNELS:
        flops = 2.0 * batch * sh.seq_q * s_k * (d_qk + d_v) * 0.5  # causal: half the matrix
        # a kernel sweeps a chunk of seq_q keys (context parallelism splits the sequence)
        fwd = flops / hw.attn_fwd_flops * (1.0 + hw.attn_fwd_half_seq / sh.seq_q) + hw.kernel_overhead_s
        bwd = 2.5 * flops / hw.attn_bwd_flops * (1.0 + hw.attn_bwd_half_seq / sh.seq_q) + 2 * hw.kernel_overhead_s
        return fwd, bwd
    scores = batch * sh.seq_q * s_k
    gemms = (gemm_s(sh.seq_q, s_k, d_qk, hw, hw.gemm_flops_bf16, batch)
             + gemm_s(sh.seq_q, d_v, s_k, hw, hw.gemm_flops_bf16, batch))
    softmax_bytes = scores * (4.0 + (5.0 if training.dropout else 0.0))
    fwd = gemms + softmax_bytes / hw.hbm_bytes_s + 2 * hw.kernel_overhead_s
    bwd_bytes = scores * (6.0 + (5.0 if training.dropout else 0.0))
    bwd = 2.0 * gemms + bwd_bytes / hw.hbm_bytes_s + 2 * hw.kernel_overhead_s
    return fwd, bwd


def elementwise_bytes(model: ModelSpec, training: TrainingSpec, sh: Shapes, ffn_width: float,
                      ffn_tokens: np.ndarray, tp: np.ndarray) -> np.ndarray:
    """Forward HBM traffic of the memory-bound kernels of one layer."""
    h = model.hidden_size
    eager = training.elementwise_kernels == "eager"
    norm_b = EAGER_BYTES_PER_ELEMENT["rmsnorm"] if eager and model.norm == "rmsnorm" else 4.0
    per_token = 2.0 * norm_b * h + 12.0 * h + (2.0 * h if training.dropout else 0.0)  # 2 norms, 2 residuals, masks
    residual = per_token * sh.tokens / sh.sp_div
    act = activation_bytes(model, ffn_width, ffn_tokens, tp, eager=eager)
    d_qk, _ = head_dims(model)
    rope_b = EAGER_BYTES_PER_ELEMENT["rope"] if eager else 4.0
    rope = rope_b * sh.tokens * (sh.heads + sh.kv_heads) * d_qk if model.position_embedding == "rope" else 0.0
    return residual + act + rope


def fp8_gemm_inputs(model: ModelSpec, sh: Shapes, tp: np.ndarray, *, moe_layer: bool,
                    expert_share: np.ndarray | float = 1.0) -> np.ndarray:
    """Elements of one layer's fp8 GEMM inputs (QKV, projection, FFN in and FFN out) per micro-batch.
    ``expert_share``: the experts' token share etp/tp (perf/experts.py): their inputs are
    tokens*share*top_k x h in and tokens*share*top_k x expert_ffn/etp out."""
    h, t = model.hidden_size, sh.tokens
    _, d_v = head_dims(model)
    attn = t * h / sh.sp_div + t * sh.heads * d_v
    if moe_layer:
        assert model.moe is not None
        moe = model.moe
        ffn = t * moe.top_k * (h * expert_share + model.expert_ffn / tp)
        if moe.num_shared_experts:
            ffn = ffn + t * (h / sh.sp_div + moe.num_shared_experts * model.shared_expert_ffn / tp)
    else:
        ffn = t * (h / sh.sp_div + model.ffn_hidden_size / tp)
    return attn + ffn


def activation_bytes(model: ModelSpec, width: float, tokens: np.ndarray, tp: np.ndarray,
                     eager: bool = False) -> np.ndarray:
    """The FFN activation function: gated reads 2 inputs and writes 1, else 1 and 1
    (eager gated: silu, then the product, EAGER_BYTES_PER_ELEMENT)."""
    gated_b = EAGER_BYTES_PER_ELEMENT["gated_act"] if eager else 6.0
    return (gated_b if model.is_gated else 4.0) * tokens * width / tp


def dense_ffn_s(model: ModelSpec, sh: Shapes, tp: np.ndarray, hw: Hardware) -> np.ndarray:
    h, f, t = model.hidden_size, model.ffn_hidden_size, sh.tokens
    up = (2 if model.is_gated else 1) * f / tp
    return gemm_s(t, up, h, hw, hw.gemm_flops) + gemm_s(t, h, f / tp, hw, hw.gemm_flops)


def moe_ffn_s(model: ModelSpec, sh: Shapes, tp: np.ndarray, ep: np.ndarray,
              hw: Hardware, etp: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Grouped expert GEMMs + shared experts + router; and permutation bytes.

    ``etp`` (default tp): the experts' tensor split. Tokens per expert per GPU
    t*(etp/tp)*top_k*ep/E*C, width expert_ffn/etp: E/ep experts x that is
    t*top_k*C*expert_ffn/tp per GPU whatever etp. Shared experts keep the dense split."""
    assert model.moe is not None
    moe, h, t = model.moe, model.hidden_size, sh.tokens
    gate = 2 if model.is_gated else 1
    share = experts_mod.token_share(tp, etp)
    local = moe.num_experts / ep
    per_expert = t * share * moe.top_k * ep / moe.num_experts * (moe.capacity_factor or 1.0)
    fe = model.expert_ffn / experts_mod.resolve_etp(tp, etp)
    experts = gemm_s(per_expert, gate * fe, h, hw, hw.gemm_flops, local)
    experts = experts + gemm_s(per_expert, h, fe, hw, hw.gemm_flops, local)
    router = gemm_s(t * share, moe.num_experts, h, hw, hw.gemm_flops_bf16)
    shared = 0.0
    if moe.num_shared_experts:
        fs = moe.num_shared_experts * model.shared_expert_ffn / tp
        shared = gemm_s(t, gate * fs, h, hw, hw.gemm_flops) + gemm_s(t, h, fs, hw, hw.gemm_flops)
    permute_bytes = 4.0 * ACT_BYTES * t * share * moe.top_k * h  # scatter and gather, read + write
    return experts + router + shared, permute_bytes


def layer_times(model: ModelSpec, training: TrainingSpec, sh: Shapes, tp: np.ndarray, ep: np.ndarray,
                mbs: np.ndarray, hw: Hardware, *, moe_layer: bool, etp: np.ndarray | None = None) -> LayerTimes:
    proj = attention_projection_s(model, sh, hw)
    core_f, core_b = attention_core_s(model, training, sh, mbs, hw)
    if moe_layer:
        assert model.moe is not None
        ffn, permute = moe_ffn_s(model, sh, tp, ep, hw, etp)
        moe = model.moe
        ffn_tokens = sh.tokens * moe.top_k
        elem = elementwise_bytes(model, training, sh, model.expert_ffn, ffn_tokens, tp) + permute
        if moe.num_shared_experts:
            elem = elem + activation_bytes(model, moe.num_shared_experts * model.shared_expert_ffn, sh.tokens, tp,
                                           eager=training.elementwise_kernels == "eager")
    else:
        ffn = dense_ffn_s(model, sh, tp, hw)
        elem = elementwise_bytes(model, training, sh, model.ffn_hidden_size, sh.tokens, tp)
    if training.precision == "fp8":
        share = experts_mod.token_share(tp, etp) if moe_layer else 1.0
        elem = elem + (fp8_quantize_bytes(training.fp8_recipe, hw.fp8_tn_only)
                       * fp8_gemm_inputs(model, sh, tp, moe_layer=moe_layer, expert_share=share))
    elem_s = elem / hw.hbm_bytes_s + ELEMENTWISE_KERNELS_FWD * hw.kernel_overhead_s
    gemm = proj + ffn
    fwd = gemm + core_f + elem_s
    bwd = 2.0 * gemm + core_b + 2.0 * elem_s
    loss: np.ndarray | float = 0.0
    copy_s: np.ndarray | float = 0.0
    if training.tp_overlap in ("full", "forward"):
        loss, copy_s = chunked_tp_costs(model, sh, tp, hw)
    return LayerTimes(fwd=fwd, bwd=bwd, attn_core_fwd=core_f, attn_core_bwd=core_b, gemm_fwd=gemm,
                      gemm_chunk_loss=loss, tp_copy_hbm_s=copy_s)


def chunked_tp_costs(model: ModelSpec, sh: Shapes, tp: np.ndarray, hw: Hardware) -> tuple[np.ndarray, np.ndarray]:
    """What chunked TP overlap (Transformer Engine userbuffers, torch async TP) costs
    beside the communication it hides.

    - Chunked GEMMs: each overlapped GEMM runs as tp GEMMs of tokens/tp rows (ring
      exchange: one chunk per peer), each on the GEMM shape curve, so small chunks lose
      efficiency: the loss is tp * gemm(tokens/tp) - gemm(tokens), computed on the dense
      layer's four TP GEMMs (MoE layers: the attention projections; the experts' GEMMs are
      not TP-overlapped).
    - Copy engines: the ring exchange of the all-gathers runs on the copy engines
      (userbuffers' CE path, no SMs), but each byte received is written to and later read
      from HBM beside the GEMMs: 2 x (tp-1)/tp of the gathered activation, for the two
      forward all-gathers and the two backward ones.
    The SMs the reduce-scatter kernels take are the comm_sm_fraction of exposure.overlapped.
    """
    chunk = Shapes(tokens=sh.tokens / tp, seq_q=sh.seq_q, heads=sh.heads, kv_heads=sh.kv_heads, sp_div=sh.sp_div)
    chunked = attention_projection_s(model, chunk, hw) + (dense_ffn_s(model, chunk, tp, hw) if model.moe is None else 0.0)
    whole = attention_projection_s(model, sh, hw) + (dense_ffn_s(model, sh, tp, hw) if model.moe is None else 0.0)
    loss = np.maximum(tp * chunked - whole, 0.0) * (tp > 1)
    gathered = ACT_BYTES * sh.tokens * model.hidden_size * (tp - 1) / tp
    copy_s = 4.0 * 2.0 * gathered / hw.hbm_bytes_s
    return loss, copy_s


# HBM bytes per logit of the loss (forward, backward) by ``training.cross_entropy``:
# - fp32, Megatron-LM's _VocabParallelCrossEntropy: forward casts the bf16 logits to fp32
#   (read 2, write 4), takes the max (read 4), subtracts it (read 4, write 4), exponentiates
#   (4 + 4), sums (4) and normalises (4 + 4), keeping the softmax for the backward; backward
#   scales it in place (4 + 4) and casts back (4 + 2): 38 and 14.
# - inplace, one fused kernel over the bf16 logits (Transformer Engine's Triton
#   parallel_cross_entropy, transformer_engine/pytorch/triton/cross_entropy.py at v2.9,
#   70f5366: online_softmax_kernel reads the logits (2), cross_entropy_kernel reads them
#   again and overwrites them with their gradient (2 + 2); backward, element_mul_kernel
#   scales that gradient in place (2 + 2)): 6 and 4. DeepSeek's in-place kernel is taken
#   as the same traffic.
LOSS_BYTES = {"fp32": (38.0, 14.0), "inplace": (6.0, 4.0)}


def logits_gemm_s(model: ModelSpec, sh: Shapes, tp: np.ndarray, hw: Hardware) -> np.ndarray:
    """One of the output layer's three GEMMs (forward, input gradient, weight gradient): bf16,
    vocabulary-parallel."""
    return gemm_s(sh.tokens, model.vocab_size / tp, model.hidden_size, hw, hw.gemm_flops_bf16)


def logits_s(model: ModelSpec, training: TrainingSpec, sh: Shapes, tp: np.ndarray,
             hw: Hardware) -> tuple[np.ndarray, np.ndarray]:
    """Output layer and vocabulary-parallel cross-entropy: forward and backward."""
    v_loc = model.vocab_size / tp
    gemm = logits_gemm_s(model, sh, tp, hw)
    logits = sh.tokens * v_loc
    fwd_b, bwd_b = LOSS_BYTES[training.cross_entropy]
    fwd = gemm + fwd_b * logits / hw.hbm_bytes_s + 6 * hw.kernel_overhead_s
    bwd = 2.0 * gemm + bwd_b * logits / hw.hbm_bytes_s + 2 * hw.kernel_overhead_s
    return fwd, bwd
