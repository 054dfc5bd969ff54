"""The start-burst incast of synchronized all-to-all (``network/incast.py``): what puts
adaptive routing below the ideal big switch there, how it scales, and what it leaves alone.

8,192 GPUs on a 3-tier SN5600 fabric (2 pods) keep these fast; the figures for the docs are
in docs/network.md ("Incast in all-to-all")."""

from __future__ import annotations

import numpy as np
import pytest

from colossim.network.incast import incast_params, transient_s
from colossim.network.simulate import run_traffic
from colossim.network.twin import (
    build_fabric,
    network_config,
    scenario_groups,
    simulate_collective,
    traffic_for,
)
from test_network_collectives import scenario

RANDOM = {"seed": 1, "placement": {"node_order": "random"}}
LINE_BYTES_S = 46.5e9  # 400G x 0.93 (the payload rate of an H100 NIC link)


@pytest.fixture(scope="module")
def experts():
    return scenario(8192, 3, tp=8, ep=8, model="mixtral-8x7b")


def test_adaptive_all_to_all_falls_below_ideal_by_the_incast_loss(experts):
    """Expert all-to-all (8 ranks, one per node, one rail): adaptive, flowlet and ECMP pay the
    same incast; the ideal switch none. Adaptive's flows run at the ideal pace, so what it
    misses is exactly the incast."""
    got = {r: simulate_collective(experts, "all-to-all", "ep", "256MiB", routing=r, **RANDOM)
           for r in ("adaptive", "flowlet", "ecmp", "ideal")}
    assert got["ideal"].incast["time_s"] == 0.0 and got["ideal"].throughput_fraction == pytest.approx(1.0)
    inc = got["adaptive"].incast
    assert inc["fan_in"] == 7 and inc["peak_senders"] > 2 and inc["queue_bytes"] > inc["xoff_bytes"]
    assert inc["time_s"] == pytest.approx((1 - inc["hol_throughput"]) * inc["pause_s"])
    for routing in ("adaptive", "flowlet", "ecmp"):
        r = got[routing]
        same = {k: v for k, v in r.incast.items() if k != "share"}  # share: of each policy's own time
        assert same == {k: v for k, v in inc.items() if k != "share"}  # the same term whatever the path policy
        assert r.throughput_fraction < 1.0
    assert got["adaptive"].routing_model == "adaptive-spray" and got["flowlet"].routing_model == "adaptive-flowlet"
    ideal_bw = got["ideal"].bandwidth_time_s
    assert got["adaptive"].throughput_fraction == pytest.approx(ideal_bw / (ideal_bw + inc["time_s"]))
    assert 0.99 < got["adaptive"].throughput_fraction < 0.9995  # 256 MiB amortizes a ~8 us transient


def test_the_loss_grows_with_fan_in():
    """Same bytes per sender, more senders into each port: more bursts meet, the queue and the
    pause grow; a fan-in of 1 or 2 never passes XOFF."""
    params = incast_params()
    k = np.array([1, 2, 3, 4, 8, 16, 64, 512, 4096])
    lost, parts = transient_s(k, k, np.full(k.size, 32e6), np.full(k.size, LINE_BYTES_S), 8192, params)
    assert np.all(np.diff(lost) >= 0) and np.all(np.diff(parts["peak"]) >= 0)
    assert lost[0] == lost[1] == 0.0 and lost[-1] > lost[4] > 0.0
    # a sender aimed at this port only (fan-out 1): every sender's burst arrives at once
    lost1, parts1 = transient_s(np.array([8]), np.array([1]), np.array([32e6]), np.array([LINE_BYTES_S]), 8192, params)
    assert parts1["peak"][0] == 8 and lost1[0] > lost[4]


def test_the_loss_grows_with_fan_in_in_the_simulation():
    """Expert groups of 2, 4 and 8 ranks (one per node) with the same bytes per peer, on the
    same 4,096 GPUs: fan-in 1 and 3 stay under XOFF, 7 passes it."""
    sc = {ep: scenario(4096, 3, tp=8, ep=ep, model="mixtral-8x7b") for ep in (2, 4, 8)}
    lost = {ep: simulate_collective(s, "all-to-all", "ep", 32 * 2**20 * ep, routing="adaptive", **RANDOM).incast
            for ep, s in sc.items()}
    assert [lost[ep]["fan_in"] for ep in (2, 4, 8)] == [1, 3, 7]
    assert lost[2]["time_s"] == lost[4]["time_s"] == 0.0 < lost[8]["time_s"]
    assert lost[2]["queue_bytes"] < lost[4]["queue_bytes"] < lost[8]["queue_bytes"]


