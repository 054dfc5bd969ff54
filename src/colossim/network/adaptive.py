"""Flowlet switching as a simulated path policy: congestion-aware choice with stale information.

ECMP and flowlet-switched adaptive routing differ only here, in how a connection's parts
pick their paths (same hashed start, same path set, same max-min simulation after):

- **ecmp-hash** (``routing.ecmp``): each part (queue pair) hashes once, load-blind.
- **adaptive-flowlet** (:func:`aware_paths`): each connection's in-flight window is split
  into ``width`` flowlets on separate paths, moving at one rate (one connection). Flowlets
  are placed in random order over ``rounds`` feedback intervals; each draws ``candidates``
  equal-cost paths and takes the least congested by a CONGA-style path-wide metric (the
  most loaded link on the path, load = offered bytes / capacity) as the last report showed
  it: the flowlets placed in earlier intervals, not those of its own interval (stale
  information). What stays unbalanced (the power-of-d residue, the hop into a destination
  leaf that no choice avoids, failed links) is what max-min then charges.

On a fabric whose fabric-crossing flows are few (packed Megatron order) the policy finds
a collision-free assignment and matches the non-blocking fabric; with many independent
flows at full load (random placement, two jobs, all-to-all) some imbalance remains, and
it shrinks as ``width`` grows: per-packet spraying (``routing.adaptive``,
``adaptive-spray``) is the limit, modelled exactly as leaf-wide bundles.

Left out: queueing and PFC dynamics inside a feedback interval, flowlets re-choosing during
a transfer (the placement is the steady state of one collective phase).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from colossim.network.routing import FabricState, _hashed_paths


@dataclass(frozen=True)
class FlowletPolicy:
    """The flowlet policy's parameters (catalog: ``data/fabric.yaml: routing_models``)."""

    width: int = 8  # flowlets per connection (paths in flight at once)
    rounds: int = 64  # feedback intervals over which flowlets are placed
    candidates: int = 2  # paths a flowlet compares (power of d choices)


def _choices(state: FabricState, la: np.ndarray, lb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A uniformly drawn equal-cost path per part: its fabric links (n, 4), -1 where unused."""
    t, d = state.topo, state.topo.design
    B, lpp = d.spines_per_pod, d.leaves_per_pod
    n = la.size
    links = np.full((n, 4), -1, dtype=np.int64)
    j1 = rng.integers(0, d.leaf_up, n)
    i = j1 % B
    links[:, 0] = t.ls_up(la, j1)
    pa, pb = la // lpp, lb // lpp
    x = np.flatnonzero(pa != pb)
    if x.size:
        C = d.cores_per_plane
        sa, sb = pa[x] * B + i[x], pb[x] * B + i[x]
        j2 = rng.integers(0, d.spine_up, x.size)
        m3 = rng.integers(0, d.spine_core_mult, x.size)
        links[x, 1] = t.sc_up(sa, j2)
        links[x, 2] = t.sc_down(sb, j2 % C + C * m3)
    m4 = rng.integers(0, max(d.leaf_spine_mult, 1), n)
    links[:, 3] = t.ls_down(lb, i + B * m4)
    return links


def _congestion(links: np.ndarray, util: np.ndarray, inv_cap: np.ndarray, extra: np.ndarray) -> np.ndarray:
    """Path metric: the most loaded link on each path, with ``extra`` bytes added on it."""
    used = links >= 0
    safe = np.where(used, links, 0)
    level = util[safe] + extra[:, None] * inv_cap[safe]
    return np.where(used, level, -np.inf).max(axis=1)


def aware_paths(state: FabricState, src: np.ndarray, dst: np.ndarray, rng: np.random.Generator,
                weight: np.ndarray, policy: FlowletPolicy = FlowletPolicy(),
                background: np.ndarray | None = None) -> np.ndarray:
    """Paths (rows of resource ids, as ``routing.ecmp``) chosen part by part, congestion-aware.

    Parts arrive in random order in ``policy.rounds`` batches (one feedback interval each);
    every part draws ``policy.candidates`` equal-cost paths and takes the least congested as
    the last report showed it (loads of the parts placed in earlier batches; parts of one
    batch do not see each other: stale information). Without a valid candidate (failures)
    a part keeps its hashed path, which avoids failed links. ``background`` (bytes per
    link of other traffic, e.g. another job's) is in the report from the start."""
    t = state.topo
    paths = _hashed_paths(state, src, dst, rng, weighted=False)
    idx = np.flatnonzero(t.gpu_leaf[src] != t.gpu_leaf[dst])
    if idx.size == 0:
        return paths
    la, lb = t.gpu_leaf[src[idx]], t.gpu_leaf[dst[idx]]
    links = paths[idx][:, 1:5].copy()
    w = np.broadcast_to(np.asarray(weight, dtype=float), src.shape)[idx]
    cap = state.capacity[: t.num_links]
    inv_cap = np.divide(1.0, cap, out=np.full(cap.size, np.inf), where=cap > 0)
    util = np.zeros(cap.size)  # offered bytes / capacity of the parts placed so far
    if background is not None:
        util += np.where(np.isfinite(inv_cap), background[: cap.size] * np.where(np.isfinite(inv_cap), inv_cap, 0.0), 0.0)
    for batch in np.array_split(rng.permutation(idx.size), max(policy.rounds, 1)):
        best = links[batch]
        best_level = _congestion(best, util, inv_cap, w[batch])
        for _ in range(policy.candidates):
            alt = _choices(state, la[batch], lb[batch], rng)
            level = _congestion(alt, util, inv_cap, w[batch])
            better = level < best_level
            best[better], best_level[better] = alt[better], level[better]
        links[batch] = best
        used = best >= 0
        np.add.at(util, best[used], (w[batch][:, None] * inv_cap[np.where(used, best, 0)])[used])
    out = paths.copy()
    out[idx, 1:5] = links
    return out


def flowlet_policy() -> FlowletPolicy:
    """The ``adaptive-flowlet`` parameters from ``data/fabric.yaml``."""
    from colossim.network.topology import fabric_data

    entry = fabric_data()["routing_models"]["adaptive-flowlet"]
    return FlowletPolicy(int(entry["width"]), int(entry["rounds"]), int(entry["candidates"]))
