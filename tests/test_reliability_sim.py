"""The simulators: statistics of the random parts, agreement with Daly's model and with each
other, accounting invariants, and the published calibration points."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from colossim.reliability import (
    analyze,
    build_job,
    daly_exact_interval,
    daly_interval,
    reliability_config,
    simulate_lockstep,
    simulated_interval,
    sweep_gpus,
    young_interval,
)
from colossim.reliability.events import simulate_events, timeline
from colossim.reliability.failures import FailureClass
from colossim.reliability.runs import BUCKETS, PHASES
from colossim.scenario import load_scenario

LLAMA3 = {"model": "llama3-405b", "cluster": "llama3-24k",
          "training": {"seq_len": 8192, "global_batch_size": 2048},
          "parallel": {"tp": 8, "pp": 16, "dp": 128}}
DAY = 86400.0
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def job_for(rel: dict | None = None):
    rel = {"run_days": 3, **(rel or {})}
    sc = load_scenario({**LLAMA3, "reliability": rel})
    return build_job(sc, reliability_config(sc.sections["reliability"]))


def bare(job, classes, *, detect_s=0.0, restart_s=0.0, save_s=0.0, work_days=10.0):
    """A job stripped to the given classes and times (no stragglers, plenty of spares)."""
    return dataclasses.replace(
        job, classes=tuple(classes), detect_s=detect_s, restart_s=restart_s, comm_init_ref_s=0.0,
        reload_override_s=0.0, checkpoint_bytes=save_s * job.save_bps, async_save=False,
        slow_server_fraction=0.0, slowdown=1.0, work_s=work_days * DAY, notes=())


# ---- the random parts -------------------------------------------------------------------

def poisson_job():
    classes = [FailureClass("a", "job", 20.0, 0.0, False, planned=True, detect_s=0.0),
               FailureClass("b", "job", 10.0, 0.0, False, planned=True, detect_s=0.0)]
    return bare(job_for(), classes).with_interval(3600.0)  # stops cost nothing: wall = work


def test_failure_count_is_poisson() -> None:
    job = poisson_job()
    runs = simulate_lockstep(job, 2000, seed=11)
    assert np.allclose(runs.wall, job.work_s)
    counts = runs.n_planned
    mean = 30.0 * 10.0
    assert abs(counts.mean() - mean) < 4 * math.sqrt(mean / counts.size)
    dispersion = ((counts - counts.mean()) ** 2).sum() / counts.mean()  # ~ chi2(n - 1) for Poisson
    p = sps.chi2.sf(dispersion, counts.size - 1)
    assert 1e-3 < p < 1 - 1e-3
    observed = runs.class_count
    chi2, p_share = sps.chisquare(observed, observed.sum() * np.array([2 / 3, 1 / 3]))
    assert p_share > 1e-3


def test_event_engine_count_and_gaps() -> None:
    job = poisson_job()
    runs = simulate_events(job, 200, seed=5)
    assert abs(runs.n_planned.mean() - 300.0) < 4 * math.sqrt(300.0 / 200)
    _, tl = timeline(job, seed=5)
    gaps = np.diff([0.0] + [f[0] for f in tl.failures])
    assert sps.kstest(gaps, "expon", args=(0, DAY / 30.0)).pvalue > 1e-3


# ---- agreement with Daly's model and the Young/Daly optimum ------------------------------

def daly_job(tau_s: float | None = None):
    classes = [FailureClass("x", "job", 12.0, 0.0, False)]  # MTTF 2 h
    job = bare(job_for(), classes, detect_s=300.0, restart_s=300.0, save_s=60.0, work_days=20.0)
    return job if tau_s is None else job.with_interval(tau_s)


def test_mean_wall_matches_daly_complete_model() -> None:
    tau = 900.0
    job = daly_job(tau)
    runs = simulate_lockstep(job, 400, seed=3)
    m, r, d = job.mttf_s, job.recovery_s, job.block_s
    segments = job.work_s / tau
    assert segments == int(segments)
    expected = (segments - 1) * daly_expected_wall_s_one(tau + d, m, r) + daly_expected_wall_s_one(tau, m, r)
    assert runs.wall.mean() == pytest.approx(expected, rel=0.003)


def daly_expected_wall_s_one(a: float, m: float, r: float) -> float:
    return m * math.exp(r / m) * math.expm1(a / m)


def test_simulated_interval_agrees_with_young_and_daly() -> None:
    job = daly_job()
    exact = daly_exact_interval(job.block_s, job.mttf_s, job.recovery_s)
    choice = simulated_interval(job, seed=1)
    assert choice.interval_s == pytest.approx(exact, rel=0.10)
    assert choice.interval_s == pytest.approx(daly_interval(job.block_s, job.mttf_s), rel=0.10)
    assert choice.interval_s == pytest.approx(young_interval(job.block_s, job.mttf_s), rel=0.15)
    ettr = choice.search["ettr_mean"]
    assert max(ettr) - min(ettr) > 0.01  # the candidates span a real optimum


# ---- both engines agree -----------------------------------------------------------------

@pytest.mark.parametrize("rel", [
    {},
    {"checkpoint": {"mode": "async", "save_tbps": 0.2}},
    {"spares": {"servers": 8}},
    {"spares": {"servers": 8, "when_exhausted": "shrink"}},
], ids=["sync", "async", "wait", "shrink"])
def test_vectorized_and_event_engines_agree(rel: dict) -> None:
    job = job_for(rel).with_interval(600.0)
    fast = simulate_lockstep(job, 2000, seed=1)
    slow = simulate_events(job, 150, seed=2)
    for name in ("ettr", "goodput", "interruptions_per_day"):
        a, b = getattr(fast, name)(), getattr(slow, name)()
        se = math.sqrt(a.var() / a.size + b.var() / b.size)
        assert abs(a.mean() - b.mean()) <= 4.5 * se + 1e-9, name
    for name in ("lost", "spare_wait", "shrink", "checkpoint"):
        a, b = getattr(fast, name), getattr(slow, name)
        se = math.sqrt(a.var() / a.size + b.var() / b.size)
        assert abs(a.mean() - b.mean()) <= 4.5 * se + 1e-6 * max(a.mean(), 1.0), name


# ---- accounting invariants --------------------------------------------------------------

def check_accounting(job, runs) -> None:
    assert np.allclose(sum(getattr(runs, b) for b in BUCKETS), runs.wall, rtol=1e-9, atol=1e-6)
    assert np.allclose(runs.kept - runs.straggler - runs.shrink, runs.work_done, rtol=1e-9, atol=1e-6)
    assert np.allclose(runs.work_done[runs.finished], job.work_s)
    for b in BUCKETS:
        assert (getattr(runs, b) >= -1e-9).all(), b
    caused = runs.lost.sum() + sum(getattr(runs, p).sum() for p in PHASES)
    assert runs.class_cost_s.sum() == pytest.approx(caused, rel=1e-9, abs=1e-6)
    assert runs.class_count.sum() == runs.n_unexpected.sum() + runs.n_planned.sum()


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scale=st.floats(0.2, 5.0), interval_min=st.floats(0.5, 60.0), mode=st.sampled_from(["sync", "async"]),
       spares=st.integers(0, 40), exhausted=st.sampled_from(["wait", "shrink"]), days=st.floats(0.3, 2.0),
       fraction=st.floats(0.0, 0.01), seed=st.integers(0, 2**31))
def test_accounting_invariants(scale, interval_min, mode, spares, exhausted, days, fraction, seed) -> None:
    job = job_for({"rate_scale": scale, "run_days": days, "checkpoint": {"mode": mode, "save_tbps": 0.5},
                   "spares": {"servers": spares, "when_exhausted": exhausted},
                   "stragglers": {"slow_server_fraction": fraction, "slowdown": 1.1}})
    job = job.with_interval(interval_min * 60.0)
    check_accounting(job, simulate_lockstep(job, 16, seed))


def test_event_engine_accounting() -> None:
    job = job_for({"spares": {"servers": 8, "when_exhausted": "shrink"}}).with_interval(600.0)
    check_accounting(job, simulate_events(job, 20, seed=4))


# ---- calibration and behaviour ----------------------------------------------------------

def test_llama3_calibration() -> None:
    """16,384 H100, Meta-like checkpoint and restart: ~7.8 unexpected interruptions a day
    and an effective training time above 90% (Llama 3 Herd, section 3.3.4)."""
    res = analyze(load_scenario({**LLAMA3, "reliability": {"run_days": 54, "replications": 200}}))
    d = res.to_dict()
    assert d["interruptions_per_day"]["mean"] == pytest.approx(7.76, abs=0.15)
    assert d["interruptions_per_day"]["expected"] == pytest.approx(419 / 54, rel=1e-3)
    assert d["ettr"]["p10"] > 0.90
    assert d["days_to_train"]["mean"] > 54.0


def test_meta_rsc1_simulated_mttf() -> None:
    res = analyze(load_scenario({**LLAMA3, "reliability": {"run_days": 10, "replications": 200,
                                                             "failure_preset": "meta-rsc1"}}))
    assert res.to_dict()["job_mttf_h"]["mean"] == pytest.approx(1.80, rel=0.04)


def test_seed_determinism() -> None:
    sc = load_scenario({**LLAMA3, "reliability": {"run_days": 3, "replications": 50, "seed": 9}})
    a, b = analyze(sc).to_dict(), analyze(sc).to_dict()
    assert a == b and a["seed"] == 9
    c = analyze(sc, reliability_config({"run_days": 3, "replications": 50, "seed": 10})).to_dict()
    assert c["ettr"] != a["ettr"]


def test_spares_wait_and_shrink() -> None:
    plenty = simulate_lockstep(job_for().with_interval(600.0), 200, 1)
    starved = simulate_lockstep(job_for({"spares": {"servers": 0}}).with_interval(600.0), 200, 1)
    shrink = simulate_lockstep(job_for({"spares": {"servers": 0, "when_exhausted": "shrink"}}).with_interval(600.0), 200, 1)
    assert plenty.spare_wait.sum() == 0 and plenty.shrink.sum() == 0
    assert starved.spare_wait.mean() > 0 and starved.ettr().mean() < plenty.ettr().mean() - 0.1
    assert shrink.spare_wait.sum() == 0 and shrink.shrink.mean() > 0
    assert shrink.goodput().mean() < plenty.goodput().mean()


def test_an_early_long_wait_still_finishes() -> None:
    """A replication that waits days for a repair early on is slow so far, not hopeless: it
    finishes once the server is back (the horizon rule used to stop it on its pace)."""
    server = FailureClass("server", "job", 0.3, 48.0, True, detect_s=0.0)  # 0.3/day, 2-day repair
    job = dataclasses.replace(bare(job_for(), [server], work_days=1.0), spare_servers=0, shrink=False)
    job = job.with_interval(3600.0)
    for runs in (simulate_lockstep(job, 400, 4), simulate_events(job, 100, 4)):
        waited = runs.spare_wait > 1.5 * DAY
        assert waited.sum() > 5 and runs.finished.all()
        assert np.all(runs.wall[waited] > 2.5 * DAY)  # the wait is in the wall time, not cut off


def test_async_beats_sync_on_slow_storage() -> None:
    sync = job_for({"checkpoint": {"save_tbps": 0.05}})
    asyn = job_for({"checkpoint": {"save_tbps": 0.05, "mode": "async"}})
    s = simulate_lockstep(sync.with_interval(daly_interval(sync.block_s, sync.mttf_s)), 200, 2)
    a = simulate_lockstep(asyn.with_interval(daly_interval(asyn.block_s, asyn.mttf_s)), 200, 2)
    assert a.ettr().mean() > s.ettr().mean() + 0.02


def test_stragglers_slow_goodput_not_ettr() -> None:
    job = job_for({"stragglers": {"slow_server_fraction": 1.0, "slowdown": 1.1}}).with_interval(600.0)
    runs = simulate_lockstep(job, 50, 3)
    assert np.allclose(runs.goodput(), runs.ettr() / 1.1)


def test_ettr_falls_with_scale() -> None:
    sc = load_scenario({**LLAMA3, "reliability": {"run_days": 20, "replications": 40}})
    rows = [r.summary() for r in sweep_gpus(sc, sizes=(1024, 16384, 131072))]
    ettr = [r["ettr"]["mean"] for r in rows]
    interval = [r["checkpoint_interval_min"] for r in rows]
    rate = [r["interruptions_per_day"]["expected"] for r in rows]
    assert ettr[0] > ettr[1] > ettr[2]
    assert interval[0] > interval[1] > interval[2]
    assert rate[0] < rate[1] < rate[2]


def test_starved_job_stops_and_says_so() -> None:
    res = analyze(load_scenario({**LLAMA3, "reliability": {"run_days": 5, "replications": 20,
                                                             "spares": {"servers": 0}, "rate_scale": 4}}))
    d = res.to_dict()
    assert d["finished_fraction"] < 1.0 and any("did not finish" in n for n in d["notes"])
    assert d["days_to_train"]["mean"] is None or d["finished_fraction"] > 0


def test_a_moe_job_shrinks_by_whole_expert_groups() -> None:
    """Expert-parallel groups are carved from the data-parallel ranks: DeepSeek-V3's plan
    (dp 128, ep 64) keeps a multiple of 64, so one missing server halves it; a dense job loses
    one replica. Days to train take the throughput a shrunk job gives up (ETTR at full size)."""
    from colossim.energy.goodput import resolve_goodput
    from colossim.reliability.target import shrink_fraction

    ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]
    moe = load_scenario(ROOT / "examples" / "deepseek-v3-h800-2k.yaml")
    job = build_job(moe, reliability_config({"spares": {"when_exhausted": "shrink"}}))
    assert job.dp_granule == 64 and job.shrunk_dp(1) == 64 and job.shrunk_dp(0) == 128 and job.shrunk_dp(65) == 0
    dense = job_for({"spares": {"servers": 0, "when_exhausted": "shrink"}})
    assert dense.dp_granule == 1 and dense.shrunk_dp(1) == dense.dp - 1
    runs = simulate_lockstep(job.with_interval(600.0), 100, 2)
    ettr, useful = runs.ettr().mean(), runs.ettr_at_full_size().mean()
    assert useful < ettr - 0.2  # ~1.9 servers in repair on average: mostly at half size
    assert shrink_fraction(job) > 0.3
    shrunk = moe.model_copy(update={"sections": {**moe.sections, "reliability": {
        "replications": 100, "spares": {"when_exhausted": "shrink"}}}})
    g = resolve_goodput(shrunk)
    assert g.value < 0.7 and "running short of servers (shrunk)" in g.detail
    from colossim.reliability.analysis import spares_warning

    waiting = build_job(moe, reliability_config({}))
    assert "from 128 to 64: expert-parallel groups of 64" in spares_warning(waiting, 0.15)


def test_a_wait_for_a_spare_is_the_broken_servers_not_the_last_fault() -> None:
    """A frequent software fault during a days-long wait for a repaired server restarts the
    recovery, but the wait belongs to the server-taking classes (in proportion to rate x repair
    time); it used to be charged to the fault that came last, so the 64-GPU example read 44%
    software and 37% planned. A job whose losses are mostly per-job classes says so."""
    server = FailureClass("server", "server", 2e-4, 48.0, True, detect_s=0.0)  # 0.4/day on 2,048 servers
    software = FailureClass("software", "job", 2.0, 0.0, False, detect_s=60.0)
    job = dataclasses.replace(bare(job_for(), [server, software], detect_s=60.0, restart_s=60.0, work_days=3.0),
                              spare_servers=0, shrink=False).with_interval(3600.0)
    for runs in (simulate_lockstep(job, 300, 5), simulate_events(job, 60, 5)):
        check_accounting(job, runs)
        wait = runs.spare_wait.sum()
        assert wait > 0 and runs.class_cost_s[0] >= wait  # the whole wait is the server class's
    from colossim.reliability.analysis import _notes

    spared = dataclasses.replace(job, spare_servers=50)
    notes = _notes(spared, simulate_lockstep(spared, 100, 6))
    assert any("per-job classes (software)" in n for n in notes)


def test_a_run_that_waits_for_spares_is_budgeted_to_its_horizon() -> None:
    """examples/llama3-70b-1k.yaml at rate_scale 300 (no spare server, ~280 in repair) was estimated at 5.6 s
    (Daly's wall time knows no waits; the cheap step cost of an ample pool) and ran 35 s; at rate_scale 10,000
    llama3-8b-64 hung. A pool that runs dry is now budgeted to the horizon at the shortage path's step cost."""
    from colossim.errors import ColossimError
    from colossim.reliability.analysis import choose_interval
    from colossim.reliability.montecarlo import MAX_WALL_FACTOR, check_work, estimated_s

    sc = load_scenario(EXAMPLES / "llama3-70b-1k.yaml")
    cfg = reliability_config({"rate_scale": 300, "replications": 500})
    job = build_job(sc, cfg)
    job = job.with_interval(choose_interval(job, cfg.checkpoint.interval, 0).interval_s)
    steps, _ = estimated_s(job, 500)
    assert steps == pytest.approx(float(job.class_rates_per_s.sum()) * job.horizon_s(MAX_WALL_FACTOR))
    with pytest.raises(ColossimError, match=r"reliability.replications: the Monte Carlo .* would need about \d+ s"):
        check_work(job, 500)
    plenty = dataclasses.replace(job, spare_servers=10_000)  # an ample pool: Daly's wall time, the cheap steps
    assert estimated_s(plenty, 500)[1] < 0.2 * estimated_s(job, 500)[1]
