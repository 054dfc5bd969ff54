"""Adaptive routing as a simulated path policy: each switch balances its own ports exactly,
the hops behind its choice are known only from stale feedback.

ECMP and adaptive routing differ only here, in how a connection's parts pick their paths
(same path set, same max-min simulation after):

- **ecmp-hash** (``routing.ecmp``): each part (queue pair) hashes once, load-blind.
- **adaptive-flowlet** (:func:`aware_paths`): each connection's in-flight window is split
  into ``width`` flowlets on separate paths, moving at one rate. As in Spectrum-X's
  adaptive routing, **every switch on the way up picks its egress port by its own queue
  state**, which it knows exactly: the source leaf among its uplinks, the spine among its
  core uplinks, the core and the destination spine among their parallel cables. The hops
  behind a choice (the cables from the core into the destination pod's spine, from the
  destination spine into the destination leaf) it knows only from feedback: CONGA's
  leaf-to-leaf metric (the path-wide maximum), a report about one RTT old, refreshed after
  every NIC has started ``feedback_flowlets`` flowlets. A port's cost is max(its own load
  after the flowlet, exact; the reported level of the rest of its path). A switch compares
  the port an exact local greedy gives the flowlet with ``candidates`` ports drawn at
  random (the power of d choices: robust on stale information, where "least loaded of all"
  herds; Mitzenmacher, IEEE TPDS 2000). A flowlet that drew a port another flowlet of its
  switch took in the same interval chooses again on the updated loads (the switch sees its
  own choices). ``generations`` successive placements are averaged (a flowlet re-chooses
  at each flowlet boundary; the rate over a phase is the time average), each seeing the
  load of the one before.

What stays unbalanced is physical, not assigned: the cables into a destination leaf that
many source leaves fill on the same stale report, one flowlet's granularity, failed or
degraded links. Max-min then charges it. On a fabric whose fabric-crossing flows are few
(packed Megatron order) the policy finds a collision-free assignment and matches the
non-blocking fabric. Per-packet spraying (``routing.adaptive``, ``adaptive-spray``) is the
fluid limit: leaf-wide bundles.

Left out: queueing and PFC dynamics inside a feedback interval, and two leaves' flowlets
reaching one spine in the same interval seeing each other's choice there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from colossim.network.routing import FabricState, _hashed_paths


@dataclass(frozen=True)
class FlowletPolicy:
    """The flowlet policy's parameters (catalog: ``data/fabric.yaml: routing_models``)."""

    width: int = 16  # flowlets per connection (paths in flight at once)
    generations: int = 2  # successive placements of the window averaged (each sees the last's load)
    feedback_flowlets: int = 1  # flowlets each NIC starts between two congestion reports
    candidates: int = 2  # ports drawn besides the locally least loaded one (power of d choices)


@dataclass(eq=False)
class _Loads:
    """Offered seconds (bytes / capacity) per link, as views per tier; inf on dead links."""

    load: np.ndarray
    inv_cap: np.ndarray
    up: np.ndarray  # (leaf slots, leaf_up): leaf -> spine
    down: np.ndarray  # (leaf slots, leaf_up): spine -> leaf, by the leaf's slot
    scu: np.ndarray  # (spines, spine_up): spine -> core
    scd: np.ndarray  # (spines, spine_up): core -> spine, by the spine's slot


def _loads(state: FabricState, background: np.ndarray | None) -> _Loads:
    t, d = state.topo, state.topo.design
    cap = state.capacity[: t.num_links]
    inv_cap = np.divide(1.0, cap, out=np.full(cap.size, np.inf), where=cap > 0)
    load = np.where(cap > 0, 0.0, np.inf)
    if background is not None:
        load += np.where(cap > 0, background[: cap.size] * np.where(cap > 0, inv_cap, 0.0), 0.0)
    off = t.offsets
    up = load[off["ls_up"]: off["ls_down"]].reshape(d.leaf_slots, d.leaf_up)
    down = load[off["ls_down"]: off["sc_up"]].reshape(d.leaf_slots, d.leaf_up)
    if d.tiers == 3:
        scu = load[off["sc_up"]: off["sc_down"]].reshape(d.num_spines, d.spine_up)
        scd = load[off["sc_down"]: off["end"]].reshape(d.num_spines, d.spine_up)
    else:
        scu = scd = np.zeros((0, 1))
    return _Loads(load, inv_cap, up, down, scu, scd)


