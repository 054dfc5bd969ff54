"""ZeRO-3 / FSDP with resharding: weights re-gathered per micro-batch, layer by layer.

Each micro-batch all-gathers every layer's weights before its forward and again before
its backward, and reduce-scatters its gradients after the backward: 3 collectives per
layer, each prefetched behind the previous layer's compute (FSDP's forward/backward
prefetch; DeepSpeed ZeRO-3's prefetch bucket). What the step pays per micro-batch:

- what the micro-batch's compute cannot cover, plus the SMs the hidden part holds
  (:func:`colossim.perf.exposure.overlapped`);
- the first layer's gather of the forward and of the backward pass, which has nothing in
  front of it to hide behind;
- the latency of 3 * layers ring collectives. NCCL runs all-gather and reduce-scatter as
  rings only (no tree), n - 1 steps: NCCL's own tuning model (src/graph/tuning.cc) charges
  baseLat + (n - N) * intraLat + (N - 1) * interLat over N nodes; LL128 on Hopper/NVLink:
  10 us base, 1.9 us per NVLink step, 4.0 us per network step. At 1,024 ranks that is
  ~2.2 ms per collective, per layer.

Left out: bucket sizes other than one layer, the reduce-scatter of the last layer
overlapping the next micro-batch's forward.
"""

from __future__ import annotations

import numpy as np

from colossim.perf import comm, experts
from colossim.perf.exposure import overlapped, param_gather_bytes
from colossim.perf.layer import ACT_BYTES
from colossim.scenario.training import TrainingSpec

RING_BASE_S = 10.0e-6  # NCCL baseLat, ring LL128
RING_NVLINK_STEP_S = 1.9e-6  # hwLat[NVLINK][RING][LL128]
RING_NET_STEP_S = 4.0e-6  # hwLat[NET][RING][LL128]
COLLECTIVES_PER_LAYER = 3  # gather (forward), gather (backward), reduce-scatter


def ring_latency_s(n: np.ndarray, stride: np.ndarray, hw) -> np.ndarray:
    """Latency of one ring all-gather or reduce-scatter over n ranks (NCCL's model)."""
    per_node = comm.ranks_per_node(n, stride, hw)
    nodes = np.ceil(n / per_node)
    lat = RING_BASE_S + (n - nodes) * RING_NVLINK_STEP_S + (nodes - 1) * RING_NET_STEP_S
    return np.where(n > 1, lat, 0.0)


def zero3_exposed_s(training: TrainingSpec, dense_p, expert_p, tp, cp, dp, ep, n_micro, fwd_mb, bwd_mb,
                    stage_layers, coll: comm.AnalyticCollectives, etp=None) -> np.ndarray:
    """Exposed data-parallel time of a step under ZeRO-3 with resharding."""
    grad_b = 4.0 if training.grad_reduce_in_fp32 else ACT_BYTES
    dp_cp = dp * cp
    edp = experts.expert_dp(tp, cp, dp, ep, etp)
    layers = np.maximum(stage_layers, 1)
    total = np.zeros_like(dense_p, dtype=float)
    first = np.zeros_like(dense_p, dtype=float)
    for p, n, s, g in ((dense_p, dp_cp, tp, "dp"), (expert_p, edp, experts.edp_stride(tp, cp, ep, etp), "edp")):
        gather = coll.all_gather(p * param_gather_bytes(training), n, s, g)
        reduce = coll.reduce_scatter(p * grad_b, n, s, g)
        latency = COLLECTIVES_PER_LAYER * layers * ring_latency_s(n, s, coll.hw)
        total = total + 2.0 * gather + reduce + np.where(p > 0, latency, 0.0)
        first = first + 2.0 * (gather / layers + np.where(p > 0, ring_latency_s(n, s, coll.hw), 0.0))
    if not training.overlap_dp_comm:
        return n_micro * total
    return n_micro * (overlapped(total, fwd_mb + bwd_mb, coll.hw.comm_sm_fraction_scaleout) + first)
