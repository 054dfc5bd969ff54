"""Requests into scenarios: YAML text or a JSON object, with the CLI's error messages.

A scenario arrives either as ``yaml`` (the text of a scenario file) or as ``scenario`` (a
JSON object with the same sections; presets by name). Both go through
:func:`colossim.scenario.load_scenario`, so a mistake reads exactly as ``colossim estimate``
would print it and names its field. Text is never taken for a file name: the API reads no
files. Input is bounded: the request size (middleware), the YAML length, and the size of
what the YAML expands to (aliases can make a small text huge: "billion laughs").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, cast

import yaml
from pydantic import BaseModel, ConfigDict, Field

from colossim.errors import ColossimError
from colossim.report.capabilities import Limits
from colossim.scenario import Scenario, load_scenario

MAX_YAML_CHARS = 256 * 1024
MAX_NODES = 20_000  # values in one scenario once aliases are expanded
MAX_INT = 2**53

EXAMPLE = {"model": "llama3-8b", "cluster": {"preset": "dgx-superpod-h100", "num_gpus": 64},
           "training": {"seq_len": 4096, "global_batch_size": 64}, "parallel": {"tp": 2, "pp": 2}}


@dataclass(frozen=True)
class Settings:
    """The server's limits (``colossim serve`` flags)."""

    limits: Limits = Limits()
    max_body_bytes: int = 1 << 20
    max_jobs: int = 4  # queued + running
    workers: int = 2  # jobs running at once
    job_ttl_s: float = 3600.0
    max_kept_jobs: int = 64


class ScenarioInput(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=cast(Any, {"examples": [{"scenario": EXAMPLE}]}))

    scenario: dict[str, Any] | None = Field(
        None, description="the scenario as a JSON object: model, cluster, training, parallel (preset names or "
                          "mappings), optional name, power, cost, network, reliability sections")
    yaml: str | None = Field(None, max_length=MAX_YAML_CHARS, description="the scenario as YAML text "
                                                                          "(what a scenario file holds)")


def _check_size(value: Any) -> None:
    """Refuse structures that expand past MAX_NODES values (aliases, cycles), integers past
    2**53 (numpy's int64 arithmetic would overflow) and non-finite numbers, naming the field."""
    count, stack = 0, [("scenario", value)]
    while stack:
        path, node = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise ColossimError(f"scenario: too large once YAML aliases are expanded (more than {MAX_NODES:,} "
                                "values); write the values out", field="scenario")
        if isinstance(node, dict):
            stack.extend((k if path == "scenario" else f"{path}.{k}", v) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((f"{path}[{i}]", v) for i, v in enumerate(node))
        elif isinstance(node, int) and not isinstance(node, bool) and abs(node) > MAX_INT:
            raise ColossimError(f"{path}: {node} is not allowed; too large (at most 2**53)", field=path,
                                value=str(node), allowed="at most 2**53")
        elif isinstance(node, float) and not math.isfinite(node):
            raise ColossimError(f"{path}: {node} is not allowed; must be a finite number", field=path,
                                value=str(node), allowed="a finite number")


def _check_scale(raw: Any, limits: Limits) -> None:
    """Refuse a cluster or batch too large for this server before building the scenario (whose
    work grows with them). A section that does not build is left to load_scenario, so its
    mistake is reported in the CLI's order and words."""
    from colossim.scenario.loader import build_cluster, build_training

    if not isinstance(raw, dict):
        return
    checks = (("cluster", build_cluster, "num_gpus", limits.max_gpus, "--max-gpus"),
              ("training", build_training, "global_batch_size", limits.max_global_batch, "--max-global-batch"))
    for section, build, name, most, flag in checks:
        try:
            value = getattr(build(raw.get(section)), name)
        except (ColossimError, TypeError, ValueError, KeyError, AttributeError):
            continue
        if value > most:
            raise ColossimError(f"{section}.{name}: {value:,} is more than this server simulates ({most:,}; "
                                f"`colossim serve {flag}`); run the CLI locally for larger scenarios",
                                field=f"{section}.{name}", value=value, allowed=f"at most {most:,}")


def read_scenario(req: ScenarioInput, limits: Limits | None = None) -> tuple[Scenario, dict[str, Any]]:
    """The validated scenario and the mapping it came from (presets kept by name), refused
    when larger than ``limits`` allow."""
    limits = limits or Limits()
    if (req.scenario is None) == (req.yaml is None):
        raise ColossimError("scenario: give the scenario either as `scenario` (a JSON object with sections model, "
                            "cluster, training, parallel) or as `yaml` (the text of a scenario file), not "
                            + ("both" if req.scenario is not None else "neither"), field="scenario",
                            allowed="exactly one of scenario, yaml")
    if req.scenario is not None:
        _check_size(req.scenario)
        _check_scale(req.scenario, limits)
        return load_scenario(req.scenario), req.scenario
    given = req.yaml or ""
    text = given if given.endswith("\n") else given + "\n"  # a newline: never read as a file path
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError:
        raw = None  # load_scenario reports it below, in the CLI's words (with line and column)
    except RecursionError:
        raise ColossimError("scenario: the YAML is nested too deeply", field="scenario") from None
    else:
        _check_size(raw)
        _check_scale(raw, limits)
    scenario = load_scenario(text)
    assert isinstance(raw, dict), "load_scenario accepts mappings only"
    return scenario, raw
