"""What a scenario's plan draws, whether a site budget feeds it, and how many GPUs would fit.

Three levels of power, each IT and facility (= IT x PUE):

- **peak**: the steady part of a step (all pipeline stages busy), the highest sustained draw;
- **average**: the time-weighted mean over a step (what the energy bill sees);
- **nameplate**: ratings (GPUs at TDP, servers at their maximum: DGX H100 10.2 kW).

Budget inversion: the most GPUs of the scenario's kind and node design, in whole servers
(whole NVLink domains where a domain spans servers, e.g. NVL72), whose facility power at the
chosen basis fits the budget; every GPU of that cluster is assumed to train (no spares) and
its network is rebuilt by the topology for each size. Binary search: facility power grows
with the GPU count (switch counts only grow).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from colossim.energy import timeline
from colossim.energy.options import PowerOptions
from colossim.energy.power import (
    COMPONENTS,
    PowerModel,
    gpu_w_of_breakdown,
    network_w_at,
    power_model,
    sized_fabric,
    terms_of_breakdown,
)
from colossim.perf.estimate import Estimate, estimate
from colossim.scenario import ClusterSpec, Scenario

MW = 1e6


@dataclass(frozen=True)
class PowerReport:
    """Everything `colossim power` reports (W inside, MW in ``to_dict``)."""

    scenario: str
    model: PowerModel
    gpus_used: int
    step_time_s: float
    gpu_w: dict[str, float]  # per used GPU: peak, average
    components_w: dict[str, dict[str, float]]  # basis -> component -> W (IT)
    it_w: dict[str, float]  # basis -> W
    budget: dict[str, Any] | None
    swing: dict[str, float]
    events: dict[str, float]
    battery: dict[str, Any]
    step_wave: timeline.Waveform = field(repr=False)
    event_wave: timeline.Waveform = field(repr=False)
    event_grid_w: Any = field(repr=False, default=None)
    notes: list[str] = field(default_factory=list)

    def facility_w(self, basis: str) -> float:
        return self.it_w[basis] * self.model.pue

    @property
    def max_gpus_in_budget(self) -> int | None:
        return None if self.budget is None else int(self.budget["max_gpus_in_budget"])

    def to_dict(self) -> dict[str, Any]:
        m = self.model
        out: dict[str, Any] = {
            "scenario": self.scenario,
            "gpu": m.gpu,
            "num_gpus": m.num_gpus,
            "gpus_used": self.gpus_used,
            "gpus_idle": m.num_gpus - self.gpus_used,
            "pue": m.pue,
            "pue_preset": m.pue_name,
            "it_power_mw": self.it_w["peak"] / MW,
            "facility_power_mw": self.facility_w("peak") / MW,
            "it_power_avg_mw": self.it_w["average"] / MW,
            "facility_power_avg_mw": self.facility_w("average") / MW,
            "it_power_nameplate_mw": self.it_w["nameplate"] / MW,
            "facility_power_nameplate_mw": self.facility_w("nameplate") / MW,
            "max_gpus_in_budget": self.max_gpus_in_budget,
            "budget": self.budget,
            "components_mw": {b: {k: v / MW for k, v in comp.items()} for b, comp in self.components_w.items()},
            "gpu_power_w": dict(self.gpu_w),
            "server_kw": {"design": m.server_design, "gpus_per_server": m.gpus_per_server,
                          "nameplate": m.node_w() / 1e3, "peak": m.node_w(self.gpu_w["peak"]) / 1e3,
                          "average": m.node_w(self.gpu_w["average"]) / 1e3},
            "facility_w_per_gpu": {b: self.facility_w(b) / m.num_gpus for b in self.it_w},
            "network": {"switches": m.num_switches, "switch_w": m.switch_w, "switch_optics_w": m.switch_optics_w},
            "step_time_s": self.step_time_s,
            "swing": dict(self.swing),
            "events": dict(self.events),
            "battery": dict(self.battery),
            "figures": [dict(f) for f in m.figures],
            "notes": list(self.notes),
        }
        return out


def power_report(scenario: Scenario, opts: PowerOptions | None = None, *, est: Estimate | None = None,
                 model: PowerModel | None = None) -> PowerReport:
    """Power of a scenario's plan: per component, over time, against a budget."""
    opts = opts or PowerOptions()
    est = est or estimate(scenario)
    model = model or power_model(scenario.cluster, opts)
    terms = terms_of_breakdown(est.breakdown_s)
    mean_w, busy_w = (float(x) for x in gpu_w_of_breakdown(model, terms))
    used = est.gpus_used
    wave = timeline.step_waveform(model, terms, pp=int(est.plan["pp"]), vpp=int(est.plan["vpp"]), gpus_used=used)
    peak_gpu_w = max(busy_w, mean_w)
    components = {"peak": model.components_w(peak_gpu_w, used), "average": model.components_w(mean_w, used),
                  "nameplate": model.nameplate_components_w()}
    it_w = {basis: sum(comp.values()) for basis, comp in components.items()}
    for basis in components:
        components[basis] = {k: components[basis][k] for k in COMPONENTS}

    ramp = opts.ramp_mw_per_min or timeline.default_ramp_mw_per_min()
    events = timeline.event_timeline(model, mean_w, used, opts, ramp * MW / 60.0)
    ev_batt = timeline.ramp_limited_battery(events.facility_w, events.dt_s, ramp * MW / 60.0)
    battery = timeline.battery_summary(timeline.step_battery(wave), ev_batt, ramp)
    train_w = float(model.it_w(mean_w, used)) * model.pue
    event_levels = {"training_mw": train_w / MW,
                    "checkpoint_stall_mw": float(model.it_w(model.phase_w["bubble"], used)) * model.pue / MW,
                    "restart_mw": float(model.it_w(model.phase_w["idle"], used)) * model.pue / MW,
                    "checkpoint_stall_s": opts.checkpoint_stall_s, "restart_s": opts.restart_s}
    event_levels["checkpoint_dip_mw"] = event_levels["training_mw"] - event_levels["checkpoint_stall_mw"]
    event_levels["restart_dip_mw"] = event_levels["training_mw"] - event_levels["restart_mw"]
    budget = None
    if opts.budget_mw is not None:
        per_gpu = {"peak": peak_gpu_w, "average": mean_w, "nameplate": None}[opts.budget_basis]
        budget = fit_budget(scenario.cluster, model, opts.budget_mw, opts.budget_basis, per_gpu,
                            it_w[opts.budget_basis] * model.pue)
    notes = list(model.notes) + list(est.notes)
    if not est.fits_in_memory:
        notes.append("the plan does not fit in GPU memory (see `colossim estimate`); power is for its step anyway")
    return PowerReport(scenario=scenario.name, model=model, gpus_used=used, step_time_s=est.step_time_s,
                       gpu_w={"peak": peak_gpu_w, "average": mean_w}, components_w=components, it_w=it_w,
                       budget=budget, swing=timeline.swing(wave, est.step_time_s), events=event_levels, battery=battery,
                       step_wave=wave, event_wave=events, event_grid_w=ev_batt.grid_w, notes=notes)


