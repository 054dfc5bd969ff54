"""What it would take (``--target-ettr``) and what each technique buys (``--technique``).

Both read the analytic model of :mod:`colossim.reliability.target`; the answer for the
scenario's own rollback (restart from a checkpoint) is checked against the Monte Carlo of
:mod:`colossim.reliability.montecarlo` on the same job (``simulated_ettr``).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from colossim.reliability import target as tg
from colossim.reliability.job import Job
from colossim.reliability.montecarlo import simulate_lockstep
from colossim.reliability.techniques import apply, technique_names

CHECK_REPLICATIONS = 64
CHECK_FAILURES = 2000  # failures per replication in the check (a shortened run: ETTR is a rate)


def simulated_ettr(job: Job, interval_s: float, seed: int = 0, replications: int = CHECK_REPLICATIONS) -> float:
    """Mean ETTR of the Monte Carlo on ``job`` at ``interval_s`` (a run of ~2,000 failures)."""
    rate = job.unexpected_rate_per_s + job.planned_rate_per_s
    work = job.work_s if rate <= 0 else min(job.work_s, CHECK_FAILURES / rate)
    short = dataclasses.replace(job, work_s=work).with_interval(interval_s)
    return float(simulate_lockstep(short, replications, np.random.default_rng([seed, 7])).ettr().mean())


def sources(job: Job) -> dict[str, str]:
    return {"failure_rates": job.classes[0].source if job.classes else "",
            "model": "Daly 2006 complete model (FGCS 22(3)) with spares as an M/G/inf queue; docs/reliability.md",
            "recovery": "the scenario's recovery preset (reliability/data/recovery.yaml)",
            "techniques": "reliability/data/techniques.yaml"}


def target_report(job: Job, target: float, technique: str = "baseline", step_s: float = tg.DEFAULT_STEP_S,
                  seed: int = 0, check: bool = True) -> dict[str, Any]:
    """The ``target`` object of ``colossim reliability --target-ettr``."""
    tjob, rec = apply(job, technique)
    ans = tg.solve_target(tjob, target, rec, step_s)
    out = ans.to_dict()
    out["technique"] = rec.name
    out["gpus"] = job.gpus
    out["job_mttf_s"] = job.mttf_s
    out["sources"] = sources(job)
    c = out["combined"]
    if check and rec.rollback == "checkpoint" and c["reachable"] and c["checkpoint_interval_s"]:
        j = tg.with_save(tg.with_recovery(tg.with_spares(tjob, c["hot_spare_servers"]), c["detect_restart_s"]),
                         max(c["checkpoint_save_s"], 1e-6))
        c["simulated_ettr"] = simulated_ettr(j, c["checkpoint_interval_s"], seed)
    out["message"] = (f"ETTR {target:g} is reachable" if ans.reachable
                      else f"ETTR {target:g} is not reachable, the best is {ans.best_ettr:.3f}")
    out["techniques"] = technique_table(job, target, step_s)
    return out


def goal(job: Job, target: float | None, technique: str | None, step_s: float, seed: int = 0) -> dict[str, Any]:
    """What ``--target-ettr`` / ``--technique`` add to a reliability result (CLI and API alike):
    ``target`` (what it takes) when a target is given, else the ``techniques`` table."""
    name = "baseline" if technique in (None, "all") else str(technique)
    if target is not None:
        return {"target": target_report(job, target, name, step_s, seed)}
    return {"techniques": technique_table(job, None, step_s)}


def technique_table(job: Job, target: float | None, step_s: float = tg.DEFAULT_STEP_S) -> list[dict[str, Any]]:
    """Each technique at the job's own scale: its ETTR, recovery and checkpoint pause."""
    rows = []
    for name in technique_names():
        j, rec = apply(job, name)
        e, tau = tg.ettr_model(j, rec, step_s=step_s)
        rows.append({"technique": name, "ettr": e, "rollback": rec.rollback, "recovery_s": j.recovery_s,
                     "checkpoint_pause_s": j.block_s if rec.rollback == "checkpoint" else None,
                     "checkpoint_interval_s": tau if math.isfinite(tau) else None,
                     "reaches_target": None if target is None else e >= target, "source": rec.source})
    return rows


def technique_sweep(job: Job, sizes: tuple[int, ...], names: list[str] | None = None,
                    step_s: float = tg.DEFAULT_STEP_S) -> dict[str, list[float]]:
    """ETTR against scale for each technique (the analytic model on :meth:`Job.scaled`)."""
    names = names or technique_names()
    out: dict[str, list[float]] = {}
    for name in names:
        out[name] = [tg.ettr_model(*apply(job.scaled(n), name), step_s=step_s)[0] for n in sizes]
    return out
