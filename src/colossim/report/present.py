"""Presentation of the library's records: headline numbers, charts, tables and notes.

A :class:`Section` is what the dashboard shows in one panel and what a report prints under
one heading. Each ``present_*`` function reads one ``to_dict()`` record (the same object the
CLI prints with ``--json``) and only formats it; no model arithmetic happens here.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from colossim.report import figures

PLAN_COLUMNS = ("tp", "pp", "dp", "cp", "ep", "etp", "vpp", "micro_batch_size", "recompute", "zero_stage",
                "sequence_parallel")


@dataclass
class Section:
    """One panel of the dashboard, one heading of a report."""

    kind: str
    title: str
    kpis: list[dict[str, str]] = field(default_factory=list)  # {"label", "value"}, formatted
    figures: list[dict[str, Any]] = field(default_factory=list)  # Plotly figure dicts (report.figures)
    tables: list[dict[str, Any]] = field(default_factory=list)  # {"title", "columns", "rows"}
    notes: list[str] = field(default_factory=list)

    def kpi(self, label: str, value: str) -> None:
        self.kpis.append({"label": label, "value": value})

    def table(self, title: str, columns: list[str], rows: list[list[Any]]) -> None:
        self.tables.append({"title": title, "columns": list(columns), "rows": [list(r) for r in rows]})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---- formatting -----------------------------------------------------------------------


def clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become null (JSON has neither); tuples become lists."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


SI_PREFIXES = ((1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""),
               (1e-3, "m"), (1e-6, "u"), (1e-9, "n"))
BINARY_PREFIXES = ((2.0**60, "Ei"), (2.0**50, "Pi"), (2.0**40, "Ti"), (2.0**30, "Gi"), (2.0**20, "Mi"),
                   (2.0**10, "Ki"), (1.0, ""))
COUNT_SUFFIXES = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k"))  # trillion, billion, million, thousand


def fmt_quantity(x: float | None, unit: str = "", *, binary: bool = False, digits: int = 3) -> str:
    """The one number formatter of every table: ``digits`` significant figures and a prefix
    (SI powers of 1000 by default; ``binary``: powers of 1024, KiB/MiB/GiB), e.g.
    ``fmt_quantity(2147308885.33, "B", binary=True) == "2.00 GiB"``, ``fmt_quantity(0, "s") == "0 s"``.
    None, NaN and infinities show as ``-``."""
    if x is None or not math.isfinite(x):
        return "-"
    space = " " if unit else ""
    if x == 0:
        return f"0{space}{unit}"
    table = BINARY_PREFIXES if binary else SI_PREFIXES
    scale, prefix = next(((sc, p) for sc, p in table if abs(x) >= sc * (1 - 0.5 * 10 ** -digits)), table[-1])
    v = float(f"{x / scale:.{digits}g}")  # rounded first: 0.99996 kW is 1.00 kW, not 1.000
    decimals = max(0, digits - 1 - int(math.floor(math.log10(abs(v)))) if v else 0)
    text = f"{v:.{decimals}f}"
    return f"{text} {prefix}{unit}" if (prefix or unit) else text


def fmt_mw(mw: float | None) -> str:
    """A power figure given in MW, with the prefix its size calls for (64 GPUs read in kW)."""
    return fmt_quantity(None if mw is None else mw * 1e6, "W")


def fmt_mwh(mwh: float | None) -> str:
    """An energy given in MWh, likewise; below 1 Wh without the milli prefix ('838 mWh' reads
    as MWh at a glance)."""
    if mwh is None or not math.isfinite(mwh):
        return "-"
    wh = mwh * 1e6
    return fmt_quantity(wh, "Wh") if wh >= 1.0 or wh == 0 else f"{wh:.2g} Wh"


def fmt_time(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "-"
    if seconds == 0:
        return "0 s"
    if abs(seconds) >= 1.0:
        return f"{seconds:.3f} s"
    if abs(seconds) >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    if abs(seconds) >= 1e-6:
        return f"{seconds * 1e6:.1f} us"
    return f"{seconds * 1e9:.1f} ns"


def fmt_count(x: float | None) -> str:
    """Counts of things (tokens, parameters): k, M, B (billion), T (trillion)."""
    if x is None or not math.isfinite(x):
        return "-"
    for scale, unit in COUNT_SUFFIXES:
        if abs(x) >= scale:
            return f"{x / scale:.2f}{unit}"
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.3g}"


def fmt_bytes(x: float | None) -> str:
    """Bytes in binary prefixes (KiB, MiB, GiB: powers of 1024)."""
    return fmt_quantity(x, "B", binary=True)


def fmt_pct(x: float | None) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{100 * x:.1f}%"


def fmt_usd(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "-"
    for unit, scale in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= scale:
            return f"${x / scale:,.2f}{unit}"
    return f"${x:,.2f}"


def fmt_num(x: Any, digits: int = 4) -> str:
    """A table cell of unknown kind: integers with thousands separators, floats to ``digits``
    significant figures without exponents (large ones as counts), lists and mappings spelled
    out (no Python reprs)."""
    if x is None:
        return "-"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        if not math.isfinite(x):
            return "-"
        if x.is_integer() and abs(x) < 1e15:
            return f"{int(x):,}"
        if abs(x) >= 1e6:
            return fmt_count(x)
        if abs(x) < 1e-3:
            return f"{x:.2e}" if x else "0"
        rounded = float(f"{x:.{digits}g}")
        if abs(rounded) >= 1000:  # 1978.9 reads 1,979, as the integers beside it do
            return f"{int(rounded):,}" if rounded.is_integer() else f"{rounded:,}"
        return f"{x:.{digits}g}"
    if isinstance(x, dict):
        return ", ".join(f"{k}: {fmt_num(v, digits)}" for k, v in x.items())
    if isinstance(x, (list, tuple)):
        return ", ".join(fmt_num(v, digits) for v in x)
    return str(x)


def is_number(x: Any) -> bool:
    """An int or float cell (a bool is neither: ``True`` is not the number 1 in a table)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def fmt_field(key: str, value: Any) -> str:
    """A table cell formatted by what its field name says it is: ``*bytes`` in binary
    prefixes, ``*_s`` as a time, utilization/fraction/share as a percentage, ``*_gbps``
    and ``*_w`` with SI prefixes; anything else through :func:`fmt_num`."""
    if not is_number(value):
        return fmt_num(value)
    k = key.lower()
    if k.endswith("bytes") or k == "size":
        return fmt_bytes(value)
    if k.endswith("_s") or k in ("time", "seconds"):
        return fmt_time(value)
    if any(w in k for w in ("utilization", "fraction", "share", "mean", "max", "p99", "p50")) and abs(value) <= 1.5:
        return fmt_pct(value)
    if k.endswith("_gbps"):
        return fmt_quantity(value * 1e9, "b/s")
    if k.endswith("_w"):
        return fmt_quantity(value, "W")
    return fmt_num(value)


