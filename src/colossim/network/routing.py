"""Routing strategies: which links a flow crosses. Plain functions, one signature, one default.

``strategy(state, src, dst, rng) -> (paths, extra_capacity)`` maps NIC-to-NIC flows (GPU ids
of the two NICs) to padded rows of resource ids (-1 = unused hop). Strategies:

- :func:`ecmp`: per-flow hashing. Each switch on the way up picks one of its equal-cost
  uplinks uniformly at random (a seeded stand-in for the 5-tuple hash; each queue pair has
  its own UDP source port, so ``flows_per_pair`` sub-flows hash independently), then the
  path down is fixed but for parallel cables, which are hashed too. With failures, a
  switch hashes only over next hops that still reach the destination (routes withdrawn).
- :func:`flowlet` (``flowlet``, routing model ``adaptive-flowlet``): adaptive routing
  simulated as a path policy over each connection's flowlets in flight
  (``network/adaptive.py``): ECMP's path machinery, each switch choosing its egress port
  by its own exact load and the stale load reported for the hops behind it.
- :func:`adaptive` (``adaptive``, ``adaptive-spray``): per-packet adaptive routing /
  spraying (Spectrum-X, InfiniBand AR) as its fluid limit: every flow is spread evenly over all its equal-cost paths, so the
  uplinks of a leaf (of a pod) act as one bundle whose capacity is their sum: exact for a
  healthy symmetric fat tree. On a damaged fabric (failed or degraded links) leaf-wide
  bundles would not conserve bytes at a spine that lost links, so :func:`plane_paths`
  splits each transfer over the spine planes that still reach its destination, in
  proportion to each plane's bottleneck capacity (congestion-aware), with bundles inside
  each plane (a spine's uplinks, the cables into a spine); the parts move at one rate.
- :func:`ideal`: a non-blocking "big switch": only NICs (and NVLink) constrain. The
  reference every result is compared with (``throughput_fraction``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from colossim.errors import ColossimError
from colossim.network.links import Topology

HOPS = 6  # nic_up, leaf->spine, spine->core, core->spine, spine->leaf, nic_down


@dataclass(eq=False)
class FabricState:
    """A topology with its current capacities (after failures) and derived reachability."""

    topo: Topology
    capacity: np.ndarray
    notes: list[str] = field(default_factory=list)
    sampled: bool = False  # adaptive routing sprays sampled paths even when healthy (a baseline for failures)

    @functools.cached_property
    def alive(self) -> np.ndarray:
        return self.capacity > 0

    @functools.cached_property
    def healthy(self) -> bool:
        t = self.topo
        return bool(np.all(self.capacity[t.present] == t.capacity[t.present]))

    @functools.cached_property
    def reach(self) -> dict[str, np.ndarray]:
        """Boolean tables: which spine reaches which leaf / pod, which core which spine."""
        t, d = self.topo, self.topo.design
        B, mu, P, lpp = d.spines_per_pod, max(d.leaf_spine_mult, 1), d.num_pods, d.leaves_per_pod
        off = t.offsets
        down = np.asarray(self.alive[off["ls_down"]: off["sc_up"]].reshape(d.leaf_slots, mu, B).any(axis=1))
        spine_leaf = down.reshape(P, lpp, B).transpose(0, 2, 1).reshape(P * B, lpp)
        out: dict[str, np.ndarray] = {"spine_leaf": spine_leaf}
        if d.tiers == 3:
            C, mc = d.cores_per_plane, d.spine_core_mult
            up = np.asarray(self.alive[off["sc_up"]: off["sc_down"]].reshape(d.num_spines, mc, C).any(axis=1))
            core_spine = np.asarray(self.alive[off["sc_down"]: off["end"]].reshape(d.num_spines, mc, C).any(axis=1))
            spine_pod = np.zeros((d.num_spines, P), dtype=bool)
            for i in range(B):
                u = up[i::B].astype(np.int32)
                c = core_spine[i::B].astype(np.int32)
                spine_pod[i::B] = (u @ c.T) > 0
            out.update(core_spine=core_spine, spine_pod=spine_pod)
        return out


Strategy = Callable[[FabricState, np.ndarray, np.ndarray, np.random.Generator], tuple[np.ndarray, np.ndarray]]


def _unreachable(state: FabricState, src: np.ndarray, dst: np.ndarray) -> ColossimError:
    a, b = int(src[0]), int(dst[0])
    return ColossimError(f"network.failures: {src.size} flow(s) have no path (e.g. GPU {a} -> GPU {b}); the failures "
                         f"disconnect them ({'; '.join(state.notes) or 'fabric too small'})", field="network.failures")


def _pick(rng: np.random.Generator, choices: int, ok: Callable[..., np.ndarray] | None,
          count: int) -> tuple[np.ndarray, np.ndarray]:
    """A uniform choice among valid next hops per flow: (choice, reachable mask)."""
    pick = rng.integers(0, choices, size=count)
    found = np.ones(count, dtype=bool)
    if ok is None or count == 0:
        return pick, found
    bad = np.flatnonzero(~ok(np.arange(count), pick))
    for _ in range(16):  # resample: uniform over the valid hops, as hashing over the routes left
        if bad.size == 0:
            return pick, found
        pick[bad] = rng.integers(0, choices, size=bad.size)
        bad = bad[~ok(bad, pick[bad])]
    for k in bad:  # few left: enumerate their choices (strictly: any hop still alive)
        valid = np.flatnonzero(ok(np.full(choices, k), np.arange(choices), True))
        if valid.size:
            pick[k] = valid[rng.integers(0, valid.size)]
        else:
            found[k] = False
    return pick, found


def ecmp(state: FabricState, src: np.ndarray, dst: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per-flow ECMP hashing (seeded), hop by hop over the built links."""
    return _hashed_paths(state, src, dst, rng, weighted=False), np.empty(0)


