"""User-facing errors.

Every mistake a user can make in a scenario or on the command line becomes a
:class:`ColossimError` that names the field, the value and what is allowed (with a
"did you mean" where a close match exists). Interfaces print ``str(error)`` and exit
with code 2; no traceback reaches the user. ``assert`` is kept for the code's own
invariants only.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any


class ColossimError(ValueError):
    """A mistake in user input: a scenario, a flag, a preset name."""

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        value: Any = None,
        allowed: str | None = None,
        suggestion: str | None = None,
    ) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        self.suggestion = suggestion
        super().__init__(message)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly form for the HTTP API (422 bodies) and `--json` errors."""
        return {
            "error": str(self),
            "field": self.field,
            "value": _jsonable(self.value),
            "allowed": self.allowed,
            "suggestion": self.suggestion,
        }


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """The closest choice to ``word``, or None when nothing is close."""
    choices = list(choices)
    lowered = {c.lower(): c for c in choices}
    if word.lower() in lowered:
        return lowered[word.lower()]
    cutoff = 0.5 if len(word) <= 3 else 0.6  # one wrong letter in a 2-letter name is a 0.5 match
    matches = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=cutoff)
    return lowered[matches[0]] if matches else None


def field_error(field: str, value: Any, allowed: str, *, choices: Iterable[str] | None = None) -> ColossimError:
    """Build the standard message: ``<field>: <value> is not allowed; <allowed>``."""
    suggestion = did_you_mean(str(value), choices) if choices is not None else None
    message = f"{field}: {value!r} is not allowed; {allowed}"
    if suggestion is not None and suggestion != value:
        message += f" (did you mean {suggestion!r}?)"
    return ColossimError(message, field=field, value=value, allowed=allowed, suggestion=suggestion)


def unknown_name_error(kind: str, field: str, name: str, choices: Iterable[str]) -> ColossimError:
    """An unknown catalog name: lists what exists and suggests the closest."""
    names = sorted(choices)
    shown = ", ".join(names[:25]) + (", ..." if len(names) > 25 else "")
    return field_error(field, name, f"unknown {kind}; known: {shown}", choices=names)
