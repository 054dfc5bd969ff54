"""The reference runs (``data/training_runs.yaml``) and their replay.

Each run is a scenario built from its case's conventions plus the run's own settings,
evaluated through the same :func:`colossim.perf.estimate` path users call, and compared
on step time (the quantity every paper's throughput derives from).
"""

from __future__ import annotations

import functools
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

    @property
    def error(self) -> float:
        """Signed relative error of the predicted step time."""
        return self.predicted_iter_s / self.measured_iter_s - 1.0

    def to_dict(self) -> dict[str, Any]:
        return {"case": self.case, "run": self.run, "gpus": self.gpus, "measured_iter_s": self.measured_iter_s,
                "predicted_iter_s": self.predicted_iter_s, "error": self.error, "predicted_mfu": self.predicted_mfu}


@functools.cache
def _data() -> dict[str, Any]:
    text = resources.files("colossim.validation").joinpath("data", "training_runs.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def reference_runs(case: str | None = None) -> list[ReferenceRun]:
    out = []
    for c in _data()["cases"]:
        if case is not None and c["case"] != case:
            continue
        conv = c["conventions"]
        for r in c["runs"]:
            scenario = {
                "name": f"{c['case']}/{r['name']}",
                "model": r["model"],
                "cluster": conv["cluster"],
                "training": _deep_merge(conv.get("training", {}), r.get("training", {})),
                "parallel": _deep_merge(conv.get("parallel", {}), r.get("parallel", {})),
            }
            out.append(ReferenceRun(case=c["case"], name=r["name"], gpu_family=c["gpu"], scenario=scenario,
                                    measured_iter_s=float(r["measured"]["iter_s"]), source=c["source"]))
    return out


def case_names() -> list[str]:
    return [c["case"] for c in _data()["cases"]]


def validate(case: str | None = None) -> list[ValidationRow]:
    from colossim.perf.estimate import estimate

    rows = []
    for run in reference_runs(case):
        scenario = run.build()
        est = estimate(scenario)
        rows.append(ValidationRow(case=run.case, run=run.name, gpus=scenario.num_gpus_used,
                                  measured_iter_s=run.measured_iter_s, predicted_iter_s=est.step_time_s,
                                  predicted_mfu=est.mfu))
    return rows


def mape(rows: list[ValidationRow]) -> float:
    return sum(abs(r.error) for r in rows) / len(rows)
