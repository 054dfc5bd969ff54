"""The build-out day by day: racks energize, burn in, join the fabric, and the job grows.

Each day ``d`` covers ``[d, d + 1)``. In order:

1. **Training** decides on what is ready at the start of the day: GPUs burned in whose pod has
   joined the fabric, capped by the power left after the burn-in and idle loads
   (``floor((supply / PUE - other IT load) / (train - idle W per GPU))``). The job starts once
   ``min_gpus`` can train (``start: ready``) or once the whole cluster can (``start: full``);
   it grows when the ready GPUs reach ``growth_factor`` x its size or the full size, and
   shrinks when power drops below it. Each start or re-plan pays relaunch + communicator
   init (+ resharding on a re-plan) from the reliability model; a cost longer than the day
   carries over.
2. **Energize**: racks installed by the end of the day start burn-in while the supply could
   still run every energized GPU at the larger of its training and burn-in draw (an operator
   powers no more racks than the site can train, so burn-in never starves training and a
   faster delivery never delays training); burn-in draws the compute power of a busy GPU for
   ``burn_in.days``. A ``failure_fraction`` of each rack's GPUs fails
   and comes back after ``repair_days``.
3. **Facility MW**: PUE x (training + burn-in + idle IT power + the network of the energized
   part), with the energy model's per-GPU figures (average over a step).

The day's bottleneck is what keeps the job from its next plan: the earliest stage of
delivered >= installed >= energized (power) >= burned in >= ready (network) short of that
plan's GPUs, or power when the supply caps the ready GPUs; growth when the next plan would
fit but the job has not moved; ``none`` once the full-scale plan runs.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from colossim import gate
from colossim.buildout.config import BuildoutConfig
from colossim.buildout.plans import Planner, ScalePlan
from colossim.buildout.schedule import RackSchedule, supply_mw
from colossim.energy.power import network_w_at
from colossim.errors import ColossimError

DAY_S = 86400.0
MAX_LADDER_SIZES = 1_000  # plan searches of the growth ladder (each ~0.01 s with tp, cp, ep fixed)
STAGES = ("delivery", "install", "power", "burn-in", "network", "growth")
COLUMNS = ("gpus_delivered", "gpus_installed", "gpus_energized", "gpus_burned_in", "gpus_ready", "gpus_training",
           "gpus_idle", "power_available_mw", "facility_mw", "tokens_per_day", "tokens_trained")


@dataclass
class Step:
    day: int
    gpus_from: int
    gpus_to: int
    cost_s: float
    plan: ScalePlan


@dataclass
class Trajectory:
    """Day-by-day arrays (one entry per day) and the job's growth steps."""

    days: np.ndarray
    cols: dict[str, np.ndarray]
    bottleneck: list[str]
    steps: list[Step]
    full_gpus: int
    full_plan: ScalePlan
    notes: list[str] = field(default_factory=list)

    def first_day(self, column: str, at_least: float) -> int | None:
        hit = np.nonzero(self.cols[column] >= at_least)[0]
        return int(self.days[hit[0]]) if len(hit) else None

    @property
    def first_training_day(self) -> int | None:
        return self.first_day("gpus_training", 1)

    @property
    def full_scale_day(self) -> int | None:
        return self.first_day("gpus_training", self.full_plan.gpus_used)

    def tokens_by(self, day: int) -> float:
        i = min(int(day), len(self.days) - 1)
        return float(self.cols["tokens_trained"][i])


