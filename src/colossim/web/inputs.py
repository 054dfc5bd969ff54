"""Requests into scenarios: YAML text or a JSON object, with the CLI's error messages.

A scenario arrives either as ``yaml`` (the text of a scenario file) or as ``scenario`` (a
JSON object with the same sections; presets by name). Both go through
:func:`colossim.scenario.load_scenario`, so a mistake reads exactly as ``colossim estimate``
would print it and names its field. Text is never taken for a file name: the API reads no
files. Input is bounded by the request size (middleware) and then goes through the same
gate as the CLI's files (:mod:`colossim.gate`): YAML length, duplicate keys, nesting, aliases
("billion laughs"), integers within 2**53, finite numbers, physical bounds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from pydantic import BaseModel, ConfigDict, Field

from colossim import gate
from colossim.errors import ColossimError
from colossim.report.capabilities import Limits
from colossim.scenario import Scenario, load_scenario
from colossim.scenario.loader import build_scenario

MAX_YAML_CHARS = 256 * 1024

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
    queue_wait_s: float = 60.0  # a synchronous request (report, estimate) waits this long for a job slot
    allowed_hosts: tuple[str, ...] | None = None  # Host headers served (None: any); loopback names when bound there


class ScenarioInput(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=cast(Any, {"examples": [{"scenario": EXAMPLE}]}))

    scenario: dict[str, Any] | None = Field(
        None, description="the scenario as a JSON object: model, cluster, training, parallel (preset names or "
                          "mappings), optional name, power, cost, network, reliability sections")
    yaml: str | None = Field(None, max_length=MAX_YAML_CHARS, description="the scenario as YAML text "
                                                                          "(what a scenario file holds)")


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
        gate.check_tree(req.scenario)
        _check_scale(req.scenario, limits)
        return load_scenario(req.scenario), req.scenario
    raw = gate.parse_yaml(req.yaml or "")
    _check_scale(raw, limits)
    return build_scenario(raw), raw
