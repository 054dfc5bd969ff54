"""Collective costs (alpha-beta), vectorized over plans.

A group of ``n`` ranks placed ``stride`` GPUs apart (Megatron-Core order: tp innermost,
then cp, ep/dp, pp) has ``k = clip(gpus_per_node / stride, 1, n)`` ranks in each NVLink
domain and spans ``ceil(n / k)`` nodes.

- Ring all-reduce (Patarasuk & Yuan 2009; NCCL): each rank moves 2(n-1)/n of the buffer.
  Across nodes NCCL runs one ring per NIC, so the inter-node term is
  2(N-1)/N * S / (k * B_nic) with N nodes, pipelined with the intra-node NVLink term
  2(k-1)/k * S / B_nvlink: the slower of the two sets the time (busbw = B_nic*(n-1)/(N-1),
  as nccl-tests report; hardware.md 5.3). Latency: 2(k-1) NVLink steps plus
  2*log2(N) network steps (NCCL switches to trees when latency dominates).
- Reduce-scatter and all-gather: half the all-reduce.
- All-to-all: (k-1)/n of the buffer over NVLink, (n-k)/n over the NIC at the all-to-all
  efficiency; traffic leaving a pod is slowed by the pod's oversubscription.
- Point-to-point: S / B + alpha on the link between the two ranks.

Left out: congestion between concurrent collectives of different groups (the network twin
simulates it), SHARP/NVLS in-network reduction, and message-size protocol switching
beyond the alpha term.
"""

from __future__ import annotations

import numpy as np

from colossim.perf.hardware import Hardware


def ranks_per_node(n: np.ndarray, stride: np.ndarray, hw: Hardware) -> np.ndarray:
    return np.clip(hw.gpus_per_node // np.maximum(stride, 1), 1, n)


def fabric_fraction(n: np.ndarray, stride: np.ndarray, hw: Hardware) -> np.ndarray:
    """Routing efficiency for a group: ECMP collisions only bite above the leaf."""
    if hw.ecmp_fraction >= 1.0:
        return np.ones_like(n, dtype=float)
    return np.where(n * stride > hw.leaf_span_gpus, hw.ecmp_fraction, 1.0)


def all_reduce_s(size: np.ndarray, n: np.ndarray, stride: np.ndarray, hw: Hardware) -> np.ndarray:
    k = ranks_per_node(n, stride, hw)
    nodes = np.ceil(n / k)
    intra_bw = 2.0 * (k - 1) / k * size / hw.scaleup_bytes_s
    inter_bw = 2.0 * (nodes - 1) / nodes * size / (k * hw.scaleout_bytes_s * fabric_fraction(n, stride, hw))
    latency = hw.scaleup_latency_s + 2.0 * np.log2(nodes) * hw.scaleout_latency_s
    return np.where(n > 1, np.maximum(intra_bw, inter_bw) + latency, 0.0)


def reduce_scatter_s(size: np.ndarray, n: np.ndarray, stride: np.ndarray, hw: Hardware) -> np.ndarray:
    """Also the all-gather time (the same traffic in the other direction)."""
    return 0.5 * all_reduce_s(size, n, stride, hw)


def all_to_all_s(size: np.ndarray, n: np.ndarray, stride: np.ndarray, hw: Hardware) -> np.ndarray:
    """``size``: bytes each rank sends in total (to all peers, itself included)."""
    k = ranks_per_node(n, stride, hw)
    span = n * stride
    off_pod = np.clip(1.0 - hw.pod_gpus / np.maximum(span, 1), 0.0, 1.0)
    on_node = size * (k - 1) / n / hw.scaleup_bytes_s
    off_node_bytes = size * (n - k) / n
    nic = hw.scaleout_bytes_s * hw.all_to_all_fraction * fabric_fraction(n, stride, hw)
    off_node = off_node_bytes * ((1.0 - off_pod) + off_pod * hw.pod_oversubscription) / nic
    latency = np.where(n > k, hw.scaleout_latency_s, hw.scaleup_latency_s) * 2.0
    return np.where(n > 1, np.maximum(on_node, off_node) + latency, 0.0)


def p2p_s(size: np.ndarray, stride: np.ndarray, hw: Hardware) -> np.ndarray:
    inter = stride >= hw.gpus_per_node
    bw = np.where(inter, hw.scaleout_bytes_s, hw.scaleup_bytes_s)
    lat = np.where(inter, hw.scaleout_latency_s, hw.scaleup_latency_s)
    return size / bw + lat


class AnalyticCollectives:
    """The default collective cost model: the alpha-beta formulas above.

    The step model calls collectives through an object of this shape, naming the parallel
    group ("tp", "cp", "ep", "dp", "edp", "pp", "embedding"), so that another model (the
    network twin's flow simulation, ``estimate --network flow``) can replace the cost of
    some groups and leave the rest to this one. ``size`` is the buffer each rank holds.
    """

    def __init__(self, hw: Hardware) -> None:
        self.hw = hw

    def all_reduce(self, size: np.ndarray, n: np.ndarray, stride: np.ndarray, group: str) -> np.ndarray:
        return all_reduce_s(size, n, stride, self.hw)

    def reduce_scatter(self, size: np.ndarray, n: np.ndarray, stride: np.ndarray, group: str) -> np.ndarray:
        return reduce_scatter_s(size, n, stride, self.hw)

    def all_gather(self, size: np.ndarray, n: np.ndarray, stride: np.ndarray, group: str) -> np.ndarray:
        """``size``: the gathered (full) buffer."""
        return reduce_scatter_s(size, n, stride, self.hw)

    def all_to_all(self, size: np.ndarray, n: np.ndarray, stride: np.ndarray, group: str) -> np.ndarray:
        return all_to_all_s(size, n, stride, self.hw)

    def p2p(self, size: np.ndarray, stride: np.ndarray, group: str) -> np.ndarray:
        return p2p_s(size, stride, self.hw)
