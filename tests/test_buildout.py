"""The build-out twin: the Colossus example, monotonicity, the queue, bad input, the JSON contract."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from colossim.api import load_scenario
from colossim.buildout import run_buildout
from colossim.buildout.questions import changed
from colossim.buildout.schedule import fcfs_queue
from colossim.cli import build_app
from colossim.errors import ColossimError

EXAMPLE = Path(__file__).parent.parent / "examples" / "colossus-buildout.yaml"


@pytest.fixture(scope="module")
def colossus():
    sc = load_scenario(EXAMPLE)
    return sc, run_buildout(sc)


def test_colossus_trains_within_a_month_and_reaches_full_scale_in_schedule(colossus):
    _, res = colossus
    assert res.first_training_day is not None and res.first_training_day <= 30
    # the example's own schedule: 100k training by 2024-09-02, day 61 (and inside the 122 days)
    assert res.full_scale_day is not None and res.full_scale_day <= 61
    assert res.traj.full_plan.gpus_used >= 98_000
    assert res.tokens_by_day(122) > res.tokens_by_day(60) > 0
    assert res.planner.searches <= 8  # few distinct sizes, searched once each


def test_timeline_never_draws_more_than_the_supply(colossus):
    _, res = colossus
    c = res.traj.cols
    assert (c["facility_mw"] <= c["power_available_mw"] + 1e-6).all()
    assert (np.diff(c["tokens_trained"]) >= 0).all()
    assert (c["gpus_training"] <= c["gpus_ready"] + 1e-9).all()
    assert (c["gpus_installed"] <= c["gpus_delivered"]).all()


@settings(max_examples=15, deadline=None)
@given(slow=st.floats(4.0, 200.0), faster=st.floats(1.0, 4.0), mw=st.sampled_from([None, 30.0, 60.0, 200.0]))
def test_faster_delivery_never_delays_the_first_training_day(colossus, slow, faster, mw):
    sc, base = colossus
    power = {} if mw is None else {"power.grid": [{"day": 0, "mw": mw}], "power.onsite": []}
    days = []
    for rate in (slow, slow * faster):
        cfg = changed(base.config, {"delivery.racks_per_day": rate, **power})
        days.append(run_buildout(sc, cfg, planner=base.planner, phases=False).first_training_day)
    assert days[0] is not None and days[1] is not None
    assert days[1] <= days[0], (slow, faster, mw, days)


def test_faster_batches_never_delay_the_first_training_day(colossus):
    sc, base = colossus
    late = [{"day": 10 * i, "racks": 390} for i in range(4)]
    early = [{"day": 5 * i, "racks": 390} for i in range(4)]
    firsts = [run_buildout(sc, changed(base.config, {"delivery": {"batches": b}}), planner=base.planner,
                           phases=False).first_training_day for b in (late, early)]
    assert firsts[1] <= firsts[0]


def test_waiting_for_the_whole_cluster_starts_no_earlier(colossus):
    sc, base = colossus
    wait = run_buildout(sc, changed(base.config, {"training.start": "full"}), planner=base.planner, phases=False)
    assert wait.first_training_day >= base.first_training_day
    assert wait.tokens_by_day() < base.tokens_by_day()


def test_fcfs_queue_matches_a_crew_by_crew_simulation():
    rng = np.random.default_rng(0)
    arrivals = np.sort(rng.uniform(0, 10, 200))
    for crews in (1, 3, 7):
        free = [0.0] * crews
        expect = []
        for a in arrivals:
            k = int(np.argmin(free))
            done = max(a, free[k]) + 0.4
            free[k] = done
            expect.append(done)
        assert np.allclose(fcfs_queue(arrivals, crews, 0.4), expect)


def _run_cli(tmp_path: Path, section_changes: dict, *args: str):
    data = yaml.safe_load(EXAMPLE.read_text())
    for path, value in section_changes.items():
        node = data["buildout"]
        *parents, leaf = path.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(data, sort_keys=False))
    return CliRunner().invoke(build_app(), ["buildout", str(f), *args])


@pytest.mark.parametrize("change, words", [
    ({"power.grid": [{"day": 10, "mw": 8}, {"day": 5, "mw": 50}]}, "backwards"),
    ({"delivery": {"batches": [{"day": 0, "gpus": 60000}, {"day": 3, "gpus": 60000}]}}, "beyond the cluster"),
    ({"power": {"grid": [{"day": 0, "mw": 5}], "onsite": []}}, "never suffices"),
    ({"delivery": {"racks_per_day": 10, "gpus_per_day": 10}}, "exactly one"),
    # silently ignored or clamped before: a job larger than the cluster trained at full scale, a typo in
    # search_fixed was dropped, tokens "by day 5000" were day 730's, 1e8 GPUs needed "about inf MW"
    ({"training.min_gpus": 10**9}, "buildout.training.min_gpus: 1000000000 is not allowed; at most the cluster's"),
    ({"training.search_fixed": {"tpp": 8}}, "(did you mean 'tp'?)"),
    ({"training.search_fixed": {"tp": 0}}, "tensor-parallel ranks: 1 to 2**24"),
    ({"report_day": 5000}, "report_day (5000) is after horizon_days (730)"),
    ({"cluster_gpus": 10**8}, "buildout.cluster_gpus: 100000000 is not allowed; more GPUs than any fat tree"),
    # a factor just above 1 stepped 18 million times (a hang); pod by pod it is 1,001 searches: refused
    ({"training": {"growth_factor": 1.0000001, "min_gpus": 1}, "network.pod_gpus": 8}, "the growth ladder would need"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, change, words):
    r = _run_cli(tmp_path, change)
    assert r.exit_code == 2, r.output
    lines = [x for x in r.output.strip().splitlines() if x]
    assert len(lines) == 1 and words in lines[0], r.output


def test_day_past_the_horizon_is_refused_not_clamped(tmp_path):
    r = _run_cli(tmp_path, {}, "--day", "1000000000")
    assert r.exit_code == 2 and "report_day (1000000000) is after horizon_days (730)" in r.output, r.output


def test_a_growth_factor_just_above_1_steps_size_by_size():
    """growth_factor 1.0000001 multiplied min_gpus 18 million times before the ladder reached the full size
    (every step but one size repeated): now each whole-pod size between is searched once."""
    from types import SimpleNamespace

    from colossim.buildout.config import buildout_config
    from colossim.buildout.simulate import ladder

    class Planner:
        quantum = 512

        def __init__(self) -> None:
            self.searched: list[int] = []

        def key(self, gpus: int) -> int:
            return gpus if gpus < self.quantum else gpus // self.quantum * self.quantum

        def plan(self, gpus: int) -> None:
            self.searched.append(gpus)

    sc = load_scenario(EXAMPLE)
    cfg = changed(buildout_config(sc.sections["buildout"]), {"training.growth_factor": 1.0000001})
    planner = Planner()
    full = SimpleNamespace(gpus=98_304, gpus_used=98_304, tokens_per_s=1.0)
    assert ladder(planner, cfg, full) == [full]
    assert planner.searched == list(range(16_384, 98_304, 512))


def test_json_contract_and_compare(tmp_path):
    r = _run_cli(tmp_path, {"delivery": {"racks_per_day": 48}}, "--json", "--compare", str(EXAMPLE), "--day", "90")
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    for key in ("timeline", "first_training_day", "full_scale_day", "tokens_by_day"):
        assert key in d
    row = d["timeline"][0]
    assert {"day", "gpus_installed", "gpus_training", "facility_mw", "tokens_trained", "bottleneck"} <= set(row)
    assert d["tokens_by_day_at"] == 90
    assert len(d["compare"]) == 2
    assert d["questions"]["wait_vs_ready"]["tokens_lost_by_waiting"] > 0
    assert set(d["questions"]["pod_order"]["orders"]) == {"sequential", "interleaved"}


def test_power_ramp_question_answers_when_the_full_cluster_trains(colossus):
    from colossim.buildout.questions import with_power_ramp

    sc, base = colossus
    slow = run_buildout(sc, with_power_ramp(base.config, 20.0), planner=base.planner, phases=False)
    fast = run_buildout(sc, with_power_ramp(base.config, 80.0), planner=base.planner, phases=False)
    assert fast.full_scale_day is not None and slow.full_scale_day is not None
    assert fast.full_scale_day <= slow.full_scale_day
    with pytest.raises(ColossimError):
        with_power_ramp(base.config, 0.0)


def test_an_expansion_trains_from_day_0_and_power_ramp_orders_full_scale():
    sc = load_scenario(EXAMPLE.parent / "colossus-buildout-200k.yaml")
    res = run_buildout(sc, phases=False)
    assert res.first_training_day == 0 and res.traj.steps[0].gpus_to >= 98_000
    assert res.full_scale_day is not None and res.full_scale_day <= 92  # "doubled in about 92 days"
    with pytest.raises(ColossimError, match="existing_gpus"):
        run_buildout(sc, changed(res.config, {"existing_gpus": 300_000}), phases=False)


def test_missing_section_is_one_line_and_the_capability_defaults_one():
    flagship = EXAMPLE.parent / "grok1-colossus-100k.yaml"
    r = CliRunner().invoke(build_app(), ["buildout", str(flagship)])
    assert r.exit_code == 2 and "buildout: missing" in r.output and len(r.output.strip().splitlines()) == 1
    from colossim.report.cap_buildout import BuildoutOptions, present_buildout
    from colossim.report.cap_buildout import run_buildout as run_cap
    from colossim.report.capabilities import Context

    d = run_cap(Context(scenario=load_scenario(flagship), raw={}, options=BuildoutOptions(day=30)))
    assert d["first_training_day"] is not None and "no buildout: section" in d["notes"][0]
    section = present_buildout(d)
    assert section.kpis and section.figures and section.tables


def test_pod_order_matters_when_delivery_is_slow(colossus):
    from colossim.buildout.questions import pod_orders

    sc, base = colossus
    slow = run_buildout(sc, changed(base.config, {"delivery.racks_per_day": 8.0, "network.interleave_pods": 16,
                                                  "network.spine_days_per_pod": 4.0}),
                        planner=base.planner, phases=False)
    q = pod_orders(slow, sc, 5e13)
    seq, inter = q["orders"]["sequential"], q["orders"]["interleaved"]
    assert q["first"] == "sequential" and seq["day_reaching_target"] < inter["day_reaching_target"]
