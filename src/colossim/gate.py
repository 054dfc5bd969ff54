"""The input gate: every file, mapping and number a user gives passes here first.

One module for the CLI, the HTTP API and the Python API alike, so a mistake reads the
same everywhere (one line naming the field, the value and what is allowed; exit code 2,
HTTP 422) and nothing reaches the models that could hang, crash or mislead them:

- files: read as UTF-8 (a clear error otherwise), at most ``MAX_FILE_BYTES``;
- YAML: duplicate keys refused, nesting at most ``MAX_DEPTH`` deep, aliases at most
  ``MAX_ALIASES`` and the expanded tree at most ``MAX_NODES`` values ("billion laughs"),
  YAML 1.2 floats (``1e-300`` is a number, not a string);
- trees: integers within 2**53, every float finite;
- types: ``true``/``false`` only where a field is boolean (``tp: true`` is not 1);
- bounds: a physical range for every quantity (:mod:`colossim.bounds`), the reason in the message;
- budgets: work and memory estimated before arrays are made (:func:`check_budget`);
- outputs: the folder exists (or can be made) and is writable, the suffix is known.

Flags go through the same checks as the scenario fields they override
(:func:`check_field`), so ``--total-tokens inf`` and ``training.total_tokens: .inf``
are refused in the same words.
"""

from __future__ import annotations

import math
import os
import re
import types
import typing
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

from colossim.bounds import BOUNDS, DIMENSIONS
from colossim.errors import ColossimError

MAX_FILE_BYTES = 1 << 20  # a scenario or sweep file (the largest example is ~2 kB)
MAX_DEPTH = 32  # nesting of mappings and lists (scenarios nest 4 deep)
MAX_ALIASES = 256  # YAML alias uses in one document
MAX_NODES = 20_000  # values once aliases are expanded
MAX_INT = 2**53  # numpy int64 arithmetic on products stays exact below this
MAX_ARRAY_BYTES = 8 << 30  # one array a simulation may allocate (8 GiB)
MAX_SIMULATION_S = 20.0  # one simulation's estimated run time (a Monte Carlo, a flow simulation)
MAX_FLOWS = 16_000_000  # network twin: flows one phase routes (~15 s, ~4 GB)


# ---- files and YAML --------------------------------------------------------------------


def read_text(path: str | Path, what: str = "scenario") -> str:
    """A user's file as text: it exists, is small enough and is UTF-8."""
    p = Path(path)
    try:
        if p.is_dir():
            raise ColossimError(f"{what}: {p} is a folder; give a {what} file", field=what, value=str(p))
        if not p.is_file():
            raise ColossimError(f"{what} file not found: {p}", field=what, value=str(p))
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ColossimError(f"{what}: {p} is {size:,} bytes, more than a {what} file may be "
                                f"({MAX_FILE_BYTES:,})", field=what, value=str(p),
                                allowed=f"at most {MAX_FILE_BYTES:,} bytes")
        data = p.read_bytes()
    except OSError as exc:
        raise ColossimError(f"{what}: cannot read {p}: {exc.strerror or exc}", field=what, value=str(p)) from None
    return decode(data, what, str(p))


def decode(data: bytes, what: str = "scenario", where: str = "") -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        hint = " (it looks like UTF-16)" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ""
        raise ColossimError(f"{what}: {where or 'the text'} is not UTF-8 text{hint}: byte 0x{data[exc.start]:02x} "
                            f"at line {line}; save the file as UTF-8", field=what, value=where,
                            allowed="UTF-8 text") from None
    if "\x00" in text:
        raise ColossimError(f"{what}: {where or 'the text'} holds NUL bytes; a {what} is YAML text",
                            field=what, value=where, allowed="UTF-8 text")
    return text.removeprefix("\ufeff")


# YAML 1.2 floats: PyYAML (YAML 1.1) reads 1e-300 or 2e9 (no dot) as strings.
_FLOAT_12 = re.compile(r"^[-+]?(?:\d[\d_]*)?(?:\.\d*)?[eE][-+]?\d+$")


