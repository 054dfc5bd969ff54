"""Draw the figure dicts of :mod:`colossim.report.figures` with matplotlib (PNG or SVG).

For the Markdown report (PNG beside the .md) and for HTML reports without Plotly.js
(``--charts svg``). Only the Plotly subset the figures use is understood: ``bar`` traces
(stacked or grouped, categorical x), ``scatter`` traces (lines and/or markers), log axes,
axis titles and ranges, and horizontal ``shapes`` with their annotations.
"""

from __future__ import annotations

import io
import threading
from typing import Any

from colossim.errors import ColossimError

# matplotlib's pyplot state and its text (mathtext) parser are shared by every thread: the
# server renders SVG reports on several threads, so every figure is drawn under this lock.
figure_lock = threading.RLock()

DASHES = {"dot": ":", "dash": "--", "dashdot": "-.", "solid": "-"}


def pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise ColossimError("charts as PNG/SVG need matplotlib: pip install 'colossim[plot]'",
                            field="--charts") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _text(node: Any) -> str:
    if isinstance(node, dict):
        return str(node.get("text", ""))
    return "" if node is None else str(node)


def _color(trace: dict[str, Any], n: int) -> Any:
    marker = trace.get("marker", {}).get("color")
    line = trace.get("line", {}).get("color")
    color = marker if marker is not None else line
    if isinstance(color, list):
        return color[:n] if len(color) >= n else None
    return color


def _bars(ax: Any, traces: list[dict[str, Any]], stacked: bool) -> None:
    categories: list[Any] = []
    for t in traces:
        for x in t.get("x", []):
            if x not in categories:
                categories.append(x)
    pos = {c: i for i, c in enumerate(categories)}
    width = 0.6 if stacked or len(traces) <= 1 else 0.8 / len(traces)
    if len(categories) == 1:
        width /= 2
    bottom = [0.0] * len(categories)
    for k, t in enumerate(traces):
        xs = [pos[x] for x in t.get("x", [])]
        ys = [float(y or 0.0) for y in t.get("y", [])]
        if stacked:
            base = [bottom[i] for i in xs]
            ax.bar(xs, ys, width, bottom=base, label=t.get("name"), color=_color(t, len(xs)))
            for i, y in zip(xs, ys, strict=False):
                bottom[i] += y
        else:
            offset = (k - (len(traces) - 1) / 2) * width if len(traces) > 1 else 0.0
            ax.bar([x + offset for x in xs], ys, width, label=t.get("name"), color=_color(t, len(xs)))
    ax.set_xticks(range(len(categories)))
    ax.set_xticklabels([str(c) for c in categories], rotation=20 if len(categories) > 4 else 0, ha="right"
                       if len(categories) > 4 else "center", fontsize=8)


def _scatter(ax: Any, t: dict[str, Any]) -> None:
    mode = t.get("mode", "lines+markers")
    style = DASHES.get(t.get("line", {}).get("dash", "solid"), "-") if "lines" in mode else "none"
    ax.plot(t.get("x", []), [float("nan") if y is None else y for y in t.get("y", [])], linestyle=style,
            marker="o" if "markers" in mode else None, label=t.get("name"), color=_color(t, 1))


def _axis(ax: Any, layout: dict[str, Any], key: str) -> None:
    axis = layout.get(f"{key}axis", {})
    setter = ax.set_xlabel if key == "x" else ax.set_ylabel
    setter(_text(axis.get("title")))
    if axis.get("type") == "log":
        (ax.set_xscale if key == "x" else ax.set_yscale)("log")
    if key == "y" and axis.get("range"):
        ax.set_ylim(*axis["range"])
    elif key == "y" and axis.get("rangemode") == "tozero":
        ax.set_ylim(bottom=0)


def draw(fig: dict[str, Any], fmt: str = "png", dpi: int = 110) -> bytes:
    """The figure as PNG or SVG bytes (one figure at a time: see ``figure_lock``)."""
    with figure_lock:
        plt = pyplot()
        mfig, ax = plt.subplots(figsize=(7.5, 4.2))
        try:
            return _draw(mfig, ax, fig, fmt, dpi)
        finally:
            plt.close(mfig)


def _draw(mfig: Any, ax: Any, fig: dict[str, Any], fmt: str, dpi: int) -> bytes:
    layout = fig.get("layout", {})
    traces = fig.get("data", [])
    bars = [t for t in traces if t.get("type") == "bar"]
    if bars:
        _bars(ax, bars, layout.get("barmode") == "stack")
    for t in traces:
        if t.get("type", "scatter") == "scatter":
            _scatter(ax, t)
    for shape in layout.get("shapes", []):
        if shape.get("type") == "line" and shape.get("y0") == shape.get("y1"):
            ax.axhline(shape["y0"], color=shape.get("line", {}).get("color", "k"), linestyle="--", linewidth=1.5)
    for note in layout.get("annotations", []):
        if note.get("xref") == "paper":
            ax.annotate(note.get("text", ""), xy=(1, note.get("y", 0)), xycoords=("axes fraction", "data"),
                        ha="right", va="bottom", color=note.get("font", {}).get("color", "k"), fontsize=8)
    _axis(ax, layout, "x")
    _axis(ax, layout, "y")
    ax.set_title(_text(layout.get("title")))
    ax.grid(True, alpha=0.3)
    if layout.get("showlegend", True) and any(t.get("name") for t in traces):
        handles, labels = ax.get_legend_handles_labels()
        if layout.get("legend", {}).get("traceorder") == "reversed":
            handles, labels = handles[::-1], labels[::-1]
        ax.legend(handles, labels, fontsize=7, loc="best")
    mfig.tight_layout()
    buf = io.BytesIO()
    mfig.savefig(buf, format=fmt, dpi=dpi)
    return buf.getvalue()
