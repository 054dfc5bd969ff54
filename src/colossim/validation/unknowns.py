"""What a reference run's unstated knobs could do to its prediction.

A case fills what its source leaves out by convention (``conventions`` in the data file,
each with its reason). Those values are not fitted, and they are not known either: this
module replays each run over every admissible value of each of its conventions, jointly,
and reports the range of the predicted step time's error. A run whose measured step lies
inside the range may owe its error to what its source does not say; one outside it (or a
run whose source states everything) is a miss of the step model itself.

Admissible: the values each knob can take in the run's software (:data:`SCENARIO_KNOBS`,
:data:`MICRO_BATCHES` and :func:`_plan_values`), that make a valid plan (scenario.rules)
which fits in the GPU's memory (perf/memory.py's estimate, whose own misses bound the sweep
too), as the measured run did. Left out: knobs a case fills that have no finite set of alternatives
(``seq_len``, ``recompute_modules``: reported as not swept), and unknowns the data file
records only in prose (``source.unverified``), such as a build's gradient dtype.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from colossim.errors import ColossimError
from colossim.perf.step import evaluate
from colossim.scenario import load_scenario
from colossim.scenario.batch import PlanBatch
from colossim.scenario.rules import check_plans, divisors
from colossim.scenario.training import RECOMPUTE_CODES
from colossim.validation.runs import ReferenceRun, cross_validated_mape, mape

MICRO_BATCHES = (1, 2, 4, 8)
# knobs swept per scenario (training-level: each value is a scenario of its own) ...
SCENARIO_KNOBS = {("training", "precision"): ("bf16", "fp16", "fp8"), ("training", "zero_stage"): (0, 1)}
# ... and per plan: knob -> its column of one PlanBatch, every value evaluated at once
PLAN_KNOBS = {("training", "micro_batch_size"): "mbs", ("training", "recompute"): "recompute",
              ("parallel", "sequence_parallel"): "sp", ("parallel", "vpp"): "vpp"}


@dataclass(frozen=True, slots=True)
class UnknownsRange:
    """The error range of one run over its conventions' admissible values."""

    knobs: tuple[str, ...]  # swept, as "section.field"
    not_swept: tuple[str, ...] = ()
    variants: int = 1  # admissible combinations (the convention itself among them)
    low: float = 0.0  # signed relative error of the fastest admissible prediction
    high: float = 0.0
    extremes: dict[str, dict[str, Any]] = field(default_factory=dict)  # "low"/"high": the knob values
    per_knob: dict[str, tuple[float, float]] = field(default_factory=dict)  # each alone, the others at convention

    @property
    def contains_measured(self) -> bool:
        return self.low <= 0.0 <= self.high

    def to_dict(self) -> dict[str, Any]:
        return {"knobs": list(self.knobs), "not_swept": list(self.not_swept), "variants": self.variants,
                "error_range": [self.low, self.high], "contains_measured": self.contains_measured,
                "extremes": self.extremes, "per_knob": {k: list(v) for k, v in self.per_knob.items()}}

    def widest_knob(self) -> str | None:
        """The knob that alone spans the widest range (None when nothing was swept)."""
        return max(self.per_knob, key=lambda k: self.per_knob[k][1] - self.per_knob[k][0], default=None)


