"""Why the best plan beats the runner-up: the breakdown term that differs most."""

from __future__ import annotations

from colossim.perf.estimate import Estimate

PLAN_KEYS = ("tp", "pp", "dp", "cp", "ep", "etp", "vpp", "first_stage_layers", "last_stage_layers", "micro_batch_size",
             "recompute", "zero_stage", "sequence_parallel", "schedule")


def plan_label(plan: dict) -> str:
    sp = "sp" if plan["sequence_parallel"] else "no-sp"
    schedule = plan.get("schedule", "1f1b")
    etp = plan.get("etp") or plan["tp"]
    edges = f"edges{plan['first_stage_layers']}/{plan['last_stage_layers']} " if plan.get("first_stage_layers") else ""
    return (f"tp{plan['tp']} pp{plan['pp']} dp{plan['dp']} cp{plan['cp']} ep{plan['ep']} "
            + ("" if etp == plan["tp"] else f"etp{etp} ") + edges + f"vpp{plan['vpp']} "
            f"mbs{plan['micro_batch_size']} {plan['recompute']} zero{plan['zero_stage']} {sp}"
            + ("" if schedule == "1f1b" else f" {schedule}"))


def flags(est: Estimate) -> str:
    """Markers for a result: '*' outside the validated envelope, '!' above 50% MFU."""
    env = est.envelope or {}
    return ("*" if env.get("outside") else "") + ("!" if env.get("mfu_flag") else "")


def result_label(est: Estimate) -> str:
    mark = flags(est)
    return plan_label(est.plan) + (f" {mark}" if mark else "")


def flags_text(top: list[Estimate]) -> str:
    """What the markers of the listed results mean ('' when none is marked)."""
    parts = []
    if any("*" in flags(e) for e in top):
        first = next(e for e in top if "*" in flags(e))
        parts.append("* extrapolation outside the validated envelope (e.g. " + "; ".join(first.envelope["outside"]) + ")")
    if any("!" in flags(e) for e in top):
        parts.append("! above 50% MFU: beyond any published H100 BF16 run, treat as optimistic")
    return "; ".join(parts)


def why_best(top: list[Estimate], objective: str, values: list[float] | None = None,
             unit: str | None = None) -> str:
    """Why #1 beats #2, in the objective's terms (``values``: the objective per plan, in
    ``unit``, where the plan records do not show it)."""
    if len(top) < 2:
        return "only one plan is admissible"
    a, b = top[0], top[1]
    changed = [f"{k} {a.plan.get(k)} vs {b.plan.get(k)}" for k in PLAN_KEYS if a.plan.get(k) != b.plan.get(k)]
    diffs = {k: b.breakdown_s[k] - a.breakdown_s[k] for k in a.breakdown_s}
    term = max(diffs, key=lambda k: diffs[k])
    gain = b.step_time_s - a.step_time_s
    text = (f"#1 ({plan_label(a.plan)}) beats #2 ({'; '.join(changed) or 'same plan'}): ")
    if abs(gain) <= 1e-9 * a.step_time_s and objective in ("throughput", "gpus"):
        if b.memory_per_gpu_gb - a.memory_per_gpu_gb > 0.05:
            return text + (f"equally fast; #1 needs less memory ({a.memory_per_gpu_gb:.1f} vs "
                           f"{b.memory_per_gpu_gb:.1f} GB per GPU)")
        return text + "equally fast and as lean: the two only split the batch differently"
    if objective == "throughput" or objective not in ("cost", "energy", "gpus"):
        text += (f"{a.tokens_per_s / b.tokens_per_s - 1:+.2%} tokens/s; step {gain * 1e3:+.1f} ms shorter, "
                 f"mostly {term.replace('_', ' ')} ({diffs[term] * 1e3:+.1f} ms for #2)")
    elif objective == "gpus":
        text += f"{b.gpus_used - a.gpus_used:,} fewer GPUs within the deadline"
    else:
        if values and unit and len(values) >= 2 and values[1] > 0:
            text += (f"lower {objective} per token ({values[0]:.4g} vs {values[1]:.4g} {unit}, "
                     f"{values[0] / values[1] - 1:+.2%}); ")
        else:
            text += f"lower {objective} per token; "
        text += f"#2's step {gain * 1e3:+.1f} ms, mostly {term.replace('_', ' ')}"
    return text
