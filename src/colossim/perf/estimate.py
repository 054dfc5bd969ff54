"""One scenario's estimate as a plain record (the `estimate --json` object)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from colossim.catalog import stacks
from colossim.perf import deferral, envelope, step_costs
from colossim.perf.comm import AnalyticCollectives
from colossim.perf.step import MEMORY_FIELDS, TIME_FIELDS, StepArrays, evaluate
from colossim.scenario import Scenario

GB = 1e9
SECONDS_PER_DAY = 86400.0


def training_s(total_tokens: float, tokens_per_step: float, step_s: Any) -> Any:
    """Failure-free seconds to train ``total_tokens``: whole steps of the global batch (a last
    partial batch is a step too), so a run shorter than one batch still takes one step. Works
    on arrays of step times (the search's objectives)."""
    steps = np.ceil(np.round(total_tokens / tokens_per_step, 9))  # round: 1e12 / 1e6 is 1e6 steps, not 1e6 + 1
    return np.maximum(steps, 1.0) * step_s


# JSON names of the breakdown terms (issue #2's vocabulary)
BREAKDOWN_NAMES = {
    "compute_forward_s": "compute_forward",
    "compute_backward_s": "compute_backward",
    "compute_recompute_s": "compute_recompute",
    "tp_exposed_s": "tp_exposed",
    "pp_bubble_s": "pp_bubble",
    "pp_p2p_s": "pp_p2p",
    "dp_exposed_s": "dp_exposed",
    "ep_all_to_all_s": "ep_all_to_all",
    "cp_exposed_s": "cp_exposed",
    "optimizer_s": "optimizer",
}
MEMORY_NAMES = {
    "weights_bytes": "weights",
    "gradients_bytes": "gradients",
    "optimizer_bytes": "optimizer_states",
    "activations_bytes": "activations",
    "buffers_bytes": "buffers",
    "fragmentation_bytes": "fragmentation",
}


@dataclass(frozen=True)
class Estimate:
    """Everything `colossim estimate` reports for one plan."""

    scenario: str
    step_time_s: float
    tokens_per_s: float
    mfu: float
    hfu: float
    model_tflops_per_gpu: float
    memory_per_gpu_gb: float
    hbm_per_gpu_gb: float
    fits_in_memory: bool
    time_to_train_days: float | None
    breakdown_s: dict[str, float]
    memory_breakdown_gb: dict[str, float]
    gpus_used: int
    gpus_idle: int
    num_micro_batches: int
    tokens_per_step: int
    model_flops_per_step: float
    plan: dict[str, Any]
    # the shares of peak FLOP/s the GPUs run without the causal half of the attention matrix,
    # which MFU and HFU count by convention (perf/flops.py): model FLOPs, and with recompute
    executed_mfu: float
    executed_utilization: float
    notes: list[str] = field(default_factory=list)
    envelope: dict[str, Any] = field(default_factory=dict)  # perf.envelope.assess: validated or extrapolated

    @property
    def dominant_overhead(self) -> str:
        """The largest term that is not useful forward/backward compute."""
        overheads = {k: v for k, v in self.breakdown_s.items() if k not in ("compute_forward", "compute_backward")}
        return max(overheads, key=lambda k: overheads[k])

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "step_time_s": self.step_time_s,
            "tokens_per_s": self.tokens_per_s,
            "mfu": self.mfu,
            "hfu": self.hfu,
            "model_tflops_per_gpu": self.model_tflops_per_gpu,
            "memory_per_gpu_gb": self.memory_per_gpu_gb,
            "hbm_per_gpu_gb": self.hbm_per_gpu_gb,
            "fits_in_memory": self.fits_in_memory,
            "time_to_train_days": self.time_to_train_days,
            "breakdown_s": dict(self.breakdown_s),
            "memory_breakdown_gb": dict(self.memory_breakdown_gb),
            "gpus_used": self.gpus_used,
            "gpus_idle": self.gpus_idle,
            "num_micro_batches": self.num_micro_batches,
            "tokens_per_step": self.tokens_per_step,
            "model_flops_per_step": self.model_flops_per_step,
            "executed_mfu": self.executed_mfu,
            "executed_utilization": self.executed_utilization,
            "dominant_overhead": self.dominant_overhead,
            "plan": dict(self.plan),
            "notes": list(self.notes),
            "envelope": dict(self.envelope),
        }


