"""Simulate one collective on the built fabric and report what it achieved.

For each phase of the collective's traffic: route the transfers (strategy + seed), run
one step with max-min fair rates and finishing events, repeat it ``steps`` times; do the
same on the ideal big switch. Lanes that pipeline take the slower; the rest add up.
Latency is the alpha term of the analytical model (``colossim.perf.comm``: the same
per-hop latencies from the efficiency profile), so that an idle non-blocking fabric
gives the alpha-beta cost.

Figures (nccl-tests conventions, GB/s = 1e9 bytes/s): ``algbw = size / time``,
``busbw = algbw x bus factor`` (2(n-1)/n for all-reduce), busbw per NIC ``= busbw x
(N-1)/(n-1)`` (hardware.md 5.3); ``throughput_fraction = ideal bandwidth time / simulated
bandwidth time`` (what the collective delivers against a non-blocking fabric);
``flow_throughput_fraction``: the mean over transfers of ideal / simulated completion in
the dominant phase (the average flow's data throughput, what a per-flow counter shows);
``steady_state_fraction``: total rate with every flow running / the ideal total rate.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from colossim import gate
from colossim.network.flows import Routed, route
from colossim.network.incast import Incast, incast_transient
from colossim.network.links import NVLINK_TIER, TIER_LABELS
from colossim.network.maxmin import FlowRun, run_flows
from colossim.network.routing import ROUTING_MODELS, FabricState
from colossim.network.traffic import Phase, Traffic

GB = 1e9
HOTTEST = 10


@dataclass(frozen=True)
class PhaseResult:
    name: str
    lane: str
    steps: float
    step_time_s: float
    time_s: float
    ideal_time_s: float
    num_flows: int
    events: int


@dataclass(frozen=True)
class CollectiveResult:
    """Everything `colossim network` reports for one collective."""

    collective: str
    group: str
    algorithm: str
    routing: str
    flows_per_pair: int
    seed: int
    size_bytes: float
    num_ranks: int
    ranks_per_node: int
    nodes_per_group: int
    num_groups: int
    num_gpus: int
    time_s: float
    bandwidth_time_s: float
    latency_s: float
    ideal_time_s: float
    algbw_gbps: float
    busbw_gbps: float
    busbw_per_nic_gbps: float
    throughput_fraction: float
    flow_throughput_fraction: float
    steady_state_fraction: float
    num_flows: int
    link_utilization: dict[str, dict[str, float]]
    hottest_links: list[dict[str, Any]]
    phases: list[PhaseResult]
    runtime_s: float
    failures: list[str] = field(default_factory=list)
    healthy_time_s: float | None = None
    slowdown: float | None = None
    scenario: str = ""
    notes: list[str] = field(default_factory=list)
    routing_model: str = ""
    reroute: str = ""  # with failures: which links took the failed ones' traffic, and why the slowdown is what it is
    incast: dict[str, float | int] = field(default_factory=dict)  # the start-burst transient (network/incast.py)
    link_utilization_values: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("link_utilization_values")
        out["phases"] = [asdict(p) for p in self.phases]
        out["per_job"] = [{"name": self.scenario, "gpus": self.num_gpus, "collective": self.collective,
                           "group": self.group, "size_bytes": self.size_bytes, "alone_time_s": self.time_s,
                           "shared_time_s": self.time_s, "slowdown": 1.0, "algorithm": self.algorithm,
                           "throughput_fraction": self.throughput_fraction}]
        return out


@dataclass
class _PhaseRun:
    """One phase: its time (all steps), the run of its units, which units cross the fabric."""

    time_s: float
    run: FlowRun
    unit_fabric: np.ndarray  # bool per unit (chain or transfer)
    num_flows: int


@dataclass
class _Outcome:
    """One run of a collective's phases: times and per-link bytes."""

    time_s: float
    phases: list[_PhaseRun]
    link_bytes: np.ndarray

    @property
    def phase_times(self) -> list[float]:
        return [p.time_s for p in self.phases]


def cc_reaction_s() -> float:
    """The congestion control's reaction time (``data/fabric.yaml: cc_reaction_s``, DCQCN)."""
    from colossim.network.topology import fabric_data

    return float(fabric_data()["cc_reaction_s"])


def combine(traffic: Traffic, phase_times: list[float]) -> float:
    """Bandwidth time: slowest lane when pipelined, else the sum."""
    if not traffic.pipelined:
        return float(sum(phase_times))
    lanes: dict[str, float] = {}
    for ph, t in zip(traffic.phases, phase_times, strict=True):
        lanes[ph.lane] = lanes.get(ph.lane, 0.0) + t
    return max(lanes.values(), default=0.0)


