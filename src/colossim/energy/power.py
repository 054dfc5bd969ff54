"""Power per component: GPUs by phase, server overhead, NICs, switches and optics, storage, PUE.

Model (every figure from ``energy/data/power.yaml`` with its source, or a ``power:`` override):

- **GPU** power is a fraction of its TDP per phase of the step: compute (forward, backward,
  recompute), exposed communication (TP, EP, CP, DP, pipeline sends), the optimizer pass,
  waiting (pipeline bubble, checkpoint stalls) and idle (spare GPUs with no job). A plan's
  GPU power is the time-weighted mean over its step breakdown.
- **Server overhead** (CPUs, DRAM, NVSwitches, NICs, fans or pumps, PSU losses) is rated as
  server maximum minus GPUs x TDP (DGX H100: (10.2 kW - 8 x 700 W) / 8 = 575 W per GPU) and
  draws between ``overhead_idle_fraction`` and ``overhead_full_fraction`` of that rating,
  linearly in GPU load ``u = (P_gpu - P_idle) / (TDP - P_idle)``. The NIC and its 400G module
  are shown on their own line, carved out of the overhead.
- **Network**: switches x switch power (planning value, unverified) + switch-side optics
  (17 W per 800 Gb/s of port, NVIDIA module specs) from the fabric inventory of
  ``colossim.network.topology``. Constant in time (switch power barely follows traffic).
- **Storage**: a per-GPU planning value (unverified).
- **Facility** = IT x PUE (cooling, power distribution, lighting).

Left out: power-capping and clock control, GPU-to-GPU variation, temperature dependence,
front-end and management networks, login/CPU nodes, PSU efficiency curves beyond the rating.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from colossim import catalog
from colossim.energy import presets
from colossim.energy.options import PowerOptions
from colossim.errors import ColossimError, field_error
from colossim.scenario.cluster import ClusterSpec

PHASES = ("compute", "communication", "optimizer", "bubble", "idle")

# The step model's breakdown terms (StepArrays field names) and the GPU phase each draws.
PHASE_OF_TERM = {
    "compute_forward_s": "compute",
    "compute_backward_s": "compute",
    "compute_recompute_s": "compute",
    "tp_exposed_s": "communication",
    "ep_all_to_all_s": "communication",
    "cp_exposed_s": "communication",
    "pp_p2p_s": "communication",
    "dp_exposed_s": "communication",
    "pp_bubble_s": "bubble",
    "optimizer_s": "optimizer",
}
# Terms that run inside every micro-batch of the pipelined part of a step (the rest run once
# per step, after the pipeline drains).
MICRO_BATCH_TERMS = ("compute_forward_s", "compute_backward_s", "compute_recompute_s",
                     "tp_exposed_s", "ep_all_to_all_s", "cp_exposed_s")
TERM_OF_NAME = {k.removesuffix("_s"): k for k in PHASE_OF_TERM}  # Estimate.breakdown_s keys

COMPONENTS = ("gpus", "servers", "nics", "switches", "switch_optics", "storage")


@dataclass(frozen=True, slots=True)
class PowerModel:
    """Resolved power figures for one cluster (W; per GPU unless said otherwise)."""

    gpu: str
    tdp_w: float
    num_gpus: int
    gpus_per_server: int
    phase_w: dict[str, float]
    overhead_rated_w: float
    overhead_idle_fraction: float
    overhead_full_fraction: float
    nic_w: float
    storage_w: float
    num_switches: int
    switch_w: float
    switch_optics_w: float  # all switch-side modules together
    switch_optical_ports: int  # switch ports served by optics (their modules draw here; NIC-side ones sit in the servers)
    optical_ports: int  # every cable end served by optics, NIC side included (capital cost)
    port_gbps: float
    pue: float
    pue_name: str
    server_design: str
    notes: tuple[str, ...] = field(default=())
    figures: tuple[dict[str, Any], ...] = field(default=())  # the sourced figures in use

    @property
    def network_w(self) -> float:
        return self.num_switches * self.switch_w + self.switch_optics_w

    def overhead_w(self, gpu_w: Any) -> Any:
        """Server overhead per GPU drawn when each GPU draws ``gpu_w`` (vectorized)."""
        idle = self.phase_w["idle"]
        span = max(self.tdp_w - idle, 1e-9)
        load = np.clip((np.asarray(gpu_w, dtype=float) - idle) / span, 0.0, 1.0)
        frac = self.overhead_idle_fraction + (self.overhead_full_fraction - self.overhead_idle_fraction) * load
        return np.maximum(self.overhead_rated_w * frac, self.nic_w)

    def it_w(self, gpu_w: Any, gpus_used: Any) -> Any:
        """Cluster IT power when the ``gpus_used`` GPUs each draw ``gpu_w`` and the rest idle."""
        used = np.asarray(gpus_used, dtype=float)
        idle_w = self.phase_w["idle"]
        per_used = np.asarray(gpu_w, dtype=float) + self.overhead_w(gpu_w)
        per_idle = idle_w + self.overhead_w(idle_w)
        return used * per_used + (self.num_gpus - used) * per_idle + self.num_gpus * self.storage_w + self.network_w

    def components_w(self, gpu_w: float, gpus_used: int) -> dict[str, float]:
        """IT power by component (W) at one GPU draw; sums to :meth:`it_w`."""
        idle = self.num_gpus - gpus_used
        gpus = gpus_used * gpu_w + idle * self.phase_w["idle"]
        overhead = gpus_used * float(self.overhead_w(gpu_w)) + idle * float(self.overhead_w(self.phase_w["idle"]))
        nics = self.num_gpus * self.nic_w
        return {"gpus": gpus, "servers": overhead - nics, "nics": nics,
                "switches": self.num_switches * self.switch_w, "switch_optics": self.switch_optics_w,
                "storage": self.num_gpus * self.storage_w}

    def nameplate_components_w(self) -> dict[str, float]:
        """Ratings: GPUs at TDP, servers at their maximum, network and storage as planned."""
        n = self.num_gpus
        return {"gpus": n * self.tdp_w, "servers": n * (self.overhead_rated_w - self.nic_w), "nics": n * self.nic_w,
                "switches": self.num_switches * self.switch_w, "switch_optics": self.switch_optics_w,
                "storage": n * self.storage_w}

    def node_w(self, gpu_w: float | None = None) -> float:
        """One server's power: at ``gpu_w`` per GPU, or its rating (GPUs at TDP, overhead at max)."""
        if gpu_w is None:
            return self.gpus_per_server * (self.tdp_w + self.overhead_rated_w)
        return self.gpus_per_server * (gpu_w + float(self.overhead_w(gpu_w)))


