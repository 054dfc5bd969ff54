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
