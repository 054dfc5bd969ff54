"""Goodput analysis: choose the checkpoint interval, simulate, summarize; sweep the scale.

    from colossim.api import load_scenario
    from colossim.reliability import analyze, sweep_gpus
    res = analyze(load_scenario("examples/grok1-colossus-100k.yaml"))
    res.to_dict()["ettr"]          # {"mean": ..., "p10": ..., "p50": ..., "p90": ...}
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from colossim.reliability.checkpoint import ANALYTIC_POLICIES, daly_interval, young_interval
from colossim.reliability.config import ReliabilityConfig, reliability_config
from colossim.reliability.job import Job, build_job
from colossim.reliability.montecarlo import MAX_WALL_FACTOR, simulate_lockstep
from colossim.reliability.runs import SECONDS_PER_DAY, RunArrays, lost_gpu_hours, stats
from colossim.scenario import Scenario

Engine = Literal["vectorized", "events"]
DEFAULT_SIZES = (1024, 2048, 4096, 8192, 16384, 32768, 65536, 100000, 131072, 200000)
SEARCH_FACTORS = 2.0 ** np.linspace(-2.0, 2.0, 17)  # candidates around Daly's interval
SEARCH_REPLICATIONS = 64
SEARCH_FAILURES = 400  # failures per replication in the search (a shortened run: ETTR is a rate)


@dataclass(frozen=True)
class IntervalChoice:
    policy: str
    interval_s: float
    search: dict[str, Any] | None = None  # candidates and their mean ETTR (policy simulate)


def simulated_interval(job: Job, seed: int = 0, replications: int = SEARCH_REPLICATIONS) -> IntervalChoice:
    """The interval with the best simulated ETTR: candidates from Daly/4 to 4 x Daly on a
    shortened run (about 400 failures), all on the same random streams; the optimum is
    refined by a parabola through the best candidate and its neighbours (in log interval)."""
    base = daly_interval(job.block_s, job.mttf_s)
    cands = base * SEARCH_FACTORS
    if job.async_save:
        cands = np.unique(np.maximum(cands, job.save_s))
    rate = job.unexpected_rate_per_s + job.planned_rate_per_s
    short = job if rate <= 0 else _with_work(job, min(job.work_s, SEARCH_FAILURES / rate))
    runs = simulate_lockstep(short, replications, np.random.default_rng([seed, 1]), intervals_s=cands)
    ettr = runs.ettr().reshape(len(cands), replications).mean(axis=1)
    best = int(np.argmax(ettr))
    tau = float(cands[best])
    if 0 < best < len(cands) - 1:
        x, y = np.log(cands[best - 1:best + 2]), ettr[best - 1:best + 2]
        a, b, _ = np.polyfit(x, y, 2)
        if a < 0:
            tau = float(np.exp(np.clip(-b / (2 * a), x[0], x[2])))
    search = {"candidates_min": (cands / 60.0).tolist(), "ettr_mean": ettr.tolist(),
              "replications": replications, "failures_per_replication": SEARCH_FAILURES}
    return IntervalChoice("simulate", tau, search)


def _with_work(job: Job, work_s: float) -> Job:
    import dataclasses

    return dataclasses.replace(job, work_s=work_s)


def choose_interval(job: Job, interval: str | float, seed: int = 0) -> IntervalChoice:
    """Resolve a policy name (young, daly, simulate) or a fixed number of minutes."""
    if isinstance(interval, (int, float)):
        return IntervalChoice("fixed", float(interval) * 60.0)
    if not math.isfinite(job.mttf_s):  # only planned stops: they checkpoint anyway
        return IntervalChoice(interval, job.work_s)
    if interval == "simulate":
        return simulated_interval(job, seed)
    return IntervalChoice(interval, ANALYTIC_POLICIES[interval](job.block_s, job.mttf_s, job.recovery_s))


def run(job: Job, replications: int, seed: int, engine: Engine = "vectorized") -> RunArrays:
    if engine == "events":
        from colossim.reliability.events import simulate_events
        from colossim.reliability.montecarlo import check_work

        check_work(job, replications, engine="events")
        return simulate_events(job, replications, seed)
    return simulate_lockstep(job, replications, seed)


@dataclass
class ReliabilityResult:
    """A job, its checkpoint interval, and the simulated runs (plain record out)."""

    job: Job
    choice: IntervalChoice
    runs: RunArrays
    seed: int
    engine: str
    config: ReliabilityConfig
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The headline numbers (one row of the scale sweep)."""
        job, r = self.job, self.runs
        return {
            "gpus": job.gpus,
            "interruptions_per_day": {**stats(r.interruptions_per_day()),
                                      "expected": job.unexpected_rate_per_s * SECONDS_PER_DAY},
            "job_mttf_h": {**stats(r.mttf_h()), "expected": job.mttf_s / 3600.0},
            "checkpoint_interval_min": self.choice.interval_s / 60.0,
            "ettr": stats(r.ettr()),
            "goodput": stats(r.goodput()),
            "days_to_train": stats(r.days()),
            "finished_fraction": float(r.finished.mean()),
        }

    def per_run(self) -> dict[str, list[Any]]:
        """One entry per replication (``--per-run``)."""
        r = self.runs
        lost = (r.wall - r.work_done) * self.job.gpus / 3600.0
        return {"ettr": r.ettr().tolist(), "goodput": r.goodput().tolist(), "days_to_train": r.days().tolist(),
                "wall_days": (r.wall / SECONDS_PER_DAY).tolist(), "interruptions": r.n_unexpected.tolist(),
                "planned": r.n_planned.tolist(), "job_mttf_h": r.mttf_h().tolist(),
                "lost_gpu_hours": lost.tolist(), "finished": r.finished.tolist()}

    def to_dict(self, per_run: bool = False) -> dict[str, Any]:
        job, r, cfg = self.job, self.runs, self.config
        rates = job.class_rates_per_s * SECONDS_PER_DAY
        fp = job.footprint
        out = {"scenario": job.name, "seed": self.seed, "replications": r.replications, "engine": self.engine,
               **self.summary()}
        out.update({
            "planned_per_day": {**stats(r.planned_per_day()), "expected": job.planned_rate_per_s * SECONDS_PER_DAY},
            "ideal_days": job.work_s / SECONDS_PER_DAY,
            "servers": job.servers,
            "checkpoint": {
                "policy": self.choice.policy, "interval_min": self.choice.interval_s / 60.0,
                "young_interval_min": young_interval(job.block_s, job.mttf_s) / 60.0 if math.isfinite(job.mttf_s) else None,
                "daly_interval_min": daly_interval(job.block_s, job.mttf_s) / 60.0 if math.isfinite(job.mttf_s) else None,
                "mode": "async" if job.async_save else "sync", "size_tb": job.checkpoint_bytes / 1e12,
                "save_s": job.save_s, "load_s": job.reload_s, "blocking_s": job.block_s,
                "storage": cfg.checkpoint.storage, "search": self.choice.search,
            },
            "recovery": {
                "preset": cfg.recovery.preset, "detect_s": job.detect_s, "restart_s": job.restart_s,
                "comm_init_s": job.comm_init_s, "reload_s": job.reload_s, "total_s": job.recovery_s,
            },
            "spares": {"servers": job.spare_servers, "when_exhausted": "shrink" if job.shrink else "wait",
                       "expected_in_repair": expected_in_repair(job),
                       "mean_wait_h": float(r.spare_wait.mean()) / 3600.0},
            "stragglers": {"slow_server_fraction": job.slow_server_fraction, "slowdown": job.slowdown,
                           "probability": job.straggler_probability},
            "failure_preset": cfg.failure_preset,
            "rates": [{"class": c.name, "unit": c.unit, "units": fp.units(c.unit),
                       "rate_per_unit_day": c.rate_per_unit_day, "job_rate_per_day": float(rates[i]),
                       "repair_h": c.repair_h, "takes_server": c.takes_server, "planned": c.planned,
                       "interruptions_per_run": float(r.class_count[i]) / r.replications, "source": c.source}
                      for i, c in enumerate(job.classes)],
            "lost_gpu_hours": lost_gpu_hours(r, job.gpus, tuple(c.name for c in job.classes)),
            "time_share": {k: float(getattr(r, k).sum() / r.wall.sum())
                           for k in ("kept", "lost", "checkpoint", "planned_save", "detect", "spare_wait",
                                     "restart", "reload")},
            "notes": list(self.notes),
            "warning": spares_warning(job, float(r.ettr().mean())),
        })
        if per_run:
            out["runs"] = self.per_run()
        return out


