"""N training jobs on one fabric: each job's collectives slow the others' on shared links.

Jobs: the scenario's own (its plan; the collective, group and size asked for) and every
entry of ``network.jobs`` (or the one ``network.second_job``), each with its own plan,
collective, placement, phase offset and gap. Placement: with ``second_job`` alone, the
``placement.node_order`` of the cluster (``packed``: the second job after the first;
``interleaved``: alternating nodes; ``random``: a shuffled cluster); with ``jobs``, the
scenario's job takes its nodes first (its node order) and each further job takes free
nodes by its own policy (``packed``, ``spread``, ``random``, ``topology-aware``).

Alone, each job is simulated as usual. Together, the heaviest phase of each (its scale-out
traffic) runs in steady state: each job restarts its phase ``gap`` (compute, in units of
its collective time alone) after it finishes, the first start delayed by ``phase_offset``
of its cycle; rates are max-min fair over the union of every job's flows, and each job's
mean collective time after the first cycle is its shared phase time. NICs are never
shared (disjoint GPUs), so any slowdown comes from switch links jobs cross together. With
no gap the collectives overlap all the time: the worst case.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from colossim.errors import ColossimError
from colossim.network.config import JobSpec, NetworkConfig, SecondJob, network_config, parse_size
from colossim.network.links import TIER_LABELS
from colossim.network.maxmin import run_periodic
from colossim.network.placement import job_groups, node_maps, nodes_needed, plan_dims
from colossim.network.routing import ROUTING_MODELS
from colossim.network.simulate import (
    GB,
    combine,
    fabric_incast,
    joint_problems,
    phase_problem,
    run_traffic,
)
from colossim.network.traffic import Traffic
from colossim.network.twin import build_fabric, routing_of, traffic_for


@dataclass(frozen=True)
class JobResult:
    name: str
    gpus: int
    collective: str
    group: str
    size_bytes: float
    alone_time_s: float
    shared_time_s: float
    slowdown: float
    busbw_alone_gbps: float
    busbw_shared_gbps: float
    placement: str = "packed"
    phase_offset: float = 0.0
    gap: float = 0.0
    algorithm: str = ""
    throughput_fraction: float = 1.0  # ideal bandwidth time / shared bandwidth time


@dataclass(frozen=True)
class SharedFabricResult:
    jobs: list[JobResult]
    shared_links: dict[str, int]  # per tier: links both jobs cross
    routing: str
    flows_per_pair: int
    seed: int
    node_order: str
    cycles: list[int]
    runtime_s: float
    routing_model: str = ""

    @property
    def throughput_fraction(self) -> float:
        """The scenario's job: ideal bandwidth time / its shared bandwidth time."""
        return self.jobs[0].throughput_fraction

    def to_dict(self) -> dict[str, Any]:
        per_job = [asdict(j) for j in self.jobs]
        return {**asdict(self), "jobs": per_job, "per_job": per_job, "throughput_fraction": self.throughput_fraction,
                "algorithm": self.jobs[0].algorithm}


@dataclass(frozen=True)
class _Job:
    name: str
    dims: dict[str, int]
    gpus: int
    collective: str
    group: str
    size_bytes: float
    placement: str
    phase_offset: float
    gap: float


