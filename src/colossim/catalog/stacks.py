"""Software stacks (``catalog/data/stacks.yaml``): a framework's documented defaults at one date.

A stack fills every software field of :class:`colossim.scenario.training.TrainingSpec` that
a scenario leaves out; each value carries the source (repository file or paper) it comes
from. Values may depend on the training precision (``{bf16: true, fp16: false}``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from colossim.catalog.store import load_data
from colossim.errors import unknown_name_error

# The TrainingSpec fields a stack sets (and a scenario may override one by one)
STACK_FIELDS = ("attention_kernel", "dropout", "grad_accumulation_fusion", "grad_reduce_in_fp32", "overlap_dp_comm",
                "tp_overlap", "overlap_pp_comm", "pipeline_p2p_batched", "optimizer", "dp_bucket_params",
                "optimizer_state_dtype", "cross_entropy", "elementwise_kernels", "activation_cache_dtype",
                "param_gather_dtype", "tp_overlap_rs_sms", "tp_overlap_bulk_sms", "defer_output_wgrad",
                "wgrad_deferral_limit", "fp8_recipe")


@dataclass(frozen=True, slots=True)
class Stack:
    name: str
    framework: str
    date: str
    repo: str
    commit: str
    settings: dict[str, Any]  # field -> {value, source}
    # what `colossim validate --cross-validate` measures for the published runs on exactly this
    # stack: {runs, cross_validated_mape, cross_validated_bias (median signed step-time error)};
    # tests/test_accuracy_notes.py keeps it equal to the live figures
    validated: dict[str, float] | None = None

    def values(self, precision: str) -> dict[str, Any]:
        """The stack's value of every field for a run in ``precision``."""
        out = {}
        for name, entry in self.settings.items():
            value = entry["value"]
            out[name] = value[precision] if isinstance(value, dict) else value
        return out

    def source(self, field: str) -> str:
        return str(self.settings[field]["source"])


@functools.cache
def _stacks() -> dict[str, Stack]:
    data = load_data("stacks.yaml")
    out: dict[str, Stack] = {}
    for name, body in data["stacks"].items():
        settings = _inherited(data["stacks"], name)
        missing = [f for f in STACK_FIELDS if f not in settings]
        extra = [f for f in settings if f not in STACK_FIELDS]
        assert not missing and not extra, f"stacks.yaml {name}: missing {missing}, unknown {extra}"
        out[name] = Stack(name=name, framework=str(body["framework"]), date=str(body["date"]), repo=str(body["repo"]),
                          commit=str(body["commit"]), settings=settings, validated=body.get("validated"))
    return out


def _inherited(bodies: dict[str, Any], name: str) -> dict[str, Any]:
    """A stack's settings over those of the stack it ``inherits`` (each inherited source says so)."""
    body = bodies[name]
    parent = body.get("inherits")
    if parent is None:
        return dict(body["settings"])
    assert parent in bodies and parent != name, f"stacks.yaml {name}: inherits unknown stack {parent!r}"
    base = {f: {"value": e["value"], "source": f"{parent}: {e['source']}"} for f, e in _inherited(bodies, parent).items()}
    return {**base, **body["settings"]}


def default_stack() -> str:
    """The documented defaults of current Megatron-Core (not a fitted choice)."""
    return str(load_data("stacks.yaml")["default"])


def stack_names() -> list[str]:
    return list(_stacks())


def stack(name: str, field: str = "training.stack") -> Stack:
    try:
        return _stacks()[name.lower()]
    except KeyError:
        raise unknown_name_error("software stack", field, name, stack_names()) from None
