"""Power over time: the facility draw across a training step, checkpoints and a restart,
and the battery that keeps the grid draw within a ramp limit.

**One step** (period = step time). The pipelined part lasts ``m t_mb + B`` (m micro-batches
of the slowest stage's t_mb, bubble B): stage s of pp waits ``s/(pp-1) B`` before its first
micro-batch and ``(1 - s/(pp-1)) B`` after its last, so the cluster's busy fraction ramps up
over the fill and down over the drain (an approximation of 1F1B's warm-up and cool-down that
keeps each stage's busy and idle time exact). Busy GPUs draw the micro-batch mix of compute
and exposed TP/EP/CP communication; waiting GPUs draw the bubble power. Then every GPU
reduces gradients (exposed DP and pipeline sends: communication power) and steps the
optimizer. All data-parallel replicas run in lockstep, so the swing is cluster-wide
(Choukse et al. 2025, arXiv:2508.14318; Llama 3 paper section 3.3.4 reports tens of MW).
Cooling does not follow a seconds-long swing (coolant and chilled-water thermal mass): within
a step the facility draw is IT(t) + (PUE - 1) x mean IT.

**Events** (resolution: step averages, 1 s samples): training, a blocking checkpoint write
(GPUs wait: bubble power), training, a failure's restart (job down: GPUs idle), training.
Over minutes the cooling follows the load: facility = IT x PUE.

**Battery**: the grid follows the load as fast as the ramp limit allows (a ramp-limited
tracker of the step-averaged draw); the battery supplies or absorbs the difference. Its power
is the largest difference, its energy the range of the accumulated difference. The step-scale
buffer holds the grid at the step mean. Energies add (conservative), powers take the maximum.
Left out: anticipating planned events (a scheduler could pre-ramp before a checkpoint),
GPU-level power smoothing, dummy loads, battery efficiency and state-of-charge limits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from colossim.energy import presets
from colossim.energy.options import PowerOptions
from colossim.energy.power import MICRO_BATCH_TERMS, PowerModel, gpu_w_of_breakdown

MW = 1e6
SAMPLES_PER_STEP = 400
MAX_EVENT_SAMPLES = 200_000


@dataclass(frozen=True, slots=True)
class Waveform:
    """A sampled power trace (uniform ``dt_s``) with labelled segments for plots."""

    t_s: np.ndarray
    it_w: np.ndarray
    facility_w: np.ndarray
    dt_s: float
    segments: tuple[tuple[float, float, str], ...]

    @property
    def mean_facility_w(self) -> float:
        return float(self.facility_w.mean())


@dataclass(frozen=True, slots=True)
class Battery:
    energy_mwh: float
    power_mw: float
    grid_w: np.ndarray  # the ramp-limited grid draw

    def to_dict(self) -> dict[str, float]:
        return {"energy_mwh": self.energy_mwh, "power_mw": self.power_mw}


def step_waveform(model: PowerModel, terms_s: dict[str, float], *, pp: int, vpp: int, gpus_used: int,
                  samples: int = SAMPLES_PER_STEP) -> Waveform:
    """The facility draw across one training step, from its breakdown (StepArrays term names)."""
    _, busy_w = gpu_w_of_breakdown(model, terms_s)
    busy_w = float(busy_w)
    busy_s = sum(terms_s[t] for t in MICRO_BATCH_TERMS)
    bubble_s = terms_s["pp_bubble_s"]
    comm_s = terms_s["dp_exposed_s"] + terms_s["pp_p2p_s"]
    opt_s = terms_s["optimizer_s"]
    step_s = busy_s + bubble_s + comm_s + opt_s
    dt = step_s / samples
    t = (np.arange(samples) + 0.5) * dt
    piped = busy_s + bubble_s
    offsets = np.linspace(0.0, bubble_s, pp) if pp > 1 else np.zeros(1)
    busy_frac = ((t[:, None] >= offsets) & (t[:, None] < offsets + busy_s)).mean(axis=1)
    ph = model.phase_w
    gpu_w = np.where(t < piped, busy_frac * busy_w + (1 - busy_frac) * ph["bubble"],
                     np.where(t < piped + comm_s, ph["communication"], ph["optimizer"]))
    it = model.it_w(gpu_w, gpus_used)
    facility = it + (model.pue - 1.0) * it.mean()
    segments = ((0.0, piped, f"pipeline (pp={pp}, vpp={vpp})"), (piped, piped + comm_s, "gradient sync"),
                (piped + comm_s, step_s, "optimizer"))
    return Waveform(t_s=t - 0.5 * dt, it_w=it, facility_w=facility, dt_s=dt, segments=segments)


def swing(wave: Waveform, step_s: float) -> dict[str, float]:
    """Peak, trough and swing of the facility draw within a step (MW), and its period (s)."""
    peak, trough = float(wave.facility_w.max()), float(wave.facility_w.min())
    return {"peak_mw": peak / MW, "trough_mw": trough / MW, "swing_mw": (peak - trough) / MW,
            "mean_mw": wave.mean_facility_w / MW, "period_s": step_s}


def event_timeline(model: PowerModel, step_mean_gpu_w: float, gpus_used: int, opts: PowerOptions,
                   ramp_w_per_s: float) -> Waveform:
    """Step-averaged facility draw through a checkpoint stall and a restart; each is followed
    by enough training for a ramp-limited grid to catch up with the load again."""
    ph = model.phase_w
    train, ckpt, down = (float(model.it_w(w, gpus_used)) for w in (step_mean_gpu_w, ph["bubble"], ph["idle"]))
    gap = opts.steps_between_events_s

    def after(level: float) -> float:
        return max(gap, 1.1 * (train - level) * model.pue / ramp_w_per_s)

    plan = [(gap, train, "training")]
    if opts.checkpoint_stall_s > 0:
        plan += [(opts.checkpoint_stall_s, ckpt, "checkpoint stall"), (after(ckpt), train, "training")]
    if opts.restart_s > 0:
        plan += [(opts.restart_s, down, "restart (job down)"), (after(down), train, "training")]
    total = sum(d for d, _, _ in plan)
    shortest = min(d for d, _, _ in plan)
    dt = max(min(1.0, shortest / 10.0), total / MAX_EVENT_SAMPLES)
    it_parts, segments, t0 = [], [], 0.0
    for duration, level, label in plan:
        n = max(int(round(duration / dt)), 1)
        it_parts.append(np.full(n, level))
        segments.append((t0, t0 + n * dt, label))
        t0 += n * dt
    it = np.concatenate(it_parts)
    t = np.arange(len(it)) * dt
    return Waveform(t_s=t, it_w=it, facility_w=it * model.pue, dt_s=dt, segments=tuple(segments))


def ramp_limited_battery(power_w: np.ndarray, dt_s: float, ramp_w_per_s: float, start_w: float | None = None) -> Battery:
    """Battery that holds the grid draw to a ramp limit while the load follows ``power_w``.

    The grid tracks the load, moving at most ``ramp_w_per_s * dt_s`` per sample; the battery
    covers ``load - grid``. Energy = range of its accumulated output (MWh), power = its peak.
    """
    grid = np.empty_like(power_w)
    g = float(power_w[0] if start_w is None else start_w)
    step = ramp_w_per_s * dt_s
    for i, p in enumerate(power_w):  # sequential by nature; a few thousand samples
        g += min(max(p - g, -step), step)
        grid[i] = g
    return _battery(power_w, grid, dt_s)


def _battery(power_w: np.ndarray, grid_w: np.ndarray, dt_s: float) -> Battery:
    diff = power_w - grid_w
    soc = np.concatenate([[0.0], np.cumsum(diff) * dt_s])
    return Battery(energy_mwh=float(soc.max() - soc.min()) / MW / 3600.0,
                   power_mw=float(np.abs(diff).max()) / MW, grid_w=grid_w)


def step_battery(wave: Waveform) -> Battery:
    """Buffer that holds the grid at the step's mean draw through one step's swing."""
    return _battery(wave.facility_w, np.full_like(wave.facility_w, wave.mean_facility_w), wave.dt_s)


def battery_summary(step: Battery, events: Battery, ramp_mw_per_min: float) -> dict[str, Any]:
    """The buffer for both time scales, and how many grid-scale battery units it takes."""
    unit = presets.battery_unit()
    energy = step.energy_mwh + events.energy_mwh
    power = max(step.power_mw, events.power_mw)
    units = max(math.ceil(energy / unit["energy_mwh"] - 1e-9), math.ceil(power / unit["power_mw"] - 1e-9), 0)
    return {"ramp_limit_mw_per_min": ramp_mw_per_min, "energy_mwh": energy, "power_mw": power,
            "step_swing": step.to_dict(), "events": events.to_dict(),
            "units": units, "unit": unit["name"], "unit_energy_mwh": unit["energy_mwh"], "unit_power_mw": unit["power_mw"],
            "unit_verified": bool(unit.get("verified", False))}


def default_ramp_mw_per_min() -> float:
    return presets.figure("facility.yaml", "ramp_limit_mw_per_min")