def _hashed_paths(state: FabricState, src: np.ndarray, dst: np.ndarray, rng: np.random.Generator,
                  weighted: bool) -> np.ndarray:
    t, d = state.topo, state.topo.design
    paths = np.full((src.size, HOPS), -1, dtype=np.int64)
    paths[:, 0], paths[:, 5] = t.nic_up(src), t.nic_down(dst)
    la, lb = t.gpu_leaf[src], t.gpu_leaf[dst]
    idx = np.flatnonzero(la != lb)
    if idx.size and d.tiers == 1:
        raise ColossimError("cluster.fabric.tiers: a 1-tier rail-optimized fabric does not connect rails; enable "
                            "network.pxn or add a tier", field="cluster.fabric.tiers")
    healthy = state.healthy and not weighted
    alive, B, lpp = state.alive, d.spines_per_pod, d.leaves_per_pod
    def usable(links: np.ndarray, strict: bool) -> np.ndarray:
        if strict or not weighted:
            return alive[links]
        # accepted with probability capacity / line rate: a capacity-proportional choice among the valid hops
        return alive[links] & (rng.random(links.size) * t.capacity[links] < state.capacity[links])
    la, lb = la[idx], lb[idx]
    pa, pb = la // lpp, lb // lpp
    lb_in = lb - pb * lpp
    reach: dict[str, np.ndarray] = {} if healthy else state.reach

    def ok_leaf_up(k: np.ndarray, j: np.ndarray, strict: bool = False) -> np.ndarray:
        i = j % B
        good = usable(t.ls_up(la[k], j), strict) & reach["spine_leaf"][pb[k] * B + i, lb_in[k]]
        cross = pa[k] != pb[k]
        if cross.any():
            good &= ~cross | reach["spine_pod"][pa[k] * B + i, pb[k]]
        return good

    j1, found = _pick(rng, d.leaf_up, None if healthy else ok_leaf_up, idx.size)
    if not found.all():
        raise _unreachable(state, src[idx[~found]], dst[idx[~found]])
    i = j1 % B
    paths[idx, 1] = t.ls_up(la, j1)
    x = np.flatnonzero(pa != pb)
    if x.size:
        C = d.cores_per_plane
        sa, sb = pa[x] * B + i[x], pb[x] * B + i[x]

        def ok_spine_up(k: np.ndarray, j: np.ndarray, strict: bool = False) -> np.ndarray:
            return usable(t.sc_up(sa[k], j), strict) & reach["core_spine"][sb[k], j % C]

        j2, f2 = _pick(rng, d.spine_up, None if healthy else ok_spine_up, x.size)
        c = j2 % C
        paths[idx[x], 2] = t.sc_up(sa, j2)

        def ok_core_down(k: np.ndarray, m: np.ndarray, strict: bool = False) -> np.ndarray:
            return usable(t.sc_down(sb[k], c[k] + C * m), strict)

        m3, f3 = _pick(rng, d.spine_core_mult, None if healthy else ok_core_down, x.size)
        if not (f2.all() and f3.all()):
            raise _unreachable(state, src[idx[x]], dst[idx[x]])
        paths[idx[x], 3] = t.sc_down(sb, c + C * m3)

    def ok_spine_down(k: np.ndarray, m: np.ndarray, strict: bool = False) -> np.ndarray:
        return usable(t.ls_down(lb[k], i[k] + B * m), strict)

    m4, f4 = _pick(rng, d.leaf_spine_mult, None if healthy else ok_spine_down, idx.size)
    if not f4.all():
        raise _unreachable(state, src[idx[~f4]], dst[idx[~f4]])
    paths[idx, 4] = t.ls_down(lb, i + B * m4)
    return paths


