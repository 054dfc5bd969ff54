"""Writing sweep results: tidy CSV or Parquet, and the scaling plot (PNG), each written
atomically (colossim.atomic); reading a partial table back for ``--resume``."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from colossim import gate
from colossim.atomic import atomic_path, savefig
from colossim.errors import ColossimError
from colossim.search.sweep import columns

TABLES = (".csv", ".parquet")
PLOTS = (".png", ".svg", ".pdf")


def check_table_path(path: str | Path, flag: str = "--output") -> Path:
    """A table we can write, checked before the sweep runs (suffix, folder, pyarrow)."""
    p = gate.check_output(path, flag, TABLES)
    if p.suffix.lower() == ".parquet":
        _pyarrow(p)
    return p


def _pyarrow(p: Path) -> Any:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ColossimError("Parquet output needs pyarrow (pip install pyarrow); or write .csv",
                            field="output", value=str(p)) from None
    return pa, pq


def write_table(rows: list[dict[str, Any]], path: str | Path) -> Path:
    p = Path(path)
    cols = columns(rows)
    if p.suffix.lower() == ".parquet":
        pa, pq = _pyarrow(p)
        with atomic_path(p, "--output") as tmp:
            pq.write_table(pa.Table.from_pylist([{c: r.get(c) for c in cols} for r in rows]), tmp)
        return p
    if p.suffix.lower() != ".csv":
        raise ColossimError(f"output: {str(p)!r} is not allowed; use a .csv or .parquet file", field="output",
                            value=str(p))
    with atomic_path(p, "--output") as tmp, tmp.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)
    return p


def read_table(path: str | Path) -> list[dict[str, Any]]:
    """The rows of an earlier (partial) output; none when the file does not exist."""
    p = Path(path)
    if not p.is_file():
        return []
    try:
        if p.suffix.lower() == ".parquet":
            _, pq = _pyarrow(p)
            return list(pq.read_table(p).to_pylist())
        with p.open(newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error, ValueError) as exc:
        raise ColossimError(f"--resume: cannot read {p}: {exc}", field="--resume", value=str(p)) from None


def plot_scaling(rows: list[dict[str, Any]], path: str | Path, grid_keys: list[str]) -> Path:
    """GPUs against tokens/s (left) and MFU (right), one line per combination of the other keys."""
    from colossim.report.mpl import figure_lock, pyplot

    ok = [r for r in rows if r.get("status") == "ok"]
    others = [k for k in grid_keys if k != "cluster.num_gpus"]
    series: dict[str, list[dict[str, Any]]] = {}
    for r in ok:
        label = ", ".join(f"{k.split('.')[-1]}={r[k]}" for k in others) or "best plan"
        series.setdefault(label, []).append(r)
    with figure_lock:
        plt = pyplot()
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
        for label, rs in series.items():
            rs = sorted(rs, key=lambda r: float(r["gpus_used"]))
            x = [float(r["gpus_used"]) for r in rs]
            ax1.plot(x, [float(r["tokens_per_s"]) for r in rs], marker="o", label=label)
            ax2.plot(x, [100 * float(r["mfu"]) for r in rs], marker="o", label=label)
        for ax, title in ((ax1, "tokens/s"), (ax2, "MFU (%)")):
            ax.set_xscale("log", base=2)
            ax.set_xlabel("GPUs used (best plan)")
            ax.set_title(title)
            ax.grid(True, alpha=0.3)
        ax1.set_yscale("log")
        if series:
            ax1.legend(fontsize=7)
        fig.tight_layout()
        try:
            return savefig(fig, path, dpi=110)
        finally:
            plt.close(fig)
