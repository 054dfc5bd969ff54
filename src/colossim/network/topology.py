"""Fat-tree design from the cluster description: switch counts, wiring, inventory.

A (rail-optimized) fat tree of radix-k switches (Al-Fares et al. 2008; NVIDIA DGX SuperPOD
reference architectures, hardware.md 3.4):

- **Leaf**: ``k_down`` ports toward the NICs, ``k_up`` toward the spines; the leaf
  oversubscription is ``k_down : k_up`` (non-blocking: k/2 each). Rail-optimized, GPU i of
  every server plugs into a leaf of rail i, so same-rank GPUs of neighbouring servers meet
  one switch away. A leaf port faster than the NIC is broken out (an 800G port carries
  two 400G NICs).
- **2 tiers**: every leaf connects to every spine with the same number of cables; spines
  are the smallest count that divides a leaf's uplinks and leaves no spine over its radix.
  At most k leaves, so at most k * k/2 = k^2/2 GPUs non-blocking.
- **3 tiers**: pods of ``rails x leaves-per-rail`` leaves and their spines (a 2-tier block
  each); spine i of every pod joins core plane i, whose cores reach every pod. At most k
  pods of k/2 * k/2 GPUs: k^3/4 non-blocking. Spine oversubscription is the second
  ``oversubscription`` entry; ``pod_gpus`` pins the pod size (Meta's 3,072-GPU pods).

Switch and cable counts are exact for full fabrics (they reproduce the DGX SuperPOD B200
scaling table, ``data/fabric.yaml``); partial fabrics build whole spine planes (every pod
keeps all its spines, every core plane reaches every pod), which is how they are cabled
for growth. Left out: the storage and management networks, and ports reserved for them.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, field
from importlib import resources
from typing import Any

import yaml

from colossim import catalog
from colossim.errors import ColossimError
from colossim.scenario.cluster import ClusterSpec


@functools.cache
def fabric_data() -> dict[str, Any]:
    """``network/data/fabric.yaml`` (cached; read-only)."""
    text = resources.files("colossim.network").joinpath("data", "fabric.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def _smallest_divisor_at_least(n: int, lower: int) -> int:
    """The smallest divisor of n that is >= lower (n itself at worst)."""
    for d in range(max(lower, 1), n + 1):
        if n % d == 0:
            return d
    return n


def _ports_split(radix: int, ratio: float) -> tuple[int, int]:
    """(down, up) ports for a down:up oversubscription ratio."""
    down = int(round(radix * ratio / (1.0 + ratio)))
    down = min(max(down, 1), radix - 1)
    return down, radix - down


@dataclass(frozen=True)
class FabricDesign:
    """Sizes and wiring of one fat tree (no per-link arrays: see :class:`~colossim.network.links.Topology`)."""

    num_gpus: int
    gpus_per_node: int  # NVLink domain
    gpus_per_server: int
    tiers: int
    switch_name: str
    radix: int  # ports per switch at port_gbps
    port_gbps: float
    nic_gbps: float  # per GPU
    nic_port_gbps: float  # the physical NIC port (>= nic_gbps; 2 GPUs may share a 100G port)
    rails: int
    gpus_per_leaf: int  # GPU (NIC) slots per leaf, after breakout
    leaf_down: int
    leaf_up: int
    spine_down: int
    spine_up: int
    leaves_per_rail_pod: int
    servers_per_pod: int
    num_pods: int
    spines_per_pod: int  # B; also the number of core planes
    leaf_spine_mult: int  # cables between one leaf and one spine of its pod
    cores_per_plane: int  # C
    spine_core_mult: int  # cables between one spine and one core of its plane
    oversubscription: tuple[float, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def num_servers(self) -> int:
        return -(-self.num_gpus // self.gpus_per_server)

    @property
    def gpus_per_rail_server(self) -> int:
        return self.gpus_per_server // self.rails

    @property
    def leaves_per_pod(self) -> int:
        return self.rails * self.leaves_per_rail_pod

    @property
    def leaf_slots(self) -> int:
        return self.num_pods * self.leaves_per_pod

    @property
    def num_spines(self) -> int:
        return self.num_pods * self.spines_per_pod if self.tiers >= 2 else 0

    @property
    def num_cores(self) -> int:
        return self.spines_per_pod * self.cores_per_plane if self.tiers >= 3 else 0

    @property
    def gpus_per_pod(self) -> int:
        return self.servers_per_pod * self.gpus_per_server

    def leaves_present(self) -> int:
        """Leaves holding at least one GPU (partial last pod and server counted exactly)."""
        total = 0
        gps, rails, per_leaf = self.gpus_per_server, self.rails, self.gpus_per_leaf
        for pod in range(self.num_pods):
            first = pod * self.servers_per_pod * gps
            gpus = min(self.gpus_per_pod, self.num_gpus - first)
            full, rest = divmod(gpus, gps)
            for rail in range(rails):
                on_rail = full * self.gpus_per_rail_server + sum(1 for loc in range(rest) if loc % rails == rail)
                total += -(-on_rail // per_leaf)
        return total

    def max_gpus_nonblocking(self) -> int:
        """k (1 tier), k^2/2 (2 tiers), k^3/4 (3 tiers) at this radix (Al-Fares et al. 2008)."""
        k = self.radix
        return {1: k, 2: k * k // 2, 3: k ** 3 // 4}[self.tiers]

    def max_gpus(self) -> int:
        """GPUs this design can hold with its oversubscription and rails."""
        if self.tiers == 1:
            return self.gpus_per_leaf * self.rails
        pods = 1 if self.tiers == 2 else self.radix
        spine_ports = self.radix if self.tiers == 2 else self.spine_down
        per_pod_leaves = (spine_ports // self.rails) * self.rails
        return pods * per_pod_leaves * self.gpus_per_leaf


def _switch_ports(cluster: ClusterSpec) -> tuple[str, int, float, float]:
    """(switch name, radix, port speed, NIC port speed) with clear errors."""
    fab = cluster.fabric
    sw = catalog.switch(fab.switch)
    speeds = sorted(sw.radix_by_port_gbps)
    nic = float(cluster.nic_gbps_per_gpu)
    nic_port = float(next((s for s in speeds if s >= nic), speeds[-1]))
    if nic > speeds[-1]:
        raise ColossimError(f"cluster.nic_gbps_per_gpu: {nic:g} Gb/s is faster than any {sw.name} port "
                            f"({', '.join(str(s) for s in speeds)} Gb/s)", field="cluster.nic_gbps_per_gpu", value=nic)
    port = float(fab.port_gbps or nic_port)
    if port < nic_port:
        raise ColossimError(f"cluster.fabric.port_gbps: {port:g} is slower than the NIC port ({nic_port:g} Gb/s)",
                            field="cluster.fabric.port_gbps", value=port)
    radix = fab.switch_radix or sw.radix_at(port)
    if radix is None:
        raise ColossimError(f"cluster.fabric.port_gbps: {port:g} is not allowed; {sw.name} ports run at "
                            f"{', '.join(str(s) for s in speeds)} Gb/s (or set cluster.fabric.switch_radix)",
                            field="cluster.fabric.port_gbps", value=port)
    return sw.name, int(radix), port, nic_port


def design_fabric(cluster: ClusterSpec, rails: int | None = None) -> FabricDesign:
    """Size the fat tree of a cluster: ports, leaves, pods, spines, cores."""
    fab = cluster.fabric
    name, radix, port, nic_port = _switch_ports(cluster)
    gps = cluster.gpus_per_server
    rails = rails or (gps if fab.rail_optimized else 1)
    if gps % rails:
        raise ColossimError(f"network.rails: {rails} does not divide gpus_per_server ({gps})", field="network.rails",
                            value=rails)
    nic = float(cluster.nic_gbps_per_gpu)
    over = tuple(fab.oversubscription) + (1.0,) * (2 - len(fab.oversubscription))
    notes: list[str] = []
    tiers = fab.tiers
    leaf_down, leaf_up = (radix, 0) if tiers == 1 else _ports_split(radix, over[0])
    per_leaf = int(leaf_down * port // nic)
    gprs = gps // rails
    num_servers = -(-cluster.num_gpus // gps)
    spine_down, spine_up = (radix, 0) if tiers <= 2 else _ports_split(radix, over[1])
    if tiers == 1:
        lprp, spp, pods = 1, num_servers, 1
        if num_servers * gprs > per_leaf:
            raise _too_big(cluster, name, radix, per_leaf * rails, 1)
    elif tiers == 2:
        spp, pods = num_servers, 1
        lprp = -(-num_servers * gprs // per_leaf)
        if rails * lprp > radix:
            raise _too_big(cluster, name, radix, (radix // rails) * rails * per_leaf, 2)
    else:
        most = spine_down // rails
        if most < 1:
            raise ColossimError(f"cluster.fabric: a spine has {spine_down} down ports, fewer than the {rails} rails",
                                field="cluster.fabric.oversubscription")
        if fab.pod_gpus:
            spp = -(-fab.pod_gpus // gps)
            lprp = -(-spp * gprs // per_leaf)
            if lprp > most:
                raise ColossimError(
                    f"cluster.fabric.pod_gpus: {fab.pod_gpus} GPUs need {lprp * rails} leaves per pod; a {name} "
                    f"spine reaches at most {most * rails} ({most * rails * per_leaf} GPUs)",
                    field="cluster.fabric.pod_gpus", value=fab.pod_gpus)
        else:
            lprp = most
            spp = lprp * per_leaf // gprs
        pods = -(-num_servers // spp)
        if pods > radix:
            raise _too_big(cluster, name, radix, radix * spp * gps, 3)
    lpp = rails * lprp
    if tiers >= 2:
        top_ports = radix if tiers == 2 else spine_down
        spines = _smallest_divisor_at_least(leaf_up, -(-lpp * leaf_up // top_ports))
        mult = leaf_up // spines
    else:
        spines, mult = 0, 0
    if tiers == 3:
        cores = _smallest_divisor_at_least(spine_up, -(-pods * spine_up // radix))
        cmult = spine_up // cores
    else:
        cores, cmult = 0, 0
    if tiers == 2 and fab.pod_gpus:
        notes.append("pod_gpus is ignored on a 2-tier fabric (one pod)")
    return FabricDesign(
        num_gpus=cluster.num_gpus, gpus_per_node=cluster.gpus_per_node, gpus_per_server=gps, tiers=tiers,
        switch_name=name, radix=radix, port_gbps=port, nic_gbps=nic, nic_port_gbps=nic_port, rails=rails,
        gpus_per_leaf=per_leaf, leaf_down=leaf_down, leaf_up=leaf_up, spine_down=spine_down, spine_up=spine_up,
        leaves_per_rail_pod=lprp, servers_per_pod=spp, num_pods=pods, spines_per_pod=spines,
        leaf_spine_mult=mult, cores_per_plane=cores, spine_core_mult=cmult,
        oversubscription=tuple(over[: max(tiers - 1, 0)]), notes=tuple(notes),
    )


def _too_big(cluster: ClusterSpec, name: str, radix: int, most: int, tiers: int) -> ColossimError:
    formula = {1: "k", 2: "k^2/2", 3: "k^3/4"}[tiers]
    hint = "; use more tiers (cluster.fabric.tiers)" if tiers < 3 else "; use a higher-radix switch or slower ports"
    return ColossimError(
        f"cluster.num_gpus: {cluster.num_gpus:,} GPUs do not fit a {tiers}-tier {name} fabric (radix {radix}): "
        f"at most {most:,} here ({formula} = {({1: radix, 2: radix * radix // 2, 3: radix ** 3 // 4}[tiers]):,} "
        f"non-blocking){hint}", field="cluster.fabric.tiers", value=tiers)


@dataclass(frozen=True)
class FabricInventory:
    """What the fabric is made of: switches, cables and optics (power and cost read this)."""

    cluster: str
    gpus: int
    nics: int
    tiers: int
    switch_name: str
    radix: int
    port_gbps: float
    nic_gbps: float
    rails: int
    pods: int
    gpus_per_pod: int
    switches_per_tier: list[int]  # leaf, spine, core (bottom up)
    links_per_tier: list[int]  # cables: NIC-leaf, leaf-spine, spine-core
    optical_transceivers: int  # modules (a twin-port module counts once)
    optical_ports: int  # cable ends served by optics (NIC side + switch side)
    dac_cables: int
    transceivers_by_type: dict[str, int]
    oversubscription: list[float]
    max_gpus_nonblocking: int  # k, k^2/2 or k^3/4
    max_gpus: int  # with this design's oversubscription and rails
    ports_used_fraction: list[float]  # per switch tier
    notes: list[str]

    @property
    def num_switches(self) -> int:
        return int(sum(self.switches_per_tier))

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["num_switches"] = self.num_switches
        out["tier_names"] = ["leaf", "spine", "core"][: self.tiers]
        out["link_tier_names"] = ["nic-leaf", "leaf-spine", "spine-core"][: self.tiers]
        return out


def fabric_inventory(cluster: ClusterSpec, options: Any = None) -> FabricInventory:
    """Switch, cable and transceiver counts of a cluster's scale-out fabric.

    ``options`` (a :class:`~colossim.network.config.NetworkConfig`) may set ``rails`` and
    ``nic_cable: dac`` (copper NIC-leaf cables inside the rack); by default every cable
    is optical. Pure arithmetic: fast enough to call inside a search over cluster sizes.
    """
    rails = getattr(options, "rails", None)
    d = design_fabric(cluster, rails)
    nics = -(-d.num_gpus * int(d.nic_gbps) // int(d.nic_port_gbps))
    leaves = d.leaves_present()
    switches = [leaves, d.num_spines, d.num_cores][: d.tiers]
    links = [nics, leaves * d.leaf_up, d.num_spines * d.spine_up][: d.tiers]
    cage = fabric_data()["switch_cages"].get(d.switch_name, {"cage_gbps": d.port_gbps})
    per_module = max(int(cage["cage_gbps"] // d.port_gbps), 1)
    leaf_side_ports = -(-nics * int(d.nic_port_gbps) // int(d.port_gbps))
    dac = getattr(options, "nic_cable", "optics") == "dac"
    kinds: dict[str, int] = {}
    if not dac:
        kinds[f"nic_{d.nic_port_gbps:g}g"] = nics
        kinds[f"switch_{cage['cage_gbps']:g}g_nic_side"] = -(-leaf_side_ports // per_module)
    fabric_ends = 2 * sum(links[1:])
    if fabric_ends:
        kinds[f"switch_{cage['cage_gbps']:g}g_fabric"] = -(-fabric_ends // per_module)
    optical_ports = (0 if dac else nics + leaf_side_ports) + fabric_ends
    used = [(leaf_side_ports + leaves * d.leaf_up) / max(leaves * d.radix, 1)]
    if d.tiers >= 2:
        down = leaves * d.leaf_up
        used.append((down + d.num_spines * d.spine_up) / max(d.num_spines * d.radix, 1))
    if d.tiers == 3:
        used.append(d.num_spines * d.spine_up / max(d.num_cores * d.radix, 1))
    return FabricInventory(
        cluster=cluster.name, gpus=d.num_gpus, nics=nics, tiers=d.tiers, switch_name=d.switch_name, radix=d.radix,
        port_gbps=d.port_gbps, nic_gbps=d.nic_gbps, rails=d.rails, pods=d.num_pods, gpus_per_pod=d.gpus_per_pod,
        switches_per_tier=switches, links_per_tier=links, optical_transceivers=int(sum(kinds.values())),
        optical_ports=int(optical_ports), dac_cables=nics if dac else 0, transceivers_by_type=kinds,
        oversubscription=list(d.oversubscription), max_gpus_nonblocking=d.max_gpus_nonblocking(),
        max_gpus=d.max_gpus(), ports_used_fraction=[round(u, 4) for u in used], notes=list(d.notes),
    )


def fat_tree_limits(radix: int) -> dict[str, int]:
    """Non-blocking endpoint and switch counts of full 2- and 3-tier fat trees of radix k."""
    k = radix
    return {"two_tier_gpus": k * k // 2, "two_tier_switches": 3 * k // 2,
            "three_tier_gpus": k ** 3 // 4, "three_tier_switches": 5 * k * k // 4}


__all__ = ["FabricDesign", "FabricInventory", "design_fabric", "fabric_data", "fabric_inventory", "fat_tree_limits"]