def gpu_w_of_breakdown(model: PowerModel, terms_s: dict[str, Any]) -> tuple[Any, Any]:
    """Mean GPU power over a step and during the pipelined part (vectorized over plans).

    ``terms_s`` maps StepArrays breakdown field names to seconds (floats or arrays).
    Returns ``(mean_w, busy_w)``: busy is the micro-batch mix of compute and exposed TP/EP/CP
    communication, the draw of the steady part of a step (its sub-millisecond alternation is
    averaged: stages and replicas are not aligned at that scale).
    """
    total = sum(np.asarray(terms_s[t], dtype=float) for t in PHASE_OF_TERM)
    energy = sum(np.asarray(terms_s[t], dtype=float) * model.phase_w[p] for t, p in PHASE_OF_TERM.items())
    busy_s = sum(np.asarray(terms_s[t], dtype=float) for t in MICRO_BATCH_TERMS)
    busy_e = sum(np.asarray(terms_s[t], dtype=float) * model.phase_w[PHASE_OF_TERM[t]] for t in MICRO_BATCH_TERMS)
    mean_w = np.divide(energy, total, out=np.full_like(total, model.phase_w["compute"]), where=total > 0)
    busy_w = np.divide(busy_e, busy_s, out=np.full_like(busy_s, model.phase_w["compute"]), where=busy_s > 0)
    return mean_w, busy_w


def terms_of_breakdown(breakdown: dict[str, float]) -> dict[str, float]:
    """Estimate.breakdown_s (names without ``_s``) as StepArrays term names."""
    return {TERM_OF_NAME[name]: float(v) for name, v in breakdown.items() if name in TERM_OF_NAME}


# ---- resolving the figures ---------------------------------------------------------------


