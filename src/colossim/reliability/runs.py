"""Per-replication results of either simulator, and their statistics.

Every second of a replication's wall-clock time lands in exactly one bucket:

    wall = kept + lost + checkpoint + planned_save + detect + spare_wait + restart + reload

``kept`` is training whose result survives (Meta's productive time); ``lost`` is training
undone by a failure (work since the last durable checkpoint). Slow steps are inside
``kept`` and ``lost``: ``straggler`` and ``shrink`` say how much of the kept time the
slowest server and the missing data-parallel replicas cost, so that
``work_done = kept - straggler - shrink`` (the failure-free time of the work done).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np

SECONDS_PER_DAY = 86400.0
PHASES = ("planned_save", "detect", "spare_wait", "restart", "reload")
BUCKETS = ("kept", "lost", "checkpoint", *PHASES)
PERCENTILES = (10, 50, 90)


@dataclass
class RunArrays:
    """One entry per replication (times in seconds), plus per-class totals over all."""

    wall: np.ndarray
    kept: np.ndarray
    lost: np.ndarray
    checkpoint: np.ndarray
    planned_save: np.ndarray
    detect: np.ndarray
    spare_wait: np.ndarray
    restart: np.ndarray
    reload: np.ndarray
    straggler: np.ndarray
    shrink: np.ndarray
    work_done: np.ndarray
    n_unexpected: np.ndarray
    n_planned: np.ndarray
    finished: np.ndarray
    class_cost_s: np.ndarray  # (classes,) lost work + downtime caused by each class, summed over replications
    class_count: np.ndarray  # (classes,) interruptions of each class, summed over replications

    @classmethod
    def empty(cls, replications: int, num_classes: int) -> RunArrays:
        per = {f.name: np.zeros(replications) for f in fields(cls)}
        per["finished"] = np.zeros(replications, dtype=bool)
        per["class_cost_s"] = np.zeros(num_classes)
        per["class_count"] = np.zeros(num_classes)
        return cls(**per)

    @property
    def replications(self) -> int:
        return int(self.wall.size)

    def ettr(self) -> np.ndarray:
        """Effective training time ratio: productive (kept) time over wall-clock time."""
        return self.kept / self.wall

    def ettr_at_full_size(self) -> np.ndarray:
        """ETTR with the replicas a shrunk job runs without counted as lost: (kept - shrink) /
        wall, the ETTR itself unless the job shrinks (stragglers left out, as in ETTR)."""
        return (self.kept - self.shrink) / self.wall

    def goodput(self) -> np.ndarray:
        """Failure-free time of the work done over wall-clock time (stragglers count too)."""
        return self.work_done / self.wall

    def days(self) -> np.ndarray:
        return np.where(self.finished, self.wall / SECONDS_PER_DAY, np.nan)

    def interruptions_per_day(self) -> np.ndarray:
        return self.n_unexpected / (self.wall / SECONDS_PER_DAY)

    def planned_per_day(self) -> np.ndarray:
        return self.n_planned / (self.wall / SECONDS_PER_DAY)

    def mttf_h(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.n_unexpected > 0, self.wall / 3600.0 / self.n_unexpected, np.nan)

    def bucket_sum(self) -> np.ndarray:
        return sum(getattr(self, b) for b in BUCKETS)


def stats(values: np.ndarray) -> dict[str, float | None]:
    """Mean, P10, P50, P90 (NaNs ignored; None when nothing is finite)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"mean": None, **{f"p{q}": None for q in PERCENTILES}}
    out: dict[str, float | None] = {"mean": float(v.mean())}
    for q, x in zip(PERCENTILES, np.percentile(v, PERCENTILES), strict=True):
        out[f"p{q}"] = float(x)
    return out


def lost_gpu_hours(runs: RunArrays, gpus: int, class_names: tuple[str, ...]) -> dict[str, Any]:
    """Mean GPU-hours per run lost to each cause and each kind of loss."""
    scale = gpus / 3600.0 / runs.replications
    by_cause = {name: float(v) * scale for name, v in zip(class_names, runs.class_cost_s, strict=True)}
    by_cause["checkpoint"] = float(runs.checkpoint.sum()) * scale
    by_cause["stragglers"] = float(runs.straggler.sum()) * scale
    by_cause["shrink"] = float(runs.shrink.sum()) * scale
    by_kind = {"lost_work": float(runs.lost.sum()) * scale, "checkpoint": by_cause["checkpoint"]}
    for phase in PHASES:
        by_kind[phase] = float(getattr(runs, phase).sum()) * scale
    by_kind["stragglers"], by_kind["shrink"] = by_cause["stragglers"], by_cause["shrink"]
    return {"total": sum(by_kind.values()), "by_cause": by_cause, "by_kind": by_kind}


def concat(parts: list[RunArrays]) -> RunArrays:
    """Join replications run separately (the class totals add up)."""
    out = {}
    for f in fields(RunArrays):
        values = [getattr(p, f.name) for p in parts]
        out[f.name] = np.sum(values, axis=0) if f.name.startswith("class_") else np.concatenate(values)
    return RunArrays(**out)
