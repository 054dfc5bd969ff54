"""What it takes to reach a target ETTR at 200k GPUs; techniques; the analytic model against the simulation."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from colossim.api import load_scenario
from colossim.cli import build_app
from colossim.reliability import build_job, reliability_config
from colossim.reliability.analysis import analyze
from colossim.reliability.target import ettr_model, solve_target, with_spares
from colossim.reliability.techniques import apply, technique_names
from colossim.reliability.whatif import target_report, technique_sweep

EXAMPLE = Path(__file__).parent.parent / "examples" / "colossus-200k-reliability.yaml"


@pytest.fixture(scope="module")
def job():
    sc = load_scenario(EXAMPLE)
    return build_job(sc, reliability_config(sc.sections["reliability"]))


def test_analytic_model_matches_the_monte_carlo_at_200k(job):
    sc = load_scenario(EXAMPLE)
    cfg = reliability_config(sc.sections["reliability"], {"replications": ("-n", 64)})
    mc = analyze(sc, cfg).runs.ettr().mean()
    assert ettr_model(job)[0] == pytest.approx(mc, abs=0.03)


def test_200k_target_returns_finite_sourced_requirements(job):
    t = target_report(job, 0.9, step_s=1.3)
    assert t["reachable"] and t["baseline_ettr"] < 0.5
    assert math.isfinite(t["max_recovery_s"]) and 0 < t["max_recovery_s"] < 1080
    c = t["combined"]
    for key in ("detect_restart_s", "checkpoint_save_s", "checkpoint_interval_s", "hot_spare_servers"):
        assert c[key] is not None and math.isfinite(c[key]) and c[key] > 0, key
    assert c["ettr"] == pytest.approx(0.9, abs=1e-6)
    assert c["simulated_ettr"] == pytest.approx(0.9, abs=0.03)  # the Monte Carlo agrees
    assert "Llama 3" in t["sources"]["failure_rates"]
    assert {r["technique"] for r in t["techniques"]} == set(technique_names())


def test_unreachable_target_says_the_best(job):
    ans = solve_target(job, 0.99999)
    assert not ans.reachable and 0 < ans.best_ettr < 0.99999


@settings(max_examples=40, deadline=None)
@given(a=st.integers(0, 600), b=st.integers(0, 600), technique=st.sampled_from(technique_names()))
def test_more_spares_never_lower_ettr(job, a, b, technique):
    lo, hi = sorted((a, b))
    j, rec = apply(job, technique)
    assert ettr_model(with_spares(j, hi), rec)[0] >= ettr_model(with_spares(j, lo), rec)[0] - 1e-12


def test_techniques_beat_the_baseline_at_scale(job):
    sweep = technique_sweep(job, (16384, 200000), step_s=1.3)
    for name in ("in-memory", "hot-spare-swap", "elastic-dp"):
        assert sweep[name][1] > sweep["baseline"][1]
    assert sweep["baseline"][0] > sweep["baseline"][1]  # ETTR falls with scale


def test_shrink_loses_throughput_instead_of_waiting(job):
    short = dataclasses.replace(job, spare_servers=0)
    waiting = ettr_model(short)[0]
    shrinking = ettr_model(dataclasses.replace(short, shrink=True))[0]
    assert shrinking > waiting


def test_cli_target_json_contract():
    r = CliRunner().invoke(build_app(), ["reliability", str(EXAMPLE), "-n", "32", "--target-ettr", "0.9", "--json"])
    assert r.exit_code == 0, r.output
    t = json.loads(r.output)["target"]
    for key in ("ettr", "max_recovery_s", "checkpoint_interval_s", "checkpoint_save_s", "hot_spare_servers", "combined"):
        assert key in t


@pytest.mark.parametrize("args, words", [(["--target-ettr", "1.2"], "between 0 and 1"),
                                         (["--technique", "elastic-pd"], "did you mean")])
def test_cli_bad_goal_is_exit_2(args, words):
    r = CliRunner().invoke(build_app(), ["reliability", str(EXAMPLE), *args])
    assert r.exit_code == 2 and words in r.output


def test_cli_unreachable_is_exit_0():
    r = CliRunner().invoke(build_app(), ["reliability", str(EXAMPLE), "-n", "16", "--target-ettr", "0.99999"])
    assert r.exit_code == 0 and "not reachable, the best is" in r.output