def power_model(cluster: ClusterSpec, options: PowerOptions | None = None, inventory: Any = None) -> PowerModel:
    """The power figures of a cluster: catalog defaults, the ``power:`` options on top.

    ``inventory`` is a ``colossim.network.topology.FabricInventory`` (built from the cluster
    when not given); without the network package the switches are left out, with a note.
    """
    opts = options or PowerOptions()
    data = presets.load("power.yaml")
    gpu = catalog.gpu(cluster.gpu)
    tdp = gpu.tdp_w
    notes: list[str] = []
    phase_w = {p: tdp * _fraction(opts, p) for p in PHASES}
    design, rated = _server_overhead(gpu.name, tdp, data)
    if opts.server_overhead_w_per_gpu is not None:
        design, rated = "power.server_overhead_w_per_gpu", opts.server_overhead_w_per_gpu
    nic_gbps = cluster.nic_gbps_per_gpu
    nic_w = min(presets.figure("power.yaml", "nic", "nic_w")
                + presets.figure("power.yaml", "nic", "module_w_per_400g") * nic_gbps / 400.0, rated)
    storage = opts.storage_w_per_gpu if opts.storage_w_per_gpu is not None else presets.figure("power.yaml", "storage_w_per_gpu")
    n_switches, switch_each, n_switch_optical, n_optical, port_gbps = _network(cluster, opts, inventory, notes)
    pue, pue_name = resolve_pue(opts.pue, cluster.cooling)
    return PowerModel(
        gpu=gpu.name, tdp_w=tdp, num_gpus=cluster.num_gpus, gpus_per_server=cluster.gpus_per_server,
        phase_w=phase_w, overhead_rated_w=float(rated),
        overhead_idle_fraction=presets.figure("power.yaml", "overhead_idle_fraction"),
        overhead_full_fraction=presets.figure("power.yaml", "overhead_full_fraction"),
        nic_w=nic_w, storage_w=float(storage), num_switches=n_switches, switch_w=switch_each,
        switch_optics_w=n_switch_optical * optics_w_per_port(port_gbps), switch_optical_ports=n_switch_optical,
        optical_ports=n_optical, port_gbps=port_gbps,
        pue=pue, pue_name=pue_name, server_design=design, notes=tuple(notes),
        figures=_figures(cluster, opts, design, pue_name),
    )


def _figures(cluster: ClusterSpec, opts: PowerOptions, design: str, pue_name: str) -> tuple[dict[str, Any], ...]:
    """Each figure the model uses, with its value, unit, verified flag and source."""
    data = presets.load("power.yaml")
    out: list[dict[str, Any]] = []

    def add(name: str, node: dict[str, Any] | None, unit: str, given: float | None = None, key: str = "value") -> None:
        if given is not None or node is None:
            out.append({"name": name, "value": given, "unit": unit, "verified": False, "source": ["given"]})
        else:
            out.append({"name": name, "value": float(node[key]), "unit": unit, "verified": bool(node["verified"]),
                        "source": list(node["source"])})

    for p in PHASES:
        add(f"gpu_{p}_fraction", data["gpu_phase_fraction"][p], "x TDP", getattr(opts, f"{p}_fraction"))
    server = next((e for e in data["server_overhead"] if e["name"] == design), None)
    add(f"server_overhead ({design})", server if opts.server_overhead_w_per_gpu is None else None, "W per GPU",
        opts.server_overhead_w_per_gpu, key="overhead_w_per_gpu")
    if server is None and opts.server_overhead_w_per_gpu is None:
        add("server_overhead_fraction_of_tdp", data["default_overhead_fraction_of_tdp"], "x TDP")
    for name in ("overhead_idle_fraction", "overhead_full_fraction"):
        add(name, data[name], "x rated overhead")
    add("switch_w", data["switch_w"].get(catalog.switch(cluster.fabric.switch).name, data["default_switch_w_per_tbps"]),
        "W per switch", opts.switch_w)
    add("switch_module_w_per_800g", data["switch_module_w_per_800g"], "W")
    add("storage_w_per_gpu", data["storage_w_per_gpu"], "W per GPU", opts.storage_w_per_gpu)
    pue = presets.load("facility.yaml")["pue"].get(pue_name)
    add(f"pue ({pue_name})", pue, "facility / IT", None if pue is not None else float(pue_name))
    return tuple(out)


def _fraction(opts: PowerOptions, phase: str) -> float:
    given = getattr(opts, f"{phase}_fraction")
    return float(given) if given is not None else presets.figure("power.yaml", "gpu_phase_fraction", phase)


def _server_overhead(gpu_name: str, tdp_w: float, data: dict[str, Any]) -> tuple[str, float]:
    for entry in data["server_overhead"]:
        if gpu_name in entry["gpus"]:
            return str(entry["name"]), float(entry["overhead_w_per_gpu"])
    ratio = presets.figure("power.yaml", "default_overhead_fraction_of_tdp")
    return f"generic ({ratio:g} x TDP)", ratio * tdp_w


