"""Why a plan search found nothing: the rule every candidate breaks, or what else removed them.

Split from :mod:`colossim.search.engine`, which raises the message when no plan is left.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from colossim.scenario import PlanBatch, Scenario
from colossim.scenario.rules import RULES, describe
from colossim.search.space import empty_stage

if TYPE_CHECKING:
    from colossim.search.engine import SearchResult


def blame(space: Any, scenario: Scenario) -> str:
    """The rule every candidate breaks (rule by rule, not first-broken), with an example: among the
    rows reaching the stage where the legal rows run out (not the whole product: billions of plans
    at 100k GPUs), else among the legal plans."""
    m, c, t = scenario.model, scenario.cluster, scenario.training
    stage = empty_stage(space.values, m, c, t) if space.legal is not None else None
    batches = [stage[1]] if stage is not None else space.chunks()  # legal is None: the benchmark's whole product
    always = np.array([stage is None or r.name in stage[0] for r in RULES], dtype=bool)
    example: dict[int, tuple[PlanBatch, int]] = {}
    for batch in batches:
        for i, rule in enumerate(RULES):
            if not always[i]:
                continue
            broken = ~np.asarray(rule.check(m, c, t, batch), dtype=bool)
            always[i] &= bool(broken.all())
            if i not in example and broken.any():
                example[i] = (batch, int(np.argmax(broken)))
    culprits = [i for i in range(len(RULES)) if always[i] and i in example]
    if not culprits:
        return "no single rule removes every candidate; together they leave none: relax a fixed value or bound"
    i = culprits[0]
    batch, row = example[i]
    return f"every candidate breaks {RULES[i].field}: {describe(i + 1, m, c, t, batch, row)[1]}"


def message(r: SearchResult, gpu: str, culprit: str | None) -> str:
    """Say which constraint removed everything (``culprit``: :func:`blame`'s sentence)."""
    head = f"no plan satisfies the search ({r.candidates:,} candidates, constraints: {r.constraints})"
    if r.evaluated == 0 and r.redundant:  # the rows every rule passed are all another plan under a second name
        return (f"{head}: every plan the rules leave is a duplicate of one the constraints exclude (sequence "
                "parallelism at tp 1, ZeRO on one data-parallel rank, etp 1 at tp 1 is the plan without it): "
                "relax the fixed sp, zero or etp, or the tp or dp beside it")
    if r.evaluated == 0:
        return f"{head}: {culprit}"
    if r.not_fitting == r.evaluated:
        return (f"{head}: all {r.evaluated:,} valid plans exceed the {gpu}'s memory (the smallest needs "
                f"{r.smallest_memory_not_fitting_gb:.1f} GB). Use more GPUs, recompute, ZeRO or a larger-memory GPU.")
    return (f"{head}: {r.missed_condition:,} plans fit in memory but miss the objective's condition "
            "(the deadline); allow more GPUs or more days.")