class _GateLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys, deep nesting and alias bombs."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                mark = self.peek_event().start_mark
                raise _Refused(f"more than {MAX_ALIASES} aliases (*name) at line {mark.line + 1}; write the "
                               "values out")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise _Refused(f"nested more than {MAX_DEPTH} levels deep at line {mark.line + 1}")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                try:
                    first = seen.get(key)
                except TypeError:
                    raise _Refused(f"the mapping key at line {line} is not a name") from None
                if first is not None:
                    raise _Refused(f"duplicate key {key!r} at line {line} (first at line {first}); "
                                   "give each key once")
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


class _Refused(Exception):
    pass


_GateLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_12, list("-+0123456789."))


def _construct_float(loader: yaml.SafeLoader, node: Any) -> float:
    text = str(loader.construct_scalar(node)).replace("_", "").lower()
    if text in (".inf", "+.inf", "-.inf", ".nan"):
        return yaml.SafeLoader.construct_yaml_float(loader, node)
    return float(text)


_GateLoader.add_constructor("tag:yaml.org,2002:float", _construct_float)


def parse_yaml(text: str, what: str = "scenario") -> Any:
    """YAML text as Python data, refused with one line when it is malformed or a bomb."""
    if len(text) > MAX_FILE_BYTES:
        raise ColossimError(f"{what}: {len(text):,} characters of YAML, more than allowed ({MAX_FILE_BYTES:,})",
                            field=what, allowed=f"at most {MAX_FILE_BYTES:,} characters")
    loader = None
    try:
        loader = _GateLoader(text)
        data = loader.get_single_data()
    except _Refused as exc:
        raise ColossimError(f"{what}: {exc}", field=what) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ColossimError(f"invalid YAML{where}: {problem}", field=what) from None
    except (RecursionError, MemoryError):
        raise ColossimError(f"{what}: the YAML is nested too deeply or too large", field=what) from None
    except ValueError as exc:  # e.g. a timestamp out of range
        raise ColossimError(f"invalid YAML: {exc}", field=what) from None
    finally:
        if loader is not None:
            loader.dispose()
    check_tree(data, what)
    return data


def load_yaml_file(path: str | Path, what: str = "scenario") -> Any:
    return parse_yaml(read_text(path, what), what)


def check_tree(value: Any, root: str = "scenario") -> None:
    """Refuse trees past MAX_NODES values once aliases are expanded (or cyclic), deeper than
    MAX_DEPTH, with integers past 2**53 or non-finite floats, naming the field."""
    count, stack = 0, [(root, value, 0)]
    while stack:
        path, node, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise ColossimError(f"{root}: too large once YAML aliases are expanded (more than {MAX_NODES:,} "
                                "values); write the values out", field=root, allowed=f"at most {MAX_NODES:,} values")
        if depth > MAX_DEPTH:
            raise ColossimError(f"{path}: nested more than {MAX_DEPTH} levels deep", field=path)
        if isinstance(node, dict):
            stack.extend((_key(k) if path == root else f"{path}.{_key(k)}", v, depth + 1) for k, v in node.items())
        elif isinstance(node, (list, tuple)):
            stack.extend((f"{path}[{i}]", v, depth + 1) for i, v in enumerate(node))
        elif isinstance(node, int) and not isinstance(node, bool) and abs(node) > MAX_INT:
            raise ColossimError(f"{path}: {node:.3g} is not allowed; too large (at most 2**53)", field=path,
                                value=str(node), allowed="at most 2**53")
        elif isinstance(node, float) and not math.isfinite(node):
            raise ColossimError(f"{path}: {node} is not allowed; must be a finite number", field=path,
                                value=str(node), allowed="a finite number")
        elif isinstance(node, str) and len(node) > 10_000:
            raise ColossimError(f"{path}: a text of {len(node):,} characters is not allowed; at most 10,000",
                                field=path, allowed="at most 10,000 characters")


def _key(k: Any) -> str:
    return str(k) if str(k) else "''"


