"""Atomic file output: every file colossim writes (CSV, Parquet, PNG, SVG, HTML, Markdown,
JSON) goes to a temporary file in the same folder and is renamed over the target once
complete, so a crash or Ctrl+C never leaves a half-written file, and a reader never sees
one. One helper for every writer::

    with atomic_path("out.csv") as tmp:   # tmp: ".out.csv.XXXX.tmp.csv" beside it
        write_something(tmp)
    write_text("report.html", html)
    savefig(fig, "plot.png", dpi=110)
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from colossim.errors import ColossimError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | Path, field: str = "output") -> Iterator[Path]:
    """A temporary path beside ``path`` (same suffix, so writers pick the format from it),
    renamed over ``path`` when the block ends without an exception, removed otherwise."""
    p = Path(path)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{p.name}.", suffix=f".tmp{p.suffix}", dir=p.parent)
    except OSError as exc:
        raise ColossimError(f"{field}: cannot write {p}: {exc.strerror or exc}", field=field, value=str(p)) from None
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, p)
    except OSError as exc:
        raise ColossimError(f"{field}: cannot write {p}: {exc.strerror or exc}", field=field, value=str(p)) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_text(path: str | Path, text: str, field: str = "output") -> Path:
    with atomic_path(path, field) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_bytes(path: str | Path, data: bytes, field: str = "output") -> Path:
    with atomic_path(path, field) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def savefig(fig: Any, path: str | Path, field: str = "--plot", **kwargs: Any) -> Path:
    """``fig.savefig`` through a temporary file (the format from the suffix of ``path``)."""
    p = Path(path)
    kwargs.setdefault("format", p.suffix.lstrip(".").lower() or "png")
    with atomic_path(p, field) as tmp:
        fig.savefig(tmp, **kwargs)
    return p


__all__ = ["atomic_path", "savefig", "write_bytes", "write_text"]
