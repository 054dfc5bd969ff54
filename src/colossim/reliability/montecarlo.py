"""The vectorized Monte Carlo: all replications advance in lock-step, one failure at a time.

Failures form a Poisson process in wall-clock time (rate: the sum over classes), marked
with their class, independent of what the job is doing. Between two failures a
replication either is still recovering (the gap is all downtime, and the new failure
starts recovery afresh) or finished recovering and trained for ``U`` seconds, in cycles
of ``tau`` training then ``block`` checkpoint pause; whole arithmetic gives what became
durable by the failure. So step ``k`` handles the ``k``-th failure of every replication
with a few dozen numpy operations on arrays of length ``replications``: a run with ~9,000
interruptions costs ~9,000 array steps whatever the number of replications.

The single-replication event simulation (:mod:`colossim.reliability.events`) follows the
same rules event by event; tests check that both agree statistically.

Rules (both paths):
- A recovery is, in order: planned save (a planned stop only), detection, wait for a spare,
  relaunch + communicator init, checkpoint reload. A failure during recovery restarts it.
- Sync saves are durable at the end of the pause; async ones ``save_s`` after the snapshot.
  A planned stop saves everything first (no lost work).
- A failure of a server-taking class sends a server to repair for its class's repair time;
  a hot spare replaces it. With none left the job waits for a repaired server
  (``wait``) or restarts with fewer data-parallel replicas (``shrink``) and grows back at
  the next restart with servers to spare.
"""

from __future__ import annotations

import math

import numpy as np

from colossim.reliability.checkpoint import daly_expected_wall_s, daly_interval
from colossim.reliability.job import Job
from colossim.reliability.runs import RunArrays
from colossim.reliability.spares import SparePool

MAX_WALL_FACTOR = 10.0  # a replication stops once it cannot finish within its horizon (Job.horizon_s)
CHUNK = 256  # failures drawn per block of steps


def expected_wall_s(job: Job) -> float:
    """A rough expected wall time (Daly's complete model plus planned stops): sets the horizon."""
    restart = job.recovery_s
    wall = daly_expected_wall_s(job.work_s * job.slowdown, job.interval_s, job.block_s, job.mttf_s, restart)
    planned_downtime = job.planned_rate_per_s * (job.save_s + job.restart_total_s + job.reload_s)
    return wall / (1.0 - planned_downtime) if planned_downtime < 1.0 else math.inf


def estimated_s(job: Job, lanes: int, engine: str = "vectorized",
                max_wall_factor: float = MAX_WALL_FACTOR) -> tuple[float, float]:
    """(failures per lane, seconds) a Monte Carlo of ``lanes`` replications will take: lanes
    run to the expected wall time (at Daly's interval when none is set yet), at least twice
    the failure-free time, at most the horizon (Job.horizon_s of ``max_wall_factor``).
    Measured on one core: the vectorized engine takes one step per failure of a lane, ~20 us
    plus ~0.035 us per lane; the event engine ~75 us per failure of every lane. Where the spare
    pool runs dry (the servers in repair, by Little's law, within 3 sigma of the spares) a
    waiting lane may run to the horizon (Daly's wall time knows no waits), and every step pays
    the pool's pops: ~95 us plus ~0.27 us per lane."""
    if not (math.isfinite(job.interval_s) and job.interval_s > 0):
        job = job.with_interval(daly_interval(job.block_s, job.mttf_s))
    w = job.work_s * job.slowdown
    in_repair = float((job.class_rates_per_s * job.repair_s() * job.takes_server_mask()).sum())
    short = job.spare_servers < in_repair + 3.0 * math.sqrt(in_repair)
    horizon = job.horizon_s(max_wall_factor)
    wall = horizon if short and not job.shrink else min(max(2.0 * w, expected_wall_s(job)), horizon)
    steps = float(job.class_rates_per_s.sum()) * wall
    per_step = (9.5e-5 + 2.7e-7 * lanes) if short else (2e-5 + 3.5e-8 * lanes)
    return steps, steps * lanes * 7.5e-5 if engine == "events" else steps * per_step


def check_work(job: Job, lanes: int, engine: str = "vectorized", max_wall_factor: float = MAX_WALL_FACTOR) -> None:
    """Refuse a Monte Carlo that would run past the gate's time budget, before any array is made."""
    from colossim import gate

    steps, seconds = estimated_s(job, lanes, engine, max_wall_factor)
    gate.check_budget(f"the Monte Carlo ({steps:,.0f} failures in each of {lanes:,} replications)", seconds,
                      gate.MAX_SIMULATION_S, field="reliability.replications", unit="s",
                      fix="use fewer replications, a shorter run (run_days) or lower failure rates")


