"""Host offload: what moving optimizer states or activations to CPU memory costs.

- Optimizer (ZeRO-Offload, Ren et al. 2021, USENIX ATC): the fp32 master weights and Adam
  moments of the GPU's shard live in host memory. Each step the shard's gradients go
  down the host link (overlapping the last micro-batch's backward), CPU Adam updates them
  (memory-bound on host DRAM: read master, m, v, gradient and write master, m, v, 28 bytes
  per parameter in fp32) and the updated bf16 weights come back up (exposed).
- Activations: every micro-batch's stored activations go down during its forward pass
  and come back during its backward pass; the copy engines run beside compute, so only
  what the pass cannot cover is exposed.

The host link is the GPU's PCIe (or C2C) link from the catalog (``host_link_gbps``, GB/s
one direction); GPUs behind one PCIe switch uplink share it (``host_link_shared_by``:
two per switch on HGX H100/H800/H200 boards, with the NICs' RDMA traffic on the switch
but not on the uplink), so each gets its share when all offload at once.
Left out: pinned-memory staging copies, CPU Adam's thread scaling, NUMA placement.
"""

from __future__ import annotations

import numpy as np

from colossim.perf.hardware import Hardware
from colossim.perf.layer import ACT_BYTES
from colossim.scenario.training import TrainingSpec

CPU_ADAM_BYTES_PER_PARAM = 28.0  # fp32 master, m, v, gradient read; master, m, v written
# Host DRAM bandwidth one GPU's CPU Adam gets: a 2-socket Sapphire Rapids host (8 channels
# DDR5-4800 per socket, 2 x 307 GB/s peak), ~60% achievable for a streaming kernel, shared by 8 GPUs
HOST_DRAM_BYTES_S_PER_GPU = 46e9


def optimizer_s(dense_p, expert_p, dp_cp, ep, zero, training: TrainingSpec, hw: Hardware,
                bwd_mb: np.ndarray, edp: np.ndarray | None = None) -> np.ndarray:
    """Exposed time of an offloaded optimizer step (the GPU-side Adam pass disappears).
    ``edp``: the experts' data-parallel size (default dp_cp // ep, perf/experts.py)."""
    edp = np.maximum(dp_cp // ep, 1) if edp is None else edp
    shard = np.where(zero >= 1, dense_p / dp_cp + expert_p / edp, dense_p + expert_p)
    grad_b = 4.0 if training.grad_reduce_in_fp32 else ACT_BYTES
    down = shard * grad_b / hw.host_bytes_s
    adam = shard * CPU_ADAM_BYTES_PER_PARAM / HOST_DRAM_BYTES_S_PER_GPU
    up = shard * ACT_BYTES / hw.host_bytes_s
    return np.maximum(down - bwd_mb, 0.0) + adam + up + 20 * hw.kernel_overhead_s


def activation_exposed_s(act_bytes: np.ndarray, fwd_mb: np.ndarray, bwd_mb: np.ndarray, hw: Hardware) -> np.ndarray:
    """Per micro-batch: the copy down beside the forward and back up beside the backward."""
    copy = act_bytes / hw.host_bytes_s
    return np.maximum(copy - fwd_mb, 0.0) + np.maximum(copy - bwd_mb, 0.0)
