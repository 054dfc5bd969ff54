"""The plan search: every candidate through the one step model, best plans kept.

Candidates are evaluated in vectorized chunks by :func:`colossim.perf.evaluate`, the same
function behind ``colossim estimate``; the kept plans are re-evaluated and turned into the
same records (``perf.estimate.record``), so a searched plan re-run through ``estimate``
gives identical numbers. Nothing is dropped silently: every candidate is counted as
evaluated, breaking a rule (by rule), redundant (a duplicate of another plan), not fitting
in memory, missing the objective's condition (a deadline), or bounded: for the throughput
objective, a plan whose lower bound on step time (:mod:`colossim.perf.bound`) cannot beat
the k-th best plan found is never evaluated (best first branch and bound; exact).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from colossim import gate
from colossim.errors import ColossimError
from colossim.perf import envelope, evaluate
from colossim.perf.bound import step_time_lower_bound_s
from colossim.perf.estimate import Estimate, record
from colossim.perf.hardware import resolve_hardware
from colossim.scenario import PlanBatch, Scenario
from colossim.scenario.rules import RULES, check_plans
from colossim.search import empty
from colossim.search.objectives import (
    OBJECTIVE_BOUNDS,
    ObjectiveOptions,
    check_objective,
    objective_values,
)
from colossim.search.space import Constraints, build_space
from colossim.workers import can_fork, default_workers

Progress = Callable[[int, int], None]


@dataclass
class SearchResult:
    scenario: str
    objective: str
    constraints: str
    candidates: int
    pruned: int = 0  # combinations of the value lists rejected before they were formed
    workers: int = 1
    evaluated: int = 0
    redundant: int = 0
    broken_rules: dict[str, int] = field(default_factory=dict)
    not_fitting: int = 0
    smallest_memory_not_fitting_gb: float | None = None
    missed_condition: int = 0
    bounded: int = 0  # plans whose lower bound on step time cannot reach the k best (never evaluated)
    top: list[Estimate] = field(default_factory=list)
    # the objective's value per kept plan where no plan column shows it (cost, energy)
    objective_unit: str | None = None
    objective_values: list[float] = field(default_factory=list)
    elapsed_s: float = 0.0
    explanation: str = ""

    def plan_dicts(self) -> list[dict[str, Any]]:
        """The kept plans as records, ranked, each with its objective value where there is one."""
        out = []
        for i, e in enumerate(self.top):
            d = {**e.to_dict(), "rank": i + 1}
            if self.objective_unit is not None:
                d["objective_value"], d["objective_unit"] = self.objective_values[i], self.objective_unit
            out.append(d)
        return out

    @property
    def rate_per_s(self) -> float:
        return self.candidates / self.elapsed_s if self.elapsed_s > 0 else float("inf")

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario, "objective": self.objective, "constraints": self.constraints,
            "candidates": self.candidates, "pruned": self.pruned, "workers": self.workers, "evaluated": self.evaluated, "redundant": self.redundant,
            "broken_rules": dict(self.broken_rules), "not_fitting": self.not_fitting,
            "smallest_memory_not_fitting_gb": self.smallest_memory_not_fitting_gb,
            "missed_condition": self.missed_condition, "bounded": self.bounded, "elapsed_s": self.elapsed_s,
            "candidates_per_s": self.rate_per_s, "explanation": self.explanation,
            "objective_unit": self.objective_unit, "plans": self.plan_dicts(),
        }


def _tie_key(score: np.ndarray) -> np.ndarray:
    """The score to 10 significant digits: a key of each value alone (not of the set it is
    ranked in), so merging the k best in any grouping or order gives the same ranking."""
    mag = np.where(score == 0, 1.0, np.abs(score))
    scale = 10.0 ** (9 - np.floor(np.log10(mag)))
    return np.round(score * scale) / scale


@dataclass
class _Best:
    """The k best admissible plans seen so far, with their index in the space."""

    k: int
    score: np.ndarray = field(default_factory=lambda: np.empty(0))
    memory: np.ndarray = field(default_factory=lambda: np.empty(0))
    index: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    plans: PlanBatch | None = None

    def offer(self, score: np.ndarray, memory: np.ndarray, plans: PlanBatch, index: np.ndarray) -> None:
        if len(score) == 0:
            return
        if self.plans is not None:
            score = np.concatenate([self.score, score])
            memory = np.concatenate([self.memory, memory])
            index = np.concatenate([self.index, index])
            plans = _concat(self.plans, plans)
        # equal scores (to 10 digits) rank by memory, then by place in the space:
        # deterministic, and the leaner of two equally fast plans first
        order = np.lexsort((index, memory, _tie_key(score)))[: self.k]
        self.score, self.memory, self.index, self.plans = score[order], memory[order], index[order], plans.take(order)

    def threshold(self) -> float:
        """A score no plan outside the k best can beat by more than the tie tolerance
        (+inf until k plans are kept)."""
        if len(self.score) < self.k:
            return np.inf
        worst = float(self.score.max())
        return worst + 1e-6 * abs(worst)


def _concat(a: PlanBatch, b: PlanBatch) -> PlanBatch:
    return PlanBatch(**{f: np.concatenate([getattr(a, f), getattr(b, f)]) for f in a.__dataclass_fields__})


@dataclass
class _Part:
    """What one chunk contributes: counts, the smallest misfit, its own best plans."""

    rule_counts: np.ndarray
    redundant: int
    evaluated: int
    not_fitting: int
    missed: int
    min_over: float
    best: _Best
    size: int
    bounded: int = 0


def _run_chunk(ctx: tuple, start: int) -> _Part:
    chunk, space = ctx[8], ctx[3]
    index = np.arange(start, min(start + chunk, space.size), dtype=np.int64)
    return _run_plans(ctx, space.at(index), index, np.inf)


def _run_plans(ctx: tuple, batch: PlanBatch, index: np.ndarray, threshold: float) -> _Part:
    """Rules, duplicates, the lower bound against ``threshold`` (the branch and bound's
    k-th best score so far; +inf: none), the memory screen and the step model, in turn."""
    model, cluster, training, space, hw, score_fn, options, top, chunk, screen, bound_fn = ctx
    codes = check_plans(model, cluster, training, batch)
    rule_counts = np.bincount(codes, minlength=len(RULES) + 1)
    redundant = (codes == 0) & (((batch.tp == 1) & batch.sp) | ((batch.dp * batch.cp == 1) & (batch.zero > 0))
                                | ((batch.tp == 1) & (batch.etp == 1)))  # etp 1 = tp: the etp 0 plan
    ok = (codes == 0) & ~redundant
    part = _Part(rule_counts, int(redundant.sum()), 0, 0, 0, np.inf, _Best(k=top), len(batch))
    if ok.any() and np.isfinite(threshold):
        lower = bound_fn(step_time_lower_bound_s(model, training, batch.take(ok), hw), training)
        beaten = np.zeros_like(ok)
        beaten[np.flatnonzero(ok)] = lower > threshold
        part.bounded = int(beaten.sum())
        ok &= ~beaten
    if ok.any():
        plans, index = batch.take(ok), index[ok]
        if not screen:  # the first search: every plan through the whole step model
            r = evaluate(model, cluster, training, plans, hw)
            part.evaluated, fits = len(plans), r.fits
            part.not_fitting = int((~fits).sum())
            if (~fits).any():
                part.min_over = float(r.memory_bytes[~fits].min())
            score, admitted = score_fn(r, cluster, training, options)
            part.missed = int((fits & ~admitted).sum())
            keep = fits & admitted
            part.best.offer(score[keep], r.memory_bytes[keep], plans.take(keep), index[keep])
            return part
        memory = plan_memory_bytes(model, training, plans)
        fits = memory <= hw.hbm_capacity
        part.evaluated = len(plans)
        part.not_fitting = int((~fits).sum())
        if (~fits).any():
            part.min_over = float(memory[~fits].min())
        if fits.any():  # only plans that fit go through the whole step model
            fitting, index = plans.take(fits), index[fits]
            r = evaluate(model, cluster, training, fitting, hw)
            score, admitted = score_fn(r, cluster, training, options)
            part.missed = int((~admitted).sum())
            part.best.offer(score[admitted], r.memory_bytes[admitted], fitting.take(admitted), index[admitted])
    return part


def plan_memory_bytes(model: Any, training: Any, plans: PlanBatch) -> np.ndarray:
    """Memory per GPU of every plan: the step model's own memory function, without the
    step time (29% of an evaluation). Plans over the GPU's memory are counted as not
    fitting with this figure; a test checks it equals ``evaluate(...).memory_bytes``."""
    from colossim.perf.step import memory_only

    return np.asarray(memory_only(model, training, plans)["memory_bytes"])


_CTX: tuple | None = None  # the search's context in a forked worker


def _worker_chunk(start: int) -> _Part:
    assert _CTX is not None
    return _run_chunk(_CTX, start)


def _worker_plans(task: tuple[np.ndarray, float]) -> _Part:
    assert _CTX is not None
    index, threshold = task
    return _run_plans(_CTX, _CTX[3].at(index), index, threshold)


class _Runner:
    """Tasks run in this process or in ``workers`` forked processes; results in task order,
    so merging them gives the same result for any number of workers."""

    def __init__(self, ctx: tuple, workers: int) -> None:
        self.ctx = ctx
        self.pool: Any = None
        self.workers = workers if can_fork() else 1

    def map(self, fn: Callable, tasks: list) -> Iterator[_Part]:
        global _CTX
        if self.workers > 1 and len(tasks) > 1:
            if self.pool is None:  # forked on first need: small searches never fork
                import multiprocessing as mp

                _CTX = self.ctx
                self.pool = mp.get_context("fork").Pool(self.workers)
            yield from self.pool.imap(fn, tasks)
            return
        _CTX = self.ctx
        for task in tasks:
            yield fn(task)

    def close(self) -> None:
        global _CTX
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()
        _CTX = None


def _branch_and_bound(ctx: tuple, runner: _Runner, bound_fn: Callable) -> Iterator[_Part]:
    """Best first: the legal rows in order of a lower bound on their score (the cheapest
    tail: least recompute, either sp; perf/bound.py), expanded with their tails block by
    block. Before each block, rows whose bound cannot beat the k-th best score so far are
    skipped, with every row after them (the bound only grows along the order), and so are
    a block's plans whose own bound cannot. Exact: a skipped plan's score is no better
    than the k-th best's. The blocks and thresholds do not depend on the worker count."""
    model, training, space, hw, top, chunk = ctx[0], ctx[2], ctx[3], ctx[4], ctx[7], ctx[8]
    n_tail = int(np.prod(space.tail_sizes, dtype=np.int64))
    cheapest = space.legal_view(recompute=min(space.values["recompute"]), zero=0, sp=False)
    low = step_time_lower_bound_s(model, training, cheapest, hw, sp_options=tuple(bool(v) for v in space.values["sp"]))
    row_score = bound_fn(low, training)
    order = np.argsort(row_score, kind="stable")
    best, pos, step = _Best(k=top), 0, max(1, (1 << 12) // n_tail)
    tails = np.arange(n_tail, dtype=np.int64)
    while pos < order.size:
        threshold = best.threshold()
        block = order[pos: pos + step]
        live = block[row_score[block] <= threshold]
        if live.size == 0:
            break
        pos += live.size
        index = (live[:, None] * n_tail + tails).ravel()
        pieces = np.array_split(index, runner.workers) if index.size >= 1 << 14 else [index]
        for part in runner.map(_worker_plans, [(p, threshold) for p in pieces]):
            if part.best.plans is not None:
                best.offer(part.best.score, part.best.memory, part.best.plans, part.best.index)
            yield part
        if live.size < block.size:
            break
        step = min(step * 2, max(1, chunk // n_tail))
    rest = (order.size - pos) * n_tail
    if rest:
        yield _Part(np.zeros(len(RULES) + 1, dtype=np.int64), 0, 0, 0, 0, np.inf, _Best(k=top), rest, bounded=rest)


def search(scenario: Scenario, *, objective: str = "throughput", constraints: Constraints | None = None,
           top: int = 10, deadline_days: float | None = None, total_tokens: float | None = None,
           progress: Progress | None = None, chunk: int = 1 << 18, workers: int | None = None,
           naive: bool = False, legacy: bool = False, exhaustive: bool = False) -> SearchResult:
    """Search every valid plan of the scenario's model, cluster and training settings.

    For the throughput objective the search is an exact branch and bound: plans whose lower
    bound on step time (perf/bound.py) cannot beat the k-th best are counted as ``bounded``
    and never evaluated; ``exhaustive`` evaluates every plan instead (same plans, same
    ranking). ``workers`` processes (default: every core) evaluate chunks; results are
    merged in task order, so the result is the same for any number of workers. ``naive``
    enumerates the whole product of the value lists (the first search's path) instead of
    the legal rows; ``legacy`` restores its caps on vpp, mbs, cp and the schedule and sends
    every plan through the whole step model (no memory screen): both for the benchmark."""
    if top < 1:
        raise ColossimError(f"--top: {top} is not allowed; must be >= 1", field="--top", value=top)
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)):
        raise ColossimError(f"--workers: {workers!r} is not allowed; must be a whole number", field="--workers",
                            value=workers)
    gate.check_field("options.workers", workers, "--workers")  # 1 to 1024: not a pool of 10**8 processes
    constraints = constraints or Constraints()
    options = ObjectiveOptions(deadline_days=deadline_days,
                               total_tokens=total_tokens or scenario.training.total_tokens)
    score_fn = check_objective(objective, options)
    model, cluster, training = scenario.model, scenario.cluster, scenario.training
    space = build_space(model, cluster, training, constraints, naive=naive, legacy=legacy)
    hw = resolve_hardware(cluster, training)
    result = SearchResult(scenario=scenario.name, objective=objective, constraints=constraints.describe(),
                          candidates=space.size, pruned=space.product_size - space.size,
                          workers=workers or default_workers())
    best = _Best(k=top)
    start = time.perf_counter()
    bounded = space.legal is not None and not (legacy or exhaustive)
    bound_fn = OBJECTIVE_BOUNDS.get(objective) if bounded else None
    ctx = (model, cluster, training, space, hw, score_fn, options, top, chunk, not legacy, bound_fn)
    runner = _Runner(ctx, result.workers)
    try:
        parts = (_branch_and_bound(ctx, runner, bound_fn) if bound_fn is not None
                 else runner.map(_worker_chunk, list(space.chunk_starts(chunk))))
        done = _merge(parts, result, best, progress, space.size)
    finally:
        runner.close()
    result.broken_rules = {RULES[i - 1].name: int(n) for i, n in enumerate(done.rule_counts) if i > 0 and n}
    min_over = done.min_over
    result.smallest_memory_not_fitting_gb = None if not np.isfinite(min_over) else min_over / 1e9
    if best.plans is None or len(best.score) == 0:
        blame = empty.blame(space, scenario) if result.evaluated == 0 else None
        raise ColossimError(empty.message(result, cluster.gpu, blame), field="search")
    final = evaluate(model, cluster, training, best.plans, hw)
    result.top = [record(final, i, scenario_name=scenario.name, plan=best.plans.row(i), num_gpus=cluster.num_gpus,
                         total_tokens=options.total_tokens, features=envelope.scenario_features(scenario))
                  for i in range(len(best.plans))]
    if (shown := objective_values(objective, score_fn(final, cluster, training, options)[0])) is not None:
        result.objective_unit, values = shown
        result.objective_values = [float(v) for v in values]
    result.elapsed_s = time.perf_counter() - start
    from colossim.search.explain import why_best

    result.explanation = why_best(result.top, objective, result.objective_values, result.objective_unit)
    return result


def _merge(parts: Iterator[_Part], result: SearchResult, best: _Best, progress: Progress | None,
           total: int) -> _Part:
    """Add every part's counts to ``result`` and its plans to ``best``; the summed part."""
    done = _Part(np.zeros(len(RULES) + 1, dtype=np.int64), 0, 0, 0, 0, np.inf, best, 0)
    for part in parts:
        done.rule_counts = done.rule_counts + part.rule_counts
        result.redundant += part.redundant
        result.evaluated += part.evaluated
        result.not_fitting += part.not_fitting
        result.missed_condition += part.missed
        result.bounded += part.bounded
        done.min_over = min(done.min_over, part.min_over)
        if part.best.plans is not None:
            best.offer(part.best.score, part.best.memory, part.best.plans, part.best.index)
        done.size += part.size
        if progress is not None:
            progress(done.size, total)
    return done
