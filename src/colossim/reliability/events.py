"""The event-by-event simulation of one replication, on the kernel of :mod:`.kernel`.

Processes: a failure process (Poisson, marked with its class), the job (training chunks,
checkpoint pauses, background writes, recovery phases) and the repair queue of failed
servers. It follows exactly the rules of :mod:`colossim.reliability.montecarlo` (see its
docstring) and keeps a :class:`Timeline` for plots. It is ~100x slower than the lock-step
path: use it for one replication's story and for cross-checking the fast path.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

import numpy as np

from colossim.reliability.job import Job
from colossim.reliability.kernel import Handle, Kernel
from colossim.reliability.montecarlo import MAX_WALL_FACTOR
from colossim.reliability.runs import PHASES, RunArrays, concat

FAILURE, JOB = 0, 1  # event priorities: at equal times the failure strikes first


@dataclass
class Timeline:
    """What happened in one replication, for plots and reports."""

    intervals: list[list] = field(default_factory=list)  # [start_s, end_s, kind, cause]
    failures: list[tuple[float, str, bool]] = field(default_factory=list)  # (time_s, class, planned)
    progress: list[tuple[float, float]] = field(default_factory=list)  # (time_s, durable work s)

    def to_dict(self) -> dict:
        return {"intervals": [list(i) for i in self.intervals], "failures": [list(f) for f in self.failures],
                "progress": [list(p) for p in self.progress]}


class Replication:
    """One run of ``job``; call :meth:`run` once."""

    def __init__(self, job: Job, rng: np.random.Generator, *, record: bool = False,
                 max_wall_factor: float = MAX_WALL_FACTOR) -> None:
        assert math.isfinite(job.interval_s) and job.interval_s > 0, "set the checkpoint interval first"
        self.job, self.rng, self.k = job, rng, Kernel()
        rates = job.class_rates_per_s
        self.lam = float(rates.sum())
        self.cum = np.cumsum(rates / self.lam)
        self.cum[-1] = 1.0
        self.planned, self.det = job.planned_mask, job.class_detect_s()
        self.takes, self.repair = job.takes_server_mask(), job.repair_s()
        self.wait_weights = job.wait_weights()
        self.max_wall = job.horizon_s(max_wall_factor)
        self.slow = job.slowdown if rng.random() < job.straggler_probability else 1.0
        self.rho_full, self.shrink_f = 1.0 / self.slow, 1.0
        self.out = RunArrays.empty(1, len(job.classes))
        self.timeline = Timeline() if record else None
        self.progress = 0.0  # durable work, failure-free seconds
        self.seg_comp = self.seg_durable = 0.0  # training seconds this segment: done, durable
        self.mode = "compute"
        self.token: Handle | None = None
        self.writes: list[Handle] = []
        self.mark = 0.0  # start of the current chunk, pause or phase
        self.chunk, self.final, self.snapshot = 0.0, False, 0.0
        self.phases: list[tuple[str, float]] = []
        self.phase_i, self.cause = 0, 0
        self.repairs: list[float] = []  # return times of servers in repair (a heap)

    # ---- helpers ------------------------------------------------------------------------
    @property
    def rho(self) -> float:
        return self.rho_full * self.shrink_f

    def _log(self, start: float, end: float, kind: str, cause: str | None = None) -> None:
        if self.timeline is not None and end > start:
            self.timeline.intervals.append([start, end, kind, cause])

    def _add(self, name: str, seconds: float) -> None:
        getattr(self.out, name)[0] += seconds

    # ---- training and checkpoints -------------------------------------------------------
    def _start_compute(self) -> None:
        job = self.job
        left = (job.work_s - self.progress) / self.rho - (self.seg_comp - self.seg_durable)
        self.final = left <= job.interval_s
        self.chunk = left if self.final else job.interval_s
        self.mode, self.mark = "compute", self.k.now
        self.token = self.k.schedule(self.chunk, self._end_chunk, JOB)

    def _end_chunk(self) -> None:
        self.seg_comp += self.chunk
        self._log(self.mark, self.k.now, "compute")
        if self.final:
            self._durable(self.seg_comp)
            self.progress = self.job.work_s
            self.out.wall[0], self.out.finished[0] = self.k.now, True
            self.k.stop()
            return
        self.mode, self.mark, self.snapshot = "block", self.k.now, self.seg_comp
        self.token = self.k.schedule(self.job.block_s, self._end_block, JOB)

    def _end_block(self) -> None:
        self._add("checkpoint", self.job.block_s)
        self._log(self.mark, self.k.now, "checkpoint")
        snap = self.snapshot
        if self.job.async_save:
            self.writes.append(self.k.schedule(self.job.save_s, lambda: self._durable(snap), JOB))
        else:
            self._durable(snap)
        self._start_compute()

    def _durable(self, snap: float) -> None:
        gained = snap - self.seg_durable
        if gained <= 0.0:
            return
        self.out.kept[0] += gained
        self.out.straggler[0] += gained * (1.0 - self.rho_full)
        self.out.shrink[0] += gained * self.rho_full * (1.0 - self.shrink_f)
        self.progress += gained * self.rho
        self.seg_durable = snap
        if self.timeline is not None:
            self.timeline.progress.append((self.k.now, self.progress))

    # ---- failures and recovery ----------------------------------------------------------
    def _next_failure(self) -> None:
        self.k.schedule(self.rng.standard_exponential() / self.lam, self._failure, FAILURE)

    def _failure(self) -> None:
        job, now = self.job, self.k.now
        cls = min(int(np.searchsorted(self.cum, self.rng.random(), side="right")), len(self.cum) - 1)
        self._next_failure()
        was_running = self.mode in ("compute", "block")
        if self.token is not None:
            self.token.cancel()
        for w in self.writes:
            w.cancel()
        self.writes = []
        if self.mode == "compute":
            self.seg_comp += now - self.mark
            self._log(self.mark, now, "compute")
        elif self.mode == "block":
            self._add("checkpoint", now - self.mark)
            self._log(self.mark, now, "checkpoint")
        elif self.mode == "recovery":
            self._end_phase_part(now - self.mark)
        if was_running:
            if self.planned[cls]:
                self._durable(self.seg_comp)
            lost = self.seg_comp - self.seg_durable
            self.out.lost[0] += lost
            self.out.class_cost_s[cls] += lost
            self._relabel_lost(lost)
        self.seg_comp = self.seg_durable = 0.0
        if now + (job.work_s - self.progress) / self.rho_full > self.max_wall:  # cannot finish in the horizon
            self.out.wall[0] = now
            self.k.stop()
            return
        if self.planned[cls]:
            self.out.n_planned[0] += 1
        else:
            self.out.n_unexpected[0] += 1
        self.out.class_count[cls] += 1
        if self.timeline is not None:
            self.timeline.failures.append((now, job.classes[cls].name, bool(self.planned[cls])))
            self.timeline.progress.append((now, self.progress))
        psave = job.save_s if (self.planned[cls] and was_running) else 0.0
        wait = self._spares(cls, now, psave + self.det[cls])
        self.phases = [("planned_save", psave), ("detect", float(self.det[cls])), ("spare_wait", wait),
                       ("restart", job.restart_total_s), ("reload", job.reload_s)]
        self.cause, self.phase_i, self.mode = cls, -1, "recovery"
        self._next_phase()

    def _spares(self, cls: int, now: float, before_wait: float) -> float:
        """Send a failed server to repair; return how long the job waits for one."""
        job = self.job
        if self.takes[cls]:
            heapq.heappush(self.repairs, now + float(self.repair[cls]))
        while self.repairs and self.repairs[0] <= now:
            heapq.heappop(self.repairs)
        short = max(len(self.repairs) - job.spare_servers, 0)
        wait_k = short
        if job.shrink:
            left = float(job.shrunk_dp(short))
            if left > 0:
                self.shrink_f, wait_k = left / job.dp, 0
            else:
                self.shrink_f = 1.0
        if wait_k == 0:
            return 0.0
        back = heapq.nsmallest(wait_k, self.repairs)[-1]
        return max(back - (now + before_wait), 0.0)

    def _next_phase(self) -> None:
        self.phase_i += 1
        while self.phase_i < len(self.phases) and self.phases[self.phase_i][1] <= 0.0:
            self.phase_i += 1
        if self.phase_i == len(self.phases):
            self._start_compute()
            return
        self.mark = self.k.now
        self.token = self.k.schedule(self.phases[self.phase_i][1], self._end_phase, JOB)

    def _end_phase(self) -> None:
        self._end_phase_part(self.phases[self.phase_i][1])
        self._next_phase()

    def _end_phase_part(self, seconds: float) -> None:
        name = self.phases[self.phase_i][0]
        self._add(name, seconds)
        if name == "spare_wait":  # the servers in repair's, not the failure it follows (Job.wait_weights)
            self.out.class_cost_s += seconds * self.wait_weights
        else:
            self.out.class_cost_s[self.cause] += seconds
        self._log(self.mark, self.mark + seconds, name, self.job.classes[self.cause].name)

    def _relabel_lost(self, lost: float) -> None:
        """Mark the training since the last durable snapshot as lost in the timeline."""
        if self.timeline is None or lost <= 0.0:
            return
        ivs, i = self.timeline.intervals, len(self.timeline.intervals) - 1
        while lost > 1e-9 and i >= 0 and ivs[i][2] in ("compute", "checkpoint"):
            start, end, kind, _ = ivs[i]
            if kind == "compute":
                if end - start <= lost + 1e-9:
                    ivs[i][2] = "lost"
                    lost -= end - start
                else:
                    ivs[i][1] = end - lost
                    ivs.insert(i + 1, [end - lost, end, "lost", None])
                    lost = 0.0
            i -= 1

    # ---- the run ------------------------------------------------------------------------
    def run(self) -> tuple[RunArrays, Timeline | None]:
        self._next_failure()
        self._start_compute()
        self.k.run()
        self.out.work_done[0] = self.progress
        if self.timeline is not None:
            for iv in self.timeline.intervals:
                if iv[2] == "compute":
                    iv[2] = "kept"
        return self.out, self.timeline


def simulate_events(job: Job, replications: int, seed: int = 0) -> RunArrays:
    """``replications`` event-by-event runs; replication ``i`` uses ``default_rng([seed, i])``."""
    runs = [Replication(job, np.random.default_rng([seed, i])).run()[0] for i in range(replications)]
    return concat(runs)


def timeline(job: Job, seed: int = 0, replication: int = 0) -> tuple[RunArrays, Timeline]:
    """One replication with its full timeline (the same stream as :func:`simulate_events`)."""
    runs, tl = Replication(job, np.random.default_rng([seed, replication]), record=True).run()
    assert tl is not None
    return runs, tl


__all__ = ["PHASES", "Handle", "Replication", "Timeline", "simulate_events", "timeline"]