def per_gpu_it_w(model: PowerModel, gpu_w: float | None) -> float:
    """IT power per GPU without the network: at ``gpu_w``, or the nameplate when None."""
    if gpu_w is None:
        return model.tdp_w + model.overhead_rated_w + model.storage_w
    return gpu_w + float(model.overhead_w(gpu_w)) + model.storage_w


def fit_budget(cluster: ClusterSpec, model: PowerModel, budget_mw: float, basis: str, gpu_w: float | None,
               scenario_facility_w: float) -> dict[str, Any]:
    """Whether the scenario fits ``budget_mw`` of facility power, and the most GPUs that would."""
    budget_w = budget_mw * MW
    unit = max(cluster.gpus_per_server, cluster.gpus_per_node)
    per_gpu = per_gpu_it_w(model, gpu_w)

    def facility_w(n_units: int) -> float:
        n = n_units * unit
        return model.pue * (n * per_gpu + network_w_at(cluster, n, model))

    lo, hi = 0, int(budget_w // (model.pue * per_gpu * unit)) + 1  # facility_w(hi) > budget
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if facility_w(mid) <= budget_w:
            lo = mid
        else:
            hi = mid
    fits = scenario_facility_w <= budget_w
    _, tiers = sized_fabric(cluster, lo * unit) if lo else (None, cluster.fabric.tiers)
    # the power would feed more, but no fabric of this switch holds one more server's GPUs
    fabric_limited = math.isinf(facility_w(lo + 1))
    return {
        "budget_mw": budget_mw,
        "basis": basis,
        "fits": fits,
        "needs_mw": scenario_facility_w / MW,
        "headroom_mw": (budget_w - scenario_facility_w) / MW,
        "ratio": scenario_facility_w / budget_w,
        "max_gpus_in_budget": lo * unit,
        "max_servers_in_budget": lo * unit // cluster.gpus_per_server,
        "unit_gpus": unit,
        "facility_w_per_gpu": per_gpu * model.pue,
        "gpus_at_tdp_only_mw": cluster.num_gpus * model.tdp_w / MW,
        # the fabric that many GPUs need: the scenario's tiers, or more (energy/power.py sized_fabric)
        "fabric_tiers": cluster.fabric.tiers,
        "fabric_tiers_at_max": tiers or cluster.fabric.tiers,
        "fabric_limited": fabric_limited,
    }
