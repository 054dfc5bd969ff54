"""The public Python API, for notebooks and scripts.

    from colossim.api import load_scenario, estimate
    sc = load_scenario("examples/grok1-colossus-100k.yaml")
    est = estimate(sc)
    est.step_time_s, est.mfu, est.to_dict()      # plain record
    to_record(est)                               # flat dict: one row of a pandas DataFrame
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from colossim.errors import ColossimError
from colossim.perf.estimate import Estimate, estimate
from colossim.perf.step import StepArrays, evaluate
from colossim.scenario import PlanBatch, Scenario
from colossim.scenario.loader import build_scenario, read_scenario_data
from colossim.validation.runs import validate

PlanChoice = Literal["best", "as-given"]


def load_scenario(source: str | Path | dict[str, Any], *, plan: PlanChoice = "best") -> Scenario:
    """Load a scenario (a YAML path, YAML text or a mapping).

    With no ``parallel:`` section the plan is the plan search's best (``plan="best"``, the
    default; ``scenario.plan_source == "search"``); ``plan="as-given"`` keeps the
    section's defaults (tp=1, pp=1, the largest dp) as the core loader does.
    """
    data = read_scenario_data(source)
    sc = build_scenario(data)  # the parsed data itself: an empty file is None, not the text 'None'
    if plan == "best" and isinstance(data, dict) and data.get("parallel") is None:
        from colossim.search.default_plan import with_best_plan

        sc = with_best_plan(sc)
    return sc


def scenario(model: str | dict[str, Any], cluster: str | dict[str, Any], training: dict[str, Any],
             parallel: dict[str, Any] | None = None, **sections: Any) -> Scenario:
    """Build a scenario from presets and mappings, as a scenario file would (no ``parallel``:
    the plan search's best plan)."""
    body = {"model": model, "cluster": cluster, "training": training, **sections}
    if parallel is not None:
        body["parallel"] = parallel
    return load_scenario(body)


def to_record(est: Estimate) -> dict[str, Any]:
    """A flat dict (breakdown and plan columns prefixed) for ``pandas.DataFrame([...])``."""
    d = est.to_dict()
    flat: dict[str, Any] = {k: v for k, v in d.items() if not isinstance(v, (dict, list))}
    for group in ("breakdown_s", "memory_breakdown_gb", "plan"):
        for k, v in d[group].items():
            flat[f"{group}.{k}"] = v
    return flat


ANALYTIC_COLLECTIVES = {"model": "analytic (alpha-beta on the fabric's bandwidths)"}


def estimate_record(sc: Scenario, est: Estimate, collectives: dict[str, Any] | None = None) -> dict[str, Any]:
    """The `estimate --json` object (and the dashboard's): the estimate, its time to train
    with the run's goodput, and which collective model ran (``collectives``: the
    ``--network flow`` comparison)."""
    from colossim.energy.goodput import time_to_train

    return {**est.to_dict(), "time_to_train": time_to_train(sc, est.time_to_train_days),
            "collectives": collectives or ANALYTIC_COLLECTIVES}


def to_frame(results: Any) -> Any:
    """A pandas DataFrame, one row per plan (the columns of :func:`to_record`), from an
    Estimate, a list of Estimates, or a search result (``colossim.search.search(...)``;
    its rows carry their ``rank``). pandas is optional: a clear error without it."""
    try:
        import pandas as pd
    except ImportError:
        raise ColossimError("to_frame needs pandas, which is not installed: pip install pandas "
                            "(or pip install 'colossim[pandas]')", field="to_frame") from None
    if isinstance(results, Estimate):
        rows = [to_record(results)]
    elif hasattr(results, "top") and hasattr(results, "objective"):
        rows = [{"rank": i + 1, **to_record(e)} for i, e in enumerate(results.top)]
    elif isinstance(results, (list, tuple)) and all(isinstance(e, Estimate) for e in results):
        rows = [to_record(e) for e in results]
    else:
        raise ColossimError(f"to_frame: {type(results).__name__} is not allowed; give an Estimate, a list of "
                            "Estimates or a search result", field="to_frame", value=type(results).__name__)
    return pd.DataFrame(rows)


__all__ = ["ColossimError", "Estimate", "PlanBatch", "Scenario", "StepArrays", "estimate", "evaluate",
           "load_scenario", "scenario", "to_frame", "to_record", "validate"]
