"""The network twin's entry points: from a scenario to simulated collectives.

    from colossim.api import load_scenario
    from colossim.network import simulate_collective
    res = simulate_collective(load_scenario("examples/grok1-colossus-100k.yaml"), "all-reduce", "dp", "1GiB",
                              routing="ecmp", seed=1)
    res.time_s, res.busbw_gbps, res.throughput_fraction, res.to_dict()
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from colossim import catalog
from colossim.network.config import (
    COLLECTIVES,
    GROUPS,
    NetworkConfig,
    check_choice,
    network_config,
    parse_size,
)
from colossim.network.links import Topology, apply_failures, build_topology
from colossim.network.placement import job_groups, node_maps, nodes_needed, plan_dims
from colossim.network.routing import FabricState
from colossim.network.simulate import CollectiveResult, simulate_traffic
from colossim.network.traffic import Traffic, build_traffic
from colossim.scenario.cluster import ClusterSpec


@dataclass(frozen=True)
class Fabric:
    """A built topology with its state after failures (and the healthy one to compare)."""

    topo: Topology
    state: FabricState
    healthy: FabricState | None  # set only when failures are configured


def build_fabric(cluster: ClusterSpec, config: NetworkConfig | None = None) -> Fabric:
    config = config or NetworkConfig()
    topo = build_topology(cluster, config.rails)
    if not config.failures.any:
        return Fabric(topo, FabricState(topo, topo.capacity), None)
    cap, notes = apply_failures(topo, config.failures, config.seed)
    return Fabric(topo, FabricState(topo, cap, notes), FabricState(topo, topo.capacity, sampled=True))


@dataclass(frozen=True)
class Latencies:
    scaleup_s: float
    scaleout_s: float
    all_to_all_fraction: float


def latencies(cluster: ClusterSpec) -> Latencies:
    prof = catalog.efficiency_profile(catalog.gpu(cluster.gpu).profile)
    return Latencies(prof.scaleup_latency_s, prof.scaleout_latency_s, prof.all_to_all_fraction)


def routing_of(cluster: ClusterSpec, config: NetworkConfig) -> str:
    return config.routing or cluster.fabric.routing


def traffic_for(groups: np.ndarray, collective: str, size_bytes: float, cluster: ClusterSpec, config: NetworkConfig) -> Traffic:
    lat = latencies(cluster)
    m = config.flows_per_pair if routing_of(cluster, config) == "ecmp" else 1
    return build_traffic(collective, groups, size_bytes, cluster.gpus_per_node, algorithm=config.algorithm,
                         scaleup_latency_s=lat.scaleup_s, scaleout_latency_s=lat.scaleout_s,
                         all_to_all_fraction=lat.all_to_all_fraction, max_transfers=max(config.max_flows // m, 1),
                         in_network=has_in_network_reduction(cluster))


def has_in_network_reduction(cluster: ClusterSpec) -> bool:
    """Whether the fabric's switch reduces in the network (SHARP), per ``data/fabric.yaml``."""
    from colossim.network.topology import fabric_data

    name = catalog.switch(cluster.fabric.switch).name
    return bool(fabric_data().get("in_network_reduction", {}).get(name, {}).get("sharp"))


def scenario_groups(scenario: Any, group: str, config: NetworkConfig, jobs: int = 1) -> tuple[np.ndarray, list[np.ndarray]]:
    """GPU ids of the scenario's groups of a kind, and every job's node map."""
    p = scenario.parallel
    dims = plan_dims(p.tp, p.cp, p.ep, p.dp, p.pp, p.etp)
    gpn = scenario.cluster.gpus_per_node
    needs = [nodes_needed(p.world_size, gpn)]
    if jobs > 1:
        needs.append(_second_job_nodes(scenario, config))
    maps = node_maps(scenario.cluster.num_nodes, needs, config.placement.node_order, config.seed)
    return job_groups(dims, group, config.placement, gpn, maps[0]), maps


def _second_job_nodes(scenario: Any, config: NetworkConfig) -> int:
    job = config.second_job
    assert job is not None
    gpn = scenario.cluster.gpus_per_node
    first = nodes_needed(scenario.parallel.world_size, gpn)
    gpus = job.gpus or (scenario.cluster.num_nodes - first) * gpn
    return nodes_needed(gpus, gpn)


def simulate_collective(scenario: Any, collective: str = "all-reduce", group: str = "dp", size: str | float = "1GiB",
                        *, config: NetworkConfig | None = None, **overrides: Any) -> CollectiveResult:
    """Simulate every group of a kind running one collective at once on the scenario's fabric.

    ``overrides`` (routing, flows_per_pair, seed, algorithm, ...) replace fields of the
    scenario's ``network:`` section; ``config`` replaces the section altogether.
    """
    check_choice("--collective", collective, COLLECTIVES)
    check_choice("--group", group, GROUPS)
    size_bytes = parse_size(size)
    config = config.model_copy(update=overrides) if config is not None else network_config(scenario, **overrides)
    cluster = scenario.cluster
    fabric = build_fabric(cluster, config)
    groups, _ = scenario_groups(scenario, group, config)
    traffic = traffic_for(groups, collective, size_bytes, cluster, config)
    return simulate_traffic(fabric.state, traffic, routing_of(cluster, config), group=group,
                            flows_per_pair=config.flows_per_pair, seed=config.seed, pxn=config.pxn,
                            size_bytes=size_bytes, healthy=fabric.healthy, scenario=scenario.name)
