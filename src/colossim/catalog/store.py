"""Reading the catalog's YAML files and resolving names and aliases."""

from __future__ import annotations

import functools
import os
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from colossim.catalog.entries import EfficiencyProfile, GPUEntry, SwitchEntry
from colossim.errors import ColossimError, unknown_name_error

# Keys in preset files that document a preset rather than configure it.
META_KEYS = ("source", "published_rounding_b", "aliases", "imported")


@functools.cache
def load_data(filename: str) -> Any:
    """Parse ``catalog/data/<filename>`` (cached; treat the result as read-only)."""
    text = resources.files("colossim.catalog").joinpath("data", filename).read_text(encoding="utf-8")
    return yaml.safe_load(text)


def _index(entries: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for entry in entries:
        out[entry.name.lower()] = entry
        for alias in entry.aliases:
            out.setdefault(alias.lower(), entry)
    return out


@functools.cache
def _gpus() -> dict[str, GPUEntry]:
    return _index([GPUEntry(**d) for d in load_data("gpus.yaml")])


@functools.cache
def _switches() -> dict[str, SwitchEntry]:
    return _index([SwitchEntry(**d) for d in load_data("switches.yaml")])


@functools.cache
def _profiles() -> dict[str, EfficiencyProfile]:
    data = load_data("efficiency.yaml")
    return {name: EfficiencyProfile(name=name, **body) for name, body in data["profiles"].items()}


def gpus() -> list[GPUEntry]:
    """Every GPU, in catalog order, once each."""
    return list({id(g): g for g in _gpus().values()}.values())


def gpu_names() -> list[str]:
    return [g.name for g in gpus()]


def gpu(name: str, field: str = "cluster.gpu") -> GPUEntry:
    try:
        return _gpus()[name.lower()]
    except KeyError:
        raise unknown_name_error("GPU", field, name, gpu_names()) from None


def switch_names() -> list[str]:
    return list(dict.fromkeys(s.name for s in _switches().values()))


def switch(name: str, field: str = "cluster.fabric.switch") -> SwitchEntry:
    try:
        return _switches()[name.lower()]
    except KeyError:
        raise unknown_name_error("switch", field, name, switch_names()) from None


def efficiency_profile(name: str) -> EfficiencyProfile:
    return _profiles()[name]


def model_names() -> list[str]:
    """Built-in model presets, then the user catalog's (``colossim catalog import-hf``)."""
    builtin = list(load_data("models.yaml")["presets"])
    return builtin + [k for k in user_models() if k not in builtin]


def model_preset(name: str, field: str = "model") -> dict[str, Any]:
    """A model preset as a plain mapping of ModelSpec fields (plus META_KEYS)."""
    presets = {**user_models(), **load_data("models.yaml")["presets"]}
    key = name.lower()
    if key not in presets:
        raise unknown_name_error("model preset", field, name, presets)
    return dict(presets[key])


# ---- the user catalog: models a user added, in a YAML file of their own ------------------


def user_catalog_dir() -> Path:
    """``$COLOSSIM_HOME``, else ``$XDG_CONFIG_HOME/colossim``, else ``~/.config/colossim``."""
    if os.environ.get("COLOSSIM_HOME"):
        return Path(os.environ["COLOSSIM_HOME"])
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "colossim"


def user_models_path() -> Path:
    return user_catalog_dir() / "models.yaml"


def user_models() -> dict[str, dict[str, Any]]:
    """The user catalog's model presets (empty when there is none)."""
    path = user_models_path()
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ColossimError(f"user catalog {path}: invalid YAML ({exc})", field="catalog", value=str(path)) from None
    presets = data.get("presets") if isinstance(data, dict) else None
    if not isinstance(presets, dict):
        raise ColossimError(f"user catalog {path}: expected a mapping 'presets: {{name: model fields}}'",
                            field="catalog", value=str(path))
    return {str(k).lower(): dict(v) for k, v in presets.items() if isinstance(v, dict)}


def add_user_model(name: str, fields: dict[str, Any], *, replace: bool = False) -> Path:
    """Add (or with ``replace``, overwrite) one model preset in the user catalog, atomically."""
    key = name.lower()
    if key in load_data("models.yaml")["presets"]:
        raise ColossimError(f"--name: {name!r} is a built-in model preset; choose another name", field="--name",
                            value=name)
    current = user_models()
    if key in current and not replace:
        raise ColossimError(f"--name: {name!r} is already in the user catalog ({user_models_path()}); "
                            "pass --replace to overwrite it", field="--name", value=name)
    current[key] = fields
    path = user_models_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump({"presets": current}, sort_keys=False, allow_unicode=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".models-", suffix=".yaml")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
    return path


def cluster_names() -> list[str]:
    return list(load_data("clusters.yaml"))


def cluster_preset(name: str, field: str = "cluster") -> dict[str, Any]:
    presets = load_data("clusters.yaml")
    key = name.lower()
    if key not in presets:
        raise unknown_name_error("cluster preset", field, name, presets)
    return dict(presets[key])
