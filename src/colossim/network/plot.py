"""Link-utilization plot of a simulated collective (matplotlib, imported lazily, Agg backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from colossim.errors import ColossimError
from colossim.network.simulate import CollectiveResult


def plot_utilization(result: CollectiveResult, path: str | Path) -> Path:
    """Per tier: links sorted by utilization (left) and its histogram (right)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ColossimError("--plot needs matplotlib: pip install 'colossim[plot]'", field="--plot") from None
    out = Path(path)
    if out.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise ColossimError(f"--plot: {str(path)!r} is not allowed; give a .png, .svg or .pdf file", field="--plot",
                            value=str(path))
    tiers = {k: v for k, v in result.link_utilization_values.items() if v.size and v.max() > 0}
    fig, (ax_rank, ax_hist) = plt.subplots(1, 2, figsize=(12, 4.5))
    for name, values in tiers.items():
        ordered = np.sort(values)[::-1]
        ax_rank.plot(np.arange(1, ordered.size + 1) / ordered.size, ordered, label=f"{name} ({ordered.size:,} links)")
        ax_hist.hist(values[values > 0], bins=50, range=(0.0, 1.0), histtype="step", label=name)
    ax_rank.set_xlabel("links, busiest first (fraction of the tier)")
    ax_rank.set_ylabel("utilization over the collective")
    ax_rank.set_ylim(0, 1.05)
    ax_rank.legend(fontsize=8)
    ax_hist.set_xlabel("utilization")
    ax_hist.set_ylabel("links carrying traffic")
    ax_hist.set_yscale("log")
    ax_hist.legend(fontsize=8)
    fig.suptitle(f"{result.collective} over {result.group} ({result.num_gpus:,} GPUs), {result.routing}"
                 f"{f' x{result.flows_per_pair}' if result.flows_per_pair > 1 else ''}: "
                 f"{result.throughput_fraction:.0%} of ideal, busbw {result.busbw_gbps:.0f} GB/s")
    fig.tight_layout()
    try:
        from colossim.atomic import savefig

        savefig(fig, out, dpi=110)
    except OSError as exc:
        raise ColossimError(f"--plot: cannot write {str(out)!r}: {exc.strerror}", field="--plot", value=str(out)) from None
    finally:
        plt.close(fig)
    return out
