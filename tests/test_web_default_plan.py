"""The dashboard and API plan a scenario without a parallel section as the CLI does: the
plan search's best plan, said so (plan_source), searched once per scenario."""

from __future__ import annotations

from colossim.web.inputs import ScenarioInput, read_scenario

PLANLESS = {"model": "llama3-8b", "cluster": {"preset": "dgx-superpod-h100", "num_gpus": 64},
            "training": {"seq_len": 4096, "global_batch_size": 64}}


def test_planless_scenario_gets_the_search_best_plan_once():
    sc, _ = read_scenario(ScenarioInput(scenario=PLANLESS))
    assert sc.plan_source == "search"
    again, _ = read_scenario(ScenarioInput(scenario=dict(PLANLESS)))
    assert again is sc  # remembered, not searched again


def test_a_given_plan_is_kept():
    sc, _ = read_scenario(ScenarioInput(scenario={**PLANLESS, "parallel": {"tp": 2, "pp": 2}}))
    assert sc.plan_source != "search" and sc.parallel.tp == 2 and sc.parallel.pp == 2