@dataclass(eq=False)
class _Report:
    """The stale view a source switch has of the hops behind its choice."""

    leaf_down: np.ndarray  # (leaf slots, leaf_up): best cable of plane j%B into each leaf
    pod: np.ndarray  # (spines, pods): best level from a spine through a core into each pod's spine
    core_down: np.ndarray  # (spines, spine_up): best cable of core j2%C into each spine


def _report(state: FabricState, ld: _Loads) -> _Report:
    d = state.topo.design
    B, mu = d.spines_per_pod, max(d.leaf_spine_mult, 1)
    best = ld.down.reshape(d.leaf_slots, mu, B).min(axis=1)
    leaf_down = np.tile(best, (1, mu))
    if d.tiers != 3:
        return _Report(leaf_down, np.zeros((0, 1)), np.zeros((0, 1)))
    C, mc, P = d.cores_per_plane, d.spine_core_mult, d.num_pods
    core = ld.scd.reshape(d.num_spines, mc, C).min(axis=1)  # (spines, C)
    core_down = np.tile(core, (1, mc))
    sb = np.arange(P)[None, :] * B + (np.arange(d.num_spines) % B)[:, None]  # (spines, pods): the spine reached
    level = np.maximum(ld.scu[:, None, :], core_down[sb])  # (spines, pods, spine_up)
    return _Report(leaf_down, level.min(axis=2), core_down)


