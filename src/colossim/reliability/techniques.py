"""Recovery techniques as named options: each a change to one :class:`Job` (sourced figures in
``data/techniques.yaml``), one signature: ``apply(job, name) -> (job, Recovery)``.

- ``baseline``          the scenario's own settings;
- ``async-checkpoint``  asynchronous saves (PyTorch DCP / Megatron-Core; ByteCheckpoint);
- ``in-memory``         peer CPU-memory checkpoints (Gemini, SOSP'23): save and reload bandwidth
                        grow with the job (per-GPU PCIe copy, per-GPU NIC), faster relaunch;
- ``hot-spare-swap``    a spare replaces the failed server without a full restart; the job
                        resumes at the failed step (TorchPass-like live migration);
- ``elastic-dp``        the failed replica group drops out, training goes on with dp - 1 until
                        repair (torchft fault-tolerant HSDP); no rollback, no wait for spares.

What a technique cannot change stays: failure rates, repair times, the checkpoint size.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from colossim.errors import unknown_name_error
from colossim.reliability.failures import figure, load_reliability_data
from colossim.reliability.job import Job

GB = 1e9


@dataclass(frozen=True)
class Recovery:
    """How a technique recovers: what a failure undoes, and whether the job shrinks."""

    name: str
    rollback: str  # "checkpoint" or "step"
    shrink: bool
    description: str
    source: str


def technique_names() -> list[str]:
    return list(load_reliability_data("techniques.yaml")["techniques"])


def _entry(name: str, field: str) -> dict[str, Any]:
    table = load_reliability_data("techniques.yaml")["techniques"]
    entry = table.get(name.lower())
    if entry is None:
        raise unknown_name_error("recovery technique", field, name, table)
    return dict(entry)


def apply(job: Job, name: str, field: str = "--technique") -> tuple[Job, Recovery]:
    """The job under technique ``name`` and how it recovers."""
    e = _entry(name, field)
    changes: dict[str, Any] = {}
    if e.get("mode") == "async":
        changes["async_save"] = True
    if "save_gbps_per_gpu" in e:
        changes["save_bps"] = figure(e["save_gbps_per_gpu"]) * GB * job.gpus
    if "load_gbps_per_gpu" in e:
        changes["load_bps"] = figure(e["load_gbps_per_gpu"]) * GB * job.gpus
        changes["reload_override_s"] = None
    for key in ("detect_s", "restart_s"):
        if key in e:
            changes[key] = figure(e[key])
    if "comm_init_s" in e:  # a fixed cost at any size
        changes.update(comm_init_ref_s=figure(e["comm_init_s"]), comm_init_exponent=0.0)
    if "reload_s" in e:
        changes["reload_override_s"] = figure(e["reload_s"])
    if e.get("shrink"):
        changes["shrink"] = True
    rec = Recovery(name=name.lower(), rollback=str(e.get("rollback", "checkpoint")), shrink=bool(e.get("shrink")),
                   description=str(e.get("description", "")), source=str(e.get("source", "the scenario")))
    return dataclasses.replace(job, **changes), rec