def expected_in_repair(job: Job) -> float:
    """Servers in repair on average (Little's law: failure rate x repair time), from the
    server-taking failures of the job's own servers."""
    return float((job.class_rates_per_s * job.repair_s() * job.takes_server_mask()).sum())


LOW_ETTR = 0.5
# per-job failure classes (software, planned) above this share of the lost GPU-hours are noted:
# their rates are one job's (Llama 3's 16,384 GPUs), not a rate per GPU
PER_JOB_NOTE_SHARE = 0.5


def spares_warning(job: Job, ettr: float) -> str | None:
    """The one line a user must read first: ETTR below 0.5 because no hot spare is left, so
    every server failure waits for its repair; None otherwise."""
    if ettr >= LOW_ETTR or job.spare_servers > 0 or job.shrink:
        return None
    repair = [c.repair_h for c in job.classes if c.takes_server and c.repair_h]
    wait = f" (~{min(repair):.0f}-{max(repair):.0f} h)" if repair else ""
    left = int(job.shrunk_dp(1))
    shrink = ("reliability.spares.when_exhausted: shrink" if left >= 0.75 * job.dp else
              f"reliability.spares.when_exhausted: shrink (here one missing server takes data parallelism from "
              f"{job.dp:,} to {left:,}: expert-parallel groups of {job.dp_granule:,})")
    return (f"ETTR {ettr:.3f}: no hot spare servers are left (the job uses all {job.servers:,}), so every server "
            f"failure waits for its repair{wait}; set {shrink}, or leave servers "
            "idle as spares (a smaller parallel.dp, or reliability.spares.servers on a larger cluster)")


