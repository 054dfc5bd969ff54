"""Whether a plan lies inside what the validation set covers.

The published runs ``colossim validate`` replays (colossim.validation, read only) span a
range of parallel degrees, scales and features. An estimate inside that envelope is an
interpolation of measured behaviour; outside it (a pp, an ep or a GPU count no run used,
a schedule or ZeRO stage no run had) it is an extrapolation, and says so. Results above
MFU_FLAG (50%) are flagged too: no published H100 BF16 run reaches it; by the MFU the GPUs
run, since the convention counts the causal half of the attention matrix that long
sequences spend most of their FLOPs in.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any

# a stack's median signed cross-validated error worth telling the user about
STACK_BIAS_NOTE = 0.05
MFU_FLAG = 0.5
# the causal half of the attention matrix above this share of the convention's MFU is noted
CAUSAL_NOTE_SHARE = 0.20
# sequences at least this long are "long context": the published runs there are said apart
LONG_CONTEXT_TOKENS = 16_384
RANGE_KEYS = ("tp", "pp", "dp", "cp", "ep", "vpp", "micro_batch_size")
SET_KEYS = ("zero_stage", "recompute", "schedule")
FEATURE_KEYS = ("moe", "precision", "gpu_family", "offload")


@dataclass(frozen=True, slots=True)
class Envelope:
    ranges: dict[str, tuple[int, int]]
    sets: dict[str, frozenset[Any]]
    gpus: tuple[int, int]
    features: dict[str, frozenset[Any]]
    seq_len: tuple[int, int] = (1, 1 << 24)
    # the published long-context runs: (count, least and most signed step-time error, in-sample)
    long_context: tuple[int, float, float] | None = None
    # the attention kernels those runs ran (training.attention_kernel)
    long_context_kernels: frozenset[str] = frozenset()
    # GPUs used by each efficiency profile's (GPU family's) runs: AMD's are one node each, so an
    # MI355X plan at 10k GPUs is an extrapolation though the global range holds it
    family_gpus: dict[str, tuple[int, int]] = dataclasses.field(default_factory=dict)

    def outside(self, plan: dict[str, Any], gpus_used: int, features: dict[str, Any] | None = None) -> list[str]:
        """Why a plan is an extrapolation (empty when it is inside)."""
        out = []
        for k, (lo, hi) in self.ranges.items():
            v = plan.get(k)
            if v is not None and not lo <= v <= hi:
                out.append(f"{k}={v} (validated {lo}-{hi})")
        for k, seen in self.sets.items():
            v = plan.get(k, "1f1b" if k == "schedule" else None)
            if v is not None and v not in seen:
                out.append(f"{k}={v} (validated: {', '.join(sorted(map(str, seen)))})")
        lo, hi = self.gpus
        family = (features or {}).get("gpu_family")
        flo, fhi = self.family_gpus.get(str(family), (lo, hi))
        if not lo <= gpus_used <= hi:
            out.append(f"{gpus_used:,} GPUs (validated {lo:,}-{hi:,})")
        elif not flo <= gpus_used <= fhi:
            out.append(f"{gpus_used:,} GPUs on {family} (its published runs: {flo:,}-{fhi:,} GPUs)")
        seq = (features or {}).get("seq_len")
        if seq is not None and not self.seq_len[0] <= seq <= self.seq_len[1]:
            out.append(f"seq_len={seq:,} (validated {self.seq_len[0]:,}-{self.seq_len[1]:,})")
        for k, v in (features or {}).items():
            if k in FEATURE_KEYS and v not in self.features.get(k, frozenset()):
                out.append(f"{k}={v} (validated: {', '.join(sorted(map(str, self.features.get(k, ()))))})")
        return out


@functools.cache
def validation_envelope() -> Envelope:
    """The envelope of the validation runs (built once, lazily: validation sits above perf)."""
    from colossim.validation.runs import reference_runs

    plans, gpus, feats, long_err, long_kernels = [], [], [], [], set()
    family_gpus: dict[str, list[int]] = {}
    for run in reference_runs():
        sc = run.build()
        plans.append(sc.plan_batch().row(0))
        gpus.append(sc.num_gpus_used)
        feats.append(scenario_features(sc))
        family_gpus.setdefault(feats[-1]["gpu_family"], []).append(sc.num_gpus_used)
        if sc.training.seq_len >= LONG_CONTEXT_TOKENS:
            long_err.append(_step_error(sc, run.measured_iter_s))
            long_kernels.add(sc.training.attention_kernel)
    ranges = {k: (min(p[k] for p in plans), max(p[k] for p in plans)) for k in RANGE_KEYS}
    sets = {k: frozenset(p[k] for p in plans) for k in SET_KEYS}
    features = {k: frozenset(f[k] for f in feats) for k in FEATURE_KEYS}
    seqs = [f["seq_len"] for f in feats]
    long_context = (len(long_err), min(long_err), max(long_err)) if long_err else None
    return Envelope(ranges=ranges, sets=sets, gpus=(min(gpus), max(gpus)), features=features,
                    seq_len=(min(seqs), max(seqs)), long_context=long_context,
                    long_context_kernels=frozenset(long_kernels),
                    family_gpus={f: (min(g), max(g)) for f, g in family_gpus.items()})


def _step_error(scenario: Any, measured_s: float) -> float:
    """A published run's signed step-time error under the catalog profile (in-sample)."""
    from colossim.perf.step import evaluate

    arrays = evaluate(scenario.model, scenario.cluster, scenario.training, scenario.plan_batch())
    return float(arrays.step_time_s[0]) / measured_s - 1.0


