"""Fat-tree design and inventory: published switch counts, fat-tree limits, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from colossim import catalog
from colossim.errors import ColossimError
from colossim.network.config import NetworkConfig
from colossim.network.links import apply_failures, build_topology
from colossim.network.topology import design_fabric, fabric_data, fabric_inventory, fat_tree_limits
from colossim.scenario.loader import build_cluster


@pytest.mark.parametrize("row", fabric_data()["superpod_b200_scaling"]["rows"], ids=lambda r: f"{r['gpus']}gpus")
def test_dgx_superpod_b200_scaling_table(row):
    """NVIDIA's published leaf/spine/core counts (radix 64, 400G, rail-optimized)."""
    tiers = 2 if row["core"] == 0 else 3
    cluster = build_cluster({"gpu": "b200", "num_gpus": row["gpus"], "nic_gbps_per_gpu": 400,
                             "fabric": {"switch": "qm9700", "tiers": tiers}})
    inv = fabric_inventory(cluster)
    assert inv.switches_per_tier == [row["leaf"], row["spine"], row["core"]][:tiers]
    assert inv.links_per_tier == [row["gpus"]] * tiers  # one cable per GPU per tier


def test_colossus_builds_three_tiers_within_the_fat_tree_limits():
    inv = fabric_inventory(build_cluster("colossus-100k"))
    k = 128  # SN5600 at 400G
    assert (inv.radix, inv.tiers, inv.port_gbps) == (k, 3, 400)
    assert k**2 // 2 < inv.gpus <= k**3 // 4 == inv.max_gpus_nonblocking  # needs 3 tiers (hardware.md 3.4)
    assert inv.switches_per_tier == [1568, 1600, 1024]
    assert inv.pods == 25 and inv.gpus_per_pod == 4096
    assert inv.nics == 100_000 and inv.links_per_tier[0] == 100_000
    assert sum(inv.switches_per_tier) <= fat_tree_limits(k)["three_tier_switches"]
    d = inv.to_dict()
    for key in ("switches_per_tier", "switch_name", "port_gbps", "links_per_tier", "optical_transceivers", "nics",
                "gpus", "num_switches"):
        assert key in d


@pytest.mark.parametrize("name", catalog.cluster_names())
def test_every_preset_builds_a_real_topology(name):
    cluster = build_cluster(name)
    inv = fabric_inventory(cluster)
    assert inv.gpus == cluster.num_gpus <= inv.max_gpus
    assert len(inv.switches_per_tier) == cluster.fabric.tiers and min(inv.switches_per_tier) > 0
    assert all(0 < u <= 1.0 for u in inv.ports_used_fraction)
    topo = build_topology(cluster)
    # every GPU sits on a present leaf; leaves hold at most their NIC slots
    counts = np.bincount(topo.gpu_leaf, minlength=topo.design.leaf_slots)
    assert counts.max() <= topo.design.gpus_per_leaf
    assert int(topo.leaf_present.sum()) == inv.switches_per_tier[0]


def test_oversubscription_and_pods_follow_the_design():
    inv = fabric_inventory(build_cluster("llama3-24k"))  # 3,072-GPU pods, 1:7 above the pod
    assert inv.pods == 8 and inv.gpus_per_pod == 3072
    spine_down = 112  # 128 ports split 7:1
    assert inv.links_per_tier[2] == inv.switches_per_tier[1] * (128 - spine_down)


def test_too_many_gpus_for_the_tiers_is_a_clear_error():
    with pytest.raises(ColossimError, match=r"k\^2/2 = 8,192"):
        fabric_inventory(build_cluster({"preset": "colossus-100k", "fabric": {"tiers": 2}}))


def test_unknown_port_speed_is_a_clear_error():
    with pytest.raises(ColossimError, match="sn5600 ports run at 200, 400, 800"):
        fabric_inventory(build_cluster({"preset": "colossus-100k", "fabric": {"port_gbps": 600}}))


def test_breakout_ports_keep_capacity():
    """64 x 800G with 2 x 400G breakout at the leaf = the same GPUs per leaf as 128 x 400G."""
    fast = design_fabric(build_cluster({"preset": "colossus-100k", "fabric": {"port_gbps": 800}}))
    slow = design_fabric(build_cluster("colossus-100k"))
    assert fast.radix == 64 and fast.gpus_per_leaf == slow.gpus_per_leaf == 64
    assert fast.leaf_up * 800 == slow.leaf_up * 400


def test_transceivers_count_modules_and_dac_removes_nic_optics():
    cluster = build_cluster("dgx-superpod-h100")
    optics = fabric_inventory(cluster)
    dac = fabric_inventory(cluster, NetworkConfig(nic_cable="dac"))
    fabric_ends = 2 * optics.links_per_tier[1]
    assert optics.optical_ports == optics.nics * 2 + fabric_ends  # NIC end + leaf end, both ends above
    assert optics.optical_transceivers == optics.nics + optics.nics // 2 + fabric_ends // 2  # twin-port 800G cages
    assert dac.dac_cables == dac.nics and dac.optical_transceivers == fabric_ends // 2


def test_links_and_capacities_follow_the_profile():
    topo = build_topology(build_cluster({"gpu": "h100-sxm", "num_gpus": 1024,
                                         "fabric": {"switch": "qm9700", "tiers": 3}}))
    assert topo.nic_bytes_s == pytest.approx(400 / 8 * 1e9 * 0.93)
    assert topo.nvlink_bytes_s == pytest.approx(450e9 * 0.82)
    src, dst = topo.endpoints()
    assert src.size == dst.size == topo.num_links
    assert "-> spine" in topo.describe(topo.offsets["ls_up"])
    assert topo.describe(topo.offsets["sc_down"]).startswith("core")


def test_failed_switch_zeroes_its_links():
    cluster = build_cluster({"gpu": "h100-sxm", "num_gpus": 1024, "fabric": {"switch": "qm9700", "tiers": 3}})
    topo = build_topology(cluster)
    cap, notes = apply_failures(topo, NetworkConfig(failures={"switches": ["spine:3"]}).failures)
    dead = np.flatnonzero(cap == 0)
    d = topo.design
    assert dead.size == 2 * (d.leaves_per_pod * d.leaf_spine_mult + d.spine_up)
    assert notes == ["spine 3 failed"]
    with pytest.raises(ColossimError, match="spine:99999 does not exist"):
        apply_failures(topo, NetworkConfig(failures={"switches": ["spine:99999"]}).failures)
    with pytest.raises(ColossimError, match="kind:index"):
        apply_failures(topo, NetworkConfig(failures={"switches": ["router:1"]}).failures)