def _notes(job: Job, runs: RunArrays) -> list[str]:
    notes = list(job.notes)
    in_repair = expected_in_repair(job)
    # with no spare and no shrinking, job.notes already says that every server failure waits
    if job.spare_servers < in_repair and (job.spare_servers > 0 or job.shrink):
        # Little's law gives the mean number in repair: less than one beyond the pool, the job
        # runs short only part of the time
        how = "often" if in_repair - job.spare_servers >= 1.0 else "at times"
        notes.append(f"the spare pool ({job.spare_servers:,} servers) is smaller than the {in_repair:.2g} servers "
                     f"in repair on average: the job {how} runs short ({'shrinks' if job.shrink else 'waits'})")
    per_job = [c.name for c in job.classes if c.unit == "job"]
    lost = lost_gpu_hours(runs, job.gpus, tuple(c.name for c in job.classes))
    share = sum(lost["by_cause"][n] for n in per_job) / lost["total"] if lost["total"] > 0 else 0.0
    if share > PER_JOB_NOTE_SHARE:
        notes.append(f"{share:.0%} of the lost GPU-hours come from per-job classes ({', '.join(per_job)}), charged at "
                     f"the preset's measured rate whatever the job's size; for {job.gpus:,} GPUs that is likely "
                     "pessimistic (docs/reliability.md; --rate software=... sets your own)")
    unfinished = 1.0 - float(runs.finished.mean())
    if unfinished > 0:
        notes.append(f"{unfinished:.1%} of replications did not finish: stopped once they could no longer finish "
                     f"within {MAX_WALL_FACTOR:g}x the failure-free time or {MAX_WALL_FACTOR:g} repair turnarounds past "
                     "it (their ETTR covers the time simulated)")
    if job.mttf_s < job.recovery_s:
        notes.append(f"the job's MTTF ({job.mttf_s / 60:.1f} min) is shorter than one recovery "
                     f"({job.recovery_s / 60:.1f} min): most recoveries are themselves interrupted")
    return notes


def analyze(scenario: Scenario, config: ReliabilityConfig | None = None, *, engine: Engine = "vectorized",
            job: Job | None = None) -> ReliabilityResult:
    """Simulate a scenario's whole training run ``config.replications`` times."""
    cfg = config if config is not None else reliability_config(scenario.sections.get("reliability"))
    job = job if job is not None else build_job(scenario, cfg)
    choice = choose_interval(job, cfg.checkpoint.interval, cfg.seed)
    job = job.with_interval(choice.interval_s)
    runs = run(job, cfg.replications, cfg.seed, engine)
    return ReliabilityResult(job=job, choice=choice, runs=runs, seed=cfg.seed, engine=engine, config=cfg,
                             notes=_notes(job, runs))


def sweep_gpus(scenario: Scenario, config: ReliabilityConfig | None = None,
               sizes: tuple[int, ...] = DEFAULT_SIZES) -> list[ReliabilityResult]:
    """The same job at each size (throughput per GPU, spare share and storage kept; see
    :meth:`Job.scaled`), each with its own interval under the configured policy."""
    cfg = config if config is not None else reliability_config(scenario.sections.get("reliability"))
    base = build_job(scenario, cfg)
    jobs = [base.scaled(n) for n in sizes]
    _check_total(jobs, cfg.replications)
    return [analyze(scenario, cfg, job=j) for j in jobs]


def _check_total(jobs: list[Job], replications: int) -> None:
    """All sizes together within the gate's time budget, before the first one runs."""
    from colossim import gate
    from colossim.reliability.montecarlo import estimated_s

    seconds = sum(estimated_s(j, replications)[1] for j in jobs)
    gate.check_budget(f"the Monte Carlo over {len(jobs)} sizes", seconds, gate.MAX_SIMULATION_S,
                      field="reliability.replications", unit="s",
                      fix="use fewer sizes (--sizes), fewer replications or lower failure rates")