def scenario_features(scenario: Any) -> dict[str, Any]:
    """The features of a scenario the envelope compares beyond the plan."""
    from colossim import catalog
    from colossim.perf.hardware import assumed_gemm_ceiling

    off = scenario.training.offload
    gpu = catalog.gpu(scenario.cluster.gpu)
    prof = catalog.efficiency_profile(gpu.profile)
    # a user's own profile (cluster.efficiency_profile) measured the GPU: nothing assumed
    assumed = not scenario.cluster.efficiency_profile and assumed_gemm_ceiling(gpu, prof)
    return {"moe": scenario.model.moe is not None, "precision": scenario.training.precision,
            "gpu_family": gpu.profile, "offload": off.optimizer or off.activations, "seq_len": scenario.training.seq_len,
            "attention_kernel": scenario.training.attention_kernel,
            "own_profile": scenario.cluster.efficiency_profile, "stack": scenario.training.stack,
            "assumed_ceiling": {"gpu": gpu.name, "reference": prof.reference_gpu,
                                "fitted_scale": prof.gpu_gemm_scale.get(gpu.name)} if assumed else None}


def assess(plan: dict[str, Any], gpus_used: int, mfu: float, features: dict[str, Any] | None = None, *,
           executed_mfu: float | None = None) -> dict[str, Any]:
    """The record each estimate and search result carries (``features``: scenario_features).

    ``mfu_flag``: the MFU is above MFU_FLAG and so is ``executed_mfu`` (the model FLOPs the GPUs
    run, without the causal half of the attention matrix that MFU counts by convention): a long
    sequence's attention doubles the convention's figure without the GPUs doing more.
    ``causal_share``: how much of the convention's MFU that half is.

    ``expected_error``: the cross-validated step-time MAPE of the plan's GPU family (the
    catalog profile's ``validated`` record), or None where no published run validates it."""
    reasons = validation_envelope().outside(plan, gpus_used, features)
    # a profile of the user's own (cluster.efficiency_profile) is not the one the published runs validate
    validated = _validated(features.get("gpu_family")) if features and not features.get("own_profile") else None
    stack_rec = _stack_validated(features.get("stack")) if features else None
    executed = mfu if executed_mfu is None else executed_mfu
    return {"inside_validation": not reasons, "outside": reasons, "mfu_flag": min(mfu, executed) > MFU_FLAG,
            "mfu": mfu, "executed_mfu": executed, "causal_share": 1.0 - executed / mfu if mfu > 0 else 0.0,
            "expected_error": None if validated is None else validated["cross_validated_mape"],
            "validated_runs": 0 if validated is None else int(validated["runs"]),
            "stack": None if features is None else features.get("stack"),
            "stack_bias": None if stack_rec is None else stack_rec["cross_validated_bias"],
            "stack_runs": 0 if stack_rec is None else int(stack_rec["runs"]),
            "assumed_ceiling": None if features is None else features.get("assumed_ceiling"),
            "long_context": _long_context(features)}


