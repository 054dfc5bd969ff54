"""Shared pieces of the command modules: options, JSON printing, error exits."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import typer

from colossim.errors import ColossimError

F = TypeVar("F", bound=Callable[..., Any])

JSON_OPTION = typer.Option(False, "--json", help="print one JSON object instead of the report")


def user_errors(func: F) -> F:
    """Turn ColossimErrors raised inside a command into one line on stderr and exit 2."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ColossimError as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise typer.Exit(code=2) from None

    return wrapper  # type: ignore[return-value]


def print_json(obj: Any) -> None:
    """One JSON object on stdout; NaN and infinities become null (JSON has neither)."""
    from colossim.report.present import clean

    sys.stdout.write(json.dumps(clean(obj), indent=2) + "\n")


def scenario_path(path: Path) -> Path:
    if not path.is_file():
        raise ColossimError(f"scenario file not found: {path}", field="scenario", value=str(path))
    return path


# ---- checks before the work ------------------------------------------------------------

PLOT_SUFFIXES = (".png", ".svg", ".pdf")


def check_output_path(path: Path | str, suffixes: tuple[str, ...], flag: str = "--output") -> Path:
    """An output file we can write, checked before any work: a known suffix, not a folder,
    and a parent folder that exists (or can be created) and is writable. One helper for
    every ``-o``/``--plot`` so the rules live in one place."""
    import os
    import tempfile

    p = Path(path)
    allowed = ", ".join(suffixes)
    if p.suffix.lower() not in suffixes:
        raise ColossimError(f"{flag}: {str(p)!r} is not allowed; give a {allowed} file", field=flag,
                            value=str(p), allowed=allowed)
    if p.is_dir():
        raise ColossimError(f"{flag}: {str(p)!r} is a folder; give a file name ending in {allowed}",
                            field=flag, value=str(p), allowed=allowed)
    if p.exists() and not os.access(p, os.W_OK):
        raise ColossimError(f"{flag}: {str(p)!r} exists and is not writable", field=flag, value=str(p))
    parent = p.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ColossimError(f"{flag}: {str(p)!r} cannot be created: {parent} is not a folder", field=flag,
                            value=str(p))
    try:  # a real probe: permission bits say nothing for root, or on /proc and read-only mounts
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as exc:
        raise ColossimError(f"{flag}: {str(p)!r} cannot be written in {parent}: {exc.strerror}", field=flag,
                            value=str(p)) from None
    return p


def require(module: str, what: str, extra: str | None = None) -> None:
    """An optional part (ray, the web server, pandas) checked before any work: one line, exit 2."""
    import importlib.util

    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        hint = f"pip install 'colossim[{extra}]'" if extra else f"pip install {module}"
        raise ColossimError(f"{what} needs {module}, which is not installed: {hint}", field=what)


def load_planned(path: Path) -> Any:
    """The scenario of a command that needs a plan: no ``parallel:`` section means the plan
    search's best plan, said so on stderr (stdout stays one JSON object with --json)."""
    from colossim.api import load_scenario

    sc = load_scenario(scenario_path(path))
    if sc.plan_source == "search":
        from colossim.search.default_plan import describe_plan

        print(describe_plan(sc), file=sys.stderr, flush=True)
    return sc
