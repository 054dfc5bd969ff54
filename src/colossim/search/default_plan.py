"""The plan of a scenario that names none: the plan search's best.

A scenario without a ``parallel:`` section used to run tp=1, pp=1 and the largest dp, a
plan no one would train with (a 314B model on one GPU's memory). A demanding user leaves
the plan out to mean "the best one": this runs the same search as ``colossim search``
(objective throughput, no constraints) and puts its first plan, with the micro-batch,
recompute and ZeRO stage it chose, into the scenario, marked ``plan_source="search"``.
"""

from __future__ import annotations

from colossim.scenario import Scenario
from colossim.scenario.parallel import ParallelPlan
from colossim.scenario.training import TrainingSpec


def with_best_plan(scenario: Scenario, objective: str = "throughput") -> Scenario:
    """The scenario with the search's best plan in place of its own: the plan's parallel
    fields into ``parallel``, the training fields it searched (micro-batch, recompute, ZeRO
    stage, ...) into ``training``."""
    from colossim.errors import ColossimError
    from colossim.search.engine import search

    found = search(scenario, objective=objective, top=1).top
    if not found:
        raise ColossimError(
            "parallel: the scenario has no parallel section and no plan of the search fits this model, cluster and "
            "batch in memory; give a plan (parallel: ...) or a larger cluster, batch or GPU",
            field="parallel", value=None, allowed="a plan that fits (see `colossim search`)")
    best = found[0].plan
    plan = ParallelPlan(**{k: v for k, v in best.items() if k in ParallelPlan.model_fields and v is not None})
    training = scenario.training.model_copy(update={
        k: v for k, v in best.items() if k in TrainingSpec.model_fields and k not in ParallelPlan.model_fields})
    return scenario.model_copy(update={"parallel": plan, "training": training, "dp_was_inferred": False,
                                       "plan_source": "search"})


def describe_plan(scenario: Scenario) -> str:
    """One line for the terminal: where the plan came from."""
    p, t = scenario.parallel, scenario.training
    return (f"plan: the scenario has no parallel section, so the search's best plan is used: tp={p.tp} pp={p.pp} "
            f"dp={p.dp} cp={p.cp} ep={p.ep} vpp={p.vpp}, micro-batch {t.micro_batch_size}, recompute {t.recompute}, "
            f"ZeRO-{t.zero_stage} (set parallel: to choose your own)")
