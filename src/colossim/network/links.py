"""The fabric as directed links with capacities: the graph the flows are routed over.

Link ids are arithmetic (no per-link Python objects). Blocks, in order:

- ``nvl_up[g]`` / ``nvl_down[g]``: GPU g to and from its NVLink switch (scale-up domain);
- ``nic_up[g]`` / ``nic_down[g]``: GPU g's NIC to and from its leaf;
- ``ls_up[leaf, j]`` / ``ls_down[leaf, j]``: uplink j of a leaf, to spine ``j % B`` of its pod
  (cable ``j // B`` of the leaf-spine pair), and the same cable downward;
- ``sc_up[spine, j]`` / ``sc_down[spine, j]``: uplink j of spine i of a pod, to core
  ``j % C`` of plane i, and the same cable from the core down to the spine.

Capacities are payload rates: line rate times the protocol efficiency of the GPU's
efficiency profile (``scaleout_busbw_fraction`` on the fabric, ``scaleup_busbw_fraction`` on
NVLink), so that an idle fabric reproduces the analytical alpha-beta costs exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from colossim import catalog
from colossim.errors import ColossimError
from colossim.network.config import SWITCH_KINDS, TIER_NAMES, Failures, parse_target
from colossim.network.topology import FabricDesign, design_fabric
from colossim.scenario.cluster import ClusterSpec

NVLINK_TIER = 3
Index = np.ndarray | int  # link-id helpers take arrays (vectorized) or single ids
TIER_LABELS = (*TIER_NAMES, "nvlink")


@dataclass(frozen=True, eq=False)
class Topology:
    """A built fabric: design, GPU-to-leaf map, link blocks and healthy capacities (bytes/s)."""

    design: FabricDesign
    gpu_leaf: np.ndarray
    gpu_rail: np.ndarray
    leaf_present: np.ndarray
    offsets: dict[str, int]
    capacity: np.ndarray  # healthy payload capacity per link, bytes/s
    tier: np.ndarray  # int8: 0 nic, 1 leaf-spine, 2 spine-core, 3 nvlink
    present: np.ndarray  # bool: the link is cabled (absent leaves of a partial pod are not)
    nvlink_bytes_s: float
    nic_bytes_s: float
    port_bytes_s: float

    # ---- sizes -------------------------------------------------------------------------
    @property
    def num_gpus(self) -> int:
        return self.design.num_gpus

    @property
    def num_links(self) -> int:
        return int(self.capacity.shape[0])

    @property
    def gpus_per_node(self) -> int:
        return self.design.gpus_per_node

    def leaf_pod(self, leaf: np.ndarray) -> np.ndarray:
        return leaf // self.design.leaves_per_pod

    # ---- link ids ----------------------------------------------------------------------
    def nvl_up(self, g: Index) -> np.ndarray:
        return np.asarray(self.offsets["nvl_up"] + g)

    def nvl_down(self, g: Index) -> np.ndarray:
        return np.asarray(self.offsets["nvl_down"] + g)

    def nic_up(self, g: Index) -> np.ndarray:
        return np.asarray(self.offsets["nic_up"] + g)

    def nic_down(self, g: Index) -> np.ndarray:
        return np.asarray(self.offsets["nic_down"] + g)

    def ls_up(self, leaf: Index, j: Index) -> np.ndarray:
        return np.asarray(self.offsets["ls_up"] + leaf * self.design.leaf_up + j)

    def ls_down(self, leaf: Index, j: Index) -> np.ndarray:
        return np.asarray(self.offsets["ls_down"] + leaf * self.design.leaf_up + j)

    def sc_up(self, spine: Index, j: Index) -> np.ndarray:
        return np.asarray(self.offsets["sc_up"] + spine * self.design.spine_up + j)

    def sc_down(self, spine: Index, j: Index) -> np.ndarray:
        return np.asarray(self.offsets["sc_down"] + spine * self.design.spine_up + j)

    def proxy_gpu(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """PXN: the GPU in src's server on dst's rail (src itself when rails agree)."""
        d = self.design
        local = src % d.gpus_per_server
        proxy = src - local + (local // d.rails) * d.rails + self.gpu_rail[dst]
        return np.where(proxy < self.num_gpus, proxy, src)

    # ---- names and endpoints -----------------------------------------------------------
    def describe(self, link: int) -> str:
        """A readable name: ``leaf 12 (pod 0, rail 3) -> spine 5 (pod 0)``."""
        d, off = self.design, self.offsets
        block = max((k for k in off if k != "end" and off[k] <= link), key=lambda k: off[k])
        i = link - off[block]
        if block in ("nvl_up", "nvl_down", "nic_up", "nic_down"):
            peer = f"nvswitch {i // d.gpus_per_node}" if block.startswith("nvl") else f"leaf {int(self.gpu_leaf[i])}"
            return f"gpu {i} -> {peer}" if block.endswith("up") else f"{peer} -> gpu {i}"
        if block in ("ls_up", "ls_down"):
            leaf, j = divmod(i, d.leaf_up)
            pod = leaf // d.leaves_per_pod
            rail = (leaf % d.leaves_per_pod) // d.leaves_per_rail_pod
            spine = pod * d.spines_per_pod + j % d.spines_per_pod
            a, b = f"leaf {leaf} (pod {pod}, rail {rail})", f"spine {spine} (pod {pod})"
            return f"{a} -> {b}" if block == "ls_up" else f"{b} -> {a}"
        spine, j = divmod(i, d.spine_up)
        core = (spine % d.spines_per_pod) * d.cores_per_plane + j % d.cores_per_plane
        a, b = f"spine {spine} (pod {spine // d.spines_per_pod})", f"core {core}"
        return f"{a} -> {b}" if block == "sc_up" else f"{b} -> {a}"

    def endpoints(self) -> tuple[np.ndarray, np.ndarray]:
        """(from, to) node of every link; nodes: GPUs, NVLink switches, leaves, spines, cores."""
        d, g = self.design, np.arange(self.num_gpus)
        nvs0 = self.num_gpus
        leaf0 = nvs0 + -(-self.num_gpus // d.gpus_per_node)
        spine0 = leaf0 + d.leaf_slots
        core0 = spine0 + d.num_spines
        nvs = nvs0 + g // d.gpus_per_node
        leaf = leaf0 + self.gpu_leaf
        parts_from, parts_to = [g, nvs, g, leaf], [nvs, g, leaf, g]
        if d.tiers >= 2:
            lf = np.repeat(np.arange(d.leaf_slots), d.leaf_up)
            j = np.tile(np.arange(d.leaf_up), d.leaf_slots)
            sp = spine0 + (lf // d.leaves_per_pod) * d.spines_per_pod + j % d.spines_per_pod
            parts_from += [leaf0 + lf, sp]
            parts_to += [sp, leaf0 + lf]
        if d.tiers >= 3:
            s = np.repeat(np.arange(d.num_spines), d.spine_up)
            j = np.tile(np.arange(d.spine_up), d.num_spines)
            co = core0 + (s % d.spines_per_pod) * d.cores_per_plane + j % d.cores_per_plane
            parts_from += [spine0 + s, co]
            parts_to += [co, spine0 + s]
        return np.concatenate(parts_from), np.concatenate(parts_to)


def build_topology(cluster: ClusterSpec, rails: int | None = None) -> Topology:
    """The link-level fabric of a cluster (see the module docstring for the link ids)."""
    d = design_fabric(cluster, rails)
    g = np.arange(d.num_gpus, dtype=np.int64)
    server, local = np.divmod(g, d.gpus_per_server)
    rail = local % d.rails
    pod, server_in_pod = np.divmod(server, d.servers_per_pod)
    slot = server_in_pod * d.gpus_per_rail_server + local // d.rails
    gpu_leaf = pod * d.leaves_per_pod + rail * d.leaves_per_rail_pod + slot // d.gpus_per_leaf
    leaf_present = np.bincount(gpu_leaf, minlength=d.leaf_slots) > 0
    n = d.num_gpus
    sizes = {"nvl_up": n, "nvl_down": n, "nic_up": n, "nic_down": n,
             "ls_up": d.leaf_slots * d.leaf_up, "ls_down": d.leaf_slots * d.leaf_up,
             "sc_up": d.num_spines * d.spine_up, "sc_down": d.num_spines * d.spine_up}
    offsets, pos = {}, 0
    for key, size in sizes.items():
        offsets[key] = pos
        pos += size
    offsets["end"] = pos
    gpu = catalog.gpu(cluster.gpu)
    prof = catalog.efficiency_profile(gpu.profile)
    nvl = cluster.scaleup_gbps_per_gpu * 1e9 * prof.scaleup_busbw_fraction
    nic = d.nic_gbps / 8 * 1e9 * prof.scaleout_busbw_fraction
    port = d.port_gbps / 8 * 1e9 * prof.scaleout_busbw_fraction
    capacity = np.empty(pos)
    tier = np.empty(pos, dtype=np.int8)
    for key in sizes:
        sl = slice(offsets[key], offsets[key] + sizes[key])
        capacity[sl] = nvl if key.startswith("nvl") else nic if key.startswith("nic") else port
        tier[sl] = NVLINK_TIER if key.startswith("nvl") else 0 if key.startswith("nic") else 1 if key.startswith("ls") else 2
    present = np.ones(pos, dtype=bool)
    leaf_links = np.repeat(leaf_present, d.leaf_up)
    present[offsets["ls_up"]: offsets["ls_down"]] = leaf_links
    present[offsets["ls_down"]: offsets["sc_up"]] = leaf_links
    return Topology(design=d, gpu_leaf=gpu_leaf, gpu_rail=rail, leaf_present=leaf_present, offsets=offsets,
                    capacity=capacity, tier=tier, present=present, nvlink_bytes_s=nvl, nic_bytes_s=nic,
                    port_bytes_s=port)


# ---- failures ---------------------------------------------------------------------------


def switch_links(topo: Topology, kind: str, index: int) -> np.ndarray:
    """Every link touching one switch (both directions)."""
    d = topo.design
    count = {"leaf": d.leaf_slots, "spine": d.num_spines, "core": d.num_cores}[kind]
    if not 0 <= index < count:
        raise ColossimError(f"network.failures.switches: {kind}:{index} does not exist; this fabric has "
                            f"{count} {kind} switches (0..{count - 1})", field="network.failures.switches",
                            value=f"{kind}:{index}")
    if kind == "leaf":
        j = np.arange(d.leaf_up)
        gpus = np.flatnonzero(topo.gpu_leaf == index)
        return np.concatenate([topo.ls_up(index, j), topo.ls_down(index, j), topo.nic_up(gpus), topo.nic_down(gpus)])
    if kind == "spine":
        pod, i = divmod(index, d.spines_per_pod)
        leaves = pod * d.leaves_per_pod + np.arange(d.leaves_per_pod)
        j = i + d.spines_per_pod * np.arange(d.leaf_spine_mult)
        lf, jj = np.repeat(leaves, j.size), np.tile(j, leaves.size)
        up = np.arange(d.spine_up)
        return np.concatenate([topo.ls_up(lf, jj), topo.ls_down(lf, jj), topo.sc_up(index, up), topo.sc_down(index, up)])
    plane, c = divmod(index, d.cores_per_plane)
    spines = np.arange(d.num_pods) * d.spines_per_pod + plane
    j = c + d.cores_per_plane * np.arange(d.spine_core_mult)
    sp, jj = np.repeat(spines, j.size), np.tile(j, spines.size)
    return np.concatenate([topo.sc_up(sp, jj), topo.sc_down(sp, jj)])


def cable_links(topo: Topology, tier: str, index: int) -> np.ndarray:
    """Both directions of cable ``index`` of a tier (numbered as the up-links)."""
    d = topo.design
    if tier == "nic":
        count, up, down = topo.num_gpus, "nic_up", "nic_down"
    elif tier == "leaf-spine":
        count, up, down = d.leaf_slots * d.leaf_up, "ls_up", "ls_down"
    else:
        count, up, down = d.num_spines * d.spine_up, "sc_up", "sc_down"
    if not 0 <= index < count:
        raise ColossimError(f"network.failures.links: {tier}:{index} does not exist; tier {tier} has {count} cables",
                            field="network.failures.links", value=f"{tier}:{index}")
    return np.array([topo.offsets[up] + index, topo.offsets[down] + index])


def apply_failures(topo: Topology, failures: Failures, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """Capacities after failures and degradations, and a line per change."""
    cap = topo.capacity.copy()
    notes: list[str] = []
    if topo.design.tiers < 2 and failures.any:
        kinds = [s.split(":")[0] for s in failures.switches]
        if any(k != "leaf" for k in kinds):
            raise ColossimError("network.failures: a 1-tier fabric has only leaf switches", field="network.failures")
    for text in failures.switches:
        kind, index = parse_target(text, SWITCH_KINDS, "network.failures.switches")
        cap[switch_links(topo, kind, index)] = 0.0
        notes.append(f"{kind} {index} failed")
    for text in failures.links:
        tier, index = parse_target(text, TIER_NAMES, "network.failures.links")
        cap[cable_links(topo, tier, index)] = 0.0
        notes.append(f"{tier} cable {index} failed")
    rng = np.random.default_rng(seed)
    for deg in failures.degraded:
        t = TIER_NAMES.index(deg.tier)
        if t >= topo.design.tiers:
            raise ColossimError(f"network.failures.degraded.tier: {deg.tier!r} does not exist on a "
                                f"{topo.design.tiers}-tier fabric", field="network.failures.degraded.tier")
        up = ("nic_up", "ls_up", "sc_up")[t]
        down = ("nic_down", "ls_down", "sc_down")[t]
        cables = np.flatnonzero(topo.present[topo.offsets[up]: topo.offsets[down]])
        chosen = rng.choice(cables, size=max(1, int(round(deg.fraction * cables.size))), replace=False)
        for block in (up, down):
            cap[topo.offsets[block] + chosen] *= deg.factor
        notes.append(f"{chosen.size} {deg.tier} cables at {deg.factor:.0%} capacity")
    return cap, notes
