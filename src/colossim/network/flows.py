"""From GPU-to-GPU transfers to routed flows: NVLink hops, PXN, ECMP sub-flows, incidence.

A transfer between two GPUs of one NVLink domain crosses that domain only (GPU -> NVSwitch
-> GPU). Between domains it leaves through a NIC. With NCCL's PXN (on by default since
NCCL 2.12), a transfer whose destination sits on another rail first hops over NVLink to
the source server's GPU on the destination's rail, so that it stays on one rail plane.
Under ECMP each transfer becomes ``flows_per_pair`` sub-flows (queue pairs) of equal
size, hashed independently; adaptive routing on a damaged fabric splits it over the spine
planes that still reach its destination, parts moving at one rate; otherwise a transfer is
one flow.

The result is a sparse incidence matrix (resources x flows, CSC) that the max-min solver
reads: column f lists the links (or adaptive bundles) flow f crosses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from colossim.errors import ColossimError
from colossim.network.adaptive import aware_paths, flowlet_policy
from colossim.network.routing import (
    FabricState,
    Strategy,
    adaptive,
    ecmp,
    expand_bundles,
    expand_planes,
    flowlet,
    plane_paths,
    strategy,
)


@dataclass(eq=False)
class Routed:
    """Flows with their paths: what the simulator needs."""

    inc: sp.csc_matrix  # resources x flows
    capacity: np.ndarray  # per resource, bytes/s
    sizes: np.ndarray  # bytes per flow
    parent: np.ndarray  # the transfer each (sub-)flow belongs to
    fabric: np.ndarray  # bool: the flow crosses a NIC
    state: FabricState
    coupled: bool = False  # sub-flows of a transfer move at one rate (adaptive spraying)
    planes: bool = False  # resources past the links are per-plane bundles (fluid spraying, damaged fabric)

    @property
    def num_flows(self) -> int:
        return int(self.sizes.size)

    def link_bytes(self, sizes: np.ndarray | None = None) -> np.ndarray:
        """Bytes each physical link carries when every flow moves ``sizes`` (default: its size)."""
        per_resource = np.asarray(self.inc @ (self.sizes if sizes is None else sizes))
        if self.planes:
            return expand_planes(self.state, per_resource)
        return expand_bundles(self.state, per_resource)


def route(state: FabricState, src: np.ndarray, dst: np.ndarray, sizes: np.ndarray | float,
          routing: str | Strategy | None = None,
          *, flows_per_pair: int = 1, rng: np.random.Generator | None = None, pxn: bool = True,
          nic_efficiency: float = 1.0, background: np.ndarray | None = None, shared_window: bool = False) -> Routed:
    """Route GPU-to-GPU transfers over the fabric.

    ``nic_efficiency`` scales the NIC links of the GPUs involved (the all-to-all protocol
    efficiency of the efficiency profile), leaving switch links at their payload rate.
    """
    t = state.topo
    rng = rng if rng is not None else np.random.default_rng(0)
    func = strategy(routing)
    src, dst = np.asarray(src, dtype=np.int64), np.asarray(dst, dtype=np.int64)
    sizes = np.broadcast_to(np.asarray(sizes, dtype=float), src.shape)
    if src.size and (src.min() < 0 or max(src.max(), dst.max()) >= t.num_gpus):
        raise ColossimError(f"network: flows reach beyond the cluster's {t.num_gpus} GPUs", field="network")
    gpn = t.gpus_per_node
    inter = (src // gpn) != (dst // gpn)
    intra = ~inter & (src != dst)
    coupled = func is adaptive and (state.sampled or not state.healthy)
    policy = flowlet_policy() if func is flowlet else None
    m = flows_per_pair if func is ecmp else 1
    if policy is not None:
        per_nic = inter.sum() / max(np.unique(src[inter]).size, 1) if shared_window else 1.0
        m = max(int(policy.width // max(per_nic, 1.0)), 1) * policy.generations
    xi = np.repeat(np.flatnonzero(inter), m)
    ii = np.flatnonzero(intra)
    n_intra = ii.size
    x_src, x_dst = src[xi], dst[xi]
    proxy = t.proxy_gpu(x_src, x_dst) if pxn else x_src
    if coupled:  # per-plane parts of each transfer
        fab, frac, owner, extra = plane_paths(state, proxy, x_dst)
        xi, proxy, frac_size = xi[owner], proxy[owner], sizes[xi[owner]] * frac
    elif policy is not None:  # parts of one connection, moving at one rate
        frac_size = sizes[xi] / m
        fab, extra = aware_paths(state, proxy, x_dst, rng, frac_size, policy, background, m // policy.generations), np.empty(0)
    else:
        fab, extra = func(state, proxy, x_dst, rng)
        frac_size = sizes[xi] / m
    parent = np.concatenate([ii, xi])
    f_src, f_dst = src[parent], dst[parent]
    f_size = np.concatenate([sizes[ii], frac_size])
    rows = np.full((parent.size, fab.shape[1] + 2), -1, dtype=np.int64)
    rows[:n_intra, 0] = t.nvl_up(f_src[:n_intra])
    rows[:n_intra, 1] = t.nvl_down(f_dst[:n_intra])
    hop = proxy != f_src[n_intra:]
    rows[n_intra:, 0] = np.where(hop, t.nvl_up(f_src[n_intra:]), -1)
    rows[n_intra:, 1] = np.where(hop, t.nvl_down(proxy), -1)
    rows[n_intra:, 2:] = fab
    capacity = state.capacity.copy()
    if nic_efficiency != 1.0 and xi.size:
        ends = np.concatenate([t.nic_up(proxy), t.nic_down(f_dst[n_intra:])])
        capacity[ends] = t.capacity[ends] * nic_efficiency * (state.capacity[ends] > 0)
    capacity = np.concatenate([capacity, extra])
    mask = rows >= 0
    indices = rows[mask]
    if indices.size and np.any(capacity[indices] <= 0):
        dead = np.flatnonzero((np.where(mask, capacity[np.maximum(rows, 0)], 1.0) <= 0).any(axis=1))
        raise ColossimError(f"network.failures: {dead.size} flow(s) cross a failed link or switch with no way "
                            f"around it (e.g. GPU {int(f_src[dead[0]])} -> GPU {int(f_dst[dead[0]])}; "
                            f"{'; '.join(state.notes)})", field="network.failures")
    indptr = np.concatenate([[0], np.cumsum(mask.sum(axis=1))])
    inc = sp.csc_matrix((np.ones(indices.size), indices, indptr), shape=(capacity.size, parent.size))
    return Routed(inc=inc, capacity=capacity, sizes=f_size, parent=parent, fabric=np.arange(parent.size) >= n_intra,
                  state=state, coupled=coupled or policy is not None, planes=coupled)

