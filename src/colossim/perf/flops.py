"""Model FLOPs: the MFU numerator.

Per token and layer, forward: 2 FLOPs per weight of every matmul the token passes through
(attention projections, the dense FFN or the router plus top-k and shared experts), plus
the attention scores, 2*s*a*d_qk for QK^T and 2*s*a*d_v for AV, counted over the full
s x s matrix (the convention of Megatron-LM, PaLM Appendix B and Korthikanti 2022, so that
published MFU figures compare directly; causal kernels execute about half of it, which
the time model accounts for and :func:`causal_skipped_flops_per_step` counts). Output
logits add 2*h*V. Backward is twice the forward (Kaplan et al. 2020; Narayanan et al. 2021
Eq. 3), so a step is 3x forward.

For a GPT with a 4h FFN this is Megatron's 72*B*s*L*h^2*(1 + s/(6h) + V/(12*h*L)).
Left out: norms, activations, softmax and the optimizer (memory-bound, counted in time
but not in FLOPs, as every peer does).
"""

from __future__ import annotations

from colossim.scenario.model import ModelSpec


def attention_score_flops_per_token(model: ModelSpec, seq_len: int) -> float:
    """QK^T and AV FLOPs per token per layer, forward, full (non-causal) matrix."""
    if model.mla is not None:
        d_qk = model.mla.qk_nope_head_dim + model.mla.qk_rope_head_dim
        d_v = model.mla.v_head_dim
    else:
        d_qk = d_v = model.dim_head
    return 2.0 * seq_len * model.num_heads * (d_qk + d_v)


def layer_matmul_params(model: ModelSpec, *, moe_layer: bool) -> float:
    """Weights one token multiplies by in one layer (active experts only). A capacity factor
    below 1 drops the routed copies over capacity (perf/layer.py computes only those kept):
    their expert FLOPs are not done, so they are not counted (else MFU passes 100%)."""
    if moe_layer:
        assert model.moe is not None
        kept = min(model.moe.capacity_factor or 1.0, 1.0)
        dropped = (1.0 - kept) * model.moe.top_k * model.ffn_params(model.expert_ffn, biases=False)
        ffn = model.moe_ffn_params(active=True, biases=False) - dropped
    else:
        ffn = float(model.ffn_params(model.ffn_hidden_size, biases=False))
    return float(model.attention_params(biases=False) + ffn)


def forward_flops_per_token(model: ModelSpec, seq_len: int) -> float:
    """Model FLOPs of one token's forward pass through the whole network."""
    attn = attention_score_flops_per_token(model, seq_len)
    dense = model.num_dense_layers * (2.0 * layer_matmul_params(model, moe_layer=False) + attn)
    moe = model.num_moe_layers * (2.0 * layer_matmul_params(model, moe_layer=True) + attn) if model.moe else 0.0
    logits = 2.0 * model.hidden_size * model.vocab_size
    return dense + moe + logits


def model_flops_per_step(model: ModelSpec, seq_len: int, global_batch_size: int) -> float:
    """Forward + backward model FLOPs of one optimizer step (no recomputation)."""
    return 3.0 * forward_flops_per_token(model, seq_len) * seq_len * global_batch_size


def mla_up_projection_params(model: ModelSpec) -> float:
    """MLA's query and key/value up-projection weights (what mla_up_proj recompute re-runs)."""
    if model.mla is None:
        return 0.0
    m, a = model.mla, model.num_heads
    q = m.q_lora_rank * a * (m.qk_nope_head_dim + m.qk_rope_head_dim) if m.q_lora_rank else 0
    return float(q + m.kv_lora_rank * a * (m.qk_nope_head_dim + m.v_head_dim))


def causal_skipped_flops_per_step(model: ModelSpec, seq_len: int, global_batch_size: int,
                                  recompute: int = 0, modules: tuple[str, ...] = ("core_attn",)) -> float:
    """The attention-score FLOPs the counts above include and a causal kernel never runs: half
    the s x s matrix, in the forward, the backward (twice the forward) and any recomputed
    forward of the attention core (full recompute, or selective with ``core_attn``). Model
    FLOPs minus this is what the GPUs execute; at long sequences, where attention dominates,
    the convention's MFU reads up to twice the executed share."""
    reruns = 1 if recompute == 2 or (recompute == 1 and "core_attn" in modules) else 0
    half = 0.5 * attention_score_flops_per_token(model, seq_len)
    return (3 + reruns) * model.num_layers * half * seq_len * global_batch_size


def recompute_flops_per_step(model: ModelSpec, seq_len: int, global_batch_size: int, recompute: int,
                             modules: tuple[str, ...] = ("core_attn",)) -> float:
    """Extra FLOPs of activation recomputation: full re-runs every layer's forward,
    selective re-runs its modules' GEMMs: the attention core (Korthikanti et al. 2022,
    section 5) and MLA's up-projections (norms and activations are not FLOPs here)."""
    tokens = seq_len * global_batch_size
    if recompute == 2:
        return (forward_flops_per_token(model, seq_len) - 2.0 * model.hidden_size * model.vocab_size) * tokens
    if recompute == 1:
        per_token = attention_score_flops_per_token(model, seq_len) if "core_attn" in modules else 0.0
        if "mla_up_proj" in modules:
            per_token += 2.0 * mla_up_projection_params(model)
        if "alternate_mm" in modules:  # wk, wo, w3 of each layer (perf/recompute.py)
            per_token += 2.0 * model.hidden_size * (model.kv_heads * model.dim_head + model.num_heads * model.dim_head
                                                   + model.ffn_hidden_size)
        return model.num_layers * per_token * tokens
    return 0.0