def _least(cost: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The cheapest column per row, ties broken at random."""
    return _jittered(cost, rng).argmin(axis=1)


def _jittered(cost: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    finite = np.isfinite(cost)
    scale = np.where(finite, cost, 0.0).max(initial=0.0) * 1e-9 + 1e-300
    return np.where(finite, cost + rng.random(cost.shape) * scale, np.inf)


def _rank_in_group(keys: np.ndarray) -> np.ndarray:
    """Each element's position among the elements with its key (in array order)."""
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    rank = np.empty(keys.size, dtype=np.int64)
    rank[order] = np.arange(keys.size) - np.searchsorted(sorted_keys, sorted_keys, side="left")
    return rank


def _kth_least(loads: np.ndarray, owner: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per element, the port of its switch ``owner`` that an exact local greedy gives it: the
    r-th least loaded at the start of the step for the r-th element of that switch (ports
    reused cyclically once a switch has more elements than ports)."""
    switches, inverse = np.unique(owner, return_inverse=True)
    order = np.argsort(_jittered(loads[switches], rng), axis=1)
    return order[inverse, _rank_in_group(owner) % loads.shape[1]]


def _choose(local: np.ndarray, owner: np.ndarray, remote: Callable[[np.ndarray, np.ndarray], np.ndarray],
            d: int, loads: np.ndarray, rng: np.random.Generator, fallback: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The port per row and whether it is usable: among the port the exact local greedy gives
    to the switch ``owner`` (:func:`_kth_least` on ``loads``) and ``d`` drawn at random, the
    one with the lowest max(local load, stale remote level). The switch sees its own
    choices: a drawn port another flowlet of the step took falls back to the greedy one.
    Rows whose candidates are all unusable (failures) compare every port."""
    n, k = local.shape
    local_pick = _kth_least(loads, owner, rng)
    rows = np.arange(n)[:, None]
    cand = np.concatenate([local_pick[:, None], rng.integers(0, k, (n, d))], axis=1)
    cost = np.maximum(local[rows, cand], remote(rows, cand))
    best = _least(cost, rng)
    port = cand[np.arange(n), best]
    if fallback:  # a drawn port another flowlet took this step: the greedy one
        twice = (best > 0) & (_rank_in_group(owner * k + port) > 0)
        best[twice], port[twice] = 0, local_pick[twice]
    ok = np.isfinite(cost[np.arange(n), best])
    bad = np.flatnonzero(~ok)
    if bad.size:
        every = np.broadcast_to(np.arange(k), (bad.size, k))
        full = np.maximum(local[bad], remote(bad[:, None], every))
        port[bad] = _least(full, rng)
        ok[bad] = np.isfinite(full[np.arange(bad.size), port[bad]])
    return port, ok


def _in_turn(local_of: Callable[[np.ndarray], np.ndarray], owner: np.ndarray,
             remote: Callable[[np.ndarray, np.ndarray], np.ndarray], d: int, loads: np.ndarray,
             commit: Callable[[np.ndarray, np.ndarray], None], rng: np.random.Generator,
             tries: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_choose` for every row, a switch seeing its own choices: rows that drew a port
    another row of their switch took choose again on the updated loads (``tries`` rounds,
    the last falling back to the greedy port); ``commit(rows, ports)`` books each choice."""
    n, k = owner.size, loads.shape[1]
    port, ok = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
    todo = np.arange(n)
    for attempt in range(tries):
        last = attempt == tries - 1
        def sub_remote(r: np.ndarray, c: np.ndarray, todo: np.ndarray = todo) -> np.ndarray:
            return remote(todo[r], c)

        p, good = _choose(local_of(todo), owner[todo], sub_remote, d, loads, rng, fallback=last)
        keep = np.ones(todo.size, dtype=bool) if last else _rank_in_group(owner[todo] * k + p) == 0
        rows = todo[keep]
        port[rows], ok[rows] = p[keep], good[keep]
        commit(rows[good[keep]], p[keep][good[keep]])
        todo = todo[~keep]
        if todo.size == 0:
            break
    return port, ok


def _steps(la: np.ndarray, per_step: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Parts in random order grouped into steps in which every source leaf places
    ``per_step`` (one feedback interval each): (order, bounds)."""
    perm = rng.permutation(la.size)
    step = _rank_in_group(la[perm]) // per_step
    by_step = np.argsort(step, kind="stable")
    bounds = np.searchsorted(step[by_step], np.arange(int(step.max()) + 2))
    return perm[by_step], bounds


def aware_paths(state: FabricState, src: np.ndarray, dst: np.ndarray, rng: np.random.Generator,
                weight: np.ndarray, policy: FlowletPolicy = FlowletPolicy(),
                background: np.ndarray | None = None, width: int | None = None) -> np.ndarray:
    """Paths (rows of resource ids, as ``routing.ecmp``) chosen flowlet by flowlet, hop by hop.

    ``background`` (bytes per link of other traffic, e.g. another job's) is on the links
    from the start. Parts come ``width`` (default ``policy.width``) x ``policy.generations``
    per connection, contiguous; each generation's are placed in turn. A flowlet with no usable path keeps its hashed path (``routing.ecmp``
    withdraws failed routes)."""
    t, d = state.topo, state.topo.design
    paths = _hashed_paths(state, src, dst, rng, weighted=False)
    idx = np.flatnonzero(t.gpu_leaf[src] != t.gpu_leaf[dst])
    if idx.size == 0:
        return paths
    lpp = d.leaves_per_pod
    la, lb = t.gpu_leaf[src[idx]], t.gpu_leaf[dst[idx]]
    pa, pb = la // lpp, lb // lpp
    w = np.broadcast_to(np.asarray(weight, dtype=float), src.shape)[idx]
    links = paths[idx][:, 1:5].copy()
    ld = _loads(state, background)
    report = _report(state, ld)
    width = width or policy.width
    gen = (np.arange(src.size) % (width * policy.generations) // width)[idx]
    per_step = max(d.gpus_per_leaf * policy.feedback_flowlets, 1)  # flowlets a leaf places per report
    for g in range(max(policy.generations, 1)):
        sel = np.flatnonzero(gen == g)
        order, bounds = _steps(la[sel], per_step, rng)
        order = sel[order]
        for step in range(bounds.size - 1):
            if step or g:
                report = _report(state, ld)
            p = order[bounds[step]: bounds[step + 1]]
            _place(state, ld, report, p, la[p], lb[p], pa[p], pb[p], w[p], links, policy.candidates, rng)
    paths[idx, 1:5] = links  # the hashed paths are ours: no copy (12.6M parts at 98k)
    return paths


def _place(state: FabricState, ld: _Loads, report: _Report, p: np.ndarray, la: np.ndarray, lb: np.ndarray,
           pa: np.ndarray, pb: np.ndarray, w: np.ndarray, links: np.ndarray, candidates: int,
           rng: np.random.Generator) -> None:
    """One step: each source leaf's flowlet takes an uplink, its spine a core, the core and
    the destination spine the least loaded of their parallel cables."""
    t, d = state.topo, state.topo.design
    B, off = d.spines_per_pod, t.offsets
    inv_up = ld.inv_cap[off["ls_up"]: off["ls_down"]].reshape(d.leaf_slots, d.leaf_up)
    cross = pa != pb

    def behind_leaf(r: np.ndarray, j: np.ndarray) -> np.ndarray:  # stale: the rest of the path via uplink j
        level = report.leaf_down[lb[r], j]
        if d.tiers == 3:
            level = np.where(cross[r], np.maximum(level, report.pod[pa[r] * B + j % B, pb[r]]), level)
        return level

    def book_up(r: np.ndarray, j: np.ndarray) -> None:
        first = t.ls_up(la[r], j)
        np.add.at(ld.load, first, w[r] * ld.inv_cap[first])

    j, ok = _in_turn(lambda r: ld.up[la[r]] + w[r, None] * inv_up[la[r]], la, behind_leaf, candidates, ld.up,
                     book_up, rng)
    i = j % B
    x = np.flatnonzero(cross & ok)
    if x.size:
        C = d.cores_per_plane
        sa, sb = pa[x] * B + i[x], pb[x] * B + i[x]
        inv_sc = ld.inv_cap[off["sc_up"]: off["sc_down"]].reshape(d.num_spines, d.spine_up)
        def book_core(r: np.ndarray, j2: np.ndarray) -> None:
            second = t.sc_up(sa[r], j2)
            np.add.at(ld.load, second, w[x[r]] * ld.inv_cap[second])

        j2, good = _in_turn(lambda r: ld.scu[sa[r]] + w[x[r], None] * inv_sc[sa[r]], sa,
                            lambda r, c: report.core_down[sb[r], c], candidates, ld.scu, book_core, rng)
        ok[x[~good]] = False
        unbook = t.ls_up(la[x[~good]], j[x[~good]])
        np.add.at(ld.load, unbook, -w[x[~good]] * ld.inv_cap[unbook])
        x, sa, sb, j2 = x[good], sa[good], sb[good], j2[good]
        cables = (j2 % C)[:, None] + C * np.arange(d.spine_core_mult)  # the core's parallel cables into sb
        m3 = _cable(ld.scd[sb[:, None], cables], sb * C + j2 % C, rng)
        second, third = t.sc_up(sa, j2), t.sc_down(sb, cables[np.arange(x.size), m3])
        np.add.at(ld.load, third, w[x] * ld.inv_cap[third])
        links[p[x], 1], links[p[x], 2] = second, third
    y = np.flatnonzero(ok)
    first = t.ls_up(la[y], j[y])
    slots = i[y, None] + B * np.arange(max(d.leaf_spine_mult, 1))  # the spine's parallel cables into the leaf
    m4 = _cable(ld.down[lb[y, None], slots], lb[y] * B + i[y], rng)
    last = t.ls_down(lb[y], slots[np.arange(y.size), m4])
    np.add.at(ld.load, last, w[y] * ld.inv_cap[last])
    links[p[y], 0], links[p[y], 3] = first, last


def _cable(loads: np.ndarray, bundle: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Parallel cables of one switch pair, the least loaded first, in turn within a step."""
    if loads.shape[1] == 1:
        return np.zeros(loads.shape[0], dtype=np.int64)
    order = np.argsort(_jittered(loads, rng), axis=1)
    return order[np.arange(loads.shape[0]), _rank_in_group(bundle) % loads.shape[1]]


def flowlet_policy() -> FlowletPolicy:
    """The ``adaptive-flowlet`` parameters from ``data/fabric.yaml``."""
    from colossim.network.topology import fabric_data

    entry = fabric_data()["routing_models"]["adaptive-flowlet"]
    return FlowletPolicy(int(entry["width"]), int(entry["generations"]), int(entry["feedback_flowlets"]),
                         int(entry["candidates"]))
