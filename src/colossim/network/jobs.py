"""Two training jobs on one fabric: each job's collectives slow the other's on shared links.

The scenario's job and the ``network.second_job`` are placed on disjoint nodes (``packed``:
the second job after the first; ``interleaved``: alternating nodes; ``random``: a shuffled
cluster) and each runs its collective. Alone, each is simulated as usual. Together, the
heaviest phase of each (its scale-out traffic) runs at once in steady state: every job
restarts its phase as soon as it finishes (back-to-back training steps), rates are max-min
fair over the union of both jobs' flows, and each job's mean cycle after the first is its
shared phase time. NICs are never shared (disjoint GPUs), so any slowdown comes from
switch links both jobs cross. Left out: the phase alignment of real training steps (the
jobs' collectives overlap all the time here: the worst case).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from colossim.errors import ColossimError
from colossim.network.config import NetworkConfig, network_config, parse_size
from colossim.network.links import TIER_LABELS
from colossim.network.maxmin import run_periodic
from colossim.network.placement import job_groups, plan_dims
from colossim.network.simulate import GB, combine, phase_problem, run_traffic
from colossim.network.traffic import Traffic
from colossim.network.twin import build_fabric, routing_of, scenario_groups, traffic_for


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

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "jobs": [asdict(j) for j in self.jobs]}


def _second_dims(scenario: Any, config: NetworkConfig) -> tuple[dict[str, int], int]:
    job = config.second_job
    assert job is not None
    gpn = scenario.cluster.gpus_per_node
    first_nodes = -(-scenario.parallel.world_size // gpn)
    gpus = job.gpus or (scenario.cluster.num_nodes - first_nodes) * gpn
    if gpus <= 0:
        raise ColossimError(f"network.second_job.gpus: the first job uses {scenario.parallel.world_size:,} of the "
                            f"cluster's {scenario.cluster.num_gpus:,} GPUs, leaving none for a second job; give "
                            "parallel.dp for a smaller first job or a larger cluster", field="network.second_job.gpus")
    p = {"tp": 1, "cp": 1, "ep": 1, "pp": 1, **job.parallel}
    mp = p["tp"] * p["cp"] * p["pp"]
    if gpus < mp or gpus % mp:
        raise ColossimError(f"network.second_job.gpus: {gpus} GPUs are not a multiple of tp*cp*pp = {mp}",
                            field="network.second_job.gpus", value=gpus)
    return plan_dims(p["tp"], p["cp"], p["ep"], gpus // mp, p["pp"]), gpus


def simulate_jobs(scenario: Any, collective: str = "all-reduce", group: str = "dp", size: str | float = "1GiB", *,
                  config: NetworkConfig | None = None, **overrides: Any) -> SharedFabricResult:
    """The scenario's job and ``network.second_job`` running collectives on one fabric."""
    start = time.perf_counter()
    config = config.model_copy(update=overrides) if config is not None else network_config(scenario, **overrides)
    if config.second_job is None:
        raise ColossimError("network.second_job: missing; describe the second job (gpus, parallel, collective, "
                            "group, size)", field="network.second_job")
    cluster = scenario.cluster
    routing = routing_of(cluster, config)
    fabric = build_fabric(cluster, config)
    groups_a, maps = scenario_groups(scenario, group, config, jobs=2)
    dims_b, gpus_b = _second_dims(scenario, config)
    job = config.second_job
    groups_b = job_groups(dims_b, job.group, config.placement, cluster.gpus_per_node, maps[1])
    sizes = [parse_size(size), parse_size(job.size, "network.second_job.size")]
    traffics = [traffic_for(groups_a, collective, sizes[0], cluster, config),
                traffic_for(groups_b, job.collective, sizes[1], cluster, config)]
    m = config.flows_per_pair if routing == "ecmp" else 1
    alone = [run_traffic(fabric.state, t, routing, flows_per_pair=m, seed=config.seed + j, pxn=config.pxn)
             for j, t in enumerate(traffics)]
    heavy = [int(np.argmax(o.phase_times)) if o.phases else -1 for o in alone]
    probs = [phase_problem(fabric.state, t.phases[h], routing, flows_per_pair=m, seed=config.seed + j, index=h,
                           pxn=config.pxn) for j, (t, h) in enumerate(zip(traffics, heavy, strict=True)) if h >= 0]
    shared_phase = [o.phase_times[h] if h >= 0 else 0.0 for o, h in zip(alone, heavy, strict=True)]
    cycles = [0, 0]
    if len(probs) == 2:
        inc = sp.hstack([probs[0].inc, probs[1].inc]).tocsc()
        cap = np.minimum(probs[0].capacity, probs[1].capacity)
        unit = np.concatenate([probs[0].unit_bytes, probs[1].unit_bytes])
        owner = np.concatenate([np.zeros(probs[0].unit_bytes.size, dtype=np.int64),
                                np.ones(probs[1].unit_bytes.size, dtype=np.int64)])
        run = run_periodic(inc, cap, unit, owner)
        cycles = [int(c) for c in run.cycles]
        for j, (t, h) in enumerate(zip(traffics, heavy, strict=True)):
            steps = 1.0 if probs[j].chained else t.phases[h].steps
            shared_phase[j] = max(float(run.step_s[j]) * steps, alone[j].phase_times[h])
    results = []
    names = [scenario.name, "second job"]
    colls, grps = [collective, job.collective], [group, job.group]
    gpus = [scenario.parallel.world_size, gpus_b]
    for j, (t, o, h) in enumerate(zip(traffics, alone, heavy, strict=True)):
        times = list(o.phase_times)
        if h >= 0:
            times[h] = shared_phase[j]
        alone_t = o.time_s + t.latency_s
        shared_t = combine(t, times) + t.latency_s
        results.append(JobResult(names[j], gpus[j], colls[j], grps[j], sizes[j], alone_t, shared_t,
                                 shared_t / alone_t if alone_t > 0 else 1.0, _busbw(t, sizes[j], alone_t),
                                 _busbw(t, sizes[j], shared_t)))
    both = (alone[0].link_bytes > 0) & (alone[1].link_bytes > 0)
    topo = fabric.topo
    shared = {TIER_LABELS[k]: int(np.count_nonzero(both & (topo.tier == k))) for k in range(topo.design.tiers)}
    return SharedFabricResult(results, shared, routing, m, config.seed, config.placement.node_order, cycles,
                              time.perf_counter() - start)


def _busbw(traffic: Traffic, size: float, t: float) -> float:
    return size / t / GB * traffic.bus_factor if t > 0 else 0.0
