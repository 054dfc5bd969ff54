"""Why the best plan beats the runner-up: the breakdown term that differs most."""

from __future__ import annotations

from colossim.perf.estimate import Estimate

PLAN_KEYS = ("tp", "pp", "dp", "cp", "ep", "vpp", "micro_batch_size", "recompute", "zero_stage", "sequence_parallel")


def plan_label(plan: dict) -> str:
    sp = "sp" if plan["sequence_parallel"] else "no-sp"
    return (f"tp{plan['tp']} pp{plan['pp']} dp{plan['dp']} cp{plan['cp']} ep{plan['ep']} vpp{plan['vpp']} "
            f"mbs{plan['micro_batch_size']} {plan['recompute']} zero{plan['zero_stage']} {sp}")


def why_best(top: list[Estimate], objective: str) -> str:
    if len(top) < 2:
        return "only one plan is admissible"
    a, b = top[0], top[1]
    changed = [f"{k} {a.plan[k]} vs {b.plan[k]}" for k in PLAN_KEYS if a.plan[k] != b.plan[k]]
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
        text += f"lower {objective} per token; step {gain * 1e3:+.1f} ms, mostly {term.replace('_', ' ')}"
    return text
