"""The traffic of one collective: phases of GPU-to-GPU transfers, per algorithm.

Every group of the kind runs the collective at once (all DP groups reduce their gradients
together). A group of n ranks holds k ranks in each of N NVLink domains. ``size`` follows
:class:`colossim.perf.comm.AnalyticCollectives`: the buffer of each rank for all-reduce,
the full (gathered) buffer for reduce-scatter and all-gather, the bytes each rank sends in
total for all-to-all, the message for point-to-point.

Algorithms (NCCL's, as in Patarasuk & Yuan 2009 and the NCCL tuning model):

- **hierarchical** (default for all-reduce, reduce-scatter, all-gather): a ring inside
  each NVLink domain (k-1 steps of S/k per rank for each of reduce-scatter and all-gather),
  and one ring per rail across the N domains on S/k (2(N-1) steps of S/(kN) for
  all-reduce, N-1 for the others). The two lanes pipeline over chunks: the slower sets
  the time, as in the analytical model.
- **ring**: one flat ring over all n ranks per channel, k channels (one per NIC), each
  entering a domain at a different GPU; the domain exit reaches the next domain's GPU on
  the same rail through PXN. 2(n-1) (all-reduce) or n-1 steps of S/(kn) per rank.
- **tree**: NCCL's double binary tree across domains (``ncclGetDtree``), one per rail on
  S/k, reduce and broadcast pipelined (each edge carries S/2k each way), with the
  intra-domain lane of the hierarchical algorithm. All-reduce only.
- **nvls**, **nvls-tree** (all-reduce; NCCL >= 2.17 on NVSwitch gen 3): NVLink SHARP
  reduces inside the NVSwitch (multimem loads and stores): each GPU sends its S once and
  receives the reduced S once, S per direction on its NVLink port instead of the ring's
  2(k-1)/k S; across domains the rail rings (nvls) or the double binary tree (nvls-tree).
  The in-switch reduction is emulated by one transfer of S from each GPU to the next of
  its domain (one S up and one S down per port: the port load NVLS has).
- **sharp** (all-reduce; switches with in-network reduction, ``data/fabric.yaml``): the
  NVLink ring inside the domain, and across domains each GPU sends its S/k to the
  aggregation tree once and receives the result once (emulated by one transfer of S/k to
  the same-rail GPU of the next domain: the NIC load SHARP has; the fabric links carry
  more than SHARP's reduced streams when the pair crosses leaves: conservative there).
- **nccl**: the algorithm NCCL's tuner would take: the lowest alpha-beta estimate among
  those allowed here (:func:`nccl_choice`), shown in the result.
- **direct**: all-to-all as concurrent transfers of S/n to every peer (NCCL's grouped
  send/receive); point-to-point as one transfer to the next rank of the group.

Rings and trees are pipelined: chunks follow one another around the ring (down and up the
tree), so a ring channel moves at one rate through all its hops, the rate of its most
contended link (a hop cannot forward faster than it receives). Each such unit is one
*chain*: one max-min flow over the links of all its hops, carrying its steps back to back
(rings are periodic: every step moves the same transfers). Different groups and channels
are independent chains and do not wait for one another. Left out: chunk-level pipeline fill, protocol switching
(LL/LL128/Simple) and NVLS/SHARP in-network reduction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from colossim.errors import ColossimError

BUS_FACTOR = {"all-reduce": lambda n: 2.0 * (n - 1) / n, "reduce-scatter": lambda n: (n - 1) / n,
              "all-gather": lambda n: (n - 1) / n, "all-to-all": lambda n: (n - 1) / n, "p2p": lambda n: 1.0}


@dataclass(frozen=True)
class Phase:
    """Transfers that start together, repeated ``steps`` times."""

    name: str
    src: np.ndarray
    dst: np.ndarray
    size_bytes: float  # per transfer per step
    steps: float
    lane: str  # scaleup | scaleout | mixed
    nic_efficiency: float = 1.0
    chain: np.ndarray | None = None  # pipelined unit (ring channel, tree) of each transfer; None: independent


@dataclass(frozen=True)
class Traffic:
    collective: str
    algorithm: str
    phases: tuple[Phase, ...]
    pipelined: bool  # lanes overlap (time = slowest lane) rather than add up
    n: int  # ranks per group
    k: int  # ranks per NVLink domain
    nodes: int  # domains per group
    groups: int
    latency_s: float
    notes: tuple[str, ...] = ()

    @property
    def bus_factor(self) -> float:
        return BUS_FACTOR[self.collective](self.n)


def node_layout(groups: np.ndarray, gpus_per_node: int) -> np.ndarray | None:
    """Groups as (G, N, k): N domains of k consecutive members each, or None if irregular."""
    g, n = groups.shape
    node = groups // gpus_per_node
    k = 1
    while k < n and node[0, k] == node[0, 0]:
        k += 1
    if n % k:
        return None
    nodes = node.reshape(g, n // k, k)
    if not np.all(nodes == nodes[:, :, :1]):
        return None
    return groups.reshape(g, n // k, k)


def _runs(groups: np.ndarray, gpus_per_node: int) -> tuple[np.ndarray, np.ndarray]:
    """(start, length) of the runs of consecutive members sharing a domain (taken from the
    first group; groups whose runs differ are treated as one member per run)."""
    node = groups // gpus_per_node
    change = np.flatnonzero(np.diff(node[0]) != 0) + 1
    if not np.all((np.diff(node, axis=1) != 0) == (np.diff(node[:1], axis=1) != 0)):
        change = np.arange(1, groups.shape[1])
    start = np.concatenate([[0], change])
    length = np.diff(np.concatenate([start, [groups.shape[1]]]))
    return start, length


def _ring(a: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    return a.ravel(), np.roll(a, -1, axis=axis).ravel()


def _btree_parent(n: int) -> np.ndarray:
    """NCCL's in-order binary tree (ncclGetBtree): parent of each rank, -1 for the root 0."""
    r = np.arange(n)
    bit = r & -r
    up = (r ^ bit) | (bit << 1)
    up = np.where(up >= n, r ^ bit, up)
    up[0] = -1
    return up


