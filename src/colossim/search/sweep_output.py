"""Writing sweep results: tidy CSV or Parquet, and the scaling plot (PNG)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from colossim.errors import ColossimError
from colossim.search.sweep import columns


def write_table(rows: list[dict[str, Any]], path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    cols = columns(rows)
    if p.suffix == ".parquet":
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise ColossimError("Parquet output needs pyarrow (pip install pyarrow); or write .csv",
                                field="output", value=str(p)) from None
        pq.write_table(pa.Table.from_pylist([{c: r.get(c) for c in cols} for r in rows]), p)
        return p
    if p.suffix != ".csv":
        raise ColossimError(f"output: {str(p)!r} is not allowed; use a .csv or .parquet file", field="output",
                            value=str(p))
    with p.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)
    return p


def plot_scaling(rows: list[dict[str, Any]], path: str | Path, grid_keys: list[str]) -> Path:
    """GPUs against tokens/s (left) and MFU (right), one line per combination of the other keys."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in rows if r.get("status") == "ok"]
    others = [k for k in grid_keys if k != "cluster.num_gpus"]
    series: dict[str, list[dict[str, Any]]] = {}
    for r in ok:
        label = ", ".join(f"{k.split('.')[-1]}={r[k]}" for k in others) or "best plan"
        series.setdefault(label, []).append(r)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for label, rs in series.items():
        rs = sorted(rs, key=lambda r: r["gpus_used"])
        x = [r["gpus_used"] for r in rs]
        ax1.plot(x, [r["tokens_per_s"] for r in rs], marker="o", label=label)
        ax2.plot(x, [100 * r["mfu"] for r in rs], marker="o", label=label)
    for ax, title in ((ax1, "tokens/s"), (ax2, "MFU (%)")):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("GPUs used (best plan)")
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
    ax1.set_yscale("log")
    if series:
        ax1.legend(fontsize=7)
    fig.tight_layout()
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, dpi=110)
    plt.close(fig)
    return p
