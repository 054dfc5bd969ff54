"""The report as Markdown with its charts as PNG files beside it (``<stem>-<chart>.png``).

For wikis, pull requests and issue trackers, which show Markdown and images but run no
scripts. The PNGs are drawn by matplotlib (:mod:`colossim.report.mpl`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from colossim.atomic import write_bytes, write_text
from colossim.report.document import ReportDoc


def _cell(value: Any) -> str:
    return ("-" if value is None else str(value)).replace("|", "\\|").replace("\n", " ")


def _table(t: dict[str, Any]) -> list[str]:
    cols = t["columns"]
    lines = [f"**{t['title']}**", "", "| " + " | ".join(_cell(c) for c in cols) + " |",
             "|" + "|".join(":---" if i == 0 else "---:" for i in range(len(cols))) + "|"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in t["rows"]]
    return [*lines, ""]


def render_markdown(doc: ReportDoc, path: str | Path) -> tuple[Path, list[Path]]:
    """Write ``path`` (.md) and one PNG per chart beside it; return the written files."""
    from colossim.report import mpl

    md = Path(path)
    md.parent.mkdir(parents=True, exist_ok=True)
    images: list[Path] = []
    lines = [f"# {doc.title}", "", f"colossim {doc.version}, {doc.generated}", ""]
    for s in doc.sections:
        lines += [f"## {s.title}", ""]
        if s.kpis:
            lines += ["| | |", "|:---|---:|"]
            lines += [f"| {_cell(k['label'])} | {_cell(k['value'])} |" for k in s.kpis]
            lines.append("")
        for fig in s.figures:
            png = md.with_name(f"{md.stem}-{s.kind}-{fig['id']}.png")
            write_bytes(png, mpl.draw(fig, "png"), "--output")
            images.append(png)
            title = fig.get("layout", {}).get("title", {}).get("text", fig["id"])
            lines += [f"![{title}]({png.name})", ""]
        for t in s.tables:
            lines += _table(t)
        lines += [f"- {n}" for n in s.notes]
        lines.append("")
    if doc.errors:
        lines += ["## Not included", "", *(f"- {e}" for e in doc.errors), ""]
    lines += ["## Scenario", "", "```yaml", doc.scenario_yaml.rstrip(), "```", ""]
    write_text(md, "\n".join(lines), "--output")
    return md, images