def record(arrays: StepArrays, i: int, *, scenario_name: str, plan: dict[str, Any], num_gpus: int,
           total_tokens: float | None, notes: list[str] | None = None,
           features: dict[str, Any] | None = None) -> Estimate:
    """Row ``i`` of a batch evaluation as an Estimate (used by estimate and search alike)."""
    step = float(arrays.step_time_s[i])
    tokens_s = float(arrays.tokens_per_s[i])
    used = int(arrays.gpus_used[i])
    mfu = float(arrays.mfu[i])
    executed_mfu = float(arrays.executed_mfu[i])
    assessment = envelope.assess(plan, used, mfu, features, executed_mfu=executed_mfu)
    return Estimate(
        scenario=scenario_name,
        step_time_s=step,
        tokens_per_s=tokens_s,
        mfu=mfu,
        hfu=float(arrays.hfu[i]),
        model_tflops_per_gpu=float(arrays.model_tflops_per_gpu[i]),
        memory_per_gpu_gb=float(arrays.memory_bytes[i]) / GB,
        hbm_per_gpu_gb=arrays.hbm_bytes / GB,
        fits_in_memory=bool(arrays.fits[i]),
        time_to_train_days=(None if total_tokens is None
                            else float(training_s(total_tokens, arrays.tokens_per_step, step)) / SECONDS_PER_DAY),
        breakdown_s={BREAKDOWN_NAMES[k]: float(getattr(arrays, k)[i]) for k in TIME_FIELDS},
        memory_breakdown_gb={MEMORY_NAMES[k]: float(getattr(arrays, k)[i]) / GB for k in MEMORY_FIELDS},
        gpus_used=used,
        gpus_idle=num_gpus - used,
        num_micro_batches=int(arrays.n_micro[i]),
        tokens_per_step=arrays.tokens_per_step,
        model_flops_per_step=arrays.model_flops_per_step,
        plan=plan,
        executed_mfu=executed_mfu,
        executed_utilization=float(arrays.executed_utilization[i]),
        notes=[*(notes or []), *envelope.notes(assessment)],
        envelope=assessment,
    )


# an exposed term above this share of the step gets a hint naming the setting behind it
HINT_SHARE = 0.10


def _overlap_hints(scenario: Scenario, arrays: StepArrays) -> list[str]:
    """Say so when a large exposed term comes from a stack default the user did not state
    (the default stack, Megatron-Core's documented defaults, overlaps nothing on its own)."""
    tr, step = scenario.training, float(arrays.step_time_s[0])
    dp_s = float(arrays.dp_exposed_s[0])
    if not tr.overlap_dp_comm and dp_s > HINT_SHARE * step:
        default = stacks.stack(tr.stack).values(tr.precision).get("overlap_dp_comm")
        origin = f"stack {tr.stack}'s documented default" if default is False else "set in the scenario"
        return [f"data-parallel traffic is not overlapped (overlap_dp_comm false, {origin}): {dp_s:.3g} s exposed, "
                f"{dp_s / step:.0%} of the step; if your framework overlaps it (Megatron --overlap-grad-reduce, "
                "FSDP), set training.overlap_dp_comm: true"]
    if not (tr.overlap_dp_comm and tr.dp_bucket_params == "megatron-core" and dp_s > HINT_SHARE * step):
        return []
    bucket = float(step_costs.megatron_core_bucket_params(scenario.parallel.dp or 1))
    if bucket > step_costs.MCORE_BUCKET_MIN_PARAMS:  # grown with dp: few buckets, little overlap
        return [f"the gradient buckets are Megatron-Core's unset default, max(40M, 1M x dp) = {bucket:.3g} parameters "
                f"at dp={scenario.parallel.dp}: so few buckets overlap little of the reduction ({dp_s:.3g} s exposed, "
                f"{dp_s / step:.0%} of the step); set training.dp_bucket_params (--ddp-bucket-size), e.g. 134217728 "
                "as Megatron-Bridge's recipes do"]
    return []


def _deferral_hint(scenario: Scenario) -> list[str]:
    """A stated ``defer_output_wgrad`` that this plan cannot use is said, not silently dropped."""
    plan = scenario.parallel
    if not scenario.training.defer_output_wgrad:
        return []
    if plan.pp == 1:
        return ["defer_output_wgrad has no effect without pipeline parallelism (pp 1; Megatron-Core refuses it there)"]
    if plan.schedule not in deferral.PRICED_SCHEDULES:
        return [f"defer_output_wgrad has no effect on the {plan.schedule} schedule, which already moves the weight "
                f"gradients (priced on {', '.join(deferral.PRICED_SCHEDULES)} only)"]
    return []


def estimate(scenario: Scenario, collectives: AnalyticCollectives | None = None) -> Estimate:
    """Predict one training step of a scenario.

    ``collectives`` replaces the analytic collective costs (e.g. the network twin's
    ``colossim.network.FlowCollectives``, as ``estimate --network flow`` does).
    """
    batch = scenario.plan_batch()
    arrays = evaluate(scenario.model, scenario.cluster, scenario.training, batch, collectives=collectives)
    notes = []
    if scenario.plan_source == "search":
        notes.append("the scenario has no parallel section: this is the plan search's best plan "
                     "(colossim search ranks the others)")
    if scenario.dp_was_inferred:
        notes.append(f"dp was not given: {scenario.parallel.dp} is the largest that fits")
    if scenario.num_gpus_idle:
        notes.append(f"{scenario.num_gpus_idle:,} of {scenario.cluster.num_gpus:,} GPUs stay idle (spares)")
    notes.extend(_overlap_hints(scenario, arrays))
    notes.extend(_deferral_hint(scenario))
    return record(arrays, 0, scenario_name=scenario.name, plan=batch.row(0), num_gpus=scenario.cluster.num_gpus,
                  total_tokens=scenario.training.total_tokens, notes=notes,
                  features=envelope.scenario_features(scenario))
