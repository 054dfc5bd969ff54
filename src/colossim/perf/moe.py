"""Expert-parallel all-to-all of one MoE layer and micro-batch, and how much of it shows.

Bytes. Each GPU dispatches its tokens (tokens / tp with sequence parallelism) to top_k
experts and combines them back; forward dispatch + combine, backward the same two in
reverse: 4 all-to-alls per layer and micro-batch. A capacity factor C pads every expert's
buffer to C * tokens * top_k / E (GShard/Switch fixed-shape dispatch; Megatron-Core
--moe-pad-expert-input-to-capacity), so the exchanged bytes scale with C; tokens over
capacity are dropped, which changes FLOPs, not the padded bytes. ``moe_dispatch_dtype:
fp8`` sends the forward dispatch in FP8 with one fp32 scale per 128 values (DeepSeek-V3
Sec. 3.3.2); combine and the backward stay BF16.

Node-limited routing (DeepSeek-V3 Sec. 2.1.2 and 3.2.2, ``max_nodes_per_token: M``):
each token goes to at most M of the N nodes its EP group spans and crosses InfiniBand
once per target node (the rail GPU forwards it over NVLink to the experts there), so the
NIC carries M * (N - 1) / N copies per token (the token's own node is among the M with
probability M / N) instead of top_k * (N - 1) / N, and NVLink carries the top_k copies
delivered inside nodes. Without it every copy travels on its own (Megatron-Core's
alltoall dispatcher), the cost of :func:`colossim.perf.comm.all_to_all_s`.

Overlap (DualPipe, DeepSeek-V3 Sec. 3.2.1; Megatron-Core --overlap-moe-expert-parallel-
comm, ``training.ep_overlap``): the all-to-all of one micro-batch runs beside the
forward or backward compute of another, so up to the layer's compute hides it; the
communication kernels hold 20 of the H800's 132 SMs (Sec. 3.2.2) while they run, which
slows the compute beside them by that share.

Expert tensor parallelism (``parallel.etp``, perf/experts.py): the bytes a GPU sends do
not change (under sequence parallelism each GPU dispatches its own tokens / tp whatever
etp), but with etp = 1 the EP group is ``ep`` consecutive GPUs (stride etp = 1) instead of
ranks tp*cp apart, so up to gpus_per_node of them share a node and that share of the
exchange stays on NVLink.

Left out: expert load imbalance (DeepSeek's auxiliary-loss-free balancing keeps it small),
the latency of the per-token NVLink forwarding, and the flow twin for node-limited bytes
(its alpha-beta time is used).
"""

from __future__ import annotations

import numpy as np

from colossim.perf import comm, experts
from colossim.perf.exposure import overlapped
from colossim.perf.layer import ACT_BYTES, Shapes
from colossim.scenario.model import ModelSpec
from colossim.scenario.training import TrainingSpec

ALL_TO_ALLS_PER_LAYER = 4  # dispatch + combine, forward and backward
FP8_DISPATCH_BYTES = 1.0 + 4.0 / 128  # fp8 values + one fp32 scale per 128-value tile
EP_COMM_SM_FRACTION = 20 / 132  # DeepSeek-V3 Sec. 3.2.2: 20 SMs drive IB + NVLink at full speed


def dispatch_bytes_per_value(training: TrainingSpec) -> np.ndarray:
    """Bytes per hidden value of the four all-to-alls (forward dispatch first)."""
    first = FP8_DISPATCH_BYTES if training.moe_dispatch_dtype == "fp8" else ACT_BYTES
    return np.array([first, ACT_BYTES, ACT_BYTES, ACT_BYTES])


def routed_copies(model: ModelSpec) -> float:
    """Token copies one token sends: top_k, padded to the capacity factor."""
    assert model.moe is not None
    return model.moe.top_k * (model.moe.capacity_factor or 1.0)


def ep_nodes(tp: np.ndarray, cp: np.ndarray, ep: np.ndarray, hw, etp=None) -> tuple[np.ndarray, np.ndarray]:
    """EP ranks per node and nodes the EP group spans."""
    per_node = comm.ranks_per_node(ep, experts.ep_stride(tp, cp, etp), hw)
    return per_node, np.ceil(ep / per_node)


def nic_copies_per_token(model: ModelSpec, tp, cp, ep, hw, etp=None) -> np.ndarray:
    """Copies of a token that cross the NIC (with node-limited routing: one per remote node)."""
    assert model.moe is not None
    per_node, nodes = ep_nodes(tp, cp, ep, hw, etp)
    copies = routed_copies(model)
    plain = copies * (ep - per_node) / ep
    limit = model.moe.max_nodes_per_token
    if limit is None:
        return plain
    target_nodes = np.minimum(limit, nodes)
    limited = target_nodes * (nodes - 1) / nodes * (model.moe.capacity_factor or 1.0)
    return np.minimum(limited, plain)


def all_to_all_s(model: ModelSpec, training: TrainingSpec, sh: Shapes, tp, cp, ep,
                 coll: comm.AnalyticCollectives, etp=None) -> np.ndarray:
    """The four all-to-alls of one MoE layer and micro-batch, back to back (EP ranks
    ``experts.ep_stride`` GPUs apart: tp*cp, or etp when the experts fold)."""
    assert model.moe is not None
    h, tokens = model.hidden_size, sh.tokens / tp
    per_value = dispatch_bytes_per_value(training)
    stride = experts.ep_stride(tp, cp, etp)
    if model.moe.max_nodes_per_token is None:
        size = tokens * routed_copies(model) * h
        return np.sum([coll.all_to_all(size * b, ep, stride, "ep") for b in per_value], axis=0)
    hw = coll.hw
    per_node, _ = ep_nodes(tp, cp, ep, hw, etp)
    nic = hw.scaleout_bytes_s * hw.all_to_all_fraction * comm.fabric_fraction(ep, stride, hw)
    nic_values = tokens * nic_copies_per_token(model, tp, cp, ep, hw, etp) * h
    nvlink_values = tokens * routed_copies(model) * h * (per_node - 1) / np.maximum(per_node, 1)
    latency = np.where(ep > per_node, hw.scaleout_latency_s, hw.scaleup_latency_s) * 2.0
    one = [np.maximum(nic_values * b / nic, nvlink_values * b / hw.scaleup_bytes_s) + latency for b in per_value]
    return np.where(ep > 1, np.sum(one, axis=0), 0.0)


def ep_exposed(total_s: np.ndarray, compute_s: np.ndarray, hidden: np.ndarray, partitioned: np.ndarray) -> np.ndarray:
    """What the step pays for a layer's all-to-alls: all of it, or (overlapped) what the
    paired micro-batch's compute cannot cover plus the SMs the communication holds.

    Megatron-Core's overlap launches communication kernels only while bytes move (the
    compute beside them loses their SMs for that long). DualPipe (``partitioned``)
    splits the SMs for the whole overlapped chunk (DeepSeek-V3 Sec. 3.2.2: "we manually
    adjust the ratio of GPU SMs dedicated to communication versus computation"), so the
    compute runs on 112 of 132 SMs throughout: it takes 132/112 as long."""
    sm = EP_COMM_SM_FRACTION
    per_comm = overlapped(total_s, compute_s, sm)
    slowed = compute_s / (1.0 - sm)
    per_chunk = np.maximum(total_s, slowed) - compute_s
    return np.where(hidden, np.where(partitioned, per_chunk, per_comm), total_s)
