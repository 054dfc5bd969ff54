"""Reading scenario files: presets, overrides, defaults and clear errors.

Each section is a preset name or a mapping; a mapping may start from a preset
(``{preset: llama3-405b, num_layers: 32}``) and override fields, nested mappings
(``fabric``, ``moe``) merged key by key. Every mistake becomes a ColossimError that
names the field, the value and what is allowed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from colossim import catalog, gate
from colossim.errors import ColossimError, did_you_mean, field_error
from colossim.scenario.batch import PlanBatch
from colossim.scenario.cluster import ClusterSpec
from colossim.scenario.model import ModelSpec
from colossim.scenario.parallel import ParallelPlan
from colossim.scenario.rules import check_plans, describe, divisors
from colossim.scenario.scenario import Scenario
from colossim.scenario.training import TrainingSpec

_T = TypeVar("_T", bound=BaseModel)

REQUIRED_SECTIONS = ("model", "cluster", "training")
MXFP8_ARCHS = ("blackwell", "cdna 4")  # catalog gpus.yaml arch prefixes whose tensor cores take MX block scales
EXTRA_SECTIONS = ("network", "power", "cost", "reliability", "search", "buildout")
TOP_LEVEL = ("name", "description", *REQUIRED_SECTIONS, "parallel", *EXTRA_SECTIONS)


def load_scenario(source: str | Path | dict[str, Any]) -> Scenario:
    """Load a scenario from a YAML path, YAML text, or a mapping."""
    return build_scenario(_read(source))


def build_scenario(data: Any) -> Scenario:
    """A scenario from parsed data (anything: a non-mapping is refused, never read as a path)."""
    check_mapping(data)
    if "base" in data and "grid" in data:  # a sweep file (colossim sweep), handed to a one-scenario command
        raise ColossimError("this is a sweep file (sections base and grid): run it with `colossim sweep FILE`; "
                            "a scenario has sections model, cluster, training at its top level", field="scenario")
    for key in data:
        if key not in TOP_LEVEL:
            raise field_error("scenario", key, f"unknown section; allowed: {', '.join(TOP_LEVEL)}", choices=TOP_LEVEL)
    for key in REQUIRED_SECTIONS:
        if key not in data or data[key] is None:
            raise ColossimError(f"{key}: missing; a scenario needs sections {', '.join(REQUIRED_SECTIONS)}",
                                field=key, allowed="a preset name or a mapping")
    model = build_model(data["model"])
    cluster = build_cluster(data["cluster"])
    training = build_training(data["training"])
    _check_fp8_recipe(training, cluster)
    plan, inferred = build_plan(data.get("parallel") or {}, model, cluster, training)
    sections = {k: data[k] for k in EXTRA_SECTIONS if data.get(k) is not None}
    if "search" in sections:  # read by `colossim search` (its defaults); a typo is refused here
        from colossim.scenario.search_options import SearchOptions

        validate_section(SearchOptions, sections["search"], "search")
    name = str(data.get("name") or f"{model.name} on {cluster.name}")
    return Scenario(name=name, model=model, cluster=cluster, training=training, parallel=plan,
                    dp_was_inferred=inferred, sections=sections)


def _check_fp8_recipe(training: TrainingSpec, cluster: ClusterSpec) -> None:
    """MXFP8 needs tensor cores that take block-scaled (OCP MX) operands: NVIDIA Blackwell
    (Transformer Engine 2.x runs its MXFP8 recipe on compute capability 10.0 and later) and AMD
    CDNA 4 (MI350 series); on another GPU the recipe is refused."""
    if training.precision != "fp8" or training.fp8_recipe != "mxfp8":
        return
    gpu = catalog.gpu(cluster.gpu)
    if not gpu.arch.lower().startswith(MXFP8_ARCHS):
        raise ColossimError(f"training.fp8_recipe: 'mxfp8' is not allowed on {gpu.name} ({gpu.arch}): MXFP8 needs a "
                            "Blackwell or CDNA 4 GPU; allowed here: delayed, current, blockwise",
                            field="training.fp8_recipe", value="mxfp8", allowed="delayed, current, blockwise")


def check_mapping(data: Any) -> dict[str, Any]:
    """``data`` if it is a mapping (a scenario's top level); else the one-line refusal."""
    if not isinstance(data, dict):
        got = "an empty document" if data is None else type(data).__name__
        raise ColossimError(f"a scenario must be a mapping with sections {', '.join(REQUIRED_SECTIONS)}; "
                            f"got {got}", field="scenario", value=data)
    return data


def read_scenario_data(source: str | Path | dict[str, Any]) -> Any:
    """The raw scenario mapping (YAML parsed, nothing validated yet)."""
    return _read(source)


def _read(source: str | Path | dict[str, Any]) -> Any:
    """Parse through the input gate (colossim.gate): UTF-8, size, duplicate keys, nesting,
    aliases, finite numbers. Text with a newline or over 4 kB is YAML, never a file name."""
    if isinstance(source, dict):
        gate.check_tree(source)
        return source
    text = str(source)
    if isinstance(source, Path) or (len(text) < 4096 and "\n" not in text and text.endswith((".yaml", ".yml"))):
        text = gate.read_text(text)
    return gate.parse_yaml(text)


# ---- sections --------------------------------------------------------------------------


def _resolve_preset(section: str, value: Any, lookup: Any) -> dict[str, Any]:
    """A preset name or mapping (optionally with ``preset:``) as one merged mapping."""
    if isinstance(value, str):
        return _strip_meta(lookup(value, section))
    if not isinstance(value, dict):
        raise ColossimError(f"{section}: expected a preset name or a mapping, got {value!r}",
                            field=section, value=value, allowed="a preset name or a mapping")
    body = dict(value)
    preset = body.pop("preset", None)
    if preset is None:
        return _strip_meta(body)
    if not isinstance(preset, str):
        raise field_error(f"{section}.preset", preset, "must be a preset name")
    return _deep_merge(_strip_meta(lookup(preset, f"{section}.preset")), body)


def _strip_meta(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k not in catalog.store.META_KEYS}


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in override.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def build_model(value: Any) -> ModelSpec:
    return _validate(ModelSpec, _resolve_preset("model", value, catalog.model_preset), "model")


def build_cluster(value: Any) -> ClusterSpec:
    body = _resolve_preset("cluster", value, catalog.cluster_preset)
    if "gpu" not in body:
        raise ColossimError("cluster.gpu: missing; name a GPU from the catalog (see `colossim catalog gpus`)",
                            field="cluster.gpu", allowed=", ".join(catalog.gpu_names()))
    if not isinstance(body["gpu"], str):
        raise field_error("cluster.gpu", body["gpu"], "must be a GPU catalog name")
    gpu = catalog.gpu(body["gpu"])
    body["gpu"] = gpu.name
    n = body.get("num_gpus")
    if "gpus_per_node" not in body and type(n) is int and 0 < n < gpu.scaleup_domain:
        # the default is the GPU's whole NVLink domain (72 on an NVL72 rack): name it, do not shrink it silently
        raise ColossimError(
            f"cluster.gpus_per_node: not set, and its default, {gpu.name}'s NVLink domain of {gpu.scaleup_domain} "
            f"GPUs, exceeds num_gpus ({n}); set cluster.gpus_per_node to the GPUs that share NVLink (at most {n})",
            field="cluster.gpus_per_node", value=gpu.scaleup_domain, allowed=f"1..{n}")
    body.setdefault("gpus_per_node", gpu.scaleup_domain)
    gpn = body["gpus_per_node"]
    body.setdefault("gpus_per_server", min(8, gpn) if isinstance(gpn, int) and gpn > 0 else 8)
    body.setdefault("scaleup_gbps_per_gpu", gpu.scaleup_unidir_gbps)
    body.setdefault("nic_gbps_per_gpu", gpu.nic_gbps)
    body.setdefault("name", f"{body.get('num_gpus', '?')} x {gpu.name}")
    cluster = _validate(ClusterSpec, body, "cluster")
    catalog.switch(cluster.fabric.switch)  # unknown switch: a clear error now, not later
    return cluster


def build_training(value: Any) -> TrainingSpec:
    if not isinstance(value, dict):
        raise ColossimError(f"training: expected a mapping, got {value!r}", field="training", value=value,
                            allowed="a mapping with seq_len, global_batch_size, ...")
    return _validate(TrainingSpec, value, "training")


def build_plan(value: Any, model: ModelSpec, cluster: ClusterSpec,
               training: TrainingSpec) -> tuple[ParallelPlan, bool]:
    if not isinstance(value, dict):
        raise ColossimError(f"parallel: expected a mapping, got {value!r}", field="parallel", value=value,
                            allowed="a mapping with tp, pp, dp, cp, ep, vpp")
    plan = _validate(ParallelPlan, value, "parallel")
    inferred = plan.dp is None
    if inferred:
        plan = plan.model_copy(update={"dp": _largest_dp(plan, cluster, training)})
    batch = PlanBatch.from_plan(plan, training)
    code = int(check_plans(model, cluster, training, batch)[0])
    if code:
        rule, message = describe(code, model, cluster, training, batch)
        raise ColossimError(f"{rule.field}: {message}", field=rule.field)
    return plan, inferred


def _largest_dp(plan: ParallelPlan, cluster: ClusterSpec, training: TrainingSpec) -> int:
    """The largest dp that fits the cluster, divides the batch and takes the experts."""
    most = cluster.num_gpus // plan.model_parallel_size
    per_rank = training.global_batch_size // training.micro_batch_size
    if training.global_batch_size % training.micro_batch_size == 0:
        for dp in reversed(divisors(per_rank)):  # O(sqrt(batch)), not O(cluster)
            if dp <= most and (plan.tp * plan.cp * dp) % (plan.ep * (plan.etp or plan.tp)) == 0:
                return dp
    raise ColossimError(f"parallel.dp: no data-parallel size fits: {_why_no_dp(plan, cluster, training, most)}",
                        field="parallel.dp")


def _why_no_dp(plan: ParallelPlan, cluster: ClusterSpec, training: TrainingSpec, most: int) -> str:
    """The first reason no dp fits, in the user's terms."""
    gbs, mbs = training.global_batch_size, training.micro_batch_size
    if most == 0:
        return (f"tp*pp*cp = {plan.model_parallel_size} GPUs per model replica, more than the cluster's "
                f"{cluster.num_gpus} (cluster.num_gpus)")
    if gbs % mbs:
        return (f"training.micro_batch_size ({mbs}) must divide training.global_batch_size ({gbs})"
                + (": it is larger" if mbs > gbs else ""))
    experts = plan.ep * (plan.etp or plan.tp)
    return (f"tp*pp*cp = {plan.model_parallel_size} leaves at most {most} data-parallel ranks on {cluster.num_gpus} "
            f"GPUs, and no dp up to {most} divides global_batch_size/micro_batch_size ({gbs}/{mbs} = {gbs // mbs})"
            + (f" and makes tp*cp*dp a multiple of ep*etp ({plan.ep}*{plan.etp or plan.tp} = {experts})"
               if experts > 1 else ""))


# ---- pydantic errors as ColossimErrors -----------------------------------------------


def validate_section(cls: type[_T], body: Any, section: str) -> _T:
    """Validate an optional scenario section (``reliability``, ``power``, ...) or a set of
    command options with a subsystem's own pydantic model, raising the same clear
    ColossimErrors as the core sections (field path, value, allowed, did-you-mean)."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise ColossimError(f"{section}: expected a mapping, got {body!r}", field=section, value=body)
    return _validate(cls, body, section)



def _validate(cls: type[_T], body: dict[str, Any], section: str) -> _T:
    """Pydantic validation between the gate's checks: no true/false for a number before,
    every quantity finite and within its physical range after (colossim.bounds.BOUNDS)."""
    gate.check_types(cls, body, section)
    try:
        obj = cls(**body)
    except ValidationError as exc:
        raise _convert(exc, cls, section) from None
    except TypeError as exc:  # non-string keys
        raise ColossimError(f"{section}: {exc}", field=section) from None
    gate.check_bounds(section, obj)
    return obj


def _convert(exc: ValidationError, cls: type[BaseModel], section: str) -> ColossimError:
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"]]
    path = ".".join([section, *loc]) if loc else section
    value = err.get("input")
    kind = err["type"]
    if kind == "extra_forbidden":
        owner = _owner_fields(cls, loc[:-1])
        allowed = f"unknown field; allowed: {', '.join(owner)}"
        return field_error(path, loc[-1], allowed, choices=owner)
    if kind == "missing":  # every missing field at once, not one per try
        others = [".".join([section, *map(str, e["loc"])]) for e in exc.errors()[1:] if e["type"] == "missing"]
        also = f"; also missing: {', '.join(others)}" if others else ""
        return ColossimError(f"{path}: missing (required){also}", field=path, allowed="a value")
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        choices = [c.strip().strip("'") for c in str(expected).replace(" or ", ",").split(",") if c.strip()]
        return field_error(path, value, f"allowed: {expected}", choices=choices)
    raised = err.get("ctx", {}).get("error")
    if isinstance(raised, ColossimError):  # a validator's own message: keep its allowed and did-you-mean
        text = str(raised).removeprefix(f"{raised.field}: ") if raised.field else str(raised)
        return ColossimError(f"{path}: {text}", field=path, value=raised.value if raised.value is not None else value,
                             allowed=raised.allowed, suggestion=raised.suggestion)
    message = err["msg"].removeprefix("Value error, ")
    if loc and kind != "value_error":
        return ColossimError(f"{path}: {value!r} is not allowed; {message.lower()}", field=path, value=value,
                             allowed=message)
    return ColossimError(f"{path}: {message}", field=path, value=value, allowed=message)


def _owner_fields(cls: type[BaseModel], loc: list[str]) -> list[str]:
    """Field names of the (nested) model that holds the unknown key."""
    model: Any = cls
    for part in loc:
        field = model.model_fields.get(part)
        if field is None:
            break
        ann = field.annotation
        inner = [a for a in getattr(ann, "__args__", (ann,)) if isinstance(a, type) and issubclass(a, BaseModel)]
        if not inner:
            break
        model = inner[0]
    return list(model.model_fields)


__all__ = ["did_you_mean", "load_scenario", "read_scenario_data", "validate_section"]
