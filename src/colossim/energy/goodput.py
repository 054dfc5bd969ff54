"""One goodput for every answer that stretches a failure-free run into wall-clock time.

`colossim cost`, the energy of a run, the days to train of `colossim estimate` and the
report all divide the failure-free time by the same fraction, and say where it came from:

1. given: ``--goodput`` or ``cost.goodput`` (cost only), then ``training.goodput``;
2. otherwise the reliability model's ETTR (effective training time ratio: the mean over the
   Monte Carlo replications of `colossim reliability`, with the scenario's ``reliability:``
   section, its seed and replication count), so `cost` and `reliability` agree.

ETTR, not the straggler-inclusive goodput, is what the reliability model calls the useful
share of wall time lost to failures, checkpoints and restarts; stragglers are left out here
as in the step model. A job that shrinks (``spares.when_exhausted: shrink``) keeps training
while short of servers, on fewer data-parallel replicas: that time is kept, but only the
share of it the remaining replicas do counts (RunArrays.ettr_at_full_size), or a job that
runs at half size for weeks would read as if it had lost nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from colossim.scenario import Scenario


@dataclass(frozen=True)
class Goodput:
    """The useful fraction of wall time, and where it came from."""

    value: float
    source: str  # "given", "training.goodput" or "reliability"
    detail: str
    warning: str | None = None  # the reliability model's first-line warning (no spare left, ETTR < 0.5)

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "source": self.source, "detail": self.detail, "warning": self.warning}

    def describe(self) -> str:
        return f"goodput {self.value:.3f} ({self.detail})"


def resolve_goodput(scenario: Scenario, given: float | None = None, given_by: str = "--goodput",
                    total_tokens: float | None = None) -> Goodput:
    """The goodput of the scenario's run: ``given`` wins, then ``training.goodput``, then ETTR
    (of a run of ``total_tokens``, default ``training.total_tokens``)."""
    if given is not None:
        return Goodput(float(given), "given", f"given by {given_by}")
    if scenario.training.goodput is not None:
        return Goodput(float(scenario.training.goodput), "training.goodput", "training.goodput")
    from colossim.reliability.analysis import analyze, spares_warning

    if total_tokens is not None and total_tokens != scenario.training.total_tokens:
        training = scenario.training.model_copy(update={"total_tokens": total_tokens})
        scenario = scenario.model_copy(update={"training": training})
    result = analyze(scenario)
    ettr = float(result.runs.ettr().mean())
    useful = float(result.runs.ettr_at_full_size().mean())
    shrunk = f", {ettr - useful:.3f} of it lost running short of servers (shrunk)" if ettr - useful > 5e-4 else ""
    return Goodput(useful, "reliability", f"the reliability model's ETTR{shrunk}, mean of {result.runs.replications} "
                                          f"replications, seed {result.seed}", spares_warning(result.job, ettr))


def time_to_train(scenario: Scenario, failure_free_days: float | None) -> dict[str, Any] | None:
    """Days to train with the run's goodput (None without a token count): the ``time_to_train``
    object of `estimate --json` and the report."""
    if failure_free_days is None:
        return None
    g = resolve_goodput(scenario)
    return {"days": failure_free_days / g.value, "failure_free_days": failure_free_days, "goodput": g.to_dict()}
