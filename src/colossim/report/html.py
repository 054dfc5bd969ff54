"""The report as one self-contained HTML file: tables, charts and styles inline, no network.

Charts are either interactive (Plotly.js, inlined from the installed ``plotly`` package:
about 5 MB, the same figures the dashboard draws) or static inline SVG drawn by matplotlib
(tens of kB, ``--charts svg``). Either way the file opens offline and can be mailed as is.
"""

from __future__ import annotations

import html
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


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _table(t: dict[str, Any]) -> str:
    head = "".join(f"<th>{_esc(c)}</th>" for c in t["columns"])
    body = "".join("<tr>" + "".join(f"<td>{_esc('-' if v is None else v)}</td>" for v in row) + "</tr>"
                   for row in t["rows"])
    return f"<h3>{_esc(t['title'])}</h3><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _svg(fig: dict[str, Any]) -> str:
    from colossim.report import mpl

    text = mpl.draw(fig, "svg").decode("utf-8")
    return text[text.find("<svg"):]


def _section(s: Section, charts: str, figs: dict[str, Any], index: int) -> str:
    parts = [f'<section id="{_esc(s.kind)}"><h2>{_esc(s.title)}</h2>']
    if s.kpis:
        parts.append('<div class="kpis">' + "".join(
            f'<div class="kpi"><span>{_esc(k["label"])}</span><b>{_esc(k["value"])}</b></div>' for k in s.kpis)
            + "</div>")
    if s.figures:
        parts.append('<div class="charts">')
        for j, fig in enumerate(s.figures):
            div_id = f"fig-{index}-{j}"
            if charts == "plotly":
                figs[div_id] = fig
                parts.append(f'<div class="chart" id="{div_id}"></div>')
            else:
                parts.append(f'<div class="chart">{_svg(fig)}</div>')
        parts.append("</div>")
    parts += [_table(t) for t in s.tables]
    if s.notes:
        parts.append('<ul class="notes">' + "".join(f"<li>{_esc(n)}</li>" for n in s.notes) + "</ul>")
    parts.append("</section>")
    return "".join(parts)


def _script_json(obj: Any) -> str:
    """JSON safe inside <script>: no NaN (not JSON), no '</' (would close the element)."""
    return json.dumps(clean(obj), separators=(",", ":")).replace("</", "<\\/")


def render_html(doc: ReportDoc, charts: str = "auto") -> str:
    charts = resolve_charts(charts)
    figs: dict[str, Any] = {}
    body = "".join(_section(s, charts, figs, i) for i, s in enumerate(doc.sections))
    errors = ""
    if doc.errors:
        errors = ('<section><h2>Not included</h2><ul class="errors">'
                  + "".join(f"<li>{_esc(e)}</li>" for e in doc.errors) + "</ul></section>")
    scripts = ""
    if figs:
        path = plotly_js_path()
        assert path is not None, "resolve_charts checked plotly"
        scripts = (f"<script>{path.read_text(encoding='utf-8')}</script>"
                   f"<script>const FIGS={_script_json(figs)};"
                   "for(const [id,f] of Object.entries(FIGS)){Plotly.newPlot(id,f.data,f.layout,"
                   "{displaylogo:false,responsive:true});}</script>")
    nav = " &middot; ".join(f'<a href="#{_esc(s.kind)}">{_esc(s.title.split(":")[0])}</a>' for s in doc.sections)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{_esc(doc.title)}</title><style>{STYLE}</style></head>
<body><header><h1>{_esc(doc.title)}</h1><p>colossim {_esc(doc.version)} &middot; {_esc(doc.generated)}
&middot; {nav}</p></header>
<main>{body}{errors}
<section id="scenario"><h2>Scenario</h2><p>Save as <code>scenario.yaml</code> and re-run with
<code>colossim estimate scenario.yaml</code> or <code>colossim report scenario.yaml</code>.</p>
<pre>{_esc(doc.scenario_yaml)}</pre></section></main>
<footer>Generated by colossim {_esc(doc.version)}. Charts: {"Plotly.js (inline, works offline)" if charts == "plotly"
        else "inline SVG"}. Figures are predictions of a model, not measurements.</footer>
{scripts}</body></html>
"""