def chain_incidence(routed: Routed, chain: np.ndarray, transfer_bytes: float) -> tuple[sp.csc_matrix, np.ndarray]:
    """Links x chains: a chain crosses every link of its hops, each sub-flow weighted by its
    share of the hop's bytes (1/m for m queue pairs); and which chains cross a NIC."""
    unit = chain[routed.parent]
    n_units = int(chain.max()) + 1
    weight = routed.sizes / transfer_bytes
    pick = sp.csr_matrix((weight, (np.arange(unit.size), unit)), shape=(unit.size, n_units))
    fabric = np.zeros(n_units, dtype=bool)
    fabric[unit[routed.fabric]] = True
    return (routed.inc @ pick).tocsc(), fabric


@dataclass
class PhaseProblem:
    """A routed phase as max-min units (chains or transfers): what run_flows needs."""

    inc: sp.csc_matrix
    capacity: np.ndarray
    unit_bytes: np.ndarray  # bytes each unit moves over the whole run
    unit_fabric: np.ndarray
    chained: bool
    routed: Routed


def phase_problem(state: FabricState, ph: Phase, routing: str, *, flows_per_pair: int = 1, seed: int = 0,
                  index: int = 0, pxn: bool = True, background: np.ndarray | None = None) -> PhaseProblem:
    """Route one phase (seeded per phase) and express it as units for the solver.
    ``background``: bytes per link other traffic puts there (a load-aware policy sees it)."""
    gate.check_budget(f"phase {ph.name!r}", ph.src.size * (flows_per_pair if routing == "ecmp" else 1), gate.MAX_FLOWS,
                      field="network.flows_per_pair", unit="flows", fix="use fewer flows per pair or a smaller group")
    rng = np.random.default_rng([seed, index])
    routed = route(state, ph.src, ph.dst, ph.size_bytes, routing, flows_per_pair=flows_per_pair, rng=rng, pxn=pxn,
                   nic_efficiency=ph.nic_efficiency, background=background, shared_window=ph.chain is None)
    return problem_of(routed, ph)


def problem_of(routed: Routed, ph: Phase) -> PhaseProblem:
    """A routed phase as max-min units: chains, coupled transfers or independent flows."""
    if ph.chain is not None:
        inc, fabric = chain_incidence(routed, ph.chain, ph.size_bytes)
        return PhaseProblem(inc, routed.capacity, np.full(inc.shape[1], ph.size_bytes * ph.steps), fabric, True, routed)
    if routed.coupled:  # sprayed sub-paths of a transfer move at one rate: the transfer is the unit
        inc, fabric = chain_incidence(routed, np.arange(ph.src.size), ph.size_bytes)
        return PhaseProblem(inc, routed.capacity, np.full(ph.src.size, ph.size_bytes), fabric, False, routed)
    return PhaseProblem(routed.inc, routed.capacity, routed.sizes, routed.fabric, False, routed)


def joint_problems(state: FabricState, phases: list[Phase], routing: str, *, seed: int = 0,
                   pxn: bool = True) -> list[PhaseProblem]:
    """Several jobs' phases routed in one pass (a load-aware policy places their flowlets
    interleaved, as they arrive together, not one job around another), then split per job."""
    rng = np.random.default_rng([seed, len(phases)])
    sizes = np.concatenate([np.full(ph.src.size, ph.size_bytes) for ph in phases])
    routed = route(state, np.concatenate([ph.src for ph in phases]), np.concatenate([ph.dst for ph in phases]), sizes,
                   routing, rng=rng, pxn=pxn, nic_efficiency=phases[0].nic_efficiency,
                   shared_window=all(ph.chain is None for ph in phases))
    bounds = np.cumsum([0] + [ph.src.size for ph in phases])
    out = []
    for k, ph in enumerate(phases):
        cols = np.flatnonzero((routed.parent >= bounds[k]) & (routed.parent < bounds[k + 1]))
        part = Routed(inc=routed.inc[:, cols].tocsc(), capacity=routed.capacity, sizes=routed.sizes[cols],
                      parent=routed.parent[cols] - bounds[k], fabric=routed.fabric[cols], state=state,
                      coupled=routed.coupled, planes=routed.planes)
        out.append(problem_of(part, ph))
    return out