class _Load:
    """Facility power of a day's mix (W): PUE x (per-GPU IT loads + network of the energized part)."""

    def __init__(self, planner: Planner, cluster: Any) -> None:
        self.p = planner
        self.cluster = cluster
        self._net: dict[int, float] = {}

    def network_w(self, energized: int) -> float:
        q = self.p.quantum
        k = energized if energized < q else -(-energized // q) * q  # whole pods' switches
        if k not in self._net:
            self._net[k] = network_w_at(self.cluster, k, self.p.power)
        return self._net[k]

    def facility_w(self, train: int, train_w: float, burning: float, energized: float) -> float:
        p = self.p
        it = train * train_w + burning * p.burn_in_it_w + max(energized - train - burning, 0.0) * p.idle_it_w
        return p.power.pue * (it + self.network_w(int(energized)))


def simulate(planner: Planner, racks: RackSchedule, cfg: BuildoutConfig) -> Trajectory:
    horizon = cfg.horizon_days
    days = np.arange(horizon + 1)
    supply = supply_mw(cfg, days.astype(float)) * 1e6
    full_plan = planner.plan(racks.total_gpus)
    if full_plan is None:
        raise ColossimError(f"buildout: no training plan fits {racks.total_gpus:,} GPUs (the full build); "
                            "check the scenario with colossim search", field="buildout")
    load = _Load(planner, planner.scenario.cluster)
    per_gpu_max_w = planner.power.pue * max(full_plan.train_it_w_per_gpu, planner.burn_in_it_w)
    rungs = ladder(planner, cfg, full_plan)
    fail = cfg.burn_in.failure_fraction
    joined = racks.rack_joined_d()
    ready_add = np.zeros(horizon + 2)
    burn_add = np.zeros(horizon + 2)
    burn_end = np.zeros(horizon + 2)
    rep_end = np.zeros(horizon + 2)

    def at(t: float, day: int) -> int:  # the first day index to see an event at time t (scheduled on ``day``)
        return min(max(math.ceil(t - 1e-9), day + 1), horizon + 1)

    cols = {c: np.zeros(horizon + 1) for c in COLUMNS}
    bottleneck: list[str] = []
    steps: list[Step] = []
    delivered = np.searchsorted(np.sort(racks.delivered_d), days + 1.0, side="left")
    inst_count = np.searchsorted(np.sort(racks.installed_d), days + 1.0, side="left")
    cum_gpus = np.concatenate([[0], np.cumsum(racks.rack_gpus)])
    order = np.argsort(racks.installed_d, kind="stable")  # energize in install order
    energized = int(racks.existing.sum())  # racks energized (in install order): those in service before day 0
    energized_gpus = ready = float(racks.rack_gpus[racks.existing].sum())
    burning = in_repair = 0.0
    job: ScalePlan | None = None
    owed_s = 0.0
    tokens = 0.0
    ever_ready_min = False
    for d in range(horizon + 1):
        ready += ready_add[d]
        burning += burn_add[d] - burn_end[d]
        in_repair += fail * burn_end[d] - rep_end[d]
        other_w = load.facility_w(0, 0.0, burning, energized_gpus)
        # 1. training: the plans whose GPUs are ready and whose draw the supply holds
        fits = functools.partial(_fits, ready=ready, free_w=float(supply[d] - other_w), idle_w=planner.idle_it_w,
                                 pue=planner.power.pue)
        per = (full_plan.train_it_w_per_gpu - planner.idle_it_w) * planner.power.pue
        cap = max(0.0, (supply[d] - other_w) / per) if per > 0 else ready
        ever_ready_min |= ready >= min_gpus(cfg, full_plan)
        job, cost = _decide(cfg, job, fits, d, steps, rungs)
        owed_s += cost
        train = job.gpus_used if job else 0
        if job:
            secs = max(0.0, DAY_S - owed_s)
            owed_s = max(0.0, owed_s - DAY_S)
            today = job.tokens_per_s * secs * job.ettr
        else:
            today = 0.0
        tokens += today
        # 2. energize installed racks while the supply could still run every energized GPU at
        #    the larger of its training and burn-in draw (so burn-in never starves training)
        due = int(inst_count[d]) - energized
        new = max(0, min(int(max(supply[d] / per_gpu_max_w - energized_gpus, 0.0) // racks.gpus_per_rack), due))
        while new > 0 and ((energized_gpus + new * racks.gpus_per_rack) * per_gpu_max_w
                           + planner.power.pue * load.network_w(int(energized_gpus) + new * racks.gpus_per_rack)
                           > supply[d]):
            new -= 1
        for r in order[energized:energized + new]:
            g = float(racks.rack_gpus[r])
            start = max(float(racks.installed_d[r]), float(d))
            done = start + cfg.burn_in.days
            burn_add[at(start, d)] += g
            burn_end[at(done, d)] += g
            ready_add[at(max(done, joined[r]), d)] += g * (1.0 - fail)
            ready_add[at(max(done + cfg.burn_in.repair_days, joined[r]), d)] += g * fail
            rep_end[at(done + cfg.burn_in.repair_days, d)] += g * fail
        new_gpus = float(racks.rack_gpus[order[energized:energized + new]].sum())
        energized += new
        energized_gpus += new_gpus
        burning_end = burning + new_gpus
        # 3. the day's record
        row = {"gpus_delivered": cum_gpus[min(int(delivered[d]), racks.num_racks)],
               "gpus_installed": cum_gpus[min(int(inst_count[d]), racks.num_racks)],
               "gpus_energized": energized_gpus, "gpus_burned_in": energized_gpus - burning_end - in_repair,
               "gpus_ready": ready, "gpus_training": train, "gpus_idle": max(energized_gpus - train - burning_end, 0.0),
               "power_available_mw": supply[d] / 1e6,
               "facility_mw": load.facility_w(train, job.train_it_w_per_gpu if job else 0.0, burning_end,
                                              energized_gpus) / 1e6,
               "tokens_per_day": today, "tokens_trained": tokens}
        for c, v in row.items():
            cols[c][d] = v
        bottleneck.append(_bottleneck(row, racks.total_gpus, train >= full_plan.gpus_used, cap,
                                      next_rung(rungs, train, cfg.training.growth_factor)))
    traj = Trajectory(days=days, cols=cols, bottleneck=bottleneck, steps=steps, full_gpus=racks.total_gpus,
                      full_plan=full_plan)
    if traj.first_training_day is None:
        _never_trains(cfg, traj, ever_ready_min, planner)
    if traj.full_scale_day is None:
        traj.notes.append(f"the full-scale plan ({full_plan.gpus_used:,} GPUs) never runs within {horizon} days "
                          f"(last bottleneck: {bottleneck[-1]})")
    return traj


def min_gpus(cfg: BuildoutConfig, full: ScalePlan) -> int:
    """The smallest job: ``training.min_gpus``, or by default the smaller of its default
    (16,384) and the full-scale plan (a small cluster trains on what it has)."""
    t = cfg.training
    return t.min_gpus if "min_gpus" in t.model_fields_set else min(t.min_gpus, full.gpus_used)


def ladder(planner: Planner, cfg: BuildoutConfig, full: ScalePlan) -> list[ScalePlan]:
    """The plans the job may run: searched at min_gpus x growth_factor^k (whole pods) and at
    the full size; one per GPU count used (the faster where two use as many), ascending."""
    t = cfg.training
    sizes: list[int] = []
    n = float(min_gpus(cfg, full))
    while (size := planner.key(int(n))) < full.gpus:
        sizes.append(size)
        gate.check_budget("the growth ladder", len(sizes), MAX_LADDER_SIZES, field="buildout.training.growth_factor",
                          unit="plan searches", fix=f"raise growth_factor ({t.growth_factor!r}) or training.min_gpus")
        # a factor too small to reach the next size (a pod, or one more GPU below a pod) steps to it:
        # each size once, not millions of steps at growth_factor 1.0000001
        n = max(n * t.growth_factor, float(size + (planner.quantum if size >= planner.quantum else 1)))
    best: dict[int, ScalePlan] = {full.gpus_used: full}
    for size in sizes:
        p = planner.plan(size)
        if p is None or p.gpus_used > full.gpus_used:
            continue
        if p.gpus_used not in best or p.tokens_per_s > best[p.gpus_used].tokens_per_s:
            best[p.gpus_used] = p
    return [best[k] for k in sorted(best)]


def _fits(plan: ScalePlan, *, ready: float, free_w: float, idle_w: float, pue: float) -> bool:
    """The plan's GPUs are ready and the supply left holds their draw above idle."""
    return plan.gpus_used <= ready and plan.gpus_used * (plan.train_it_w_per_gpu - idle_w) * pue <= free_w + 1e-6


def _decide(cfg: BuildoutConfig, job: ScalePlan | None, fits: Callable[[ScalePlan], bool], day: int,
            steps: list[Step], rungs: list[ScalePlan]) -> tuple[ScalePlan | None, float]:
    """Start, grow, shrink or keep the job; returns it and the restart cost paid today (s).

    The job runs the largest rung that fits (ready GPUs and power; with ``start: full``, only
    the full-scale plan); it grows only by ``growth_factor`` or to the full plan, shrinks (or
    stops) when its own plan no longer fits. A start pays relaunch + communicator init, a
    re-plan also the resharding."""
    allowed = rungs[-1:] if cfg.training.start == "full" else rungs
    reach = [p for p in allowed if fits(p)]
    if job is not None and fits(job):
        bigger = [p for p in reach if p is rungs[-1] or p.gpus_used >= job.gpus_used * cfg.training.growth_factor - 1e-9]
        reach = [p for p in bigger if p.gpus_used > job.gpus_used]
        if not reach:
            return job, 0.0
    if not reach:
        if job is not None:
            steps.append(Step(day, job.gpus_used, 0, 0.0, job))
        return None, 0.0
    new = reach[-1]
    cost = new.restart_s if job is None else new.restart_s + new.reshard_s
    steps.append(Step(day, 0 if job is None else job.gpus_used, new.gpus_used, cost, new))
    return new, cost


def next_rung(rungs: list[ScalePlan], training: int, growth: float) -> int:
    """GPUs of the plan the job would grow to next (the smallest when it has not started)."""
    if training <= 0:
        return rungs[0].gpus_used
    ahead = [p.gpus_used for p in rungs if p.gpus_used > training
             and (p is rungs[-1] or p.gpus_used >= training * growth - 1e-9)]
    return min(ahead) if ahead else rungs[-1].gpus_used


def _bottleneck(row: dict[str, float], total: int, full: bool, cap: float, target: int) -> str:
    """What keeps the job from its next plan (``target`` GPUs): the earliest stage of the chain
    delivered >= installed >= energized >= burned in >= ready whose count is short of it
    (energized: power), or power when the supply caps the ready GPUs below it; growth when
    the next plan would fit but the job has not moved yet."""
    if full:
        return "none"
    ready = row["gpus_ready"]
    if min(ready, cap) >= target:
        return "growth"
    chain = (("delivery", row["gpus_delivered"]), ("install", row["gpus_installed"]),
             ("power", row["gpus_energized"]), ("burn-in", row["gpus_burned_in"]), ("network", ready))
    for stage, count in chain:
        if count < target:
            return stage
    return "power"  # every stage holds the target: the supply caps training


def _never_trains(cfg: BuildoutConfig, traj: Trajectory, ready_enough: bool, planner: Planner) -> None:
    t = cfg.training
    need = min_gpus(cfg, traj.full_plan) if t.start == "ready" else traj.full_gpus
    if ready_enough or traj.cols["gpus_installed"][-1] >= need:
        p = planner.power
        per_w = max(traj.full_plan.train_it_w_per_gpu, planner.burn_in_it_w)  # burn in, then train
        mw = p.pue * (need * per_w + network_w_at(planner.scenario.cluster, need, p)) / 1e6
        raise ColossimError(
            f"buildout.power: never suffices: by day {cfg.horizon_days} the site offers "
            f"{traj.cols['power_available_mw'][-1]:.1f} MW, and {need:,} training GPUs need about "
            f"{mw:.1f} MW of facility power with their network (raise the grid or on-site levels)",
            field="buildout.power", allowed="more MW")
    raise ColossimError(
        f"buildout.delivery: only {traj.full_gpus:,} GPUs are delivered, fewer than the {need:,} the job needs to "
        f"start ({'training.min_gpus' if t.start == 'ready' else 'the full cluster'})", field="buildout.delivery")