def dtree_edges(n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(parent, child) positions of NCCL's two trees (ncclGetDtree: mirror if n even, shift if odd)."""
    parent = _btree_parent(n)
    child = np.arange(1, n)
    mirror = np.arange(n)[::-1] if n % 2 == 0 else (np.arange(n) + 1) % n
    return [(parent[child], child), (mirror[parent[child]], mirror[child])]


def build_traffic(collective: str, groups: np.ndarray, size_bytes: float, gpus_per_node: int, *, algorithm: str = "auto",
                  scaleup_latency_s: float = 0.0, scaleout_latency_s: float = 0.0, all_to_all_fraction: float = 1.0,
                  max_transfers: int = 4_000_000, in_network: bool = False) -> Traffic:
    """The phases of one collective over every group (rows of ``groups``, GPU ids)."""
    g, n = groups.shape
    algo = algorithm
    if algo == "auto":
        algo = "direct" if collective in ("all-to-all", "p2p") else "hierarchical"
    allowed = {"all-reduce": ("hierarchical", "ring", "tree", "nvls", "nvls-tree", "sharp", "nccl"),
               "reduce-scatter": ("hierarchical", "ring"),
               "all-gather": ("hierarchical", "ring"), "all-to-all": ("direct",), "p2p": ("direct",)}[collective]
    if algo not in allowed:
        raise ColossimError(f"--algorithm: {algo!r} is not allowed for {collective}; allowed: auto, {', '.join(allowed)}",
                            field="--algorithm", value=algo, allowed=", ".join(allowed))
    layout = node_layout(groups, gpus_per_node)
    notes: list[str] = []
    if algo == "nccl":
        algo, why = nccl_choice(groups.shape[1], layout.shape[2] if layout is not None else 1,
                                layout.shape[1] if layout is not None else groups.shape[1], float(size_bytes),
                                scaleup_latency_s, scaleout_latency_s, in_network)
        notes.append(why)
    if algo == "sharp" and not in_network:
        raise ColossimError("--algorithm: 'sharp' needs switches with in-network reduction (SHARP); this fabric's "
                            "switch has none (data/fabric.yaml: in_network_reduction)", field="--algorithm",
                            value=algo)
    fallback = layout is None and algo in ("hierarchical", "tree", "nvls", "nvls-tree", "sharp")
    if fallback:
        notes.append("ranks are not spread evenly over NVLink domains: flat ring instead (latency of the "
                     "hierarchical algorithm kept)")
        algo = "ring"
    if layout is None:
        runs = _runs(groups, gpus_per_node)
        nodes, k = len(runs[0]), int(runs[1].min())
    else:
        _, nodes, k = layout.shape
    lat_tree = scaleup_latency_s + 2.0 * np.log2(max(nodes, 1)) * scaleout_latency_s
    if n == 1:
        return Traffic(collective, algo, (), True, n, k, nodes, g, 0.0, tuple(notes))
    s = float(size_bytes)
    if collective == "p2p":
        lat = scaleout_latency_s if nodes > 1 else scaleup_latency_s
        ph = Phase("send", groups[:, :-1].ravel(), groups[:, 1:].ravel(), s, 1.0, "mixed")
        return Traffic(collective, algo, (ph,), False, n, k, nodes, g, lat, tuple(notes))
    if collective == "all-to-all":
        lat = 2.0 * (scaleout_latency_s if n > k else scaleup_latency_s)
        a2a = _all_to_all(groups, s, all_to_all_fraction, max_transfers, notes)
        return Traffic(collective, algo, a2a, False, n, k, nodes, g, lat, tuple(notes))
    twice = 2.0 if collective == "all-reduce" else 1.0
    if algo == "ring":
        steps = twice * (n - 1)
        start, length = _runs(groups, gpus_per_node)
        run_of = np.repeat(np.arange(start.size), length)
        offset = np.arange(n) - start[run_of]
        src, dst = [], []
        for c in range(k):  # channel c enters each domain at its c-th member
            order = groups[:, start[run_of] + (offset + c) % length[run_of]]
            a, b = _ring(order, axis=1)
            src.append(a)
            dst.append(b)
        chain = np.repeat(np.arange(k * g), n)
        lat = steps * (scaleout_latency_s if nodes > 1 else scaleup_latency_s)
        if fallback:
            lat = lat_tree * (1.0 if collective == "all-reduce" else 0.5)
        ph = Phase("ring", np.concatenate(src), np.concatenate(dst), s / (k * n), steps, "mixed", chain=chain)
        return Traffic(collective, algo, (ph,), False, n, k, nodes, g, lat, tuple(notes))
    assert layout is not None  # irregular layouts took the ring above
    phases: list[Phase] = []
    if k > 1 and algo in ("nvls", "nvls-tree"):  # in-switch reduction: S up and S down per NVLink port
        a, b = _ring(layout, axis=2)
        phases.append(Phase("nvls (NVLink SHARP)", a, b, s, 1.0, "scaleup"))
    elif k > 1:
        a, b = _ring(layout, axis=2)
        chain = np.repeat(np.arange(g * nodes), k)
        phases.append(Phase("nvlink ring", a, b, s / k, twice * (k - 1), "scaleup", chain=chain))
    if nodes > 1 and algo == "sharp":  # in-network reduction: S/k up and S/k down per NIC
        a, b = _ring(layout, axis=1)
        phases.append(Phase("sharp aggregation tree", a, b, s / k, 1.0, "scaleout"))
        lat = scaleup_latency_s + 2.0 * scaleout_latency_s
        return Traffic(collective, algo, tuple(phases), True, n, k, nodes, g, lat, tuple(notes))
    if nodes > 1:
        if algo in ("tree", "nvls-tree"):
            src, dst, chains = [], [], []
            for t, (parent, child) in enumerate(dtree_edges(nodes)):
                up_s, up_d = layout[:, child, :], layout[:, parent, :]
                unit = (t * g + np.arange(g)[:, None, None]) * k + np.arange(k)[None, None, :]
                unit = np.broadcast_to(unit, up_s.shape).ravel()
                src += [up_s.ravel(), up_d.ravel()]
                dst += [up_d.ravel(), up_s.ravel()]
                chains += [unit, unit]
            phases.append(Phase("double binary tree", np.concatenate(src), np.concatenate(dst), s / (2 * k), 1.0,
                                "scaleout", chain=np.concatenate(chains)))
        else:
            a, b = _ring(layout, axis=1)
            chain = np.broadcast_to(np.arange(g)[:, None, None] * k + np.arange(k)[None, None, :], layout.shape).ravel()
            phases.append(Phase("rail rings", a, b, s / (k * nodes), twice * (nodes - 1), "scaleout", chain=chain))
    lat = lat_tree * (1.0 if collective == "all-reduce" else 0.5)
    return Traffic(collective, algo, tuple(phases), True, n, k, nodes, g, lat, tuple(notes))


def nccl_choice(n: int, k: int, nodes: int, size_bytes: float, scaleup_latency_s: float, scaleout_latency_s: float,
                in_network: bool) -> tuple[str, str]:
    """All-reduce algorithm by NCCL's tuning idea: the lowest latency + bandwidth estimate.

    Per-rank bandwidth terms in units of S / B (B the NIC's, the NVLink port ~9x it on
    H100: the scale-out lane dominates): ring/hierarchical 2(N-1)/(kN), tree 2/k (pipelined
    reduce + broadcast), SHARP 1/k; latencies: the ring 2(N-1) hops, the tree and the
    hierarchical algorithm 2 log2 N, SHARP one trip up and down. NVLS replaces the NVLink
    ring where the domain has more than one GPU. What it leaves out: NCCL's protocol
    choice (LL, LL128, Simple) and its per-architecture tuning tables."""
    N = max(nodes, 1)
    bw = {"hierarchical": 2.0 * (N - 1) / (k * N), "ring": 2.0 * (n - 1) / (k * n) if n else 0.0, "tree": 2.0 / k}
    log = 2.0 * np.log2(N) if N > 1 else 0.0
    lat = {"hierarchical": scaleup_latency_s + log * scaleout_latency_s,
           "ring": 2.0 * (n - 1) * (scaleout_latency_s if N > 1 else scaleup_latency_s),
           "tree": scaleup_latency_s + log * scaleout_latency_s}
    if in_network and N > 1:
        bw["sharp"], lat["sharp"] = 1.0 / k, scaleup_latency_s + 2.0 * scaleout_latency_s
    unit = size_bytes / 50e9  # S / B at 400 Gb/s: only the ranking matters
    est = {a: lat[a] + bw[a] * unit for a in bw}
    best = min(est, key=lambda a: (est[a], a != "hierarchical"))
    if k > 1 and best in ("hierarchical", "tree"):
        best = {"hierarchical": "nvls", "tree": "nvls-tree"}[best]
    shown = ", ".join(f"{a} {v * 1e3:.3g} ms" for a, v in sorted(est.items(), key=lambda kv: kv[1]))
    return best, f"nccl: chose {best} for {size_bytes / 2**20:.3g} MiB over {n} ranks ({N} domains): {shown}"


def _all_to_all(groups: np.ndarray, s: float, eff: float, max_transfers: int, notes: list[str]) -> tuple[Phase, ...]:
    g, n = groups.shape
    shifts = np.arange(1, n)
    per_shift = g * n
    window = max(1, min(n - 1, max_transfers // per_shift))
    starts = np.arange(0, n - 1, window)
    if starts.size > 1:
        picked = starts[np.unique(np.linspace(0, starts.size - 1, min(starts.size, 4)).round().astype(int))]
        sampled = sum(min(window, n - 1 - int(w0)) for w0 in picked)
        notes.append(f"all-to-all: {(n - 1) * per_shift:,} transfers; simulated {picked.size} of {starts.size} "
                     f"windows of up to {window} peers at once, scaled to all {n - 1} peers")
        scale = (n - 1) / sampled
    else:
        picked, scale = starts, 1.0
    phases = []
    for w0 in picked:
        sh = shifts[w0: w0 + window]
        src = np.repeat(groups, sh.size, axis=1).ravel()
        dst = np.concatenate([np.roll(groups, -int(r), axis=1)[:, :, None] for r in sh], axis=2).ravel()
        phases.append(Phase(f"all-to-all peers +{sh[0]}..+{sh[-1]}", src, dst, s / n, scale, "mixed", eff))
    return tuple(phases)
