"""Placing a parallel plan on GPUs: rank order, node order, and the groups of each dimension.

Ranks are numbered with the dimensions of ``placement.order`` innermost first; the default
``tp-cp-ep-dp-pp`` is Megatron-Core's (``--rank-order``), which the step model's strides
assume: TP inside the NVLink domain, then CP, then the expert-parallel slice of DP, the
rest of DP, and PP outermost. Expert parallelism is carved out of data parallelism (``ep``
divides ``dp``), so the dimensions are tp, cp, ep, dp/ep and pp. Groups:

- ``tp``, ``cp``, ``ep``, ``pp``: one dimension each;
- ``dp``: the dense-gradient group, cp x ep x dp/ep ranks (what the step model reduces);
- ``edp``: the expert-gradient group, cp x dp/ep ranks (same expert, other data).

Node order: ``packed`` gives the job consecutive nodes; ``random`` the nodes a busy
scheduler hands out, in any order (seeded); ``interleaved`` every other node, the second
job the ones between.
"""

from __future__ import annotations

import numpy as np

from colossim.errors import ColossimError
from colossim.network.config import DIMS, Placement

GROUP_DIMS = {"tp": ("tp",), "cp": ("cp",), "ep": ("ep",), "pp": ("pp",), "dp": ("cp", "ep", "dp"),
              "edp": ("cp", "dp")}


def plan_dims(tp: int, cp: int, ep: int, dp: int, pp: int, etp: int | None = None) -> dict[str, int]:
    if etp is not None and etp != tp:
        raise ColossimError(f"parallel.etp: {etp} is not simulated by the network twin, which places experts over "
                            f"data-parallel ranks (etp = tp = {tp}); the step model prices etp {etp} analytically "
                            "(colossim estimate)", field="parallel.etp", value=etp)
    if dp % ep:
        raise ColossimError(f"parallel.ep: {ep} must divide dp ({dp}) for the network placement (experts are "
                            "carved out of data parallelism)", field="parallel.ep", value=ep)
    return {"tp": tp, "cp": cp, "ep": ep, "dp": dp // ep, "pp": pp}


def rank_groups(dims: dict[str, int], kind: str, order: tuple[str, ...] = DIMS) -> np.ndarray:
    """(groups, ranks per group) of rank ids; members ordered innermost dimension first."""
    shape = [dims[d] for d in reversed(order)]  # outermost first, C order: last axis fastest
    grid = np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)
    axis = {d: len(order) - 1 - order.index(d) for d in order}
    mine = sorted(axis[d] for d in GROUP_DIMS[kind])
    rest = [a for a in range(len(order)) if a not in mine]
    n = int(np.prod([dims[d] for d in GROUP_DIMS[kind]]))
    return grid.transpose(rest + mine).reshape(-1, n)


def stride_groups(n: int, stride: int, extent: int) -> np.ndarray:
    """Groups of ``n`` ranks ``stride`` apart tiling ranks [0, extent) (the step model's placement)."""
    blocks = extent // (n * stride)
    if blocks < 1:
        raise ColossimError(f"network: a group of {n} ranks {stride} apart needs {n * stride} GPUs; only {extent} "
                            "are used", field="network")
    base = (np.arange(blocks)[:, None] * n * stride + np.arange(stride)[None, :]).reshape(-1)
    return base[:, None] + stride * np.arange(n)[None, :]


def node_maps(total_nodes: int, needs: list[int], order: str, seed: int = 0) -> list[np.ndarray]:
    """For each job, the cluster node behind each of its nodes (job-node -> cluster node)."""
    if sum(needs) > total_nodes:
        raise ColossimError(f"network: the jobs need {sum(needs):,} nodes; the cluster has {total_nodes:,}",
                            field="network.second_job.gpus", value=sum(needs))
    if order == "random":
        perm = np.random.default_rng(seed).permutation(total_nodes)
        cuts = np.cumsum([0, *needs])
        return [perm[cuts[i]: cuts[i + 1]] for i in range(len(needs))]
    if order == "interleaved":
        owner = np.full(total_nodes, -1)
        left = list(needs)
        pos = 0
        while any(left):
            for j in range(len(needs)):
                if left[j]:
                    owner[pos], left[j], pos = j, left[j] - 1, pos + 1
        return [np.flatnonzero(owner == j) for j in range(len(needs))]
    cuts = np.cumsum([0, *needs])
    return [np.arange(cuts[i], cuts[i + 1]) for i in range(len(needs))]


def ranks_to_gpus(ranks: np.ndarray, gpus_per_node: int, node_map: np.ndarray) -> np.ndarray:
    """GPU ids of ranks, node by node through ``node_map`` (local index kept)."""
    node, local = np.divmod(ranks, gpus_per_node)
    return node_map[node] * gpus_per_node + local


def job_groups(dims: dict[str, int], kind: str, placement: Placement, gpus_per_node: int,
               node_map: np.ndarray) -> np.ndarray:
    """GPU ids of every group of a kind for one job."""
    return ranks_to_gpus(rank_groups(dims, kind, placement.dims), gpus_per_node, node_map)


def nodes_needed(world: int, gpus_per_node: int) -> int:
    return -(-world // gpus_per_node)
