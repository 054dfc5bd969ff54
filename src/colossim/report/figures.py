"""Charts as plain data: Plotly figure dicts built from the library's ``to_dict`` records.

One description of each chart serves every renderer: the dashboard hands the dict to
Plotly.js, the HTML report inlines it with Plotly.js (or as SVG), and the Markdown report
draws it with matplotlib (:mod:`colossim.report.mpl`). So a figure uses a small subset of
Plotly: ``bar`` and ``scatter`` traces (optionally on ``yaxis2``), ``barmode``, axis titles
and log axes, and horizontal ``shapes`` (capacity lines). No arithmetic on the results
beyond unit conversion (s -> ms, fraction -> %) happens here.
"""

from __future__ import annotations

from typing import Any

Figure = dict[str, Any]

# Okabe-Ito colour-blind-safe palette, extended; one colour per term, stable across charts.
PALETTE = ("#0072B2", "#56B4E9", "#009E73", "#E69F00", "#D55E00", "#CC79A7", "#F0E442", "#999999",
           "#332288", "#882255", "#44AA99", "#117733")

CAPACITY = "#B00020"  # capacity lines (HBM): a red no term uses

BREAKDOWN_LABELS = {
    "compute_forward": "compute (forward)", "compute_backward": "compute (backward)",
    "compute_recompute": "recompute", "tp_exposed": "TP comm (exposed)", "pp_bubble": "pipeline bubble",
    "pp_p2p": "PP send/recv", "dp_exposed": "DP comm (exposed)", "ep_all_to_all": "EP all-to-all",
    "cp_exposed": "CP comm (exposed)", "optimizer": "optimizer",
}
MEMORY_LABELS = {"weights": "weights", "gradients": "gradients", "optimizer_states": "optimizer states",
                 "activations": "activations", "buffers": "buffers", "fragmentation": "allocator fragmentation"}
POWER_LABELS = {"gpus": "GPUs", "servers": "servers (CPU, memory, fans, PSU)", "nics": "NICs + optics",
                "switches": "switches", "switch_optics": "switch optics", "storage": "storage"}


def _layout(title: str, x_title: str, y_title: str, **extra: Any) -> dict[str, Any]:
    return {"title": {"text": title}, "xaxis": {"title": {"text": x_title}},
            "yaxis": {"title": {"text": y_title}}, "legend": {"orientation": "h", "y": -0.25},
            "margin": {"l": 70, "r": 30, "t": 50, "b": 40}, "height": 380, **extra}


def _stacked_layout(title: str, y_title: str) -> dict[str, Any]:
    """Stacked bars; the legend lists terms top-down as they stack."""
    layout = _layout(title, "", y_title, barmode="stack", bargap=0.45)
    layout["legend"]["traceorder"] = "reversed"
    layout["xaxis"]["type"] = "category"  # labels like "#1" stay labels
    return layout


def _figure(fig_id: str, data: list[dict[str, Any]], layout: dict[str, Any]) -> Figure:
    return {"id": fig_id, "data": data, "layout": layout}


def _stacked(labels: list[str], records: list[dict[str, float]], names: dict[str, str], scale: float,
             hover_unit: str) -> list[dict[str, Any]]:
    """One bar trace per term (terms that are zero everywhere left out), stacked over ``labels``."""
    traces = []
    for i, (key, name) in enumerate(names.items()):
        ys = [r.get(key, 0.0) * scale for r in records]
        if not any(ys):
            continue
        traces.append({"type": "bar", "name": name, "x": labels, "y": ys,
                       "marker": {"color": PALETTE[i % len(PALETTE)]},
                       "hovertemplate": f"{name}: %{{y:.4g}} {hover_unit}<extra></extra>"})
    return traces


def _hline(y: float, label: str) -> tuple[dict[str, Any], dict[str, Any]]:
    shape = {"type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": "y", "y0": y, "y1": y,
             "line": {"color": CAPACITY, "width": 2, "dash": "dash"}}
    note = {"xref": "paper", "x": 1, "xanchor": "right", "yref": "y", "y": y, "yanchor": "bottom",
            "text": label, "showarrow": False, "font": {"color": CAPACITY}}
    return shape, note


def step_breakdown(estimates: list[dict[str, Any]], labels: list[str] | None = None) -> Figure:
    """Step time of one or more plans (``Estimate.to_dict()``), stacked by term, in ms."""
    labels = labels or [e.get("scenario", "plan") for e in estimates]
    data = _stacked(labels, [e["breakdown_s"] for e in estimates], BREAKDOWN_LABELS, 1e3, "ms")
    return _figure("step_breakdown", data, _stacked_layout("Step time breakdown", "ms per step"))


def memory_per_gpu(estimates: list[dict[str, Any]], labels: list[str] | None = None) -> Figure:
    """Memory per GPU by kind against the GPU's HBM capacity (dashed line), in GB."""
    labels = labels or [e.get("scenario", "plan") for e in estimates]
    data = _stacked(labels, [e["memory_breakdown_gb"] for e in estimates], MEMORY_LABELS, 1.0, "GB")
    hbm = max(e["hbm_per_gpu_gb"] for e in estimates)
    shape, note = _hline(hbm, f"HBM {hbm:g} GB")
    layout = {**_stacked_layout("Memory per GPU", "GB"), "shapes": [shape], "annotations": [note]}
    layout["yaxis"]["range"] = [0, 1.15 * max(hbm, *(e["memory_per_gpu_gb"] for e in estimates))]
    return _figure("memory_per_gpu", data, layout)


_LOG = {"type": "log", "dtick": "D2", "tickformat": "~s"}  # log axis: 1, 2, 5 per decade, SI prefixes