def _plan_values(knob: tuple[str, str], scenario: dict[str, Any], num_layers: int) -> list[Any]:
    training, parallel = scenario.get("training", {}), scenario.get("parallel", {})
    if knob == ("training", "micro_batch_size"):
        per_rank = training["global_batch_size"] // parallel["dp"]
        return [m for m in MICRO_BATCHES if per_rank % m == 0]
    if knob == ("training", "recompute"):
        return list(RECOMPUTE_CODES)
    if knob == ("parallel", "sequence_parallel"):
        return [False, True] if parallel.get("tp", 1) > 1 else [bool(parallel.get("sequence_parallel", False))]
    pp = parallel.get("pp", 1)
    return [1] + [d for d in divisors(num_layers // pp) if d > 1] if pp > 1 else [1]


def _batch(scenario, plan_knobs, combos) -> PlanBatch:
    base = scenario.plan_batch()
    cols = {f: np.repeat(getattr(base, f), len(combos)) for f in base.__dataclass_fields__}
    for i, knob in enumerate(plan_knobs):
        values = [c[i] for c in combos]
        cols[PLAN_KNOBS[knob]] = np.array([RECOMPUTE_CODES[v] for v in values] if knob[1] == "recompute" else values)
    return PlanBatch.from_arrays(**cols)


def unknowns_range(run: ReferenceRun) -> UnknownsRange:
    """Replay ``run`` over its conventions' admissible values (module docstring)."""
    knobs = run.conventions
    scen_knobs = [k for k in knobs if k in SCENARIO_KNOBS]
    plan_knobs = [k for k in knobs if k in PLAN_KNOBS]
    not_swept = tuple(".".join(k) for k in knobs if k not in SCENARIO_KNOBS and k not in PLAN_KNOBS)
    swept = tuple(".".join(k) for k in scen_knobs + plan_knobs)
    base = run.build()
    plan_sets = [_plan_values(k, run.scenario, base.model.num_layers) for k in plan_knobs]
    plan_combos = list(itertools.product(*plan_sets))
    errors: list[float] = []
    labels: list[dict[str, Any]] = []
    for scen_values in itertools.product(*(SCENARIO_KNOBS[k] for k in scen_knobs)):
        raw = copy.deepcopy(run.scenario)
        for (section, name), value in zip(scen_knobs, scen_values, strict=True):
            raw.setdefault(section, {})[name] = value
        try:
            scenario = load_scenario(raw)
        except ColossimError:
            continue  # not a valid run of this software (e.g. fp8 on a GPU without it)
        batch = _batch(scenario, plan_knobs, plan_combos)
        ok = check_plans(scenario.model, scenario.cluster, scenario.training, batch) == 0
        if not ok.any():
            continue
        idx = np.flatnonzero(ok)
        arrays = evaluate(scenario.model, scenario.cluster, scenario.training, batch.take(idx))
        for j in np.flatnonzero(arrays.fits):
            errors.append(float(arrays.step_time_s[j]) / run.measured_iter_s - 1.0)
            combo = dict(zip(scen_knobs, scen_values, strict=True)) | dict(zip(plan_knobs, plan_combos[idx[j]], strict=True))
            labels.append({".".join(k): v for k, v in combo.items()})
    if not errors:  # nothing admissible but the convention itself (it may not fit: the memory model's miss)
        est = evaluate(base.model, base.cluster, base.training, base.plan_batch())
        err = float(est.step_time_s[0]) / run.measured_iter_s - 1.0
        return UnknownsRange(swept, not_swept, 1, err, err)
    lo, hi = int(np.argmin(errors)), int(np.argmax(errors))
    return UnknownsRange(swept, not_swept, len(errors), errors[lo], errors[hi],
                         {"low": labels[lo], "high": labels[hi]}, _per_knob(run, swept, errors, labels))


def _per_knob(run: ReferenceRun, swept, errors: list[float], labels: list[dict[str, Any]]) -> dict[str, tuple[float, float]]:
    """Each knob's range with every other knob at its convention (the run's own values)."""
    own = {k: run.scenario.get(k.split(".")[0], {}).get(k.split(".")[1]) for k in swept}
    out = {}
    for knob in swept:
        alone = [e for e, lab in zip(errors, labels, strict=True)
                 if all(lab[k] == own[k] for k in swept if k != knob)]
        if alone:
            out[knob] = (min(alone), max(alone))
    return out


def unknowns_summary(rows: list[Any]) -> dict[str, Any]:
    """Rows (validation/runs.py ValidationRow with ``unknowns``) split by what their sources
    state: the MAPE of the fully stated runs (their errors are the model's own) and of the
    rest, and which of the rest have their measured step outside their unknowns' range (runs
    whose conventions have no finite set of values are ``not_swept``)."""
    stated = [r for r in rows if r.unknowns is not None and not (r.unknowns.knobs or r.unknowns.not_swept)]
    open_ = [r for r in rows if r.unknowns is not None and (r.unknowns.knobs or r.unknowns.not_swept)]

    def mape_of(sub: list[Any]) -> float | None:
        return mape(sub) if sub else None

    def cv_mape(sub: list[Any]) -> float | None:
        known = sub and all(r.cross_validated_error is not None for r in sub)
        return cross_validated_mape(sub) if known else None

    swept = [r for r in open_ if r.unknowns.knobs]
    outside = [f"{r.case}/{r.run}" for r in swept if not r.unknowns.contains_measured]
    return {"fully_stated": {"runs": len(stated), "mape": mape_of(stated), "cross_validated_mape": cv_mape(stated)},
            "with_unknowns": {"runs": len(open_), "mape": mape_of(open_), "cross_validated_mape": cv_mape(open_),
                              "inside_range": len(swept) - len(outside),
                              "outside_range": outside,
                              "not_swept": [f"{r.case}/{r.run}" for r in open_ if not r.unknowns.knobs]}}
