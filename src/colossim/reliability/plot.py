"""Plots (matplotlib, imported here only, Agg backend): ETTR against scale, and the
timeline of one replication."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from colossim.reliability.analysis import ReliabilityResult
from colossim.reliability.events import Timeline

DAY = 86400.0
COLORS = {"lost": "#d62728", "checkpoint": "#9467bd", "planned_save": "#8c564b", "detect": "#ff7f0e",
          "spare_wait": "#7f7f7f", "restart": "#1f77b4", "reload": "#17becf"}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_sweep(rows: list[ReliabilityResult], path: str | Path) -> None:
    """ETTR (mean and P10-P90) and the checkpoint interval against the number of GPUs."""
    plt = _pyplot()
    sums = [r.summary() for r in rows]
    gpus = [s["gpus"] for s in sums]
    fig, ax = plt.subplots(figsize=(8, 4.8))
    ax.fill_between(gpus, [s["ettr"]["p10"] for s in sums], [s["ettr"]["p90"] for s in sums],
                    alpha=0.25, color="#1f77b4", label="ETTR P10-P90")
    ax.plot(gpus, [s["ettr"]["mean"] for s in sums], "o-", color="#1f77b4", label="ETTR (mean)")
    ax.plot(gpus, [s["goodput"]["mean"] for s in sums], "s--", color="#2ca02c", ms=4, label="goodput (mean)")
    ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("GPUs in the job")
    ax.set_ylabel("effective training time ratio")
    ax.grid(True, which="both", alpha=0.3)
    ax2 = ax.twinx()
    ax2.plot(gpus, [s["checkpoint_interval_min"] for s in sums], "^:", color="#d62728", label="checkpoint interval")
    ax2.set_ylabel("checkpoint interval (min)", color="#d62728")
    ax2.set_ylim(bottom=0)
    lines = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    labels = ax.get_legend_handles_labels()[1] + ax2.get_legend_handles_labels()[1]
    ax.legend(lines, labels, loc="lower left", fontsize=8)
    ax.set_title(f"{rows[0].job.name}: goodput against scale ({rows[0].runs.replications} replications each)",
                 fontsize=10)
    fig.tight_layout()
    from colossim.atomic import savefig

    savefig(fig, path, dpi=130)
    plt.close(fig)


def plot_timeline(result: ReliabilityResult, timeline: Timeline, path: str | Path) -> None:
    """Three panels: durable progress with the failures by class; cumulative lost hours by
    kind; a zoom on the first hours showing each training, checkpoint and recovery span."""
    plt = _pyplot()
    job = result.job
    fig, (top, mid, zoom) = plt.subplots(3, 1, figsize=(10, 8), gridspec_kw={"height_ratios": [3, 2, 1]})
    if timeline.progress:
        t, p = zip(*timeline.progress, strict=True)
        top.step([x / DAY for x in t], [y / DAY for y in p], where="post", color="#2ca02c", lw=1.2,
                 label="durable progress")
    end = max((iv[1] for iv in timeline.intervals), default=0.0)
    ideal_end = min(end, job.work_s) / DAY
    top.plot([0, ideal_end], [0, ideal_end], ":", color="gray", lw=0.8, label="failure-free pace")
    cmap = plt.get_cmap("tab10")
    for i, name in enumerate(sorted({f[1] for f in timeline.failures})):
        xs = [f[0] / DAY for f in timeline.failures if f[1] == name]
        top.plot(xs, [-0.02 * job.work_s / DAY * (1 + i % 3)] * len(xs), "|", ms=6, color=cmap(i % 10),
                 label=f"{name} ({len(xs)})")
    top.set_ylabel("training done (days)")
    top.set_xlabel("wall-clock days")
    top.legend(fontsize=7, ncol=3, loc="upper left")
    top.grid(True, alpha=0.3)
    for kind, color in COLORS.items():
        spans = sorted((iv[1], iv[1] - iv[0]) for iv in timeline.intervals if iv[2] == kind)
        if spans:
            xs, acc, total = [0.0], [0.0], 0.0
            for t_end, d in spans:
                total += d
                xs.append(t_end / DAY)
                acc.append(total / 3600.0)
            mid.step(xs, acc, where="post", color=color, label=kind.replace("_", " "))
    mid.set_ylabel("cumulative hours")
    mid.set_xlabel("wall-clock days")
    mid.legend(fontsize=7, ncol=4, loc="upper left")
    mid.grid(True, alpha=0.3)
    window = min(end, max(8.0 * job.mttf_s if job.mttf_s < end else end, 3600.0))
    colors = {"kept": "#2ca02c", **COLORS}
    for kind, color in colors.items():
        spans = [(iv[0] / 3600.0, (min(iv[1], window) - iv[0]) / 3600.0)
                 for iv in timeline.intervals if iv[2] == kind and iv[0] < window]
        if spans:
            zoom.broken_barh(spans, (0, 1), facecolors=color, label=kind.replace("_", " "))
    zoom.set_yticks([])
    zoom.set_xlim(0, window / 3600.0)
    zoom.set_xlabel("wall-clock hours (zoom)")
    zoom.legend(fontsize=7, ncol=8, loc="upper center", bbox_to_anchor=(0.5, -0.6))
    ettr = (sum(iv[1] - iv[0] for iv in timeline.intervals if iv[2] == "kept")
            / max(sum(iv[1] - iv[0] for iv in timeline.intervals), 1e-9))
    top.set_title(f"{job.name}: one replication (seed {result.seed}), {job.gpus:,} GPUs, "
                  f"checkpoint every {job.interval_s / 60:.1f} min, ETTR {ettr:.3f}", fontsize=10)
    fig.tight_layout()
    from colossim.atomic import savefig

    savefig(fig, path, dpi=130)
    plt.close(fig)


def plot_techniques(sizes: tuple[int, ...], ettr: dict[str, list[float]], path: str | Path,
                    target: float | None = None) -> None:
    """ETTR against scale, one line per recovery technique (the analytic model)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.8))
    for name, ys in ettr.items():
        ax.plot(list(sizes), ys, "o-", ms=4, label=name)
    if target is not None:
        ax.axhline(target, color="k", ls=":", lw=1, label=f"target {target:g}")
    ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("GPUs in the job")
    ax.set_ylabel("ETTR (analytic: Daly + M/G/inf spares)")
    ax.set_title("ETTR against scale by recovery technique")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
