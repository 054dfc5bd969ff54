"""The report as one self-contained HTML file: tables, charts and styles inline, no network.

Charts are either interactive (Plotly.js, inlined from the installed ``plotly`` package:
about 5 MB, the same figures the dashboard draws) or static inline SVG drawn by matplotlib
(tens of kB, ``--charts svg``). Either way the file opens offline and can be mailed as is.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path
from typing import Any

from colossim.errors import ColossimError
from colossim.report.document import ReportDoc
from colossim.report.present import Section, clean

CHARTS = ("auto", "plotly", "svg")

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
main{max-width:1100px;margin:0 auto;padding:24px}
header{background:#14213d;color:#fff;padding:20px 24px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;opacity:.85}header a{color:#9ecbff}
section{background:#fff;border:1px solid #dde1e7;border-radius:8px;padding:16px 20px;margin:18px 0}
h2{margin:0 0 12px;font-size:18px}h3{font-size:14px;margin:16px 0 6px;color:#44506a}
.kpis{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:8px}
.kpi{background:#f0f3f8;border-radius:6px;padding:8px 10px}.kpi b{display:block;font-size:17px}
.kpi span{font-size:12px;color:#5a6478}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:12px;margin-top:12px}
.chart{min-height:380px}.chart svg{width:100%;height:auto}
table{border-collapse:collapse;font-size:12.5px;margin:4px 0;width:100%}
th,td{border-bottom:1px solid #e6e9ef;padding:4px 8px;text-align:right}th{background:#f0f3f8}
td:first-child,th:first-child{text-align:left}
.notes li{color:#44506a}.errors li{color:#b00020}
pre{background:#f0f3f8;padding:10px;border-radius:6px;overflow:auto;font-size:12px}
footer{color:#7a8499;font-size:12px;text-align:center;padding:16px}
"""


def plotly_js_path() -> Path | None:
    """plotly.min.js from the installed ``plotly`` Python package (no CDN), or None."""
    try:
        path = Path(str(resources.files("plotly").joinpath("package_data", "plotly.min.js")))
    except (ModuleNotFoundError, TypeError):
        return None
    return path if path.is_file() else None


def resolve_charts(charts: str) -> str:
    """``auto`` -> plotly when the plotly package is installed, else svg (matplotlib)."""
    if charts not in CHARTS:
        from colossim.errors import field_error

        raise field_error("--charts", charts, f"allowed: {', '.join(CHARTS)}", choices=CHARTS)
    if charts == "auto":
        charts = "plotly" if plotly_js_path() is not None else "svg"
    if charts == "plotly" and plotly_js_path() is None:
        raise ColossimError("--charts plotly needs the plotly package: pip install 'colossim[web]' "
                            "(or use --charts svg)", field="--charts", value=charts)
    if charts == "svg":
        from colossim.report.mpl import pyplot

        pyplot()  # matplotlib missing: the error now, before any work
    return charts


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)


@functools.cache
def _environment() -> Any:
    """The Jinja2 environment of the report templates (report/templates), autoescaping on."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("colossim.report", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    env.filters["cell"] = _cell
    return env


def _svg(fig: dict[str, Any]) -> str:
    from colossim.report import mpl

    text = mpl.draw(fig, "svg").decode("utf-8")
    return text[text.find("<svg"):]


def _section_view(s: Section, charts: str, figs: dict[str, Any], index: int) -> dict[str, Any]:
    """What the template shows of one section; Plotly figures collected into ``figs``."""
    chart_views = []
    for j, fig in enumerate(s.figures):
        div_id = f"fig-{index}-{j}"
        if charts == "plotly":
            figs[div_id] = fig
            chart_views.append({"id": div_id, "svg": None})
        else:
            chart_views.append({"id": div_id, "svg": _svg(fig)})
    return {"kind": s.kind, "title": s.title, "kpis": s.kpis, "charts": chart_views, "tables": s.tables,
            "notes": s.notes}


def _script_json(obj: Any) -> str:
    """JSON safe inside <script>: no NaN (not JSON), no '</' (would close the element)."""
    return json.dumps(clean(obj), separators=(",", ":")).replace("</", "<\\/")


def render_html(doc: ReportDoc, charts: str = "auto") -> str:
    """The report from the ``report.html.j2`` template: sections, charts and styles inline."""
    charts = resolve_charts(charts)
    figs: dict[str, Any] = {}
    sections = [_section_view(s, charts, figs, i) for i, s in enumerate(doc.sections)]
    plotly_js = None
    if figs:
        path = plotly_js_path()
        assert path is not None, "resolve_charts checked plotly"
        plotly_js = path.read_text(encoding="utf-8")
    return _environment().get_template("report.html.j2").render(
        doc=doc, sections=sections, style=STYLE, charts=charts, plotly_js=plotly_js, figs_json=_script_json(figs))