# ---- types: no booleans for numbers -----------------------------------------------------


def _admits_bool(ann: Any) -> bool:
    if ann is bool or ann is Any or ann is object:
        return True
    origin = typing.get_origin(ann)
    if origin is typing.Annotated:
        return _admits_bool(typing.get_args(ann)[0])
    if origin is typing.Literal:
        return any(isinstance(a, bool) for a in typing.get_args(ann))
    if origin in (typing.Union, types.UnionType):
        return any(_admits_bool(a) for a in typing.get_args(ann))
    return False


def nested_models(ann: Any) -> list[Any]:
    from pydantic import BaseModel

    args = typing.get_args(ann) if typing.get_origin(ann) in (typing.Union, types.UnionType) else (ann,)
    return [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]


def check_types(cls: Any, body: Any, section: str) -> None:
    """Refuse ``true``/``false`` given for a field that is not boolean (pydantic's lax mode
    reads ``tp: true`` as 1), in nested sections too."""
    if not isinstance(body, dict) or not hasattr(cls, "model_fields"):
        return
    for key, value in body.items():
        field = cls.model_fields.get(key) if isinstance(key, str) else None
        if field is None:
            continue
        ann, path = field.annotation, f"{section}.{key}"
        items = value if isinstance(value, (list, tuple)) else [value]
        if any(isinstance(v, bool) for v in items) and not _admits_bool(ann):
            inner = [a for a in typing.get_args(ann) if a is not type(None)]
            if not (isinstance(value, (list, tuple)) and any(_admits_bool(a) for a in _flat_args(inner))):
                shown = str(value).lower() if isinstance(value, bool) else repr(value)
                raise ColossimError(f"{path}: {shown} is not allowed; must be a number or a name, not true/false",
                                    field=path, value=value, allowed="a number or a name")
        if isinstance(value, dict):
            for model in nested_models(ann):
                check_types(model, value, path)
            dict_args = [a for a in _flat_args([ann]) if typing.get_origin(a) is dict]
            for d in dict_args:
                for model in nested_models(typing.get_args(d)[1]):
                    for k, v in value.items():
                        check_types(model, v, f"{path}.{k}")


def _flat_args(anns: Iterable[Any]) -> Iterator[Any]:
    for a in anns:
        yield a
        yield from _flat_args(typing.get_args(a))


# ---- bounds -----------------------------------------------------------------------------

def _matches(pattern: str, path: str) -> bool:
    p, q = pattern.split("."), path.split(".")
    return len(p) == len(q) and all(a in ("*", b) for a, b in zip(p, q, strict=True))


def bound_for(path: str) -> tuple[float, float, str] | None:
    for pattern, bound in BOUNDS.items():
        if _matches(pattern, path):
            return bound
    return None


