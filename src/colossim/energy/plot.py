"""The power-over-time figure (matplotlib, the ``plot`` extra; imported only when asked)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from colossim.energy.site import PowerReport
from colossim.errors import ColossimError

MW = 1e6
STEPS_SHOWN = 3


def _pyplot() -> Any:
    try:
        import matplotlib
    except ModuleNotFoundError:
        raise ColossimError("--plot needs matplotlib: pip install 'colossim[plot]'", field="--plot") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def check_plot_path(path: str | Path) -> Path:
    path = Path(path)
    if path.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise ColossimError(f"--plot: {str(path)!r} is not allowed; give a .png, .svg or .pdf file",
                            field="--plot", value=str(path), allowed=".png, .svg, .pdf")
    from colossim import gate

    return gate.check_output(path, "--plot")


def plot_power(report: PowerReport, path: str | Path) -> Path:
    """Two panels: a few steps of the facility draw, and checkpoint + restart against the grid."""
    path = check_plot_path(path)
    plt = _pyplot()
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 7.5))
    wave = report.step_wave
    step = report.step_time_s
    t = np.concatenate([wave.t_s + k * step for k in range(STEPS_SHOWN)])
    p = np.tile(wave.facility_w, STEPS_SHOWN) / MW
    ax1.step(t, p, where="post", color="tab:red", lw=1.2, label="facility draw")
    ax1.axhline(wave.mean_facility_w / MW, color="k", ls="--", lw=0.8, label="step mean (grid with buffer)")
    for k in range(STEPS_SHOWN):
        for t0, t1, label in wave.segments:
            if t1 > t0 and not label.startswith("pipeline"):
                ax1.axvspan(k * step + t0, k * step + t1, color="tab:blue", alpha=0.08)
    sw = report.swing
    ax1.set_title(f"{report.scenario}: {sw['swing_mw']:.1f} MW swing every {step:.2f} s "
                  f"(peak {sw['peak_mw']:.1f}, trough {sw['trough_mw']:.1f} MW)")
    ax1.set_xlabel("time (s); shaded: gradient sync and optimizer")
    ax1.set_ylabel("MW")
    ax1.set_ylim(bottom=0)
    ax1.legend(loc="lower right", fontsize=8)

    ev = report.event_wave
    minutes = ev.t_s / 60.0
    ax2.step(minutes, ev.facility_w / MW, where="post", color="tab:red", lw=1.2, label="facility draw (step mean)")
    if report.event_grid_w is not None:
        ax2.plot(minutes, np.asarray(report.event_grid_w) / MW, color="tab:green", lw=1.5,
                 label=f"grid, ramp <= {report.battery['ramp_limit_mw_per_min']:g} MW/min")
    for t0, _, label in ev.segments:
        if label != "training":
            ax2.annotate(label, (t0 / 60.0, ev.facility_w.max() / MW), fontsize=8, va="bottom")
    b = report.battery
    ax2.set_title(f"battery to hold the ramp: {b['energy_mwh']:.2f} MWh, {b['power_mw']:.1f} MW "
                  f"(~{b['units']} x {b['unit']})")
    ax2.set_xlabel("time (min)")
    ax2.set_ylabel("MW")
    ax2.set_ylim(bottom=0, top=ev.facility_w.max() / MW * 1.15)
    ax2.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    from colossim.atomic import savefig

    savefig(fig, path, dpi=110)
    plt.close(fig)
    return path
