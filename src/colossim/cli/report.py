"""`colossim report SCENARIO.yaml -o report.html`: one file to mail to a colleague."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from colossim import gate
from colossim.cli.common import check_output_path, load_planned, user_errors
from colossim.errors import ColossimError, field_error

FORMATS = ("html", "md")


def output_format(output: Path | None, fmt: str | None, scenario: Path) -> tuple[Path, str]:
    """The file and format: --format wins, else the suffix of -o, else HTML next to nothing."""
    if fmt is not None and fmt not in FORMATS:
        raise field_error("--format", fmt, f"allowed: {', '.join(FORMATS)}", choices=FORMATS)
    if output is None:
        fmt = fmt or "html"
        return Path(f"{scenario.stem}-report.{fmt}"), fmt
    suffix = output.suffix.lower().lstrip(".")
    guessed = "md" if suffix in ("md", "markdown") else "html" if suffix in ("html", "htm") else None
    if fmt is None:
        if guessed is None:
            raise field_error("--output", str(output), "use a .html or .md file, or give --format")
        return output, guessed
    if guessed is not None and guessed != fmt:
        raise ColossimError(f"--output: {str(output)!r} does not match --format {fmt}", field="--output",
                            value=str(output))
    return output, fmt


def register(app: typer.Typer) -> None:
    @app.command()
    @user_errors
    def report(
        scenario: Path = typer.Argument(..., help="scenario YAML file"),
        output: Path = typer.Option(None, "--output", "-o", help="report.html or report.md (default: <scenario>-report.html)"),
        fmt: str = typer.Option(None, "--format", help="html (one self-contained file) | md (Markdown + PNG plots beside it)"),
        charts: str = typer.Option("auto", "--charts", help="HTML charts: plotly (interactive, ~5 MB inline), svg (static, "
                                                            "small; needs matplotlib), auto (plotly when installed)"),
        search: bool = typer.Option(False, "--search/--no-search", help="include the best plans from a plan search"),
        top: int = typer.Option(5, "--top", help="plans in the search table"),
        scaling: bool = typer.Option(True, "--scaling/--no-scaling", help="include the scaling curve (the scenario's "
                                                                         "plan at the cluster size and 5 halvings)"),
    ) -> None:
        """A shareable report: step breakdown, memory, scaling, power and cost (and the best plans with --search),
        charts and tables inline in one HTML file, or Markdown with PNG plots beside it."""
        from colossim.report.document import build_report, default_parts

        path, kind = output_format(output, fmt, scenario)
        check_output_path(path, (path.suffix.lower(),) if path.suffix else (".html", ".md"))
        if top < 1:
            raise field_error("--top", top, "must be >= 1")
        if kind == "html":
            from colossim.report.html import resolve_charts

            resolve_charts(charts)  # a missing renderer is an error before the work, not after
        else:
            from colossim.report.mpl import pyplot

            pyplot()
        sc = load_planned(scenario)
        raw = gate.load_yaml_file(scenario)
        doc = build_report(sc, raw, default_parts(search=search, scaling=scaling, top=top), progress=_progress())
        if kind == "html":
            from colossim.atomic import write_text
            from colossim.report.html import render_html

            write_text(path, render_html(doc, charts), "--output")
            print(f"report: {path} ({path.stat().st_size / 1e6:.1f} MB)")
        else:
            from colossim.report.markdown import render_markdown

            md, images = render_markdown(doc, path)
            print(f"report: {md} and {len(images)} PNG plots beside it")
        for err in doc.errors:
            print(f"note: not included: {err}", file=sys.stderr)


def _progress():
    """Progress of the long parts (search, scaling) as plain lines on stderr, every 25%."""
    state: dict[str, float] = {}

    def report(name: str, done: int, total: int) -> None:
        step = state.setdefault(name, 0.25)
        if total and done / total >= step:
            print(f"report: {name} {done / total:.0%}", file=sys.stderr, flush=True)
            while state[name] <= done / total:
                state[name] += 0.25

    return report
