"""The reference runs (``data/training_runs.yaml``) and their replay.

Each run is a scenario built from its case's software stack, the settings its source states,
the plan conventions for what it leaves out, and the run's own row,
evaluated through the same :func:`colossim.perf.estimate` path users call, and compared
on step time (the quantity every paper's throughput derives from).
"""

from __future__ import annotations

import functools
import statistics
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from colossim.scenario import Scenario, load_scenario
from colossim.scenario.loader import _deep_merge


@dataclass(frozen=True, slots=True)
class ReferenceRun:
    case: str
    name: str
    gpu_family: str
    scenario: dict[str, Any]
    measured_iter_s: float
    source: dict[str, Any]
    # (section, field) of every setting the case or the row fills by convention (unstated)
    conventions: tuple[tuple[str, str], ...] = ()

    @property
    def label(self) -> str:
        return f"{self.case}/{self.name}"

    def build(self) -> Scenario:
        return load_scenario(self.scenario)


@dataclass(frozen=True, slots=True)
class ValidationRow:
    case: str
    run: str
    gpus: int
    measured_iter_s: float
    predicted_iter_s: float
    predicted_mfu: float
    cross_validated_error: float | None = None  # leave-one-case-family-out (validation/fit.py)
    unknowns: Any = None  # validation/unknowns.py UnknownsRange, when asked for

    @property
    def error(self) -> float:
        """Signed relative error of the predicted step time."""
        return self.predicted_iter_s / self.measured_iter_s - 1.0

    def to_dict(self) -> dict[str, Any]:
        return {"case": self.case, "run": self.run, "gpus": self.gpus, "measured_iter_s": self.measured_iter_s,
                "predicted_iter_s": self.predicted_iter_s, "error": self.error, "predicted_mfu": self.predicted_mfu,
                "cross_validated_error": self.cross_validated_error,
                **({"unknowns": self.unknowns.to_dict()} if self.unknowns is not None else {})}


@functools.cache
def _data() -> dict[str, Any]:
    text = resources.files("colossim.validation").joinpath("data", "training_runs.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def _values(section: dict[str, Any] | None) -> dict[str, Any]:
    """``{field: {value, source|convention}}`` (nested by scenario section) as plain values."""
    out: dict[str, Any] = {}
    for key, entry in (section or {}).items():
        out[key] = entry["value"] if isinstance(entry, dict) and "value" in entry else _values(entry)
    return out


def convention_keys(c: dict[str, Any], run: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """The (section, field) pairs a case (or its row) fills by convention, in file order."""
    out: dict[tuple[str, str], None] = {}
    for conv in (c.get("conventions"), run.get("conventions")):
        for section, values in _values(conv).items():
            out.update(dict.fromkeys((section, name) for name in values))
    return tuple(out)


def case_scenario(c: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
    """A run's scenario: the case's stack, what its source states, the plan conventions
    (the case's, then the run's own ``conventions`` where one row needs another value),
    then the run's own row (stated by its table). A row measured on another machine than
    its case's names it in its own ``cluster`` ({value, source})."""
    stated = _values(c.get("stated"))
    conv = _deep_merge(_values(c.get("conventions")), _values(run.get("conventions")))
    section = {}
    for name in ("training", "parallel"):
        section[name] = _deep_merge(_deep_merge(conv.get(name, {}), stated.get(name, {})), run.get(name, {}))
    section["training"] = {"stack": c["stack"], **section["training"]}
    cluster = (run.get("cluster") or c["cluster"])["value"]
    return {"name": f"{c['case']}/{run['name']}", "model": run["model"], "cluster": cluster, **section}


def reference_runs(case: str | None = None) -> list[ReferenceRun]:
    out = []
    for c in _data()["cases"]:
        if case is not None and c["case"] != case:
            continue
        for r in c["runs"]:
            out.append(ReferenceRun(case=c["case"], name=r["name"], gpu_family=c["gpu"], scenario=case_scenario(c, r),
                                    measured_iter_s=float(r["measured"]["iter_s"]), source=c["source"],
                                    conventions=convention_keys(c, r)))
    return out


def case_info(case: str) -> dict[str, Any]:
    """A case's stack, stated settings and conventions (for docs and reports)."""
    c = next(c for c in _data()["cases"] if c["case"] == case)
    return {"stack": c["stack"], "stated": _values(c.get("stated")), "conventions": _values(c.get("conventions"))}


def case_names() -> list[str]:
    return [c["case"] for c in _data()["cases"]]


def validate(case: str | None = None, cross_validate: bool = False, unknowns: bool = False) -> list[ValidationRow]:
    """Every run's predicted step time under the catalog profiles; with ``cross_validate``
    also its error when its case family is left out of the fit (validation/fit.py); with
    ``unknowns`` the error range its conventions span (validation/unknowns.py)."""
    from colossim.perf.estimate import estimate
    from colossim.validation.unknowns import unknowns_range

    cv: dict[str, float] = {}
    if cross_validate:
        from colossim.validation.fit import cross_validated_errors

        cv = cross_validated_errors()

    rows = []
    for run in reference_runs(case):
        scenario = run.build()
        est = estimate(scenario)
        rows.append(ValidationRow(case=run.case, run=run.name, gpus=scenario.num_gpus_used,
                                  measured_iter_s=run.measured_iter_s, predicted_iter_s=est.step_time_s,
                                  predicted_mfu=est.mfu, cross_validated_error=cv.get(run.label),
                                  unknowns=unknowns_range(run) if unknowns else None))
    return rows


def mape(rows: list[ValidationRow]) -> float:
    return sum(abs(r.error) for r in rows) / len(rows)


def cross_validated_mape(rows: list[ValidationRow]) -> float:
    errs = [abs(r.cross_validated_error) for r in rows if r.cross_validated_error is not None]
    return sum(errs) / len(errs)


def family_summary(rows: list[ValidationRow]) -> list[dict[str, Any]]:
    """Per case family: runs, in-sample MAPE and worst, cross-validated MAPE (when known)."""
    out = []
    for case in dict.fromkeys(r.case for r in rows):
        sub = [r for r in rows if r.case == case]
        entry: dict[str, Any] = {"case": case, "runs": len(sub), "mape": mape(sub),
                                 "max_abs_error": max(abs(r.error) for r in sub)}
        if all(r.cross_validated_error is not None for r in sub):
            entry["cross_validated_mape"] = cross_validated_mape(sub)
        out.append(entry)
    return out


def stack_summary(rows: list[ValidationRow]) -> dict[str, dict[str, float]]:
    """Per software stack (the one each case names): runs, cross-validated MAPE and the median
    signed cross-validated error (negative: predicted steps shorter than measured; the median,
    so one run with an unstated knob does not speak for a stack's typical bias). The record
    each stack stores as ``validated`` (catalog/data/stacks.yaml) for the estimate's note."""
    stacks = {c["case"]: c["stack"] for c in _data()["cases"]}
    out: dict[str, dict[str, float]] = {}
    for name in dict.fromkeys(stacks[r.case] for r in rows):
        errs = [r.cross_validated_error for r in rows if stacks[r.case] == name and r.cross_validated_error is not None]
        if errs:
            out[name] = {"runs": len(errs), "cross_validated_mape": round(sum(map(abs, errs)) / len(errs), 4),
                         "cross_validated_bias": round(statistics.median(errs), 4)}
    return out