def test_larger_messages_per_peer_amortize_it(experts):
    """The burst is at most one reaction time of line rate: beyond it, the loss is fixed and
    its share of the collective falls with the message; small messages never fill XOFF."""
    res = {size: simulate_collective(experts, "all-to-all", "ep", size, routing="adaptive", **RANDOM)
           for size in ("1MiB", "16MiB", "256MiB", "1GiB")}
    assert res["1MiB"].incast["time_s"] == 0.0  # 128 KiB per peer: the meeting bursts fit under XOFF
    shares = [res[s].incast["share"] for s in ("16MiB", "256MiB", "1GiB")]
    assert shares[0] > shares[1] > shares[2] > 0.0
    assert res["16MiB"].incast["time_s"] == res["1GiB"].incast["time_s"]
    fractions = [res[s].throughput_fraction for s in ("16MiB", "256MiB", "1GiB")]
    assert fractions[0] < fractions[1] < fractions[2] < 1.0


@pytest.mark.parametrize("algorithm", ["ring", "tree", "hierarchical"])
@pytest.mark.parametrize("routing", ["adaptive", "ecmp"])
def test_rings_and_trees_are_unchanged(algorithm, routing):
    """Pipelined chains are clocked by their chunks: no incast term, the bandwidth time is the
    flow simulation's, bit for bit."""
    sc = scenario(4096, 3, tp=8)
    cfg = network_config(sc, routing=routing, algorithm=algorithm, **RANDOM)
    r = simulate_collective(sc, "all-reduce", "dp", "256MiB", config=cfg)
    assert r.incast["time_s"] == 0.0 and r.incast["fan_in"] == 0
    groups, _ = scenario_groups(sc, "dp", cfg)
    traffic = traffic_for(groups, "all-reduce", 256 * 2**20, sc.cluster, cfg)
    plain = run_traffic(build_fabric(sc.cluster, cfg).state, traffic, routing, seed=1)
    assert r.bandwidth_time_s == plain.time_s  # exact


def test_point_to_point_has_fan_in_one(experts):
    r = simulate_collective(experts, "p2p", "ep", "256MiB", routing="adaptive", **RANDOM)
    assert r.incast["time_s"] == 0.0 and r.incast["peak_senders"] <= 1


def test_deterministic_with_the_seed(experts):
    a = simulate_collective(experts, "all-to-all", "ep", "64MiB", routing="flowlet", **RANDOM)
    b = simulate_collective(experts, "all-to-all", "ep", "64MiB", routing="flowlet", **RANDOM)
    assert a.incast == b.incast and a.time_s == b.time_s and a.throughput_fraction == b.throughput_fraction
    d = a.to_dict()
    assert d["incast"]["fan_in"] == 7 and d["routing_model"] == "adaptive-flowlet"


def test_the_binomial_quantile_matches_scipy():
    from scipy.stats import binom

    from colossim.network.incast import binomial_quantile

    k = np.array([2, 3, 7, 8, 15, 64, 511, 1023, 4096, 4096, 100, 5])
    p = np.array([0.5, 1 / 3, 1 / 7, 1 / 8, 1 / 15, 1 / 64, 1 / 511, 1 / 1023, 1 / 4096, 0.5, 0.9, 1.0])
    for receivers in (2, 64, 8192, 98_304):
        level = 1 - 1 / receivers
        assert np.array_equal(binomial_quantile(level, k, p), binom.ppf(level, k, p).astype(int))


def test_estimate_network_flow_pays_the_same_incast_as_the_network_twin():
    """FlowCollectives simulates one 1 GiB call and scales its bandwidth time; the incast
    transient does not scale, so it is added per size: at each size it equals what the
    twin reports for that size of the same traffic."""
    from colossim.network.flow_collectives import UNIT_BYTES, FlowCollectives
    from colossim.network.incast import incast_transient
    from colossim.network.placement import ranks_to_gpus, stride_groups

    sc = scenario(8192, 3, tp=8, ep=8, model="mixtral-8x7b", network={"placement": {"node_order": "random"}})
    flow = FlowCollectives(sc, seed=1)
    n, stride = 8, 8
    sizes = np.array([2.0**24, 2.0**28, 2.0**30])
    got = flow.all_to_all(sizes, np.full(3, n), np.full(3, stride), "ep")
    bw_per_byte, latency = flow._cache[("all-to-all", n, stride)]
    extra = got - (sizes * bw_per_byte + latency)
    assert np.all(extra > 0)
    groups = ranks_to_gpus(stride_groups(n, stride, flow._extent), sc.cluster.gpus_per_node, flow._node_map)
    state = flow.fabric.state
    for size, e in zip(sizes, extra, strict=True):
        traffic = traffic_for(groups, "all-to-all", float(size), sc.cluster, flow.config)
        want = incast_transient(state.topo, state.capacity, traffic, 1.0, pxn=flow.config.pxn).time_s
        assert e == pytest.approx(want, rel=1e-9, abs=1e-12)
    assert extra[0] / (sizes[0] * bw_per_byte) > extra[2] / (sizes[2] * bw_per_byte)  # amortized by size
    assert UNIT_BYTES == 2.0**30
    ideal = FlowCollectives(sc, routing="ideal", seed=1)
    i_got = ideal.all_to_all(sizes, np.full(3, n), np.full(3, stride), "ep")
    i_bw, i_lat = ideal._cache[("all-to-all", n, stride)]
    assert np.allclose(i_got, sizes * i_bw + i_lat, rtol=1e-12)