def _bundles(state: FabricState) -> np.ndarray:
    """Capacities of the adaptive bundles: leaf up, leaf down, pod up, pod down."""
    t, d = state.topo, state.topo.design
    off, cap = t.offsets, state.capacity
    lu = cap[off["ls_up"]: off["ls_down"]].reshape(d.leaf_slots, d.leaf_up).sum(axis=1)
    ld = cap[off["ls_down"]: off["sc_up"]].reshape(d.leaf_slots, d.leaf_up).sum(axis=1)
    if d.tiers == 3:
        pu = cap[off["sc_up"]: off["sc_down"]].reshape(d.num_pods, -1).sum(axis=1)
        pd = cap[off["sc_down"]: off["end"]].reshape(d.num_pods, -1).sum(axis=1)
    else:
        pu = pd = np.zeros(d.num_pods)
    return np.concatenate([lu, ld, pu, pd])


def adaptive(state: FabricState, src: np.ndarray, dst: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Adaptive routing / packet spraying as bundles of equal-cost links (fluid limit)."""
    t, d = state.topo, state.topo.design
    L, S, P = t.num_links, d.leaf_slots, d.num_pods
    paths = np.full((src.size, HOPS), -1, dtype=np.int64)
    paths[:, 0], paths[:, 5] = t.nic_up(src), t.nic_down(dst)
    la, lb = t.gpu_leaf[src], t.gpu_leaf[dst]
    up = la != lb
    if up.any() and d.tiers == 1:
        raise ColossimError("cluster.fabric.tiers: a 1-tier rail-optimized fabric does not connect rails; enable "
                            "network.pxn or add a tier", field="cluster.fabric.tiers")
    paths[up, 1] = L + la[up]
    paths[up, 4] = L + S + lb[up]
    pa, pb = la // d.leaves_per_pod, lb // d.leaves_per_pod
    cross = pa != pb
    paths[cross, 2] = L + 2 * S + pa[cross]
    paths[cross, 3] = L + 2 * S + P + pb[cross]
    return paths, _bundles(state)


def ideal(state: FabricState, src: np.ndarray, dst: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A non-blocking big switch: only the two NICs."""
    t = state.topo
    paths = np.full((src.size, HOPS), -1, dtype=np.int64)
    paths[:, 0], paths[:, 5] = t.nic_up(src), t.nic_down(dst)
    return paths, np.empty(0)


def flowlet(state: FabricState, src: np.ndarray, dst: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Flowlet switching simulated as a congestion-aware path policy (``network.adaptive``);
    ``flows.route`` splits each transfer into the policy's parts first."""
    from colossim.network.adaptive import aware_paths  # noqa: PLC0415 (adaptive imports this module)

    return aware_paths(state, src, dst, rng, np.ones(src.size)), np.empty(0)


STRATEGIES: dict[str, Strategy] = {"ecmp": ecmp, "adaptive": adaptive, "flowlet": flowlet, "ideal": ideal}
ROUTING_MODELS = {"ecmp": "ecmp-hash", "adaptive": "adaptive-spray", "flowlet": "adaptive-flowlet",
                  "ideal": "ideal-switch"}
DEFAULT_STRATEGY = "adaptive"


def strategy(name: str | Strategy | None) -> Strategy:
    if name is None:
        return STRATEGIES[DEFAULT_STRATEGY]
    if callable(name):
        return name
    from colossim.network.config import ROUTINGS, check_choice

    return STRATEGIES[check_choice("--routing", name, ROUTINGS)]


def expand_bundles(state: FabricState, resource_bytes: np.ndarray) -> np.ndarray:
    """Per-link bytes from per-resource bytes: a bundle's load shared in proportion to capacity."""
    t, d = state.topo, state.topo.design
    L = t.num_links
    out = resource_bytes[:L].astype(float).copy()
    if resource_bytes.size == L:
        return out
    S, P, off, cap = d.leaf_slots, d.num_pods, t.offsets, state.capacity
    bundles = _bundles(state)
    share = np.divide(resource_bytes[L:], bundles, out=np.zeros_like(bundles), where=bundles > 0)
    out[off["ls_up"]: off["ls_down"]] += np.repeat(share[:S], d.leaf_up) * cap[off["ls_up"]: off["ls_down"]]
    out[off["ls_down"]: off["sc_up"]] += np.repeat(share[S: 2 * S], d.leaf_up) * cap[off["ls_down"]: off["sc_up"]]
    if d.tiers == 3:
        per_pod = d.spines_per_pod * d.spine_up
        out[off["sc_up"]: off["sc_down"]] += np.repeat(share[2 * S: 2 * S + P], per_pod) * cap[off["sc_up"]: off["sc_down"]]
        out[off["sc_down"]: off["end"]] += np.repeat(share[2 * S + P:], per_pod) * cap[off["sc_down"]: off["end"]]
    return out


def _plane_bundles(state: FabricState) -> dict[str, np.ndarray]:
    """Capacities of per-plane bundles: leaf->spine i and spine i->leaf cables per (leaf, i),
    a spine's uplinks, the cables into a spine from its plane's cores."""
    t, d = state.topo, state.topo.design
    off, cap, B = t.offsets, state.capacity, d.spines_per_pod
    mu = max(d.leaf_spine_mult, 1)
    lu = cap[off["ls_up"]: off["ls_down"]].reshape(d.leaf_slots, mu, B).sum(axis=1)
    ld = cap[off["ls_down"]: off["sc_up"]].reshape(d.leaf_slots, mu, B).sum(axis=1)
    if d.tiers == 3:
        su = cap[off["sc_up"]: off["sc_down"]].reshape(d.num_spines, d.spine_up).sum(axis=1)
        sd = cap[off["sc_down"]: off["end"]].reshape(d.num_spines, d.spine_up).sum(axis=1)
    else:
        su = sd = np.zeros(d.num_spines)
    return {"lu": lu, "ld": ld, "su": su, "sd": sd}


def plane_paths(state: FabricState, src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Adaptive routing on a damaged fabric: (rows, fraction, transfer index, extra capacity).

    Each leaf-crossing transfer gets one part per usable spine plane i, weighted by that
    plane's bottleneck bundle; resource ids past the physical links are the bundles
    (leaf-up per (leaf, i), leaf-down per (leaf, i), spine up, spine down)."""
    t, d = state.topo, state.topo.design
    L, S, B, lpp = t.num_links, d.leaf_slots, d.spines_per_pod, d.leaves_per_pod
    b = _plane_bundles(state)
    o_lu, o_ld = L, L + S * B
    o_su, o_sd = o_ld + S * B, o_ld + S * B + d.num_spines
    extra = np.concatenate([b["lu"].ravel(), b["ld"].ravel(), b["su"], b["sd"]])
    la, lb = t.gpu_leaf[src], t.gpu_leaf[dst]
    pa, pb = la // lpp, lb // lpp
    up = np.flatnonzero(la != lb)
    local = np.flatnonzero(la == lb)
    i = np.arange(B)
    sa, sb = pa[up, None] * B + i, pb[up, None] * B + i
    cross = (pa[up] != pb[up])[:, None]
    width = np.minimum(b["lu"][la[up]], b["ld"][lb[up]])
    width = np.where(cross, np.minimum(width, np.minimum(b["su"][sa], b["sd"][sb])), width)
    total = width.sum(axis=1)
    if np.any(total <= 0):
        raise _unreachable(state, src[up][total <= 0], dst[up][total <= 0])
    frac = width / total[:, None]
    rows = np.full((up.size, B, HOPS), -1, dtype=np.int64)
    rows[:, :, 0] = t.nic_up(src[up])[:, None]
    rows[:, :, 5] = t.nic_down(dst[up])[:, None]
    rows[:, :, 1] = o_lu + la[up, None] * B + i
    rows[:, :, 4] = o_ld + lb[up, None] * B + i
    rows[:, :, 2] = np.where(cross, o_su + sa, -1)
    rows[:, :, 3] = np.where(cross, o_sd + sb, -1)
    keep = frac > 0
    loc = np.full((local.size, HOPS), -1, dtype=np.int64)
    loc[:, 0], loc[:, 5] = t.nic_up(src[local]), t.nic_down(dst[local])
    owner = np.concatenate([np.repeat(up, B).reshape(up.size, B)[keep], local])
    return (np.concatenate([rows[keep], loc]), np.concatenate([frac[keep], np.ones(local.size)]), owner, extra)


def expand_planes(state: FabricState, resource_bytes: np.ndarray) -> np.ndarray:
    """Per-link bytes from :func:`plane_paths` resources: each bundle shared by capacity."""
    t, d = state.topo, state.topo.design
    L, S, B = t.num_links, d.leaf_slots, d.spines_per_pod
    off, cap = t.offsets, state.capacity
    out = resource_bytes[:L].astype(float).copy()
    b = _plane_bundles(state)
    mu = max(d.leaf_spine_mult, 1)
    parts = (("lu", "ls_up", "ls_down", S * B), ("ld", "ls_down", "sc_up", S * B),
             ("su", "sc_up", "sc_down", d.num_spines), ("sd", "sc_down", "end", d.num_spines))
    pos = L
    for key, first, last, count in parts:
        load = resource_bytes[pos: pos + count]
        pos += count
        bundle = b[key].ravel()
        share = np.divide(load, bundle, out=np.zeros_like(bundle), where=bundle > 0)
        if key in ("lu", "ld"):  # (leaf, i) -> its mu cables j = i + B*m
            per_link = np.broadcast_to(share.reshape(S, 1, B), (S, mu, B)).reshape(-1)
        else:
            per_link = np.repeat(share, d.spine_up)
        if per_link.size:
            out[off[first]: off[last]] += per_link * cap[off[first]: off[last]]
    return out
