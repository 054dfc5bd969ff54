"""The simulated adaptive routing (``flowlet``, routing model ``adaptive-flowlet``): where it
matches the non-blocking fabric, where physics puts it below, and the band against ECMP.

Small fabrics (8,192 GPUs, 2 pods of SN5600) keep these fast; the 98,304-GPU figures are in
``benchmarks/bench_network.py`` (``routing_models``) and docs/network.md."""

from __future__ import annotations

import numpy as np
import pytest

from colossim.network.adaptive import FlowletPolicy, aware_paths, flowlet_policy
from colossim.network.jobs import simulate_jobs
from colossim.network.routing import _hashed_paths
from colossim.network.twin import build_fabric, network_config, simulate_collective
from colossim.scenario import load_scenario
from test_network_collectives import scenario

LINE_GBPS = 50.0
RANDOM = {"seed": 1, "placement": {"node_order": "random"}}


def test_flowlet_policy_comes_from_the_catalog():
    p = flowlet_policy()
    assert (p.width, p.generations, p.feedback_flowlets, p.candidates) == (16, 2, 1, 2)


def test_adaptive_lands_in_the_spectrum_x_band_where_ecmp_lands_near_60_percent():
    """The same 16 parts per connection, chosen or hashed: NCCL's tree over shuffled nodes."""
    sc = scenario(8192, 3, tp=8)
    kw = {"algorithm": "tree", **RANDOM}
    adaptive = simulate_collective(sc, "all-reduce", "dp", "1GiB", routing="flowlet", **kw)
    ecmp = simulate_collective(sc, "all-reduce", "dp", "1GiB", routing="ecmp", flows_per_pair=16, **kw)
    assert adaptive.routing_model == "adaptive-flowlet" and ecmp.routing_model == "ecmp-hash"
    assert 0.88 <= adaptive.busbw_per_nic_gbps / LINE_GBPS <= 0.97
    assert 0.50 <= ecmp.busbw_per_nic_gbps / LINE_GBPS <= 0.70
    assert adaptive.num_flows == 2 * ecmp.num_flows  # 16 flowlets x 2 feedback generations


def test_adaptive_matches_the_ideal_fabric_when_few_flows_cross_it():
    packed = simulate_collective(scenario(8192, 3, tp=8), "all-reduce", "dp", "1GiB", routing="flowlet", seed=1)
    assert packed.throughput_fraction == pytest.approx(1.0)


def test_adaptive_falls_below_ideal_with_more_flows_than_paths():
    """Rail rings over shuffled nodes fill every leaf's uplinks: the cables into a
    destination leaf, filled by many source leaves on stale reports, keep a residue."""
    sc = scenario(8192, 3, tp=8)
    r = simulate_collective(sc, "all-reduce", "dp", "1GiB", routing="flowlet", algorithm="hierarchical", **RANDOM)
    ecmp = simulate_collective(sc, "all-reduce", "dp", "1GiB", routing="ecmp", flows_per_pair=16,
                               algorithm="hierarchical", **RANDOM)
    assert ecmp.throughput_fraction < r.throughput_fraction < 0.95
    assert r.link_utilization["leaf-spine"]["max"] == pytest.approx(1.0)


def test_adaptive_falls_below_ideal_with_failed_spines():
    sc = scenario(8192, 3, tp=8)
    kw = {"algorithm": "hierarchical", **RANDOM}
    healthy = simulate_collective(sc, "all-reduce", "dp", "1GiB", routing="flowlet", **kw)
    failed = simulate_collective(sc, "all-reduce", "dp", "1GiB", routing="flowlet",
                                 failures={"switches": [f"spine:{i}" for i in range(8)]}, **kw)
    assert failed.slowdown > 1.05 and failed.throughput_fraction < healthy.throughput_fraction
    assert failed.failures[0] == "spine 0 failed"


def test_two_jobs_under_adaptive_fall_below_the_packed_single_job():
    """Two 4,096-GPU jobs on shuffled nodes: each alone leaves half of every leaf's uplinks
    free and routes perfectly; together they fill them and the residue comes back."""
    half = scenario(4096, 3, tp=8).to_dict()
    half["cluster"]["num_gpus"] = 8192
    half["network"] = {"algorithm": "hierarchical", "placement": {"node_order": "random"},
                       "jobs": [{"gpus": 4096, "parallel": {"tp": 8}, "size": "1GiB", "placement": "random"}]}
    packed = simulate_collective(scenario(8192, 3, tp=8), "all-reduce", "dp", "1GiB", routing="flowlet", seed=1,
                                 algorithm="hierarchical")
    two = simulate_jobs(load_scenario(half), "all-reduce", "dp", "1GiB", routing="flowlet", seed=1)
    assert two.routing_model == "adaptive-flowlet" and len(two.jobs) == 2
    assert two.throughput_fraction < packed.throughput_fraction - 0.05
    assert all(j.slowdown > 1.05 for j in two.jobs)
    spray = simulate_jobs(load_scenario(half), "all-reduce", "dp", "1GiB", routing="adaptive", seed=1)
    assert spray.throughput_fraction == pytest.approx(1.0)  # the fluid limit has no residue


def test_the_policy_balances_both_ends_of_the_fabric_where_hashing_does_not():
    """Each source leaf sees its own uplinks exactly and the destination leaf's downlinks from
    stale reports: the busiest cable carries a few flowlets more than the mean, where 16
    hashed queue pairs per connection pile up many more."""
    sc = scenario(8192, 3, tp=8)
    fabric = build_fabric(sc.cluster, network_config(sc))
    rng = np.random.default_rng(0)
    nodes = np.arange(0, 8192, 8)  # rail 0 of every node, one connection each, 16 parts
    src, dst = np.repeat(nodes, 16), np.repeat(rng.permutation(nodes), 16)
    chosen = aware_paths(fabric.state, src, dst, rng, np.ones(src.size), FlowletPolicy(generations=1))
    hashed = _hashed_paths(fabric.state, src, dst, rng, weighted=False)

    def cables(paths: np.ndarray) -> np.ndarray:
        leaf = paths[:, [1, 4]].ravel()
        count = np.bincount(leaf[leaf >= 0])
        return count[count > 0]

    mean = cables(chosen).mean()  # ~15 flowlets per leaf cable
    assert cables(chosen).max() <= mean + 6 and cables(hashed).max() >= mean + 10