def run_phase(state: FabricState, ph: Phase, routing: str, *, flows_per_pair: int = 1, seed: int = 0, index: int = 0,
              pxn: bool = True) -> tuple[_PhaseRun, np.ndarray, Routed]:
    """Route one phase and run it: chains carry all their steps; independent transfers one step."""
    prob = phase_problem(state, ph, routing, flows_per_pair=flows_per_pair, seed=seed, index=index, pxn=pxn)
    routed = prob.routed
    run = run_flows(prob.inc, prob.capacity, prob.unit_bytes, react_s=0.0 if routing == "ideal" else cc_reaction_s())
    if prob.chained:
        t, fabric = run.time_s, prob.unit_fabric
    elif routed.coupled:
        t, fabric = run.time_s * ph.steps, prob.unit_fabric
    else:
        finish = np.zeros(ph.src.size)
        np.maximum.at(finish, routed.parent, run.finish_s)
        rates = np.zeros(ph.src.size)
        np.add.at(rates, routed.parent, run.initial_rates)
        run = FlowRun(run.time_s, finish, rates, run.events)
        fabric = np.zeros(ph.src.size, dtype=bool)
        fabric[routed.parent[routed.fabric]] = True
        t = run.time_s * ph.steps
    return _PhaseRun(t, run, fabric, routed.num_flows), routed.link_bytes() * ph.steps, routed


def run_traffic(state: FabricState, traffic: Traffic, routing: str, *, flows_per_pair: int = 1, seed: int = 0,
                pxn: bool = True) -> _Outcome:
    """Route and run every phase; per-link bytes summed over all steps."""
    link_bytes = np.zeros(state.topo.num_links)
    phases = []
    for i, ph in enumerate(traffic.phases):
        pr, lb, _ = run_phase(state, ph, routing, flows_per_pair=flows_per_pair, seed=seed, index=i, pxn=pxn)
        link_bytes += lb
        phases.append(pr)
    return _Outcome(combine(traffic, [p.time_s for p in phases]), phases, link_bytes)


def simulate_traffic(state: FabricState, traffic: Traffic, routing: str, *, group: str = "", flows_per_pair: int = 1,
                     seed: int = 0, pxn: bool = True, size_bytes: float = 0.0, healthy: FabricState | None = None,
                     scenario: str = "") -> CollectiveResult:
    """Simulate a collective's traffic and compare it with the ideal fabric."""
    start = time.perf_counter()
    reference = healthy or state
    m = flows_per_pair if routing == "ecmp" else 1
    sim = run_traffic(state, traffic, routing, flows_per_pair=m, seed=seed, pxn=pxn)
    ideal = run_traffic(reference, traffic, "ideal", seed=seed, pxn=pxn)
    incast = fabric_incast(state, traffic, routing, sim.time_s, pxn)
    t_bw = sim.time_s + incast.time_s
    healthy_time, reroute = None, ""
    if healthy is not None:
        before = run_traffic(healthy, traffic, routing, flows_per_pair=m, seed=seed, pxn=pxn)
        healthy_time = before.time_s + fabric_incast(healthy, traffic, routing, before.time_s, pxn).time_s + \
            traffic.latency_s
        reroute = _reroute(state, before.link_bytes, sim.link_bytes, t_bw + traffic.latency_s, healthy_time,
                           ROUTING_MODELS.get(routing, routing))
    total = t_bw + traffic.latency_s
    n, nodes = traffic.n, traffic.nodes
    algbw = size_bytes / total / GB if total > 0 else 0.0
    busbw = algbw * traffic.bus_factor
    per_nic = busbw * (nodes - 1) / (n - 1) if nodes > 1 and n > 1 else busbw
    flow_frac, steady = _flow_fractions(sim, ideal)
    util, values, hottest = _utilization(state, sim.link_bytes, t_bw)
    phases = [PhaseResult(ph.name, ph.lane, ph.steps, r.time_s / ph.steps, r.time_s, ri.time_s, r.num_flows,
                          r.run.events) for ph, r, ri in zip(traffic.phases, sim.phases, ideal.phases, strict=True)]
    return CollectiveResult(
        collective=traffic.collective, group=group, algorithm=traffic.algorithm, routing=routing,
        flows_per_pair=m, seed=seed, size_bytes=size_bytes, num_ranks=n, ranks_per_node=traffic.k,
        nodes_per_group=nodes, num_groups=traffic.groups, num_gpus=traffic.groups * n, time_s=total,
        bandwidth_time_s=t_bw, latency_s=traffic.latency_s, ideal_time_s=ideal.time_s + traffic.latency_s,
        algbw_gbps=algbw, busbw_gbps=busbw, busbw_per_nic_gbps=per_nic,
        throughput_fraction=ideal.time_s / t_bw if t_bw > 0 else 1.0, flow_throughput_fraction=flow_frac,
        steady_state_fraction=steady, num_flows=int(sum(p.num_flows for p in phases)), link_utilization=util,
        hottest_links=hottest, phases=phases, runtime_s=time.perf_counter() - start, failures=list(state.notes),
        healthy_time_s=healthy_time, slowdown=None if healthy_time is None else total / healthy_time,
        scenario=scenario, notes=list(traffic.notes), routing_model=ROUTING_MODELS.get(routing, routing),
        reroute=reroute, incast=incast.to_dict(), link_utilization_values=values,
    )


