"""Power over time: the step waveform keeps the step's energy; battery sizing against ramp limits."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from colossim.energy import timeline
from colossim.energy.options import PowerOptions
from colossim.energy.power import PHASE_OF_TERM, gpu_w_of_breakdown, power_model
from colossim.scenario import build_cluster

MW = 1e6


@pytest.fixture(scope="module")
def model():
    from test_energy_power import StubInventory

    return power_model(build_cluster({"gpu": "h100-sxm", "num_gpus": 1024}), inventory=StubInventory())


def terms(**given: float) -> dict[str, float]:
    out = {t: 0.0 for t in PHASE_OF_TERM}
    out.update({f"{k}_s": v for k, v in given.items()})
    return out


STEP = terms(compute_forward=1.0, compute_backward=2.0, tp_exposed=0.3, pp_bubble=0.9, dp_exposed=0.2, optimizer=0.05)


def test_step_waveform_keeps_the_step_energy(model) -> None:
    wave = timeline.step_waveform(model, STEP, pp=8, vpp=1, gpus_used=1000)
    mean_w, _ = gpu_w_of_breakdown(model, STEP)
    assert wave.it_w.mean() == pytest.approx(float(model.it_w(mean_w, 1000)), rel=0.01)
    assert wave.dt_s * len(wave.t_s) == pytest.approx(sum(STEP.values()))
    # cooling follows the step mean, not the swing
    assert np.ptp(wave.facility_w) == pytest.approx(np.ptp(wave.it_w))
    assert wave.facility_w.mean() == pytest.approx(wave.it_w.mean() * model.pue, rel=1e-9)


def test_swing_spans_busy_to_waiting(model) -> None:
    wave = timeline.step_waveform(model, STEP, pp=8, vpp=1, gpus_used=1024)
    sw = timeline.swing(wave, sum(STEP.values()))
    _, busy_w = gpu_w_of_breakdown(model, STEP)
    top = float(model.it_w(busy_w, 1024)) + (model.pue - 1) * wave.it_w.mean()
    assert sw["peak_mw"] == pytest.approx(top / MW, rel=1e-6)
    assert sw["trough_mw"] < sw["mean_mw"] < sw["peak_mw"]


def test_no_pipeline_no_ramp(model) -> None:
    step = terms(compute_forward=1.0, compute_backward=2.0, dp_exposed=0.5)
    wave = timeline.step_waveform(model, step, pp=1, vpp=1, gpus_used=1024)
    levels = np.unique(np.round(wave.it_w, 3))
    assert len(levels) == 2  # compute, then gradient sync


def test_constant_load_needs_no_battery() -> None:
    b = timeline.ramp_limited_battery(np.full(100, 50 * MW), 1.0, 1 * MW / 60)
    assert b.energy_mwh == 0.0 and b.power_mw == 0.0


def test_a_drop_under_a_ramp_limit_needs_dp2_over_2r() -> None:
    """Load falls by dP at once; the grid may fall R per second: the battery absorbs dP^2/(2R)."""
    dp, ramp = 40 * MW, 10 * MW / 60.0
    load = np.concatenate([np.full(600, 100 * MW), np.full(1200, 60 * MW)])
    b = timeline.ramp_limited_battery(load, 1.0, ramp)
    assert b.power_mw == pytest.approx(40.0, rel=0.01)
    assert b.energy_mwh == pytest.approx(dp**2 / (2 * ramp) / 3.6e9, rel=0.02)
    assert np.all(np.abs(np.diff(b.grid_w)) <= ramp * 1.0 + 1e-6)


@settings(max_examples=30, deadline=None)
@given(st.floats(0.5, 100.0), st.integers(0, 1000))
def test_ramp_limited_grid_stays_in_range_and_within_the_limit(ramp_mw_min: float, seed: int) -> None:
    load = np.repeat(np.random.default_rng(seed).uniform(40, 100, size=20), 60) * MW
    ramp = ramp_mw_min * MW / 60
    b = timeline.ramp_limited_battery(load, 1.0, ramp)
    assert np.all(np.abs(np.diff(b.grid_w)) <= ramp + 1e-6)
    assert load.min() - 1e-6 <= b.grid_w.min() and b.grid_w.max() <= load.max() + 1e-6
    assert b.power_mw <= np.ptp(load) / MW + 1e-9
    free = timeline.ramp_limited_battery(load, 1.0, np.ptp(load) + 1.0)  # no effective limit
    assert free.energy_mwh == 0.0 and free.power_mw == 0.0


def test_event_timeline_levels_and_recovery(model) -> None:
    opts = PowerOptions(checkpoint_stall_s=30, restart_s=300, steps_between_events_s=60)
    mean_w = float(gpu_w_of_breakdown(model, STEP)[0])
    ramp = 1 * MW / 60  # slow: the timeline must run long enough for the grid to catch up
    ev = timeline.event_timeline(model, mean_w, 1024, opts, ramp)
    labels = [s[2] for s in ev.segments]
    assert labels == ["training", "checkpoint stall", "training", "restart (job down)", "training"]
    train = ev.facility_w[0]
    assert ev.facility_w.min() < train
    dip = train - ev.facility_w.min()
    assert ev.segments[-1][1] - ev.segments[-1][0] >= dip / ramp
    b = timeline.ramp_limited_battery(ev.facility_w, ev.dt_s, ramp)
    assert b.grid_w[-1] == pytest.approx(train)


def test_events_can_be_switched_off(model) -> None:
    ev = timeline.event_timeline(model, 500.0, 1024, PowerOptions(checkpoint_stall_s=0, restart_s=0), MW)
    assert [s[2] for s in ev.segments] == ["training"]
    assert np.ptp(ev.facility_w) == 0.0
