"""The search's branch and bound: the lower bound holds plan by plan, and pruning with it
changes nothing (the same plans, in the same order, as evaluating every plan)."""

from __future__ import annotations

import numpy as np
import pytest

from colossim.errors import ColossimError
from colossim.perf import evaluate
from colossim.perf.bound import step_time_lower_bound_s
from colossim.perf.hardware import resolve_hardware
from colossim.scenario import PlanBatch, load_scenario
from colossim.scenario.rules import check_plans
from colossim.search import Constraints, search
from colossim.search.space import build_space, parse_value

DENSE = {"model": "llama3-8b", "cluster": {"gpu": "h100-sxm", "num_gpus": 64},
         "training": {"seq_len": 4096, "global_batch_size": 128}}
MOE = {"model": "mixtral-8x7b", "cluster": {"gpu": "h100-sxm", "num_gpus": 32},
       "training": {"seq_len": 4096, "global_batch_size": 64}}
MTP = {"model": "deepseek-v3", "cluster": {"gpu": "h800", "num_gpus": 256},
       "training": {"seq_len": 4096, "global_batch_size": 512, "grad_accumulation_fusion": False}}
DEFER = {"model": "llama3-70b", "cluster": {"gpu": "h100-sxm", "num_gpus": 64},
         "training": {"seq_len": 8192, "global_batch_size": 128, "defer_output_wgrad": True, "wgrad_deferral_limit": 5}}
OFFLOAD = {"model": "llama3-70b", "cluster": {"gpu": "h100-sxm", "num_gpus": 64},
           "training": {"seq_len": 8192, "global_batch_size": 64, "offload": {"activations": True}}}


def _legal_sample(body: dict, n: int = 60_000, seed: int = 0) -> tuple:
    sc = load_scenario(body)
    m, c, t = sc.model, sc.cluster, sc.training
    space = build_space(m, c, t, Constraints())
    rng = np.random.default_rng(seed)
    batch = space.at(np.sort(rng.choice(space.size, size=min(n, space.size), replace=False)))
    return sc, batch.take(check_plans(m, c, t, batch) == 0)


@pytest.mark.parametrize("body", [DENSE, MOE, MTP, OFFLOAD, DEFER],
                         ids=["dense", "moe", "mtp-dense-first", "offload", "deferred-output-wgrad"])
def test_lower_bound_never_exceeds_the_step_time(body) -> None:
    sc, plans = _legal_sample(body)
    assert len(plans) > 1000 and len(np.unique(plans.schedule)) == 3
    hw = resolve_hardware(sc.cluster, sc.training)
    lower = step_time_lower_bound_s(sc.model, sc.training, plans, hw)
    step = evaluate(sc.model, sc.cluster, sc.training, plans, hw).step_time_s
    assert (lower <= step * (1 + 1e-12)).all()
    assert np.median(lower / step) > 0.2  # and it is not vacuous


def test_lower_bound_with_uneven_stages() -> None:
    sc = load_scenario(DENSE)
    n = 8
    plans = PlanBatch.from_arrays(tp=np.full(n, 2), pp=np.full(n, 4), dp=np.full(n, 8), mbs=np.ones(n, dtype=int),
                                  first_stage_layers=[7, 7, 9, 0, 7, 7, 9, 0], last_stage_layers=[7, 9, 0, 6, 7, 9, 0, 6],
                                  schedule=[0, 0, 1, 1, 2, 2, 2, 2], recompute=[0, 1, 2, 0, 1, 2, 0, 1])
    plans = plans.take(check_plans(sc.model, sc.cluster, sc.training, plans) == 0)
    assert len(plans) >= 4
    hw = resolve_hardware(sc.cluster, sc.training)
    lower = step_time_lower_bound_s(sc.model, sc.training, plans, hw)
    assert (lower <= evaluate(sc.model, sc.cluster, sc.training, plans, hw).step_time_s).all()


def test_row_bound_covers_every_sp_setting() -> None:
    sc, plans = _legal_sample(MOE, n=20_000)
    hw = resolve_hardware(sc.cluster, sc.training)
    row = step_time_lower_bound_s(sc.model, sc.training, plans, hw, sp_options=(False, True))
    assert (row <= step_time_lower_bound_s(sc.model, sc.training, plans, hw) * (1 + 1e-12)).all()


@pytest.mark.parametrize("body,top,constraints", [
    (DENSE, 10, Constraints()), (DENSE, 1, Constraints(fixed={"pp": 2})), (MOE, 10, Constraints()),
    (MOE, 3, Constraints(fixed={"schedule": 2})), (MTP, 5, Constraints(maximum={"pp": 8}))],
    ids=["dense", "dense-pp2", "moe", "moe-dualpipe", "mtp"])
def test_branch_and_bound_equals_evaluating_every_plan(body, top, constraints) -> None:
    sc = load_scenario(body)
    every = search(sc, top=top, constraints=constraints, workers=1, exhaustive=True)
    bnb = search(sc, top=top, constraints=constraints, workers=1)
    assert [e.to_dict() for e in bnb.top] == [e.to_dict() for e in every.top]
    assert bnb.bounded > 0 and bnb.evaluated < every.evaluated
    assert bnb.candidates == bnb.evaluated + bnb.redundant + sum(bnb.broken_rules.values()) + bnb.bounded
    assert every.bounded == 0


def test_branch_and_bound_is_the_same_on_two_workers() -> None:
    sc = load_scenario(MOE)
    one = search(sc, top=5, workers=1, chunk=1 << 12)
    two = search(sc, top=5, workers=2, chunk=1 << 12)
    assert [e.to_dict() for e in one.top] == [e.to_dict() for e in two.top]
    assert (one.evaluated, one.bounded, one.not_fitting) == (two.evaluated, two.bounded, two.not_fitting)


def test_schedule_is_a_dimension() -> None:
    assert parse_value("schedule", "dualpipe") == 2 and parse_value("schedule", "zero-bubble") == 1
    with pytest.raises(ColossimError, match="did you mean 'dualpipe'"):
        parse_value("schedule", "dualpip")
    r = search(load_scenario(MOE), top=3, constraints=Constraints(fixed={"schedule": 2}))
    assert all(e.plan["schedule"] == "dualpipe" and e.plan["pp"] % 2 == 0 and e.plan["vpp"] == 1 for e in r.top)
    with pytest.raises(ColossimError, match="dualpipe.*even pp"):
        search(load_scenario(MOE), constraints=Constraints(fixed={"schedule": 2, "pp": 1}))
