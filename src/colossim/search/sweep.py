"""Sweeps: a grid of scenarios, each with its plan search, run on local processes or Ray.

A sweep file names a base scenario, a grid of dotted paths into it (``cluster.num_gpus``,
``model``, ``training.seq_len``, ``cluster.gpu``, ...) and search options; every
combination becomes one scenario whose best plan is one tidy row. The same pure function
(:func:`run_point`) runs under every executor, so results do not depend on where they ran.

Everything is checked before the first point runs (:func:`load_sweep`): the file (through
:mod:`colossim.gate`), grid keys against the scenario schema (with "did you mean"), grid
values (a value that fails in every point it appears in is refused), the objective and the
constraints. Ctrl+C stops the workers at once (they are terminated and reaped, never left
behind) and keeps the rows already finished (:mod:`colossim.search.sweep_run`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from colossim import gate
from colossim.errors import ColossimError, field_error
from colossim.scenario.loader import _deep_merge, validate_section
from colossim.scenario.search_options import SearchOptions

Executor = Literal["local", "ray"]
SECTIONS = ("model", "cluster", "training")


class SweepSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = "sweep"
    base: dict[str, Any]
    grid: dict[str, list[Any]] = Field(description="dotted path -> values; every combination runs")
    search: SearchOptions = SearchOptions()
    output: str | None = None
    plot: str | None = None


def load_sweep(path: str | Path) -> SweepSpec:
    """The sweep file, checked whole before any point runs."""
    spec = validate_section(SweepSpec, gate.load_yaml_file(path, "sweep"), "sweep")
    for key, values in spec.grid.items():
        if not values:
            raise ColossimError(f"sweep.grid.{key}: empty list; give at least one value", field=f"sweep.grid.{key}")
        check_grid_key(key)
    check_search(spec.search, "sweep.search")
    check_points(spec)
    return spec


def _schema(section: str) -> Any:
    from colossim.scenario import ClusterSpec, ModelSpec, TrainingSpec

    return {"model": ModelSpec, "cluster": ClusterSpec, "training": TrainingSpec}[section]


def check_grid_key(key: str) -> None:
    """A grid key names a field of the scenario schema (``cluster.fabric.tiers``), or a
    whole section (``model``: preset names or mappings)."""
    field = f"sweep.grid.{key}"
    section, *rest = key.split(".")
    if section not in SECTIONS:
        raise ColossimError(f"{field}: the path must start with model, cluster or training", field=field, value=key,
                            suggestion=None)
    model, walked = _schema(section), section
    for i, part in enumerate(rest):
        names = [*model.model_fields, *(["preset"] if i == 0 else [])]
        if part not in names:
            raise field_error(field, part, f"not a field of {walked}; allowed: {', '.join(names)}", choices=names)
        nested = [] if part == "preset" else gate.nested_models(model.model_fields[part].annotation)
        if i < len(rest) - 1 and not nested:
            raise field_error(field, key, f"{walked}.{part} has no fields below it")
        model, walked = (nested[0] if nested else model), f"{walked}.{part}"


def check_search(opts: SearchOptions, field: str) -> Any:
    """The objective and the constraints, as the search will read them."""
    from colossim.cli.search import build_constraints
    from colossim.search.objectives import OBJECTIVES

    if opts.objective not in OBJECTIVES:
        raise field_error(f"{field}.objective", opts.objective, f"allowed: {', '.join(OBJECTIVES)}",
                          choices=OBJECTIVES)
    if opts.objective == "gpus" and opts.deadline_days is None:
        raise ColossimError(f"{field}.deadline_days: missing; objective gpus needs the days the run may take",
                            field=f"{field}.deadline_days")
    gate.check_field("search.deadline_days", opts.deadline_days, f"{field}.deadline_days")
    return build_constraints([f"{k}={v}" for k, v in opts.fix.items()], [f"{k}={v}" for k, v in opts.max.items()],
                             [f"{k}={v}" for k, v in opts.min.items()], {})


def check_points(spec: SweepSpec) -> list[tuple[dict[str, Any], str]]:
    """Build every point's scenario; refuse a grid value that fails in every point it appears
    in (a typo, a value out of range), and return the points that fail only in combination."""
    from colossim.scenario import load_scenario

    failed: list[tuple[dict[str, Any], str]] = []
    seen: dict[tuple[str, str], int] = {}
    bad: dict[tuple[str, str], int] = {}
    for point in points(spec):
        try:
            load_scenario(scenario_for(spec.base, point))
            error = None
        except ColossimError as exc:
            error = str(exc)
            failed.append((point, error))
        for key, value in point.items():
            tag = (key, repr(value))
            seen[tag] = seen.get(tag, 0) + 1
            if error is not None:
                bad[tag] = bad.get(tag, 0) + 1
    for (key, value), n in bad.items():
        if n == seen[(key, value)]:
            reason = next(e for p, e in failed if repr(p[key]) == value)
            raise ColossimError(f"sweep.grid.{key}: {value} fails in every point: {reason}",
                                field=f"sweep.grid.{key}", value=value)
    return failed


def points(spec: SweepSpec) -> list[dict[str, Any]]:
    """Every grid combination as {path: value}, in a stable order."""
    keys = list(spec.grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(spec.grid[k] for k in keys))]


def scenario_for(base: dict[str, Any], point: dict[str, Any]) -> dict[str, Any]:
    """The base scenario with the point's values set (presets become {preset: name} to take overrides)."""
    out = {k: v for k, v in base.items() if k != "parallel"}
    for path, value in point.items():
        section, *rest = path.split(".")
        if not rest:
            out[section] = value
            continue
        current = out.get(section)
        current = {"preset": current} if isinstance(current, str) else dict(current or {})
        out[section] = _deep_merge(current, _nested(rest, value))
    return out