def resolve_pue(pue: float | str | None, cooling: str, field: str = "power.pue") -> tuple[float, str]:
    """A PUE value and its label: a number >= 1, a preset name, or the cooling's default."""
    if pue is None:
        preset = presets.pue_preset(presets.default_pue_name(cooling), field)
        return preset.value, preset.name
    if isinstance(pue, str):
        try:
            value = float(pue)
        except ValueError:
            preset = presets.pue_preset(pue, field)
            return preset.value, preset.name
    else:
        value = float(pue)
    if not value >= 1.0:
        raise field_error(field, pue, "PUE is facility power / IT power, at least 1.0; or a preset: "
                          + ", ".join(presets.pue_names()))
    return value, f"{value:g}"


def switch_w(cluster: ClusterSpec, opts: PowerOptions | None = None) -> float:
    """Planning power of one scale-out switch without optics (unverified: hardware.md 6)."""
    if opts is not None and opts.switch_w is not None:
        return float(opts.switch_w)
    sw = catalog.switch(cluster.fabric.switch)
    table = presets.load("power.yaml")["switch_w"]
    if sw.name in table:
        return float(table[sw.name]["value"])
    return presets.figure("power.yaml", "default_switch_w_per_tbps") * sw.switching_tbps


def optics_w_per_port(port_gbps: float) -> float:
    """A switch-side optical module's power per port: 17 W per 800 Gb/s, linear in speed."""
    return presets.figure("power.yaml", "switch_module_w_per_800g") * port_gbps / 800.0


def fabric_inventory(cluster: ClusterSpec) -> Any | None:
    """The network package's switch and transceiver counts, or None when it is not installed."""
    try:
        from colossim.network.topology import fabric_inventory as build
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("colossim.network"):
            return None
        raise
    return build(cluster)


def _network(cluster: ClusterSpec, opts: PowerOptions, inventory: Any,
             notes: list[str]) -> tuple[int, float, int, int, float]:
    inv = inventory if inventory is not None else fabric_inventory(cluster)
    if inv is None:
        notes.append("network package not available: switches and their optics are left out")
        return 0, 0.0, 0, 0, float(cluster.fabric.port_gbps or cluster.nic_gbps_per_gpu)
    return (int(sum(inv.switches_per_tier)), switch_w(cluster, opts), switch_optical_ports(inv),
            int(inv.optical_ports), float(inv.port_gbps))


def switch_optical_ports(inv: Any) -> int:
    """Switch ports served by optical modules: every optical cable end but the NICs' own."""
    nic_side = 0 if getattr(inv, "dac_cables", 0) else int(inv.nics)
    return max(int(inv.optical_ports) - nic_side, 0)


def sized_fabric(cluster: ClusterSpec, num_gpus: int) -> tuple[Any | None, int]:
    """The inventory of the same design holding ``num_gpus`` GPUs, and its tier count: the
    stated tiers, or as many more (up to 3) as that many GPUs need, as a site growing past
    its spine would build. ``(None, 0)``: no fabric of this switch holds them (or the
    network package is absent: ``(None, tiers)``)."""
    for tiers in range(cluster.fabric.tiers, 4):
        sized = cluster.model_copy(update={
            "num_gpus": int(num_gpus), "gpus_per_node": min(cluster.gpus_per_node, int(num_gpus)),
            "fabric": cluster.fabric.model_copy(update={"tiers": tiers})})
        try:
            return fabric_inventory(sized), tiers
        except ColossimError as exc:
            if exc.field != "cluster.fabric.tiers":  # not a size limit: the design itself is wrong
                raise
    return None, 0


def network_w_at(cluster: ClusterSpec, num_gpus: int, model: PowerModel) -> float:
    """Network power of the same design with ``num_gpus`` GPUs (for the budget inversion;
    :func:`sized_fabric`); infinite where no fabric of this switch holds them."""
    if num_gpus <= 0:
        return 0.0
    if model.num_switches == 0 and model.switch_optics_w == 0.0:
        return 0.0
    inv, tiers = sized_fabric(cluster, num_gpus)
    if inv is None:
        return 0.0 if tiers else float("inf")
    return int(sum(inv.switches_per_tier)) * model.switch_w + switch_optical_ports(inv) * optics_w_per_port(float(inv.port_gbps))


__all__ = ["COMPONENTS", "PHASES", "PHASE_OF_TERM", "PowerModel", "fabric_inventory",
           "gpu_w_of_breakdown", "network_w_at", "power_model", "resolve_pue", "sized_fabric", "terms_of_breakdown"]