def _long_context(features: dict[str, Any] | None) -> dict[str, Any] | None:
    """How the published long-context runs fared, for a scenario with long sequences."""
    seq = None if features is None else features.get("seq_len")
    env = validation_envelope()
    known = env.long_context
    if features is None or seq is None or seq < LONG_CONTEXT_TOKENS or known is None:
        return None
    return {"seq_len": seq, "runs": known[0], "error_min": known[1], "error_max": known[2],
            "kernels": sorted(env.long_context_kernels), "attention_kernel": features.get("attention_kernel")}


def _stack_validated(name: str | None) -> dict[str, float] | None:
    from colossim.catalog import stacks

    return None if name is None else stacks.stack(name).validated


def _validated(profile: str | None) -> dict[str, float] | None:
    from colossim import catalog

    return None if profile is None else catalog.efficiency_profile(profile).validated


def notes(assessment: dict[str, Any]) -> list[str]:
    out = []
    if assessment["outside"]:
        out.append("extrapolation: outside the validated envelope: " + "; ".join(assessment["outside"]))
    if assessment["mfu_flag"]:
        out.append(f"MFU above {MFU_FLAG:.0%}: beyond any published H100 BF16 run; treat as optimistic")
    if assessment.get("causal_share", 0.0) > CAUSAL_NOTE_SHARE:
        out.append(f"MFU {assessment['mfu']:.1%} counts the full s x s attention matrix (Megatron-LM's and PaLM's "
                   "convention, as published MFUs do); causal attention runs half of it, so the GPUs run "
                   f"{assessment['executed_mfu']:.1%} of peak on model FLOPs (JSON executed_mfu, executed_utilization)")
    err = assessment.get("expected_error")
    if err is not None:
        out.append(f"accuracy: this GPU family's {assessment['validated_runs']} published runs are predicted to "
                   f"{err:.1%} (cross-validated step-time MAPE; colossim validate --cross-validate)")
    elif "expected_error" in assessment:
        out.append("accuracy: no published run validates this efficiency profile (a family scaled from another, or "
                   "your own calibration); treat the step time as unvalidated")
    ceiling = assessment.get("assumed_ceiling")
    if ceiling and ceiling.get("fitted_scale"):
        out.append(f"accuracy: {ceiling['gpu']} has no measured GEMM ceiling (catalog mamf_tflops): its GEMMs are priced "
                   f"at {ceiling['reference']}'s share of its own peak x {ceiling['fitted_scale']:.3g}, a scale fitted to the "
                   "runs published on it, not measured (catalog gpu_gemm_scale; colossim validate --cross-validate); "
                   "measure one with benchmarks/gpu/gemm_sweep.py and colossim calibrate")
    elif ceiling:
        out.append(f"accuracy: {ceiling['gpu']} has no measured GEMM ceiling (catalog mamf_tflops): its GEMMs are priced "
                   f"at {ceiling['reference']}'s share of its own peak, an assumption no published run calibrates; "
                   "measure one with benchmarks/gpu/gemm_sweep.py and colossim calibrate")
    long = assessment.get("long_context")
    if long:
        lo, hi = long["error_min"], long["error_max"]
        side = "optimistic" if hi < 0 else "pessimistic" if lo > 0 else "off either way"
        ran = ", ".join(long["kernels"])
        kernel = long.get("attention_kernel")
        tail = (f"this step time is likely {side}" if kernel in long["kernels"] else
                f"they ran {ran} attention; this plan's {kernel} attention at this length is validated by no "
                "published run")
        out.append(f"accuracy: at {long['seq_len']:,} tokens per sequence: the {long['runs']} published runs at "
                   f"{LONG_CONTEXT_TOKENS:,} tokens or more are predicted {lo:+.0%} to {hi:+.0%} (step time, in-sample; "
                   f"colossim validate; docs/validation.md): {tail}")
    bias = assessment.get("stack_bias")
    if bias is not None and abs(bias) >= STACK_BIAS_NOTE:
        side = "shorter" if bias < 0 else "longer"
        out.append(f"accuracy: the {assessment['stack_runs']} published runs on stack {assessment['stack']} were "
                   f"predicted {abs(bias):.0%} {side} than measured (median, cross-validated): this step time is "
                   f"likely {'optimistic' if bias < 0 else 'pessimistic'} by about as much")
    return out
