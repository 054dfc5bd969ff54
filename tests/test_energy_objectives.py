"""Per-plan objectives for the search: vectorized, and equal to the single-plan reports."""

from __future__ import annotations

import numpy as np
import pytest

from colossim.api import evaluate, load_scenario
from colossim.energy.cost import cost_model, cost_report
from colossim.energy.objectives import (
    cost_per_token_usd,
    energy_per_token_j,
    facility_power_w,
    peak_facility_power_w,
)
from colossim.energy.options import CostOptions
from colossim.energy.power import power_model
from colossim.energy.site import power_report
from colossim.scenario import PlanBatch


@pytest.fixture(scope="module")
def scenario():
    return load_scenario({
        "model": "llama3-8b",
        "cluster": {"gpu": "h100-sxm", "num_gpus": 64},
        "training": {"seq_len": 4096, "global_batch_size": 64, "total_tokens": 1e10},
        "parallel": {"tp": 2, "pp": 2, "dp": 16},
    })


def batch(sc, n: int = 1) -> PlanBatch:
    tp = [2, 1, 4, 8, 2, 2][:n]
    pp = [2, 1, 2, 1, 4, 1][:n]
    dp = [16, 64, 8, 8, 4, 16][:n]
    return PlanBatch.from_arrays(tp=tp, pp=pp, dp=dp, mbs=1)


def test_objectives_match_the_single_plan_reports(scenario) -> None:
    arrays = evaluate(scenario.model, scenario.cluster, scenario.training, scenario.plan_batch())
    power = power_report(scenario)
    e = energy_per_token_j(arrays, scenario.cluster)
    assert e.shape == (1,)
    assert e[0] == pytest.approx(power.facility_w("average") * power.step_time_s / scenario.training.tokens_per_step)
    assert facility_power_w(arrays, scenario.cluster)[0] == pytest.approx(power.facility_w("average"))
    assert peak_facility_power_w(arrays, scenario.cluster)[0] == pytest.approx(power.facility_w("peak"))
    # the per-token objective is failure-free; the report defaults to the reliability model's ETTR
    cost = cost_report(scenario, power, CostOptions(goodput=1.0)).to_dict()
    c = cost_per_token_usd(arrays, scenario.cluster)
    assert c[0] == pytest.approx(cost["cost_usd"] / 1e10, rel=1e-6)


def test_vectorized_over_plans(scenario) -> None:
    b = batch(scenario, 6)
    arrays = evaluate(scenario.model, scenario.cluster, scenario.training, b)
    pm = power_model(scenario.cluster)
    cm = cost_model(scenario.cluster)
    e = energy_per_token_j(arrays, scenario.cluster, pm)
    c = cost_per_token_usd(arrays, scenario.cluster, pm, cm)
    assert e.shape == c.shape == (6,)
    assert np.all(e > 0) and np.all(c > 0)
    # row by row, the same numbers as a batch of one
    for i in range(6):
        one = arrays.take(np.array([i]))
        assert energy_per_token_j(one, scenario.cluster, pm)[0] == pytest.approx(e[i])
    # the power behind each number lies between every GPU waiting and the nameplate
    watts = e * arrays.tokens_per_step / arrays.step_time_s
    low = float(pm.it_w(pm.phase_w["idle"], 0)) * pm.pue
    high = sum(pm.nameplate_components_w().values()) * pm.pue
    assert np.all((low < watts) & (watts < high))


def test_idle_gpus_are_paid_for(scenario) -> None:
    b = PlanBatch.from_arrays(tp=[2, 2], pp=[2, 2], dp=[16, 8], mbs=1)
    arrays = evaluate(scenario.model, scenario.cluster, scenario.training, b)
    p = facility_power_w(arrays, scenario.cluster)
    pm = power_model(scenario.cluster)
    idle_w = (pm.phase_w["idle"] + float(pm.overhead_w(pm.phase_w["idle"]))) * pm.pue
    assert arrays.gpus_used[1] == 32
    assert p[1] > 32 * idle_w  # the 32 idle GPUs still draw
    assert energy_per_token_j(arrays, scenario.cluster)[1] > energy_per_token_j(arrays, scenario.cluster)[0]


def test_search_uses_the_energy_objectives() -> None:
    from colossim.search import objectives as search_objectives

    assert {"cost", "energy"} <= set(search_objectives.OBJECTIVES)
