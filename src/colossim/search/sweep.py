"""Sweeps: a grid of scenarios, each with its plan search, run on local processes or Ray.

A sweep file names a base scenario, a grid of dotted paths into it (``cluster.num_gpus``,
``model``, ``training.seq_len``, ``cluster.gpu``, ...) and search options; every
combination becomes one scenario whose best plan is one tidy row. The same pure function
(:func:`run_point`) runs under every executor, so results do not depend on where they ran.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from colossim.errors import ColossimError
from colossim.scenario.loader import _deep_merge, validate_section

Executor = Literal["local", "ray"]


class SearchOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    objective: str = "throughput"
    fix: dict[str, int | str | bool] = Field(default_factory=dict)
    max: dict[str, int] = Field(default_factory=dict)
    min: dict[str, int] = Field(default_factory=dict)
    deadline_days: float | None = Field(default=None, gt=0)


class SweepSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = "sweep"
    base: dict[str, Any]
    grid: dict[str, list[Any]] = Field(description="dotted path -> values; every combination runs")
    search: SearchOptions = SearchOptions()
    output: str | None = None
    plot: str | None = None


def load_sweep(path: str | Path) -> SweepSpec:
    p = Path(path)
    if not p.is_file():
        raise ColossimError(f"sweep file not found: {p}", field="sweep", value=str(p))
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ColossimError(f"invalid YAML in {p}: {exc}", field="sweep") from None
    spec = validate_section(SweepSpec, data, "sweep")
    for key, values in spec.grid.items():
        if not values:
            raise ColossimError(f"sweep.grid.{key}: empty list; give at least one value", field=f"sweep.grid.{key}")
        if key.split(".")[0] not in ("model", "cluster", "training"):
            raise ColossimError(f"sweep.grid.{key}: the path must start with model, cluster or training",
                                field=f"sweep.grid.{key}", value=key)
    return spec


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
    from colossim.cli.search import build_constraints
    from colossim.scenario import load_scenario
    from colossim.search.engine import search

    row: dict[str, Any] = dict(point)
    try:
        sc = load_scenario(scenario_for(base, point))
        opts = SearchOptions(**options)
        constraints = build_constraints([f"{k}={v}" for k, v in opts.fix.items()],
                                        [f"{k}={v}" for k, v in opts.max.items()],
                                        [f"{k}={v}" for k, v in opts.min.items()], {})
        result = search(sc, objective=opts.objective, constraints=constraints, top=1,
                        deadline_days=opts.deadline_days, workers=1)  # the executor runs points in parallel
        best = result.top[0]
        row.update(status="ok", num_gpus=sc.cluster.num_gpus, gpus_used=best.gpus_used,
                   step_time_s=best.step_time_s, tokens_per_s=best.tokens_per_s, mfu=best.mfu, hfu=best.hfu,
                   memory_per_gpu_gb=best.memory_per_gpu_gb, time_to_train_days=best.time_to_train_days,
                   dominant_overhead=best.dominant_overhead, candidates=result.candidates,
                   **{f"plan_{k}": v for k, v in best.plan.items() if not k.endswith("stage_layers")})
    except ColossimError as exc:
        row.update(status=f"error: {exc}")
    return row


def run_local(tasks: list[tuple], workers: int | None, progress: Callable[[int, int], None] | None) -> list[dict]:
    from concurrent.futures import ProcessPoolExecutor

    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(tasks) == 1:
        rows = []
        for i, t in enumerate(tasks):
            rows.append(run_point(*t))
            if progress:
                progress(i + 1, len(tasks))
        return rows
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(run_point, *t) for t in tasks]
        rows = []
        for i, f in enumerate(futures):
            rows.append(f.result())
            if progress:
                progress(i + 1, len(tasks))
        return rows


def run_ray(tasks: list[tuple], address: str | None, progress: Callable[[int, int], None] | None) -> list[dict]:
    try:
        import ray
    except ImportError:
        raise ColossimError("--executor ray needs Ray: pip install 'colossim[ray]'", field="--executor") from None
    started = False
    if not ray.is_initialized():
        if address:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        else:
            ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, log_to_driver=False)
        started = True
    try:
        remote = ray.remote(run_point)
        refs = [remote.remote(*t) for t in tasks]
        rows = []
        for i, ref in enumerate(refs):  # in submission order: the same order as local
            rows.append(ray.get(ref))
            if progress:
                progress(i + 1, len(tasks))
        return rows
    finally:
        if started:
            ray.shutdown()


def run_sweep(spec: SweepSpec, *, executor: Executor = "local", workers: int | None = None,
              address: str | None = None, progress: Callable[[int, int], None] | None = None) -> list[dict[str, Any]]:
    tasks = [(spec.base, p, spec.search.model_dump()) for p in points(spec)]
    if executor == "ray":
        return run_ray(tasks, address, progress)
    return run_local(tasks, workers, progress)


def columns(rows: Iterable[dict[str, Any]]) -> list[str]:
    cols: dict[str, None] = {}
    for r in rows:
        cols.update(dict.fromkeys(r))
    return list(cols)
