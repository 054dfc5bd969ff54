"""The public Python API, for notebooks and scripts.

    from colossim.api import load_scenario, estimate
    sc = load_scenario("examples/grok1-colossus-100k.yaml")
    est = estimate(sc)
    est.step_time_s, est.mfu, est.to_dict()      # plain record
    to_record(est)                               # flat dict: one row of a pandas DataFrame
"""

from __future__ import annotations

from typing import Any

from colossim.errors import ColossimError
from colossim.perf.estimate import Estimate, estimate
from colossim.perf.step import StepArrays, evaluate
from colossim.scenario import PlanBatch, Scenario, load_scenario
from colossim.validation.runs import validate


def scenario(model: str | dict[str, Any], cluster: str | dict[str, Any], training: dict[str, Any],
             parallel: dict[str, Any] | None = None, **sections: Any) -> Scenario:
    """Build a scenario from presets and mappings, as a scenario file would."""
    return load_scenario({"model": model, "cluster": cluster, "training": training,
                          "parallel": parallel or {}, **sections})


def to_record(est: Estimate) -> dict[str, Any]:
    """A flat dict (breakdown and plan columns prefixed) for ``pandas.DataFrame([...])``."""
    d = est.to_dict()
    flat: dict[str, Any] = {k: v for k, v in d.items() if not isinstance(v, (dict, list))}
    for group in ("breakdown_s", "memory_breakdown_gb", "plan"):
        for k, v in d[group].items():
            flat[f"{group}.{k}"] = v
    return flat


__all__ = ["ColossimError", "Estimate", "PlanBatch", "Scenario", "StepArrays", "estimate", "evaluate",
           "load_scenario", "scenario", "to_record", "validate"]
