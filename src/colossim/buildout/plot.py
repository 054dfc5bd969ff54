"""The build-out figure (matplotlib, imported only when asked): GPUs, MW and tokens by day."""

from __future__ import annotations

from pathlib import Path

from colossim.buildout.result import BuildoutResult
from colossim.energy.plot import check_plot_path
from colossim.report.mpl import pyplot

BOTTLENECK_COLORS = {"delivery": "#8c564b", "install": "#e377c2", "power": "#d62728", "burn-in": "#ff7f0e",
                     "network": "#9467bd", "growth": "#17becf", "none": "#2ca02c"}
GPU_LINES = (("gpus_delivered", "delivered", ":"), ("gpus_installed", "installed", "--"),
             ("gpus_burned_in", "burned in", "-."), ("gpus_ready", "ready (pod joined)", "-"),
             ("gpus_training", "training", "-"))


def plot_buildout(results: list[BuildoutResult], path: str | Path) -> Path:
    """Three panels sharing the day axis; several results are overlaid (``--compare``)."""
    path = check_plot_path(path)
    plt = pyplot()
    fig, (ax1, ax2, ax3) = plt.subplots(3, 1, figsize=(10, 9), sharex=True)
    for k, res in enumerate(results):
        n = res.shown_days()
        t = res.traj
        days = t.days[:n]
        tag = "" if len(results) == 1 else f" [{res.scenario}]"
        lines = GPU_LINES if k == 0 else GPU_LINES[-1:]
        for col, label, style in lines:
            ax1.plot(days, t.cols[col][:n] / 1e3, style, lw=2.2 if col == "gpus_training" else 1.2,
                     label=label + tag)
        ax2.plot(days, t.cols["power_available_mw"][:n], "--", label="supply" + tag)
        ax2.plot(days, t.cols["facility_mw"][:n], "-", label="facility draw" + tag)
        ax3.plot(days, t.cols["tokens_trained"][:n] / 1e12, "-", label="tokens trained" + tag)
    base = results[0]
    for d, b in enumerate(base.traj.bottleneck[: base.shown_days()]):
        ax1.axvspan(d, d + 1, ymin=0, ymax=0.04, color=BOTTLENECK_COLORS.get(b, "#7f7f7f"), lw=0)
    for s in base.traj.steps:
        for ax in (ax1, ax2, ax3):
            ax.axvline(s.day, color="#7f7f7f", lw=0.6, alpha=0.6)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in BOTTLENECK_COLORS.values()]
    ax1.legend(loc="upper left", fontsize=8)
    fig.legend(handles, list(BOTTLENECK_COLORS), loc="upper center", ncol=7, fontsize=8,
               title="bottleneck (band at the bottom of the top panel)", title_fontsize=8)
    ax1.set_ylabel("thousand GPUs")
    ax2.set_ylabel("MW")
    ax2.legend(loc="upper left", fontsize=8)
    ax3.set_ylabel("trillion tokens")
    ax3.set_xlabel("day (0 = first racks on site); vertical lines: re-plans")
    ax3.legend(loc="upper left", fontsize=8)
    ax3.axvline(base.config.report_day, color="k", lw=1.0, ls=":")
    for ax in (ax1, ax2, ax3):
        ax.grid(True, alpha=0.3)
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
