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
    """Turn ColossimErrors raised inside a command into one line on stderr and exit 2
    (Ctrl+C into "interrupted" and exit 130)."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ColossimError as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise typer.Exit(code=2) from None
        except KeyboardInterrupt:  # Ctrl+C: one line, the shell's exit code for SIGINT, no traceback
            print("interrupted", file=sys.stderr)
            raise typer.Exit(code=130) from None

    return wrapper  # type: ignore[return-value]


def print_json(obj: Any) -> None:
    """One JSON object on stdout; NaN and infinities become null (JSON has neither)."""
    from colossim.report.present import clean

    sys.stdout.write(json.dumps(clean(obj), indent=2) + "\n")


def scenario_path(path: Path) -> Path:
    if not path.is_file():
        from colossim import gate

        gate.read_text(path)  # the gate's words: not found, a folder, unreadable
    return path


# ---- checks before the work ------------------------------------------------------------

PLOT_SUFFIXES = (".png", ".svg", ".pdf")


def check_output_path(path: Path | str, suffixes: tuple[str, ...], flag: str = "--output") -> Path:
    """An output file we can write, checked before any work (the input gate's rule:
    :func:`colossim.gate.check_output`)."""
    from colossim import gate

    return gate.check_output(path, flag, suffixes)


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