def _ok_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted((r for r in rows if r.get("status") == "ok"), key=lambda r: r["num_gpus"])


def scaling_throughput(rows: list[dict[str, Any]]) -> Figure:
    """Tokens/s against cluster size (log-log), with ideal linear scaling from the smallest point."""
    ok = _ok_rows(rows)
    x = [r["num_gpus"] for r in ok]
    data: list[dict[str, Any]] = [{"type": "scatter", "mode": "lines+markers", "name": "tokens/s", "x": x,
                                   "y": [r["tokens_per_s"] for r in ok], "marker": {"color": PALETTE[0]}}]
    if ok:  # the reference line: the smallest point's tokens/s per GPU, times GPUs
        per_gpu = ok[0]["tokens_per_s"] / ok[0]["gpus_used"]
        data.append({"type": "scatter", "mode": "lines", "name": "linear scaling", "x": x,
                     "y": [per_gpu * r["gpus_used"] for r in ok], "line": {"dash": "dot", "color": "#999999"}})
    layout = _layout("Throughput against cluster size", "GPUs in the cluster", "tokens/s")
    layout["xaxis"].update(_LOG)
    layout["yaxis"].update(_LOG)
    return _figure("scaling_throughput", data, layout)


def scaling_mfu(rows: list[dict[str, Any]]) -> Figure:
    """MFU (%) against cluster size."""
    ok = _ok_rows(rows)
    data = [{"type": "scatter", "mode": "lines+markers", "name": "MFU", "x": [r["num_gpus"] for r in ok],
             "y": [100 * r["mfu"] for r in ok], "marker": {"color": PALETTE[2]}}]
    layout = _layout("MFU against cluster size", "GPUs in the cluster", "MFU (%)")
    layout["xaxis"].update(_LOG)
    layout["yaxis"]["rangemode"] = "tozero"
    return _figure("scaling_mfu", data, layout)


def power_components(power: dict[str, Any]) -> Figure:
    """IT power per component at each basis, plus cooling and distribution (PUE - 1), in MW."""
    bases = ["peak", "average", "nameplate"]
    comp = power["components_mw"]
    records = [{**comp[b], "cooling": sum(comp[b].values()) * (power["pue"] - 1)} for b in bases]
    names = {**POWER_LABELS, "cooling": f"cooling and distribution (PUE {power['pue']:g})"}
    data = _stacked(bases, records, names, 1.0, "MW")
    return _figure("power_components", data, _stacked_layout("Facility power by component", "MW"))


def cost_parts(cost: dict[str, Any]) -> Figure:
    """What the run costs: electricity and the capital charged to it, by part, in USD."""
    parts = {"electricity": cost["electricity_usd"]}
    if cost.get("include_capex", True):
        parts.update({f"capital: {k}": v for k, v in cost["capex_amortized_usd"].items()})
    data = [{"type": "bar", "name": "USD", "x": list(parts), "y": list(parts.values()),
             "marker": {"color": [PALETTE[i % len(PALETTE)] for i in range(len(parts))]},
             "hovertemplate": "%{x}: $%{y:,.0f}<extra></extra>"}]
    return _figure("cost_parts", data, _layout("Cost of the run", "", "USD", showlegend=False))


def validation_scatter(rows: list[dict[str, Any]]) -> Figure:
    """Predicted against measured step time of the published runs, with the y = x line."""
    data: list[dict[str, Any]] = []
    cases: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        cases.setdefault(r["case"], []).append(r)
    for i, (case, rs) in enumerate(cases.items()):
        data.append({"type": "scatter", "mode": "markers", "name": case, "x": [r["measured_iter_s"] for r in rs],
                     "y": [r["predicted_iter_s"] for r in rs], "text": [r["run"] for r in rs],
                     "marker": {"color": PALETTE[i % len(PALETTE)]}})
    if rows:
        lo = min(min(r["measured_iter_s"], r["predicted_iter_s"]) for r in rows)
        hi = max(max(r["measured_iter_s"], r["predicted_iter_s"]) for r in rows)
        data.append({"type": "scatter", "mode": "lines", "name": "predicted = measured", "x": [lo, hi],
                     "y": [lo, hi], "line": {"dash": "dot", "color": "#999999"}})
    layout = _layout("Published runs: predicted against measured", "measured step time (s)",
                     "predicted step time (s)")
    layout["xaxis"].update(_LOG)
    layout["yaxis"].update(_LOG)
    return _figure("validation", data, layout)


def line(fig_id: str, title: str, x: list[Any], series: dict[str, list[Any]], x_title: str, y_title: str,
         *, x_log: bool = False, y_log: bool = False) -> Figure:
    """A generic line chart (one trace per series): for capabilities that need nothing special,
    e.g. goodput against cluster size."""
    data = [{"type": "scatter", "mode": "lines+markers", "name": name, "x": list(x), "y": list(ys),
             "marker": {"color": PALETTE[i % len(PALETTE)]}} for i, (name, ys) in enumerate(series.items())]
    layout = _layout(title, x_title, y_title)
    if x_log:
        layout["xaxis"].update(_LOG)
    if y_log:
        layout["yaxis"].update(_LOG)
    return _figure(fig_id, data, layout)


def bars(fig_id: str, title: str, values: dict[str, float], y_title: str) -> Figure:
    """A generic bar chart of named values (one bar each)."""
    data = [{"type": "bar", "name": y_title, "x": list(values), "y": list(values.values()),
             "marker": {"color": [PALETTE[i % len(PALETTE)] for i in range(len(values))]}}]
    return _figure(fig_id, data, _layout(title, "", y_title, showlegend=False))
