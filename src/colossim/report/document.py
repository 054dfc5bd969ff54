"""A shareable report: the scenario, then one section per capability run on it.

Built once (:func:`build_report`) and rendered as a self-contained HTML page
(:mod:`colossim.report.html`) or as Markdown with PNG plots (:mod:`colossim.report.markdown`).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from colossim import __version__
from colossim.report import capabilities
from colossim.report.present import Section
from colossim.scenario import Scenario


@dataclass
class ReportDoc:
    title: str
    scenario_yaml: str  # the scenario as given (presets by name), for the reader to re-run
    sections: list[Section]
    generated: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"))
    version: str = __version__
    errors: list[str] = field(default_factory=list)  # capabilities that could not run, and why


def default_parts(*, search: bool = False, scaling: bool = True, top: int = 5) -> dict[str, dict[str, Any]]:
    """Which capabilities a report runs, with their options: every installed one (estimate,
    power, cost, reliability, goodput against scale, ...) with its defaults, the fixed-plan
    scaling curve unless ``scaling`` is off, and a plan search only when asked (it can take
    minutes on the largest clusters)."""
    parts: dict[str, dict[str, Any]] = {"estimate": {}}
    if scaling:
        parts["scaling"] = {"plan": "fixed"}
    if search:
        parts["search"] = {"top": top}
    for name in capabilities.available():
        if name not in parts and name not in ("search", "scaling"):
            parts[name] = {}
    return parts


def build_report(scenario: Scenario, raw: dict[str, Any], parts: dict[str, dict[str, Any]],
                 progress: Callable[[str, int, int], None] | None = None) -> ReportDoc:
    """Run each named capability on the scenario. The estimate must succeed; another part
    that fails (a ColossimError, e.g. a cost preset the scenario lacks) is listed in
    ``errors`` instead of stopping the report."""
    from colossim.errors import ColossimError

    sections = []
    errors = []
    caps = capabilities.available()
    for name, given in parts.items():
        cap = capabilities.get(name)
        options = capabilities.validate_options(cap, given)
        hook = None if progress is None else functools.partial(progress, name)
        ctx = capabilities.Context(scenario=scenario, raw=raw, options=options, progress=hook)
        try:
            sections.append(cap.present(cap.execute(ctx)))
        except ColossimError as exc:
            if name == "estimate":
                raise
            errors.append(f"{caps[name].title}: {exc}")
    text = yaml.safe_dump(raw, sort_keys=False, allow_unicode=True, width=100)
    return ReportDoc(title=f"colossim report: {scenario.name}", scenario_yaml=text, sections=sections,
                     errors=errors)
