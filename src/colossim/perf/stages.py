"""How layers and parameters fall on pipeline stages.

Layers need not divide evenly among stages. Left to itself, colossim gives the leftover
layers to middle stages first, because the first stage also embeds and the last computes
logits and loss; ``first_stage_layers`` / ``last_stage_layers`` pin them instead
(Megatron-Core's --decoder-first/last-pipeline-num-layers; Llama 3 405B runs 126 layers on
16 stages with one fewer on the first and last). The slowest stage sets the pace.
With interleaving, counts are per stage (all its virtual chunks together), each stage's
layers spread over its chunks as evenly as possible; the largest chunk paces the fill and
drain (colossim.perf.schedule.chunk_factor).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from colossim.perf.experts import resolve_etp
from colossim.scenario.model import ModelSpec


@dataclass(frozen=True, slots=True)
class StageLayers:
    first: np.ndarray
    middle: np.ndarray  # the largest middle stage (equals first when pp <= 2 and no middle)
    last: np.ndarray
    has_middle: np.ndarray  # bool: pp > 2


def stage_layers(num_layers: int, pp: np.ndarray, first_fixed: np.ndarray, last_fixed: np.ndarray) -> StageLayers:
    n_fixed = (first_fixed > 0).astype(np.int64) + (last_fixed > 0)
    free_stages = np.maximum(pp - n_fixed, 1)
    rest = num_layers - first_fixed - last_fixed
    base = rest // free_stages
    extra = rest % free_stages
    # free stages in order: first (if free), middles, last (if free); extras go to middles first
    n_mid = np.maximum(pp - 2, 0)
    mid = base + (extra > 0)
    first_free = base + (extra > n_mid)
    last_free = base + (extra > n_mid + (first_fixed == 0))
    first = np.where(first_fixed > 0, first_fixed, np.where(pp == 1, num_layers, first_free))
    last = np.where(last_fixed > 0, last_fixed, np.where(pp == 1, num_layers, last_free))
    middle = np.where(pp > 2, mid, first)
    return StageLayers(first=first, middle=middle, last=last, has_middle=pp > 2)


@dataclass(frozen=True, slots=True)
class LayerParams:
    """Parameters of one layer held by one GPU (before ZeRO sharding)."""

    dense_layer: np.ndarray  # a layer with a dense FFN
    moe_shared: np.ndarray  # the non-expert part of an MoE layer (attention, router, shared experts)
    moe_experts: np.ndarray  # the routed experts this GPU holds
    embedding: np.ndarray  # word (+ position) embedding share
    output: np.ndarray  # output layer share (untied: its own matrix; tied with pp > 1: a copy)


def layer_params(model: ModelSpec, tp: np.ndarray, ep: np.ndarray, pp: np.ndarray, seq_len: int,
                 etp: np.ndarray | None = None) -> LayerParams:
    """Per GPU: dense parts split over tp; routed experts E/ep experts split over etp
    (default tp; MoE parallel folding, perf/experts.py)."""
    norms = model.norm_params_per_layer()
    attn = model.attention_params() / tp
    dense = attn + model.ffn_params(model.ffn_hidden_size) / tp + norms
    if model.moe is not None:
        moe = model.moe
        shared = attn + norms + model.router_params() + moe.num_shared_experts * model.ffn_params(model.shared_expert_ffn) / tp
        experts = moe.num_experts / ep * model.ffn_params(model.expert_ffn) / resolve_etp(tp, etp)
    else:
        shared = np.zeros_like(tp, dtype=float)
        experts = np.zeros_like(tp, dtype=float)
    vocab = model.vocab_size * model.hidden_size / tp
    positions = (model.max_position_embeddings or seq_len) * model.hidden_size if model.position_embedding == "learned" else 0
    embedding = vocab + positions
    needs_output = (not model.tied_embeddings) | (pp > 1)
    output = np.where(needs_output, vocab, 0.0)
    return LayerParams(dense_layer=np.asarray(dense, dtype=float), moe_shared=np.asarray(shared, dtype=float),
                       moe_experts=np.asarray(experts, dtype=float), embedding=np.asarray(embedding, dtype=float),
                       output=output)


def dense_count(model: ModelSpec, layers_before: np.ndarray, layers: np.ndarray) -> np.ndarray:
    """Dense-FFN layers among ``layers`` that start after ``layers_before`` (MoE models
    put their dense layers first)."""
    if model.moe is None:
        return layers
    n_dense = model.moe.first_dense_layers
    return np.clip(n_dense - layers_before, 0, layers)