def simulate_lockstep(job: Job, replications: int, seed: int | np.random.Generator = 0, *,
                      max_wall_factor: float = MAX_WALL_FACTOR,
                      intervals_s: np.ndarray | None = None) -> RunArrays:
    """Simulate ``replications`` independent runs of ``job`` (its interval must be set).

    With ``intervals_s`` (one value per candidate interval), every candidate runs the same
    ``replications`` random streams (common random numbers): the result holds
    ``len(intervals_s) * replications`` lanes, candidate-major.
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    tile = 1 if intervals_s is None else len(intervals_s)
    n = replications * tile
    check_work(job, n, max_wall_factor=max_wall_factor)
    if intervals_s is None:
        assert math.isfinite(job.interval_s) and job.interval_s > 0, "set the checkpoint interval first"
        tau: float | np.ndarray = job.interval_s
    else:
        tau = np.repeat(np.asarray(intervals_s, dtype=float), replications)
        job = job.with_interval(float(np.max(intervals_s)))  # for the horizon estimate only
    rates = job.class_rates_per_s
    lam = float(rates.sum())
    cum = np.cumsum(rates / lam)
    cum[-1] = 1.0
    marks = (job.planned_mask, job.class_detect_s(), job.takes_server_mask())
    nclass = len(job.classes)
    work, blk, save = job.work_s, job.block_s, job.save_s
    cycle = tau + blk
    max_wall = job.horizon_s(max_wall_factor)

    slow = np.tile(np.where(rng.random(replications) < job.straggler_probability, job.slowdown, 1.0), tile)
    rho_full = 1.0 / slow
    rho = rho_full.copy()
    shrink_f = np.ones(n)
    pool = SparePool(job, n, min(max_wall, expected_wall_s(job)))
    out = RunArrays.empty(n, nclass)
    phases = np.zeros((5, n))  # pending recovery: planned save, detect, wait, restart, reload
    phase_acc = np.zeros((5, n))
    t = np.zeros(n)
    progress = np.zeros(n)
    act = np.ones(n, dtype=bool)
    in_pool = np.zeros(n, dtype=np.int64)  # servers pushed to repair and not yet popped (>= in repair)
    started = waited = shrunk = False
    last_cls = np.zeros(n, dtype=np.int64)
    wait_weights = job.wait_weights()
    chunk = _Chunk(n)
    while act.any():
        chunk.draw(rng, replications, tile, lam, cum, marks, pool.fifo_of)
        k = flushed = 0
        while k < CHUNK and act.any():
            gap = chunk.gaps[k]
            # 1. the pending recovery, as far as this gap reaches
            ends = np.cumsum(phases, axis=0)
            down = ends[4]
            realized = np.minimum(ends, gap)
            realized -= ends
            realized += phases
            np.maximum(realized, 0.0, out=realized)
            realized *= act
            phase_acc += realized
            realized.sum(axis=0, out=chunk.recovered[k])
            chunk.waited[k] = realized[2]
            # 2. training after the recovery, until the failure or the end of the run
            span = gap - down
            running = act & (span > 0.0)
            n_full = np.floor(span / cycle)
            comp = np.minimum(span - n_full * cycle, tau)
            comp += n_full * tau
            ck = span - comp
            if job.async_save:
                durable = np.clip(np.floor((span - save) / cycle), 0.0, n_full) * tau
            else:
                durable = n_full * tau
            is_planned = chunk.planned[k]
            np.copyto(durable, comp, where=is_planned)
            kept = durable * running
            lost = (comp - durable) * running
            ck *= running
            left = (work - progress) / rho
            cand = running & (span >= left)
            if cand.any():  # the run may end in this segment
                n_ck = np.maximum(np.ceil(left / tau) - 1.0, 0.0)
                need = left + n_ck * blk
                fin = cand & (span >= need)
                if fin.any():
                    kept[fin], lost[fin], ck[fin] = left[fin], 0.0, (n_ck * blk)[fin]
                    out.wall[fin] = t[fin] + down[fin] + need[fin]
                    out.finished |= fin
                    act &= ~fin
                    running &= ~fin
            out.kept += kept
            out.lost += lost
            out.checkpoint += ck
            if shrunk:
                out.shrink += kept * rho_full * (1.0 - shrink_f)
            progress += kept * rho
            chunk.lost[k] = lost
            # 3. the new failure. A replication stops once it can no longer finish inside the
            # horizon even failure-free from now on (a job starved of spares never finishes).
            # Not on its pace so far: a job that waited days for a repair early on finishes
            # soon after (t > max_wall implies the rule, as progress <= work).
            t += gap
            stop = act & (t + (work - progress) / rho_full > max_wall)
            if stop.any():
                out.wall[stop] = t[stop]
                act &= ~stop
            chunk.act[k] = act
            chunk.t[k] = t
            phases[0] = save * (is_planned & running)
            phases[1] = chunk.det[k]
            if not started:
                phases[3], phases[4] = job.restart_total_s, job.reload_s
                started = True
            if waited:
                phases[2] = 0.0
                waited = False
            if pool.active:
                in_pool += act & chunk.takes[k]
                short_any = False
                if (in_pool > pool.spares).any():
                    pool.flush(chunk.t[flushed:k + 1], chunk.fifo[flushed:k + 1],
                               chunk.act[flushed:k + 1] & chunk.takes[flushed:k + 1])
                    flushed = k + 1
                    short = pool.shortage(t) * act
                    in_pool = pool.count()
                    short_any = bool(short.any())
                    if short_any:
                        waited = _apply_shortage(job, pool, short, phases, t, rho, rho_full, shrink_f, act)
                        shrunk = shrunk or job.shrink
                if shrunk and not short_any:
                    shrink_f[act] = 1.0
                    rho[act] = rho_full[act]
            k += 1
        if pool.active and flushed < k:
            pool.flush(chunk.t[flushed:k], chunk.fifo[flushed:k], chunk.act[flushed:k] & chunk.takes[flushed:k])
        chunk.settle(out, k, last_cls, nclass, wait_weights)
        last_cls = chunk.classes[k - 1].copy()
    for i, phase in enumerate(("planned_save", "detect", "spare_wait", "restart", "reload")):
        setattr(out, phase, phase_acc[i])
    out.straggler = out.kept * (1.0 - rho_full)
    out.work_done = progress
    return out


class _Chunk:
    """The draws for CHUNK failures of every lane, and per-step records settled in bulk."""

    def __init__(self, n: int) -> None:
        self.recovered = np.zeros((CHUNK, n))  # recovery realized at each step (the previous class's)
        self.waited = np.zeros((CHUNK, n))  # of it, waiting for a spare (the server-taking classes')
        self.lost = np.zeros((CHUNK, n))  # training lost at each step (this step's class)
        self.act = np.zeros((CHUNK, n), dtype=bool)  # lane still going after this step's failure
        self.t = np.zeros((CHUNK, n))  # failure times

    def draw(self, rng: np.random.Generator, reps: int, tile: int, lam: float, cum: np.ndarray,
             marks: tuple[np.ndarray, np.ndarray, np.ndarray], fifo_of: np.ndarray) -> None:
        gaps = rng.standard_exponential((CHUNK, reps)) / lam
        classes = np.searchsorted(cum, rng.random((CHUNK, reps)), side="right")
        np.minimum(classes, len(cum) - 1, out=classes)
        if tile > 1:
            gaps, classes = np.tile(gaps, (1, tile)), np.tile(classes, (1, tile))
        self.gaps, self.classes = gaps, classes
        planned, det, takes = marks
        self.planned, self.det, self.takes, self.fifo = planned[classes], det[classes], takes[classes], fifo_of[classes]

    def settle(self, out: RunArrays, k: int, last_cls: np.ndarray, nclass: int, wait_weights: np.ndarray) -> None:
        """Add steps ``0..k-1`` to the counts and the per-class costs (Job.wait_weights: the
        wait for a spare is the servers in repair's, whichever failure the job waits after)."""
        cls, act, planned = self.classes[:k], self.act[:k], self.planned[:k]
        prev = np.vstack([last_cls[None, :], cls[:-1]])
        waited = self.waited[:k]
        out.class_cost_s += np.bincount(prev.ravel(), weights=(self.recovered[:k] - waited).ravel(), minlength=nclass)
        out.class_cost_s += float(waited.sum()) * wait_weights
        out.class_cost_s += np.bincount(cls.ravel(), weights=self.lost[:k].ravel(), minlength=nclass)
        out.class_count += np.bincount(cls[act], minlength=nclass)
        out.n_planned += (act & planned).sum(axis=0)
        out.n_unexpected += (act & ~planned).sum(axis=0)


def _apply_shortage(job: Job, pool: SparePool, short: np.ndarray, phases: np.ndarray, t: np.ndarray,
                    rho: np.ndarray, rho_full: np.ndarray, shrink_f: np.ndarray, act: np.ndarray) -> bool:
    """Wait for repaired servers, or shrink data parallelism (in place); True if any waits."""
    wait_k = short.copy()
    if job.shrink:
        left = job.shrunk_dp(short)
        feasible = left > 0
        shrink_f[act] = np.where(feasible, left / job.dp, 1.0)[act]
        wait_k = np.where(feasible, 0.0, short)
        rho[act] = (rho_full * shrink_f)[act]
    if not wait_k.any():
        return False
    back = pool.kth_return(wait_k.astype(np.int64))
    ready = t + phases[0] + phases[1]
    phases[2] = np.where(wait_k > 0, np.maximum(back - ready, 0.0), 0.0)
    return True
