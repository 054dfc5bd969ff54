"""Run a build-out and turn it into a plain record: timeline, key days, growth steps, power phases.

    from colossim.api import load_scenario
    from colossim.buildout import run_buildout
    res = run_buildout(load_scenario("examples/colossus-buildout.yaml"))
    res.to_dict()["first_training_day"], res.to_dict()["full_scale_day"]

Power by phase (issue 15, item 4): every stretch of days on one plan is one phase. Each
phase's step-scale swing and the battery that holds the grid to its ramp limit come from
:func:`colossim.energy.power_report` on the partial cluster (the same code as ``colossim
power``); the step change at a phase boundary is the jump in facility MW the grid (or the
battery) must follow when the job grows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from colossim.buildout.config import BuildoutConfig, buildout_config
from colossim.buildout.plans import Planner, ScalePlan
from colossim.buildout.schedule import rack_schedule
from colossim.buildout.simulate import Trajectory, simulate
from colossim.scenario import Scenario


@dataclass
class BuildoutResult:
    scenario: str
    config: BuildoutConfig
    traj: Trajectory
    planner: Planner
    phases: list[dict[str, Any]] = field(default_factory=list)

    @property
    def first_training_day(self) -> int | None:
        return self.traj.first_training_day

    @property
    def full_scale_day(self) -> int | None:
        return self.traj.full_scale_day

    def tokens_by_day(self, day: int | None = None) -> float:
        return self.traj.tokens_by(self.config.report_day if day is None else day)

    def day_tokens_reach(self, tokens: float) -> float | None:
        """When the job has trained ``tokens`` (days from day 0, within the day by its rate)."""
        i = self.traj.first_day("tokens_trained", tokens)
        if i is None:
            return None
        cum, today = self.traj.cols["tokens_trained"], self.traj.cols["tokens_per_day"]
        before = float(cum[i - 1]) if i > 0 else 0.0
        return float(i + (tokens - before) / today[i]) if today[i] > 0 else float(i)

    def date_of(self, day: int | None) -> str | None:
        start = self.config.start_date
        return None if start is None or day is None else str(start + dt.timedelta(days=int(day)))

    def shown_days(self) -> int:
        """Days worth showing: up to the report day and a week past the full-scale day."""
        last = max(self.config.report_day, (self.full_scale_day or self.config.horizon_days) + 7)
        return min(last, self.config.horizon_days) + 1

    def timeline(self) -> list[dict[str, Any]]:
        t, n = self.traj, self.shown_days()
        rows = []
        for i in range(n):
            row: dict[str, Any] = {"day": int(t.days[i])}
            if self.config.start_date is not None:
                row["date"] = self.date_of(i)
            for c, v in t.cols.items():
                row[c] = float(v[i]) if c.endswith(("_mw", "tokens_trained", "tokens_per_day")) else int(round(v[i]))
            row["bottleneck"] = t.bottleneck[i]
            rows.append(row)
        return rows

    def to_dict(self) -> dict[str, Any]:
        t = self.traj
        report = self.config.report_day
        return {
            "scenario": self.scenario,
            "cluster_gpus": t.full_gpus,
            "start_date": None if self.config.start_date is None else str(self.config.start_date),
            "first_training_day": self.first_training_day,
            "first_training_date": self.date_of(self.first_training_day),
            "full_scale_day": self.full_scale_day,
            "full_scale_date": self.date_of(self.full_scale_day),
            "full_scale_gpus": t.full_plan.gpus_used,
            "report_day": report,
            "tokens_by_day": self.tokens_by_day(),
            "tokens_by_day_at": report,
            "bottleneck_days": _count(t.bottleneck[: self.shown_days()]),
            "steps": [{"day": s.day, "gpus_from": s.gpus_from, "gpus_to": s.gpus_to, "cost_s": s.cost_s,
                       "plan": dict(s.plan.estimate.plan), "tokens_per_s": s.plan.tokens_per_s,
                       "ettr": s.plan.ettr} for s in t.steps],
            "plans": [p.summary() for p in self.planner_plans()],
            "searches": {"count": self.planner.searches, "seconds": self.planner.search_s,
                         "fixed": dict(self.planner.constraints.fixed)},
            "power_phases": self.phases,
            "timeline": self.timeline(),
            "notes": list(t.notes),
        }

    def planner_plans(self) -> list[ScalePlan]:
        return sorted({s.plan.gpus: s.plan for s in self.traj.steps}.values(), key=lambda p: p.gpus)


def _count(labels: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for b in labels:
        out[b] = out.get(b, 0) + 1
    return out


def power_phases(res: BuildoutResult) -> list[dict[str, Any]]:
    """One record per stretch on one plan: MW, the jump at its start, the step swing and battery."""
    from colossim.energy.site import power_report

    t = res.traj
    mw = t.cols["facility_mw"]
    out: list[dict[str, Any]] = []
    steps = [s for s in t.steps if s.gpus_to > 0]
    for i, s in enumerate(steps):
        end = steps[i + 1].day if i + 1 < len(steps) else res.shown_days()
        before = float(mw[s.day - 1]) if s.day > 0 else 0.0
        sized = res.planner.sized(s.plan.gpus)
        rep = power_report(sized, est=s.plan.estimate, model=None)
        out.append({"start_day": int(s.day), "end_day": int(end), "gpus": s.plan.gpus_used,
                    "facility_mw_mean": float(mw[s.day:end].mean()) if end > s.day else float(mw[s.day]),
                    "step_change_mw": float(mw[s.day]) - before,
                    "swing_mw": rep.swing["swing_mw"], "swing_period_s": rep.swing["period_s"],
                    "battery_mwh": rep.battery["energy_mwh"], "battery_mw": rep.battery["power_mw"],
                    "battery_units": rep.battery["units"], "battery_unit": rep.battery["unit"],
                    "battery_on_site_mw": res.config.power.battery.mw,
                    "battery_on_site_mwh": res.config.power.battery.mwh,
                    "battery_enough": (res.config.power.battery.mw >= rep.battery["power_mw"]
                                       and res.config.power.battery.mwh >= rep.battery["energy_mwh"])})
    return out


def run_buildout(scenario: Scenario, config: BuildoutConfig | None = None, *, planner: Planner | None = None,
                 phases: bool = True) -> BuildoutResult:
    """Simulate a scenario's build-out (its ``buildout:`` section, or ``config``)."""
    cfg = config if config is not None else buildout_config(scenario.sections.get("buildout"))
    total = cfg.cluster_gpus or scenario.cluster.num_gpus
    _check_fabric_holds(scenario, total, "buildout.cluster_gpus" if cfg.cluster_gpus else "cluster.num_gpus")
    racks = rack_schedule(cfg, scenario.cluster, total)
    if planner is None or not planner.serves(cfg, racks.pod_gpus):
        planner = Planner(scenario, cfg, racks.pod_gpus)
    traj = simulate(planner, racks, cfg)
    res = BuildoutResult(scenario=scenario.name, config=cfg, traj=traj, planner=planner)
    if phases:
        res.phases = power_phases(res)
    return res


def _check_fabric_holds(scenario: Scenario, gpus: int, field: str) -> None:
    """The full build fits a fabric of the scenario's switch (its tiers, or up to 3): else its
    network power, and so the power the build-out needs, would be infinite."""
    from colossim.energy.power import sized_fabric
    from colossim.errors import field_error

    inv, tiers = sized_fabric(scenario.cluster, gpus)
    if inv is None and tiers == 0:
        raise field_error(field, gpus, f"more GPUs than any fat tree of {scenario.cluster.fabric.switch} holds "
                          "(up to 3 tiers); lower it or choose a larger-radix switch (cluster.fabric.switch)")