def _leaves(prefix: str, value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(f"{prefix}.{k}", v)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _leaves(f"{prefix}.{i}", v)
    else:
        yield prefix, value


def _fmt(x: float) -> str:
    if isinstance(x, int):
        return f"{x:,}"
    return repr(x) if x == 0 or 1e-4 <= abs(x) < 1e16 else f"{x:g}"


FINITE = "a finite number"


def check_number(field: str, value: Any, lo: float, hi: float, reason: str) -> None:
    """One number: finite and within [lo, hi], else a ColossimError naming ``field``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    if not math.isfinite(value):
        # a reason that only says "finite" is not repeated after it
        detail = "" if reason == FINITE else f" ({reason})"
        raise ColossimError(f"{field}: {value} is not allowed; must be {FINITE}{detail}",
                            field=field, value=value, allowed=f"{FINITE}{detail}")
    if not lo <= value <= hi:
        raise ColossimError(f"{field}: {_fmt(value)} is not allowed; {reason}", field=field, value=value,
                            allowed=reason)


def check_bounds(section: str, obj: Any) -> None:
    """Every quantity of a validated section within its physical range (:data:`BOUNDS`);
    every float finite."""
    data = obj.model_dump() if hasattr(obj, "model_dump") else obj
    for path, value in _leaves(section, data):
        bound = bound_for(path)
        if bound is not None:
            check_number(_list_path(path), value, *bound)
        elif isinstance(value, float) and not math.isfinite(value):
            raise ColossimError(f"{_list_path(path)}: {value} is not allowed; must be a finite number",
                                field=_list_path(path), value=value, allowed="a finite number")


def _list_path(path: str) -> str:
    """``a.b.0`` (a list item) as ``a.b[0]``."""
    head, _, tail = path.rpartition(".")
    return f"{head}[{tail}]" if tail.isdigit() and head else path


def check_field(path: str, value: Any, flag: str | None = None) -> Any:
    """A flag value through the bound of the scenario field it stands for (named as the flag)."""
    if value is None:
        return value
    bound = bound_for(path)
    if bound is None:
        check_number(flag or path, value, -math.inf, math.inf, FINITE)
    else:
        check_number(flag or path, value, *bound)
    return value


def check_dimension(dim: str, value: int, field: str | None = None) -> None:
    lo, hi, reason = DIMENSIONS.get(dim, (0, MAX_INT, "a non-negative integer"))
    check_number(field or dim, value, lo, hi, reason)


# ---- budgets ----------------------------------------------------------------------------


def check_budget(what: str, count: float, limit: float, *, field: str, unit: str, fix: str) -> None:
    """Refuse work larger than ``limit`` (counted in ``unit``) before any array is made."""
    if not math.isfinite(count) or count > limit:
        shown = "unbounded" if not math.isfinite(count) else f"about {count:,.0f}" if count >= 10 else f"{count:.2g}"
        raise ColossimError(f"{field}: {what} would need {shown} {unit}, more than colossim runs in one go "
                            f"({limit:,.0f} {unit}); {fix}", field=field, value=None if not math.isfinite(count) else count,
                            allowed=f"at most {limit:,.0f} {unit}")


def check_allocation(what: str, elements: float, *, field: str, itemsize: int = 8, fix: str = "") -> None:
    check_budget(what, elements * itemsize / 2**30, MAX_ARRAY_BYTES / 2**30, field=field, unit="GiB of memory",
                 fix=fix or "use smaller inputs")


# ---- outputs ----------------------------------------------------------------------------


def check_output(path: str | Path, flag: str, suffixes: Iterable[str] | None = None) -> Path:
    """An output file we can write, checked before any work: a known suffix, not a folder,
    not an unwritable file, and a parent folder that exists (or can be created) and takes a
    file (a real probe: permission bits say nothing for root, /proc or read-only mounts)."""
    import tempfile

    p = Path(path)
    allowed = ", ".join(suffixes or ())
    if suffixes and p.suffix.lower() not in tuple(suffixes):
        raise ColossimError(f"{flag}: {str(p)!r} is not allowed; give a {allowed} file", field=flag,
                            value=str(p), allowed=allowed)
    if p.is_dir():
        raise ColossimError(f"{flag}: {str(p)!r} is a folder; give a file name" + (f" ending in {allowed}" if allowed else ""),
                            field=flag, value=str(p), allowed=allowed or None)
    if p.exists() and not os.access(p, os.W_OK):
        raise ColossimError(f"{flag}: {str(p)!r} exists and is not writable", field=flag, value=str(p))
    parent = p.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ColossimError(f"{flag}: {str(p)!r} cannot be created: {parent} is not a folder", field=flag,
                            value=str(p))
    try:
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as exc:
        raise ColossimError(f"{flag}: {str(p)!r} cannot be written in {parent}: {exc.strerror}", field=flag,
                            value=str(p)) from None
    return p


__all__ = ["BOUNDS", "DIMENSIONS", "MAX_SIMULATION_S", "MAX_FLOWS", "check_allocation", "check_bounds", "check_budget",
           "check_field", "check_number", "check_output", "check_tree", "check_types", "decode", "load_yaml_file",
           "parse_yaml", "read_text"]