def fabric_incast(state: FabricState, traffic: Traffic, routing: str, bandwidth_time_s: float, pxn: bool) -> Incast:
    """The start-burst incast of the collective on a switched fabric; none on the ideal big
    switch (per-port virtual output queues: a paused port has no victims)."""
    return incast_transient(state.topo, state.capacity, traffic, bandwidth_time_s, pxn=pxn,
                            enabled=routing != "ideal")


def _reroute(state: FabricState, healthy_bytes: np.ndarray, failed_bytes: np.ndarray, time_s: float,
             healthy_s: float, model: str) -> str:
    """Where the failed links' traffic went, and whether that sets the pace."""
    topo = state.topo
    lost = (healthy_bytes > 0) & ~state.alive
    gained = state.alive & (failed_bytes > healthy_bytes * 1.01 + 1.0)
    cap = np.where(state.alive, state.capacity, np.inf)
    util = np.divide(failed_bytes, cap * time_s, out=np.zeros_like(failed_bytes), where=state.alive & (time_s > 0))
    busiest = float(util[gained].max()) if gained.any() else 0.0
    tiers = ", ".join(f"{int(np.count_nonzero(gained & (topo.tier == k))):,} {TIER_LABELS[k]}"
                      for k in range(topo.design.tiers) if np.any(gained & (topo.tier == k)))
    slowdown = time_s / healthy_s if healthy_s > 0 else 1.0
    head = (f"{model}: {int(lost.sum()):,} failed link(s) carried traffic; " +
            (f"it moved onto {tiers} link(s), the busiest of them {busiest:.0%} utilized" if gained.any() else
             "no other link took on more"))
    if slowdown <= 1.005:
        return head + ": no slowdown against the healthy fabric (the links left carry what the same pace needs)"
    return head + f": {slowdown:.3f}x slower, the remaining paths set the pace"


def _flow_fractions(sim: _Outcome, ideal: _Outcome) -> tuple[float, float]:
    """Mean unit throughput and steady-state rate against ideal, in the slowest fabric phase.

    Units are chains (ring channels, trees) or independent transfers."""
    fabric = [i for i, p in enumerate(sim.phases) if p.unit_fabric.any()]
    if not fabric:
        return 1.0, 1.0
    i = max(fabric, key=lambda j: sim.phases[j].time_s)
    ps, pi = sim.phases[i], ideal.phases[i]
    sel = ps.unit_fabric
    flow = float(np.mean(pi.run.finish_s[sel] / ps.run.finish_s[sel]))
    steady = float(ps.run.initial_rates[sel].sum() / pi.run.initial_rates[sel].sum())
    return flow, steady


def _utilization(state: FabricState, link_bytes: np.ndarray, t_bw: float) -> tuple[dict, dict, list]:
    topo = state.topo
    cap = state.capacity
    ok = topo.present & (cap > 0)
    util = np.divide(link_bytes, cap * t_bw, out=np.zeros_like(link_bytes), where=ok & (t_bw > 0))
    stats: dict[str, dict[str, float]] = {}
    values: dict[str, np.ndarray] = {}
    for tier in [*range(topo.design.tiers), NVLINK_TIER]:
        sel = ok & (topo.tier == tier)
        u = util[sel]
        busy = u[u > 0]
        name = TIER_LABELS[tier]
        values[name] = u
        stats[name] = {"links": int(u.size), "busy_links": int(busy.size), "mean": float(u.mean()) if u.size else 0.0,
                       "mean_busy": float(busy.mean()) if busy.size else 0.0, "max": float(u.max()) if u.size else 0.0,
                       "p99": float(np.percentile(u, 99)) if u.size else 0.0}
    order = np.argsort(util)[::-1][:HOTTEST]
    hottest = [{"link": topo.describe(int(i)), "tier": TIER_LABELS[int(topo.tier[i])], "utilization": float(util[i]),
                "bytes": float(link_bytes[i])} for i in order if util[i] > 0]
    return stats, values, hottest