def _nested(keys: list[str], value: Any) -> dict[str, Any]:
    return {keys[0]: _nested(keys[1:], value) if len(keys) > 1 else value}


def run_point(base: dict[str, Any], point: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """One grid point: build, search, and flatten the best plan into a row (never raises)."""
    from colossim.scenario import load_scenario
    from colossim.search import sweep_run
    from colossim.search.engine import search

    row: dict[str, Any] = dict(point)
    try:
        sc = load_scenario(scenario_for(base, point))
        opts = SearchOptions(**options)
        constraints = check_search(opts, "sweep.search")
        result = search(sc, objective=opts.objective, constraints=constraints, top=1,
                        deadline_days=opts.deadline_days, workers=1 if sweep_run.IN_WORKER else None)
        best = result.top[0]
        row.update(status="ok", num_gpus=sc.cluster.num_gpus, gpus_used=best.gpus_used,
                   step_time_s=best.step_time_s, tokens_per_s=best.tokens_per_s, mfu=best.mfu, hfu=best.hfu,
                   memory_per_gpu_gb=best.memory_per_gpu_gb, time_to_train_days=best.time_to_train_days,
                   dominant_overhead=best.dominant_overhead, candidates=result.candidates,
                   **{f"plan_{k}": v for k, v in best.plan.items() if not k.endswith("stage_layers")})
    except ColossimError as exc:
        row.update(status=f"error: {exc}")
    return row


def run_sweep(spec: SweepSpec, *, executor: Executor = "local", workers: int | None = None,
              address: str | None = None, progress: Callable[[int, int], None] | None = None,
              done: list[dict[str, Any]] | None = None,
              on_row: Callable[[list[dict[str, Any]]], None] | None = None) -> list[dict[str, Any]]:
    """Every point's row, in grid order. ``done``: rows kept from an earlier run (resume);
    ``on_row(rows)``: called with the finished rows so far after each point (partial output).
    On Ctrl+C the workers are stopped and KeyboardInterrupt propagates; ``on_row`` has seen
    every finished row."""
    from colossim.search.sweep_run import run_tasks

    pts = points(spec)
    kept = match_rows(pts, done or [], list(spec.grid))
    todo = [(i, (spec.base, p, spec.search.model_dump())) for i, p in enumerate(pts) if i not in kept]
    results: dict[int, dict[str, Any]] = dict(kept)

    def finished(i: int, row: dict[str, Any]) -> None:
        results[i] = row
        if progress:
            progress(len(results), len(pts))
        if on_row:
            on_row([results[k] for k in sorted(results)])

    run_tasks(todo, finished, executor=executor, workers=workers, address=address)
    return [results[k] for k in sorted(results)]


def match_rows(pts: list[dict[str, Any]], rows: Iterable[dict[str, Any]], keys: list[str]) -> dict[int, dict]:
    """Rows of an earlier run by the index of the point they belong to (values compared as
    text: a CSV holds text)."""
    index = {tuple(str(p[k]) for k in keys): i for i, p in enumerate(pts)}
    out: dict[int, dict[str, Any]] = {}
    for row in rows:
        i = index.get(tuple(str(row.get(k)) for k in keys))
        if i is not None and row.get("status"):
            out[i] = {**row, **pts[i]}
    return out


def columns(rows: Iterable[dict[str, Any]]) -> list[str]:
    cols: dict[str, None] = {}
    for r in rows:
        cols.update(dict.fromkeys(r))
    return list(cols)
