"""What the search optimises: one score per plan, lower is better.

Each objective is a function with one signature (``StepArrays``, scenario parts, options)
returning a score array, plus a flag for the plans it admits. Throughput is the default.
Cost and energy come from :mod:`colossim.energy` (imported when asked for).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from colossim.errors import ColossimError, field_error
from colossim.perf.estimate import SECONDS_PER_DAY, training_s
from colossim.perf.step import StepArrays
from colossim.scenario import ClusterSpec, TrainingSpec


@dataclass(frozen=True)
class ObjectiveOptions:
    deadline_days: float | None = None
    total_tokens: float | None = None


Score = Callable[[StepArrays, ClusterSpec, TrainingSpec, ObjectiveOptions], tuple[np.ndarray, np.ndarray]]


def throughput(r: StepArrays, cluster: ClusterSpec, training: TrainingSpec, o: ObjectiveOptions):
    """Highest tokens per second."""
    return -r.tokens_per_s, np.ones(len(r), dtype=bool)


def cost(r: StepArrays, cluster: ClusterSpec, training: TrainingSpec, o: ObjectiveOptions):
    """Lowest cost per token (electricity + amortised capital, colossim.energy)."""
    from colossim.energy.objectives import cost_per_token_usd

    return cost_per_token_usd(r, cluster), np.ones(len(r), dtype=bool)


def energy(r: StepArrays, cluster: ClusterSpec, training: TrainingSpec, o: ObjectiveOptions):
    """Lowest facility energy per token (colossim.energy)."""
    from colossim.energy.objectives import energy_per_token_j

    return energy_per_token_j(r, cluster), np.ones(len(r), dtype=bool)


def fewest_gpus(r: StepArrays, cluster: ClusterSpec, training: TrainingSpec, o: ObjectiveOptions):
    """Fewest GPUs that finish ``total_tokens`` within the deadline; faster breaks ties."""
    assert o.deadline_days is not None and o.total_tokens is not None
    days = training_s(o.total_tokens, training.tokens_per_step, r.step_time_s) / SECONDS_PER_DAY
    meets = days <= o.deadline_days
    return r.gpus_used.astype(float) + days / (o.deadline_days * 1e3), meets


def throughput_bound(lower_step_s: np.ndarray, training: TrainingSpec) -> np.ndarray:
    """The best throughput score a plan can reach given a lower bound on its step time."""
    with np.errstate(divide="ignore"):
        return -training.tokens_per_step / lower_step_s


# What a plan's score reads as, for the objectives whose value no other column shows
# (throughput is tokens/s and the fewest-GPUs objective the GPU count, both in every record).
OBJECTIVE_UNITS = {"cost": "USD per million tokens", "energy": "kWh per million tokens"}


def objective_values(name: str, score: np.ndarray) -> tuple[str, np.ndarray] | None:
    """(unit, value per plan) of the objective in the units a reader compares; None where the
    plan records already show it. The cost score is USD per token, the energy score facility
    J per token."""
    if name not in OBJECTIVE_UNITS:
        return None
    from colossim.energy.objectives import J_PER_KWH

    per_million = np.asarray(score, dtype=float) * 1e6
    return OBJECTIVE_UNITS[name], per_million / J_PER_KWH if name == "energy" else per_million


# Objectives whose score a lower bound on the step time bounds (the search's branch and bound)
OBJECTIVE_BOUNDS = {"throughput": throughput_bound}

OBJECTIVES: dict[str, Score] = {"throughput": throughput, "cost": cost, "energy": energy, "gpus": fewest_gpus}


def check_objective(name: str, options: ObjectiveOptions) -> Score:
    """The objective function, or a clear error when it cannot be computed."""
    if name not in OBJECTIVES:
        raise field_error("--objective", name, f"allowed: {', '.join(OBJECTIVES)}", choices=OBJECTIVES)
    if name == "gpus":
        if options.deadline_days is None:
            raise ColossimError("--objective gpus needs --deadline-days (the time the run must finish in)",
                                field="--deadline-days")
        if options.deadline_days <= 0:
            raise field_error("--deadline-days", options.deadline_days, "must be > 0")
        if options.total_tokens is None:
            raise ColossimError("--objective gpus needs training.total_tokens in the scenario (or --total-tokens)",
                                field="training.total_tokens")
    if name in ("cost", "energy"):
        try:
            import colossim.energy.objectives  # noqa: F401
        except ImportError:
            raise ColossimError(f"--objective {name} needs the energy model (colossim.energy), which is missing",
                                field="--objective") from None
    return OBJECTIVES[name]
