"""What it takes to reach a target ETTR: recovery time, checkpoint save and interval, hot spares.

**The model** (analytic, deterministic, so a solver can bisect on it; the Monte Carlo checks
the answer). Unexpected interruptions arrive as a Poisson process of mean gap ``M`` (the
job's MTTF); each costs a recovery ``R`` = detection + relaunch + communicator init + reload
+ the expected wait for a spare. Then, by rollback:

- ``checkpoint`` (restart from the last durable checkpoint): Daly 2006's complete model,
  ``ETTR = tau / (M e^(R/M) (e^((tau + delta)/M) - 1))`` at the interval that maximizes it
  (``daly_exact_interval``), ``delta`` the training pause per checkpoint;
- ``step`` (resume at the failed step, e.g. hot-spare swap, elastic DP): each failure redoes
  half a step on average, and failures during a recovery restart it, so
  ``ETTR = exp(-(R + step/2) / M)`` (Daly's model as tau, delta -> 0).

Planned stops multiply by ``1 - planned rate x (save + relaunch + reload)``.

**Spares.** Servers in repair form an M/G/infinity queue: their number is Poisson with mean
``m = sum over server-taking classes of rate x repair time`` (exact for any repair-time
distribution). A failure finds no spare when ``N >= S``; it then waits for the
``(N + 1 - S)``-th of ``N + 1`` returns, about ``r (N + 1 - S) / (N + 2)`` for a mean repair
time ``r`` (residual times spread evenly). With ``shrink`` there is no wait; the job runs
``E[(N - S)+] x replicas per server / dp`` short instead. Both are monotone in ``S``, so more
spares never lower the ETTR.

Left out: correlated failures, stragglers (goodput, not ETTR), failures of the checkpoint
writer itself, and the throughput cost of asynchronous writes.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from colossim.reliability.checkpoint import daly_exact_interval, daly_expected_wall_s
from colossim.reliability.job import Job
from colossim.reliability.techniques import Recovery

BASELINE = Recovery("baseline", "checkpoint", False, "the scenario's own settings", "the scenario")
SOLVE_ITERATIONS = 60


def _servers_in_repair(job: Job) -> tuple[float, float]:
    """(mean servers in repair m, mean repair time r in s) of the server-taking failures."""
    rates = job.class_rates_per_s * job.takes_server_mask()
    lam = float(rates.sum())
    m = float((rates * job.repair_s()).sum())
    return m, (m / lam if lam > 0 else 0.0)


def _poisson_tail(m: float, spares: int) -> tuple[np.ndarray, np.ndarray]:
    """Values n >= spares with non-negligible probability, and their Poisson(m) probabilities."""
    hi = int(m + 12.0 * math.sqrt(m + 1.0) + 30)
    n = np.arange(spares, max(hi, spares) + 1)
    if m <= 0:
        return n, (n == 0).astype(float)
    logs = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, n[-1] + 1)))])  # log n!
    return n, np.exp(n * math.log(m) - m - logs[n])


def spare_wait_s(job: Job) -> float:
    """Expected wait for a spare per unexpected interruption (0 with shrink or no shortage)."""
    if job.shrink:
        return 0.0
    m, r = _servers_in_repair(job)
    if m <= 0:
        return 0.0
    n, p = _poisson_tail(m, job.spare_servers)
    wait = float((p * r * (n + 1 - job.spare_servers) / (n + 2)).sum())
    rates = job.class_rates_per_s
    take_share = float((rates * job.takes_server_mask() * ~job.planned_mask).sum()) / max(job.unexpected_rate_per_s, 1e-300)
    return take_share * wait


def shrink_fraction(job: Job) -> float:
    """Share of throughput lost to missing replicas (shrink mode)."""
    if not job.shrink:
        return 0.0
    m, _ = _servers_in_repair(job)
    n, p = _poisson_tail(m, job.spare_servers)
    left = job.shrunk_dp(n - job.spare_servers)
    # a shortage no granule survives waits instead (counted as all of the job lost here)
    return min(1.0, float((p * (1.0 - left / max(job.dp, 1))).sum()))


DEFAULT_STEP_S = 10.0  # a step redone after a step-rollback failure, when the caller gives none


def ettr_model(job: Job, recovery: Recovery = BASELINE, *, interval_s: float | None = None,
               step_s: float = DEFAULT_STEP_S) -> tuple[float, float]:
    """(ETTR, checkpoint interval in s) of a long run under the analytic model above."""
    m = job.mttf_s
    planned = job.planned_rate_per_s * (job.save_s + job.restart_total_s + job.reload_s)
    keep = max(0.0, 1.0 - planned) * (1.0 - shrink_fraction(job))
    if not math.isfinite(m):
        return keep, job.work_s
    r = job.recovery_s + spare_wait_s(job)
    if recovery.rollback == "step":
        return keep * math.exp(-(r + step_s / 2.0) / m), math.nan
    delta = job.block_s
    tau = interval_s if interval_s is not None else daly_exact_interval(delta, m, r)
    if job.async_save:
        tau = max(tau, job.save_s)
    wall = daly_expected_wall_s(1.0, tau, delta, m, r)
    return (keep / wall if math.isfinite(wall) and wall > 0 else 0.0), tau


# ---- the levers ----------------------------------------------------------------------------

def with_recovery(job: Job, detect_restart_s: float) -> Job:
    """The job with detection + relaunch + communicator init totalling ``detect_restart_s``
    (split in the job's own proportions)."""
    now = job.detect_s + job.restart_total_s
    f = detect_restart_s / now if now > 0 else 0.0
    return dataclasses.replace(job, detect_s=job.detect_s * f, restart_s=job.restart_s * f,
                               comm_init_ref_s=job.comm_init_ref_s * f,
                               classes=tuple(c if c.detect_s is None else dataclasses.replace(c, detect_s=c.detect_s * f)
                                             for c in job.classes))


def with_save(job: Job, save_s: float) -> Job:
    """The job whose checkpoint pause is ``save_s`` (a synchronous save at that speed)."""
    return dataclasses.replace(job, async_save=False, save_bps=job.checkpoint_bytes / max(save_s, 1e-9))


def with_spares(job: Job, spares: int) -> Job:
    return dataclasses.replace(job, spare_servers=int(spares))


def _largest(ok: Any, lo: float, hi: float) -> float:
    """Largest x in [lo, hi] with ok(x), ok monotone decreasing in x, ok(lo) true."""
    if ok(hi):
        return hi
    for _ in range(SOLVE_ITERATIONS):
        mid = 0.5 * (lo + hi)
        if ok(mid):
            lo = mid
        else:
            hi = mid
    return lo


def _spare_bound(job: Job) -> int:
    m, _ = _servers_in_repair(job)
    return int(m + 12.0 * math.sqrt(m + 1.0) + 30)


def smallest_spares(job: Job, ok: Any) -> int | None:
    hi = _spare_bound(job)
    if not ok(with_spares(job, hi)):
        return None
    lo = 0
    if ok(with_spares(job, lo)):
        return 0
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(with_spares(job, mid)):
            hi = mid
        else:
            lo = mid
    return hi


@dataclass
class TargetAnswer:
    target: float
    baseline_ettr: float
    alone: dict[str, Any]
    combined: dict[str, Any]
    reachable: bool
    best_ettr: float

    def to_dict(self) -> dict[str, Any]:
        a, c = self.alone, self.combined
        return {"ettr": self.target, "baseline_ettr": self.baseline_ettr, "reachable": self.reachable,
                "best_ettr": self.best_ettr,
                "max_recovery_s": a["max_recovery_s"], "checkpoint_save_s": a["checkpoint_save_s"],
                "checkpoint_interval_s": a["checkpoint_interval_s"], "hot_spare_servers": a["hot_spare_servers"],
                "alone": a, "combined": c}


def solve_target(job: Job, target: float, recovery: Recovery = BASELINE, step_s: float = DEFAULT_STEP_S) -> TargetAnswer:
    """Each lever alone (the others as configured), then all three scaled together."""
    def ettr(j: Job) -> float:
        return ettr_model(j, recovery, step_s=step_s)[0]

    def ok(j: Job) -> bool:
        return ettr(j) >= target

    base = ettr(job)
    rec0 = job.detect_s + job.restart_total_s
    alone: dict[str, Any] = {"baseline": {"detect_restart_s": rec0, "checkpoint_save_s": job.block_s,
                                          "hot_spare_servers": job.spare_servers}}
    cap = max(rec0, job.mttf_s if math.isfinite(job.mttf_s) else rec0) * 4.0
    alone["max_recovery_s"] = (_largest(lambda x: ok(with_recovery(job, x)), 0.0, cap)
                               if ok(with_recovery(job, 0.0)) else None)
    alone["best_with_instant_recovery"] = ettr(with_recovery(job, 0.0))
    if recovery.rollback == "checkpoint" and ok(with_save(job, 1e-6)):
        save = _largest(lambda x: ok(with_save(job, x)), 1e-6, max(job.block_s, job.mttf_s))
        alone["checkpoint_save_s"] = save
        alone["checkpoint_interval_s"] = ettr_model(with_save(job, save), recovery)[1]
        alone["checkpoint_save_tbps"] = job.checkpoint_bytes / save / 1e12
    else:
        alone["checkpoint_save_s"] = alone["checkpoint_interval_s"] = alone["checkpoint_save_tbps"] = None
    alone["best_with_instant_checkpoint"] = ettr(with_save(job, 1e-6))
    alone["hot_spare_servers"] = smallest_spares(job, ok)
    alone["best_with_ample_spares"] = ettr(with_spares(job, _spare_bound(job)))
    combined, best = _combined(job, recovery, target, rec0, step_s)
    return TargetAnswer(target=target, baseline_ettr=base, alone=alone, combined=combined,
                        reachable=combined["reachable"], best_ettr=best)


def _combined(job: Job, recovery: Recovery, target: float, rec0: float, step_s: float) -> tuple[dict[str, Any], float]:
    """Ample spares, and recovery and checkpoint pause cut by the same factor f (the largest f
    that reaches the target: the least improvement of both)."""
    spares = smallest_spares(job, lambda j: spare_wait_s(j) <= 0.01 * max(job.recovery_s, 1.0)
                             and shrink_fraction(j) <= 1e-4)
    spared = with_spares(job, _spare_bound(job) if spares is None else spares)

    def at(f: float) -> Job:
        j = with_recovery(spared, rec0 * f)
        return with_save(j, max(j.block_s * f, 1e-6)) if recovery.rollback == "checkpoint" else j

    best = ettr_model(at(0.0), recovery, step_s=step_s)[0]
    if best < target:
        return {"reachable": False, "best_ettr": best}, best
    f = _largest(lambda x: ettr_model(at(x), recovery, step_s=step_s)[0] >= target, 0.0, 1.0)
    j = at(f)
    if f >= 1.0:  # recovery and checkpoint as they are suffice: only as many spares as the target needs
        fewest = smallest_spares(j, lambda x: ettr_model(x, recovery, step_s=step_s)[0] >= target)
        j = with_spares(j, j.spare_servers if fewest is None else fewest)
        spared = j
    e, tau = ettr_model(j, recovery, step_s=step_s)
    return {"reachable": True, "factor": f, "detect_restart_s": j.detect_s + j.restart_total_s,
            "checkpoint_save_s": j.block_s if recovery.rollback == "checkpoint" else None,
            "checkpoint_interval_s": tau if math.isfinite(tau) else None, "hot_spare_servers": spared.spare_servers,
            "ettr": e}, max(best, e)