# ---- one presenter per capability -----------------------------------------------------


def present_estimate(d: dict[str, Any]) -> Section:
    s = Section("estimate", f"Step estimate: {d['scenario']}")
    s.kpi("step time", fmt_time(d["step_time_s"]))
    s.kpi("tokens/s", fmt_count(d["tokens_per_s"]))
    s.kpi("MFU", fmt_pct(d["mfu"]))
    s.kpi("TFLOP/s per GPU", f"{d['model_tflops_per_gpu']:.0f}")
    s.kpi("memory per GPU", f"{d['memory_per_gpu_gb']:.1f} / {d['hbm_per_gpu_gb']:g} GB"
          + ("" if d["fits_in_memory"] else " (does not fit)"))
    ttt = d.get("time_to_train")
    if ttt is not None:
        s.kpi("time to train", f"{ttt['days']:.1f} days at goodput {ttt['goodput']['value']:.3f}")
        s.notes.append(f"time to train: {ttt['failure_free_days']:.1f} failure-free days / goodput "
                       f"{ttt['goodput']['value']:.3f} ({ttt['goodput']['detail']})")
    else:
        days = d["time_to_train_days"]
        s.kpi("time to train", "-" if days is None else f"{days:.1f} days (failure-free)")
    s.kpi("GPUs used", f"{d['gpus_used']:,} ({d['gpus_idle']:,} idle)")
    s.kpi("largest overhead", figures.BREAKDOWN_LABELS.get(d["dominant_overhead"], d["dominant_overhead"]))
    s.figures += [figures.step_breakdown([d], ["this plan"]), figures.memory_per_gpu([d], ["this plan"])]
    s.table("plan", list(PLAN_COLUMNS), [[d["plan"].get(k) for k in PLAN_COLUMNS]])
    s.table("step time breakdown", ["term", "time", "share"],
            [[figures.BREAKDOWN_LABELS[k], fmt_time(v), fmt_pct(v / d["step_time_s"])]
             for k, v in d["breakdown_s"].items() if v])
    s.notes += d.get("notes", [])
    if not d["fits_in_memory"]:
        s.notes.append("the plan does not fit in GPU memory: try recompute, ZeRO, more pipeline stages or a search")
    return s


