"""Time selective recompute spends per layer and micro-batch, by module.

Megatron-Core's --recompute-modules (training.recompute_modules) re-runs, in the
backward pass, the forward of: core_attn (the attention core: Korthikanti et al. 2022's
selective recompute), layernorm (both norms: memory-bound, read the input, write the
output), mla_up_proj (MLA's query and key/value up-projection GEMMs, DeepSeek-V3 Sec.
3.3.4) and moe_act (the expert activation function over the routed tokens).
alternate_mm (torchtitan's op-level selective checkpointing, perf/memory.py
alternate_mm_kept) re-runs the 2nd, 4th and 6th matmul of a dense layer (wk, wo, w3) and
every memory-bound kernel of its forward.
Left out: the kernels' own launch cost beyond one per module.
"""

from __future__ import annotations

import numpy as np

from colossim.perf.hardware import Hardware
from colossim.perf.layer import ACT_BYTES, LayerTimes, Shapes, activation_bytes, gemm_s, head_dims
from colossim.scenario.model import ModelSpec
from colossim.scenario.training import TrainingSpec


def selective_s(model: ModelSpec, training: TrainingSpec, sh: Shapes, tp: np.ndarray, hw: Hardware,
                t: LayerTimes, *, moe_layer: bool) -> np.ndarray:
    mods = set(training.recompute_modules)
    out = t.attn_core_fwd if "core_attn" in mods else np.zeros_like(t.fwd)
    if "layernorm" in mods:
        out = out + 2.0 * (2.0 * ACT_BYTES * sh.tokens * model.hidden_size / sh.sp_div / hw.hbm_bytes_s
                           + hw.kernel_overhead_s)
    if "mla_up_proj" in mods and model.mla is not None:
        m = model.mla
        if m.q_lora_rank:
            out = out + gemm_s(sh.tokens, sh.heads * (m.qk_nope_head_dim + m.qk_rope_head_dim), m.q_lora_rank, hw, hw.gemm_flops)
        out = out + gemm_s(sh.tokens, sh.heads * (m.qk_nope_head_dim + m.v_head_dim), m.kv_lora_rank, hw, hw.gemm_flops)
    if "alternate_mm" in mods and not moe_layer:
        h, tokens = model.hidden_size, sh.tokens
        d_qk, d_v = head_dims(model)
        out = out + (gemm_s(tokens, sh.kv_heads * d_qk, h, hw, hw.gemm_flops)
                     + gemm_s(tokens, h, sh.heads * d_v, hw, hw.gemm_flops)
                     + gemm_s(tokens, model.ffn_hidden_size / tp, h, hw, hw.gemm_flops))
        out = out + (t.fwd - t.gemm_fwd - t.attn_core_fwd)  # the forward's memory-bound kernels
    if "moe_act" in mods and moe_layer and model.moe is not None:
        out = out + activation_bytes(model, model.expert_ffn, sh.tokens * model.moe.top_k, tp) / hw.hbm_bytes_s
    return out
