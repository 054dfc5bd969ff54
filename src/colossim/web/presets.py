"""The dashboard's preset menu: the scenario files of ``examples/``, read as they are.

The presets are the example files themselves (the same data `colossim estimate
examples/...` reads, comments and all), so the dashboard and the command line cannot
disagree. They are found next to the package in a source checkout or an editable
install (``pip install -e .``: ``<repo>/examples``), or in ``$COLOSSIM_EXAMPLES``. A file
is a preset when it holds a scenario (``model``, ``cluster``, ``training``); sweep files
are left out. Without the folder the menu holds the one built-in example scenario.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import yaml

# the menu's order; any other example scenario follows, by file name
ORDER = ("llama3-8b-64", "llama3-70b-1k", "llama3-405b-16k-reliability", "grok1-colossus-100k",
         "grok1-colossus-200k")


def examples_dir() -> Path | None:
    """``$COLOSSIM_EXAMPLES``, else ``examples/`` of the checkout the package runs from."""
    if os.environ.get("COLOSSIM_EXAMPLES"):
        return Path(os.environ["COLOSSIM_EXAMPLES"])
    here = Path(__file__).resolve().parents[3] / "examples"  # src/colossim/web/presets.py -> repo root
    return here if here.is_dir() else None


@functools.cache
def _load(folder: str | None) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    if folder is None:
        from colossim.web.inputs import EXAMPLE

        body = {"name": "Llama 3 8B on 64 H100", **EXAMPLE}
        return {"example": {"body": body, "yaml": yaml.safe_dump(body, sort_keys=False, width=100)}}
    files = sorted(Path(folder).glob("*.yaml"), key=lambda p: (ORDER.index(p.stem) if p.stem in ORDER
                                                               else len(ORDER), p.stem))
    for path in files:
        text = path.read_text(encoding="utf-8")
        body = yaml.safe_load(text)
        if isinstance(body, dict) and all(k in body for k in ("model", "cluster", "training")):
            body.setdefault("name", path.stem)
            out[path.stem] = {"body": body, "yaml": text}
    return out


def presets() -> dict[str, dict[str, Any]]:
    """id (the file's stem) -> {"body": the scenario mapping, "yaml": the file's text}."""
    folder = examples_dir()
    return _load(None if folder is None else str(folder))


def listing() -> list[dict[str, Any]]:
    """Every preset as {id, name, scenario, yaml, file}."""
    return [{"id": key, "name": p["body"]["name"], "scenario": p["body"], "yaml": p["yaml"],
             "file": f"examples/{key}.yaml"} for key, p in presets().items()]