def _dims_of(spec: SecondJob, gpus: int, field: str) -> dict[str, int]:
    p = {"tp": 1, "cp": 1, "ep": 1, "pp": 1, **spec.parallel}
    mp = p["tp"] * p["cp"] * p["pp"]
    if gpus < mp or gpus % mp:
        raise ColossimError(f"{field}: {gpus} GPUs are not a multiple of tp*cp*pp = {mp}", field=field, value=gpus)
    return plan_dims(p["tp"], p["cp"], p["ep"], gpus // mp, p["pp"], p.get("etp"))


def job_list(scenario: Any, config: NetworkConfig, collective: str, group: str, size: str | float) -> list[_Job]:
    """The scenario's job first, then ``network.jobs`` (or ``network.second_job``)."""
    p = scenario.parallel
    gpn = scenario.cluster.gpus_per_node
    first = _Job(scenario.name, plan_dims(p.tp, p.cp, p.ep, p.dp, p.pp, p.etp), p.world_size, collective, group,
                 parse_size(size), config.placement.node_order, 0.0, config.gap)
    out = [first]
    used = nodes_needed(p.world_size, gpn)
    specs: list[tuple[str, SecondJob]] = [(f"network.jobs[{i}]", j) for i, j in enumerate(config.jobs)]
    if config.second_job is not None:
        specs.append(("network.second_job", config.second_job))
    for k, (field, spec) in enumerate(specs):
        gpus = spec.gpus or (scenario.cluster.num_nodes - used) * gpn
        if gpus <= 0:
            raise ColossimError(f"{field}.gpus: the jobs before it use {used * gpn:,} of the cluster's "
                                f"{scenario.cluster.num_gpus:,} GPUs, leaving none for "
                                f"{'a second job' if field == 'network.second_job' else 'this job'}; give parallel.dp "
                                "for a smaller first job or a larger cluster", field=f"{field}.gpus")
        used += nodes_needed(gpus, gpn)
        job_spec = spec if isinstance(spec, JobSpec) else None
        name = (job_spec.name if job_spec and job_spec.name else
                ("second job" if field == "network.second_job" else f"job {k + 2}"))
        out.append(_Job(name, _dims_of(spec, gpus, f"{field}.gpus"), gpus, spec.collective, spec.group,
                        parse_size(spec.size, f"{field}.size"), job_spec.placement if job_spec else "packed",
                        job_spec.phase_offset if job_spec else 0.0, job_spec.gap if job_spec else 0.0))
    return out


def job_node_maps(scenario: Any, config: NetworkConfig, jobs: list[_Job], nodes_per_pod: int) -> list[np.ndarray]:
    gpn = scenario.cluster.gpus_per_node
    needs = [nodes_needed(j.gpus, gpn) for j in jobs]
    total = scenario.cluster.num_nodes
    if not config.jobs:  # the two-job form: one node order for the whole cluster
        return node_maps(total, needs, config.placement.node_order, config.seed)
    if config.placement.node_order == "interleaved" and 2 * needs[0] <= total:  # every other node; others fill in
        maps = [np.arange(needs[0], dtype=np.int64) * 2]
    else:
        maps = node_maps(total, needs[:1], config.placement.node_order, config.seed)
    free = np.ones(total, dtype=bool)
    free[maps[0]] = False
    for k, (job, need) in enumerate(zip(jobs[1:], needs[1:], strict=True), start=1):
        pick = allocate(np.flatnonzero(free), need, job.placement, nodes_per_pod, config.seed + k)
        free[pick] = False
        maps.append(pick)
    return maps


def allocate(free: np.ndarray, need: int, policy: str, nodes_per_pod: int, seed: int) -> np.ndarray:
    """``need`` of the ``free`` nodes (ascending ids) by a placement policy."""
    if need > free.size:
        raise ColossimError(f"network.jobs: a job needs {need:,} nodes; only {free.size:,} are free",
                            field="network.jobs", value=need)
    if policy == "spread":
        return free[np.floor(np.arange(need) * (free.size / need)).astype(np.int64)]
    if policy == "random":
        return np.random.default_rng(seed).choice(free, size=need, replace=False)  # in the order handed out
    if policy == "topology-aware":
        pod = free // max(nodes_per_pod, 1)
        count = np.bincount(pod)
        order = np.lexsort((free, pod, -count[pod]))  # fullest pods first, each in node order
        return free[order[:need]]
    return free[:need]


def simulate_jobs(scenario: Any, collective: str = "all-reduce", group: str = "dp", size: str | float = "1GiB", *,
                  config: NetworkConfig | None = None, **overrides: Any) -> SharedFabricResult:
    """The scenario's job and every job of ``network.jobs`` / ``network.second_job`` on one fabric."""
    start = time.perf_counter()
    config = config.model_copy(update=overrides) if config is not None else network_config(scenario, **overrides)
    if config.second_job is None and not config.jobs:
        raise ColossimError("network.jobs (or network.second_job): missing; describe the other jobs (gpus, parallel, "
                            "collective, group, size, placement)", field="network.jobs")
    cluster = scenario.cluster
    routing = routing_of(cluster, config)
    fabric = build_fabric(cluster, config)
    jobs = job_list(scenario, config, collective, group, size)
    d = fabric.topo.design
    per_pod = max(d.leaves_per_pod * d.gpus_per_leaf // max(cluster.gpus_per_node, 1), 1)
    maps = job_node_maps(scenario, config, jobs, per_pod)
    gpn = cluster.gpus_per_node
    traffics = [traffic_for(job_groups(j.dims, j.group, config.placement, gpn, m), j.collective, j.size_bytes,
                            cluster, config) for j, m in zip(jobs, maps, strict=True)]
    m = config.flows_per_pair if routing == "ecmp" else 1
    alone = [run_traffic(fabric.state, t, routing, flows_per_pair=m, seed=config.seed + k, pxn=config.pxn)
             for k, t in enumerate(traffics)]
    heavy = [int(np.argmax(o.phase_times)) if o.phases else -1 for o in alone]
    shared_phase = [o.phase_times[h] if h >= 0 else 0.0 for o, h in zip(alone, heavy, strict=True)]
    live = [k for k, h in enumerate(heavy) if h >= 0]
    cycles = [0] * len(jobs)
    if len(live) >= 2:
        probs = _shared_problems(fabric.state, [traffics[k].phases[heavy[k]] for k in live], live, heavy, routing,
                                 m, config)
        inc = sp.hstack([p.inc for p in probs]).tocsc()
        cap = np.minimum.reduce([p.capacity for p in probs])
        unit = np.concatenate([p.unit_bytes for p in probs])
        owner = np.concatenate([np.full(p.unit_bytes.size, i, dtype=np.int64) for i, p in enumerate(probs)])
        alone_phase = np.array([alone[k].phase_times[heavy[k]] / (1.0 if probs[i].chained else
                                traffics[k].phases[heavy[k]].steps) for i, k in enumerate(live)])
        gap = np.array([jobs[k].gap for k in live]) * alone_phase
        offset = np.array([jobs[k].phase_offset for k in live]) * (alone_phase + gap)
        run = run_periodic(inc, cap, unit, owner, offset_s=offset, gap_s=gap)
        for i, k in enumerate(live):
            cycles[k] = int(run.cycles[i])
            steps = 1.0 if probs[i].chained else traffics[k].phases[heavy[k]].steps
            shared_phase[k] = max(float(run.step_s[i]) * steps, alone[k].phase_times[heavy[k]])
    results = []
    for k, (j, t, o, h) in enumerate(zip(jobs, traffics, alone, heavy, strict=True)):
        times = list(o.phase_times)
        if h >= 0:
            times[h] = shared_phase[k]
        incast = fabric_incast(fabric.state, t, routing, o.time_s, config.pxn).time_s  # each job's own start bursts
        alone_t = o.time_s + incast + t.latency_s
        shared_t = combine(t, times) + incast + t.latency_s
        results.append(JobResult(j.name, j.gpus, j.collective, j.group, j.size_bytes, alone_t, shared_t,
                                 shared_t / alone_t if alone_t > 0 else 1.0, _busbw(t, j.size_bytes, alone_t),
                                 _busbw(t, j.size_bytes, shared_t), j.placement, j.phase_offset, j.gap,
                                 t.algorithm, _ideal_fraction(fabric.state, t, routing, config, o.time_s,
                                                              shared_t - t.latency_s)))
    topo = fabric.topo
    crossed = np.sum([o.link_bytes > 0 for o in alone], axis=0)
    shared = {TIER_LABELS[k]: int(np.count_nonzero((crossed >= 2) & (topo.tier == k))) for k in range(topo.design.tiers)}
    return SharedFabricResult(results, shared, routing, m, config.seed, config.placement.node_order, cycles,
                              time.perf_counter() - start, ROUTING_MODELS[routing])


def _shared_problems(state: Any, phases: list[Any], live: list[int], heavy: list[int], routing: str, m: int,
                     config: NetworkConfig) -> list[Any]:
    """The jobs' heavy phases routed for the shared run. A load-aware policy (``flowlet``)
    places all jobs' flowlets in one pass, interleaved, as switches see them arrive; with
    different NIC efficiencies it routes each job seeing the jobs routed before it."""
    if routing == "flowlet" and len({ph.nic_efficiency for ph in phases}) == 1:
        return joint_problems(state, phases, routing, seed=config.seed, pxn=config.pxn)
    probs, seen = [], np.zeros(state.topo.num_links)
    for ph, k in zip(phases, live, strict=True):
        probs.append(phase_problem(state, ph, routing, flows_per_pair=m, seed=config.seed + k, index=heavy[k],
                                   pxn=config.pxn, background=seen))
        seen = seen + probs[-1].routed.link_bytes()[: seen.size]
    return probs


def _ideal_fraction(state: Any, traffic: Traffic, routing: str, config: NetworkConfig, alone_bw_s: float,
                    shared_bw_s: float) -> float:
    """Ideal (non-blocking) bandwidth time / the job's shared bandwidth time."""
    ideal = run_traffic(state, traffic, "ideal", seed=config.seed, pxn=config.pxn).time_s
    return ideal / shared_bw_s if shared_bw_s > 0 else 1.0


def _busbw(traffic: Traffic, size: float, t: float) -> float:
    return size / t / GB * traffic.bus_factor if t > 0 else 0.0
