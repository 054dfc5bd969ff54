"""Routing strategies: bytes are conserved, paths are real, failures are avoided, seeds reproduce."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from colossim.errors import ColossimError
from colossim.network.config import Failures
from colossim.network.flows import route
from colossim.network.links import apply_failures, build_topology
from colossim.network.routing import STRATEGIES, FabricState
from colossim.scenario.loader import build_cluster


@functools.cache
def small_topology():
    """256 GPUs on radix-16 switches: 3 tiers, 4 pods, 8 rails, parallel spine-core cables."""
    cluster = build_cluster({"gpu": "h100-sxm", "num_gpus": 256,
                             "fabric": {"switch": "qm9700", "tiers": 3, "switch_radix": 16}})
    topo = build_topology(cluster)
    assert topo.design.num_pods == 4 and topo.design.spine_core_mult > 1
    return topo


def node_balance(topo, link_bytes: np.ndarray) -> np.ndarray:
    """Bytes out minus bytes in, per node of the fabric graph."""
    src, dst = topo.endpoints()
    n = int(max(src.max(), dst.max())) + 1
    return np.bincount(src, weights=link_bytes, minlength=n) - np.bincount(dst, weights=link_bytes, minlength=n)


@settings(max_examples=40, deadline=None)
@given(routing=st.sampled_from(sorted(STRATEGIES)), qps=st.integers(1, 4), seed=st.integers(0, 2**31 - 1),
       n=st.integers(1, 300), pxn=st.booleans(), fail=st.booleans())
def test_bytes_are_conserved_for_every_strategy(routing, qps, seed, n, pxn, fail):
    topo = small_topology()
    rng = np.random.default_rng(seed)
    src = rng.integers(0, topo.num_gpus, n)
    dst = rng.integers(0, topo.num_gpus, n)
    keep = src != dst
    src, dst = src[keep], dst[keep]
    sizes = rng.uniform(1e3, 1e9, src.size)
    state = FabricState(topo, topo.capacity)
    if fail:
        cap, notes = apply_failures(topo, Failures(switches=("spine:5", "core:1"), links=("spine-core:3",)), seed)
        state = FabricState(topo, cap, notes)
    routed = route(state, src, dst, sizes, routing, flows_per_pair=qps, rng=rng, pxn=pxn)
    # every transfer's sub-flows carry exactly its bytes
    per_transfer = np.bincount(routed.parent, weights=routed.sizes, minlength=src.size)
    assert per_transfer == pytest.approx(sizes)
    # flow conservation: switches forward what they receive; GPUs send and receive their transfers
    link_bytes = routed.link_bytes()
    balance = node_balance(topo, link_bytes)
    sent = np.bincount(src, weights=sizes, minlength=topo.num_gpus)
    received = np.bincount(dst, weights=sizes, minlength=topo.num_gpus)
    scale = sizes.sum()
    assert balance[: topo.num_gpus] == pytest.approx(sent - received, abs=1e-9 * scale)
    if routing == "ideal":  # a virtual big switch: what enters the fabric at NICs leaves it at NICs
        nic_up = link_bytes[topo.offsets["nic_up"]: topo.offsets["nic_down"]].sum()
        nic_down = link_bytes[topo.offsets["nic_down"]: topo.offsets["ls_up"]].sum()
        assert nic_up == pytest.approx(nic_down)
        assert link_bytes[topo.offsets["ls_up"]:].sum() == 0
    else:
        assert np.abs(balance[topo.num_gpus:]).max() <= 1e-9 * scale
    # nothing crosses a failed link
    assert np.all(link_bytes[state.capacity == 0] == 0)


def test_physical_paths_are_connected():
    """ECMP paths are chains of links from the source GPU to the destination GPU."""
    topo = small_topology()
    src_node, dst_node = topo.endpoints()
    rng = np.random.default_rng(0)
    src = rng.integers(0, 256, 200)
    dst = (src + rng.integers(1, 256, 200)) % 256
    routed = route(FabricState(topo, topo.capacity), src, dst, 1.0, "ecmp", flows_per_pair=2, rng=rng)
    inc = routed.inc
    for f in range(routed.num_flows):
        links = inc.indices[inc.indptr[f]: inc.indptr[f + 1]]
        links = links[links < topo.num_links]
        here = src[routed.parent[f]]
        remaining = list(links)
        while remaining:
            nxt = [link for link in remaining if src_node[link] == here]
            assert len(nxt) == 1
            remaining.remove(nxt[0])
            here = dst_node[nxt[0]]
        assert here == dst[routed.parent[f]]


def test_ecmp_is_reproducible_and_seeded():
    topo = small_topology()
    state = FabricState(topo, topo.capacity)
    src, dst = np.arange(0, 128), np.arange(128, 256)
    a = route(state, src, dst, 1.0, "ecmp", rng=np.random.default_rng(7)).inc
    b = route(state, src, dst, 1.0, "ecmp", rng=np.random.default_rng(7)).inc
    c = route(state, src, dst, 1.0, "ecmp", rng=np.random.default_rng(8)).inc
    assert (a != b).nnz == 0
    assert (a != c).nnz > 0


def test_pxn_keeps_traffic_on_the_destination_rail():
    topo = small_topology()
    state = FabricState(topo, topo.capacity)
    src, dst = np.array([0]), np.array([8 + 3])  # GPU 0 (rail 0) to GPU 3 of the next server (rail 3)
    with_pxn = route(state, src, dst, 1.0, "ecmp", pxn=True).inc.indices
    assert topo.nvl_up(0) in with_pxn and topo.nic_up(3) in with_pxn  # NVLink to GPU 3, then its NIC
    without = route(state, src, dst, 1.0, "ecmp", pxn=False).inc.indices
    assert topo.nic_up(0) in without


def test_disconnected_gpus_are_a_clear_error():
    topo = small_topology()
    cap, notes = apply_failures(topo, Failures(switches=("leaf:0",)))
    with pytest.raises(ColossimError, match="leaf 0 failed"):
        route(FabricState(topo, cap, notes), np.array([0]), np.array([200]), 1.0, "ecmp")
    with pytest.raises(ColossimError, match="leaf 0 failed"):
        route(FabricState(topo, cap, notes), np.array([0]), np.array([200]), 1.0, "adaptive")


def test_unknown_strategy_is_a_clear_error():
    topo = small_topology()
    with pytest.raises(ColossimError, match="did you mean 'ecmp'"):
        route(FabricState(topo, topo.capacity), np.array([0]), np.array([9]), 1.0, "ecmpp")


def test_custom_strategy_function_is_accepted():
    """Strategies are plain functions with one signature (networkx style)."""
    topo = small_topology()
    calls = []

    def mine(state, src, dst, rng):
        calls.append(src.size)
        return STRATEGIES["ideal"](state, src, dst, rng)

    route(FabricState(topo, topo.capacity), np.array([0, 1]), np.array([100, 200]), 1.0, mine)
    assert calls == [2]