def present_search(d: dict[str, Any]) -> Section:
    plans = d["plans"]
    s = Section("search", f"Best plans ({d['objective']}): {d['scenario']}")
    s.kpi("candidates", f"{d['candidates']:,}")
    s.kpi("evaluated", f"{d['evaluated']:,}")
    s.kpi("not fitting in memory", f"{d['not_fitting']:,}")
    s.kpi("search time", f"{d['elapsed_s']:.1f} s")
    if plans:
        s.kpi("best step time", fmt_time(plans[0]["step_time_s"]))
        s.kpi("best MFU", fmt_pct(plans[0]["mfu"]))
    labels = [f"#{i + 1}" for i in range(len(plans))]
    if plans:
        s.figures += [figures.step_breakdown(plans, labels), figures.memory_per_gpu(plans, labels)]
    unit = d.get("objective_unit")
    s.table("best plans", ["rank", *PLAN_COLUMNS, "step time", "tokens/s", *([unit] if unit else []), "MFU",
                           "memory GB"],
            [[i + 1, *(p["plan"].get(k) for k in PLAN_COLUMNS), fmt_time(p["step_time_s"]),
              fmt_count(p["tokens_per_s"]), *([f"{p['objective_value']:.4g}"] if unit else []), fmt_pct(p["mfu"]),
              f"{p['memory_per_gpu_gb']:.1f}"]
             for i, p in enumerate(plans)])
    if d["broken_rules"]:
        s.table("candidates removed by rule", ["rule", "candidates"],
                [[k, f"{v:,}"] for k, v in d["broken_rules"].items()])
    s.notes.append(f"constraints: {d['constraints']}")
    if d.get("explanation"):
        s.notes.append(d["explanation"])
    return s


def present_scaling(d: dict[str, Any]) -> Section:
    rows = d["rows"]
    s = Section("scaling", f"Scaling ({d['plan']} plan): {d['scenario']}")
    ok = [r for r in rows if r.get("status") == "ok"]
    s.kpi("cluster sizes", f"{len(ok)} of {len(rows)} ran")
    if ok:
        s.kpi("best MFU", fmt_pct(max(r["mfu"] for r in ok)))
        s.kpi("largest tokens/s", fmt_count(max(r["tokens_per_s"] for r in ok)))
    s.figures += [figures.scaling_throughput(rows), figures.scaling_mfu(rows)]
    s.table("scaling", ["GPUs", "used", "tp", "pp", "dp", "step time", "tokens/s", "MFU", "memory GB", "status"],
            [[r["num_gpus"], r.get("gpus_used", "-"), r.get("plan_tp", "-"), r.get("plan_pp", "-"),
              r.get("plan_dp", "-"), fmt_time(r.get("step_time_s")), fmt_count(r.get("tokens_per_s")),
              fmt_pct(r.get("mfu")), fmt_num(r.get("memory_per_gpu_gb"), 3), r["status"]] for r in rows])
    s.notes += d.get("notes", [])
    return s


def present_validation(d: dict[str, Any]) -> Section:
    s = Section("validate", "Published runs: predicted against measured")
    s.kpi("runs", str(d["cases"]))
    s.kpi("MAPE (step time)", fmt_pct(d["mape"]))
    s.kpi("largest error", fmt_pct(d["max_abs_error"]))
    s.figures.append(figures.validation_scatter(d["rows"]))
    s.table("runs", ["case", "run", "GPUs", "measured", "predicted", "error", "MFU"],
            [[r["case"], r["run"], r["gpus"], fmt_time(r["measured_iter_s"]), fmt_time(r["predicted_iter_s"]),
              f"{100 * r['error']:+.1f}%", fmt_pct(r["predicted_mfu"])] for r in d["rows"]])
    return s


def generic(kind: str, title: str, d: dict[str, Any]) -> Section:
    """A capability without its own presenter: its scalar fields as headline numbers."""
    s = Section(kind, title)
    for key, value in d.items():
        if isinstance(value, (int, float, str, bool)) or value is None:
            s.kpi(key.replace("_", " "), fmt_num(value))
    s.notes += [str(n) for n in d.get("notes", []) if isinstance(d.get("notes"), list)]
    return s
