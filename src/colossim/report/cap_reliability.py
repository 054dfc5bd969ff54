"""Reliability (issue #6) for the dashboard, the API and reports: `colossim reliability`
(one run's Monte Carlo) and `colossim reliability --sweep-gpus` (goodput against scale),
with options in place of the command's flags (cli/reliability.py).

The Monte Carlo's cost grows with the failures it simulates (replications x failures per
run, the event engine ~200x more per failure), so a shared server refuses a request whose
expected count exceeds ``Limits.max_failures`` before it starts.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import Field

from colossim.errors import ColossimError, unknown_name_error
from colossim.report import figures
from colossim.report.capabilities import Context, Limits, Options
from colossim.report.present import Section, fmt_pct

REQUIRES = ("colossim.reliability.analysis", "colossim.reliability.config", "colossim.reliability.job")
EVENT_ENGINE_COST = 200  # one failure of the event-by-event engine costs about 200 of the vectorized one
ETTR_FLOOR = 0.5  # wall time is at most ~2x the failure-free time in practice: failures are counted on it


class _Common(Options):
    replications: int | None = Field(None, description="Monte Carlo replications (default 500)")
    seed: int | None = Field(None, description="random seed (default 0; recorded in the output)")
    interval: str | None = Field(None, description="checkpoint interval: young, daly, simulate, or minutes")
    mode: Literal["sync", "async"] | None = Field(None, description="checkpoint saves")
    failure_preset: str | None = Field(None, description="llama3, meta-rsc1, meta-rsc2, opt-175b, bloom-176b")
    rate: dict[str, float] = Field(default_factory=dict, description="failures per unit-day by class, e.g. {\"gpu\": 2e-4}")
    rate_scale: float | None = Field(None, description="multiply every failure rate")
    storage: str | None = Field(None, description="checkpoint storage preset")
    save_tbps: float | None = Field(None, description="checkpoint save bandwidth, TB/s")
    load_tbps: float | None = Field(None, description="checkpoint load bandwidth, TB/s")
    recovery: str | None = Field(None, description="recovery preset: meta-llama3, megascale, megatron-2021, manual-ops")
    spares: int | None = Field(None, description="hot spare servers (default: the cluster's idle servers)")
    when_exhausted: Literal["wait", "shrink"] | None = Field(None, description="no spare left: wait or shrink")
    run_days: float | None = Field(None, description="failure-free training days (default: from total_tokens)")
    repair_h: float | None = Field(None, description="repair turnaround of a failed server, hours")


class ReliabilityOptions(_Common):
    engine: Literal["vectorized", "events"] = Field("vectorized", description="vectorized (fast) or events")
    target_ettr: float | None = Field(None, gt=0.0, lt=1.0, description="solve for what reaching this ETTR takes "
                                      "(recovery time, checkpoint save and interval, hot spares), e.g. 0.9")
    technique: str | None = Field(None, description="recovery technique to apply: baseline, async-checkpoint, "
                                  "in-memory, hot-spare-swap, elastic-dp (all: the table of every technique)")


class GoodputOptions(_Common):
    sizes: list[int] | None = Field(None, max_length=64, description="GPU counts (default 1k to 200k)")


def config(ctx: Context) -> Any:
    """The ``reliability:`` section with the options applied, as the CLI applies its flags."""
    from colossim.reliability.config import reliability_config

    o: Any = ctx.options
    paths = {"replications": "replications", "seed": "seed", "interval": "checkpoint.interval",
             "mode": "checkpoint.mode", "failure_preset": "failure_preset", "rate_scale": "rate_scale",
             "storage": "checkpoint.storage", "save_tbps": "checkpoint.save_tbps", "load_tbps": "checkpoint.load_tbps",
             "recovery": "recovery.preset", "spares": "spares.servers", "when_exhausted": "spares.when_exhausted",
             "run_days": "run_days", "repair_h": "spares.repair_h"}
    overrides: dict[str, tuple[str, Any]] = {path: (f"options.{name}", getattr(o, name)) for name, path in paths.items()}
    for cls, value in o.rate.items():
        overrides[f"failure_classes.{cls}.rate_per_unit_day"] = (f"options.rate.{cls}", value)
    return reliability_config(ctx.scenario.sections.get("reliability"), overrides)


PRESET_FIELDS = {"reliability.recovery.preset": "recovery", "reliability.failure_preset": "failure_preset",
                 "reliability.checkpoint.storage": "storage"}


@contextlib.contextmanager
def _option_names(ctx: Context) -> Iterator[None]:
    """An unknown preset given as an option is reported under the option, not the section."""
    try:
        yield
    except ColossimError as exc:
        name = PRESET_FIELDS.get(exc.field or "")
        if name is None or getattr(ctx.options, name) is None:
            raise
        raise ColossimError(str(exc).replace(exc.field or "", f"options.{name}", 1), field=f"options.{name}",
                            value=exc.value, allowed=exc.allowed, suggestion=exc.suggestion) from None


def _failures(job: Any, replications: int) -> float:
    return (job.unexpected_rate_per_s + job.planned_rate_per_s) * job.work_s / ETTR_FLOOR * replications


def _refuse(count: float, limits: Limits) -> None:
    if count > limits.max_failures:
        raise ColossimError(f"options.replications: the Monte Carlo would simulate about {count:,.0f} failures, more "
                            f"than this server allows ({limits.max_failures:,}; `colossim serve --max-failures`): "
                            "use fewer replications, a shorter run (run_days) or fewer sizes, or run "
                            "`colossim reliability` locally", field="options.replications", value=int(count),
                            allowed=f"at most {limits.max_failures:,} failures")


def check_reliability(ctx: Context, limits: Limits) -> None:
    from colossim.reliability.job import build_job
    from colossim.reliability.techniques import technique_names

    technique = getattr(ctx.options, "technique", None)
    if technique is not None and technique.lower() not in [*technique_names(), "all"]:
        raise unknown_name_error("recovery technique", "options.technique", technique, [*technique_names(), "all"])

    cfg = config(ctx)
    cost = EVENT_ENGINE_COST if getattr(ctx.options, "engine", "vectorized") == "events" else 1
    with _option_names(ctx):
        job = build_job(ctx.scenario, cfg)
    _refuse(_failures(job, cfg.replications) * cost, limits)


def run_reliability(ctx: Context) -> dict[str, Any]:
    from colossim.reliability import analysis

    with _option_names(ctx):
        result = analysis.analyze(ctx.scenario, config(ctx), engine=getattr(ctx.options, "engine", "vectorized"))
    out = result.to_dict()
    target, technique = getattr(ctx.options, "target_ettr", None), getattr(ctx.options, "technique", None)
    if target is not None or technique is not None:
        from colossim.perf.estimate import estimate
        from colossim.reliability import whatif

        out.update(whatif.goal(result.job, target, technique, float(estimate(ctx.scenario).step_time_s), result.seed))
    return out


def sizes(ctx: Context) -> tuple[int, ...]:
    from colossim.reliability.analysis import DEFAULT_SIZES

    given = getattr(ctx.options, "sizes", None)
    if given is not None and (not given or min(given) < 1):
        raise ColossimError("options.sizes: GPU counts must be positive integers, e.g. [1024, 16384, 200000]",
                            field="options.sizes", value=str(given))
    return tuple(given) if given else DEFAULT_SIZES


def check_goodput(ctx: Context, limits: Limits) -> None:
    from colossim.reliability.job import build_job

    grid = sizes(ctx)
    if len(grid) > limits.max_points or max(grid) > limits.max_gpus:
        raise ColossimError(f"options.sizes: at most {limits.max_points} sizes of at most {limits.max_gpus:,} GPUs "
                            "on this server (`colossim serve --max-points --max-gpus`)", field="options.sizes",
                            value=str(grid), allowed=f"at most {limits.max_points} sizes")
    cfg = config(ctx)
    with _option_names(ctx):
        base = build_job(ctx.scenario, cfg)
    _refuse(sum(_failures(base.scaled(n), cfg.replications) for n in grid), limits)


def run_goodput(ctx: Context) -> dict[str, Any]:
    """`--sweep-gpus`: analysis.sweep_gpus, one size at a time so that the job shows progress
    and can be cancelled between sizes (the same calls: analyze on ``build_job(...).scaled(n)``)."""
    from colossim.reliability.analysis import analyze
    from colossim.reliability.job import build_job

    cfg = config(ctx)
    grid = sizes(ctx)
    with _option_names(ctx):
        base = build_job(ctx.scenario, cfg)
    rows = []
    for i, n in enumerate(grid):
        if ctx.progress is not None:
            ctx.progress(i, len(grid))
        rows.append(analyze(ctx.scenario, cfg, job=base.scaled(n)))
    return {"scenario": ctx.scenario.name, "seed": cfg.seed, "replications": cfg.replications,
            "policy": rows[0].choice.policy, "sizes": [r.summary() for r in rows]}


# ---- presentation ------------------------------------------------------------------------


def _num(x: float | None, fmt: str = ".3f") -> str:
    return "-" if x is None else format(x, fmt)


def _spread(s: dict[str, Any], fmt: str = ".3f") -> str:
    return f"{_num(s.get('mean'), fmt)} (P10 {_num(s.get('p10'), fmt)}, P90 {_num(s.get('p90'), fmt)})"


def present_reliability(d: dict[str, Any]) -> Section:
    s = Section("reliability", f"Reliability: {d['scenario']}")
    ck = d["checkpoint"]
    s.kpi("ETTR", _spread(d["ettr"]))
    s.kpi("goodput", fmt_pct(d["goodput"]["mean"]))
    s.kpi("days to train", f"{_num(d['days_to_train']['mean'], '.1f')} (ideal {d['ideal_days']:.1f})")
    s.kpi("interruptions per day", _num(d["interruptions_per_day"]["expected"], ".2f"))
    s.kpi("job MTTF", f"{_num(d['job_mttf_h']['expected'], '.2f')} h")
    s.kpi("checkpoint every", f"{ck['interval_min']:.1f} min ({ck['policy']})")
    s.kpi("checkpoint", f"{ck['size_tb']:.2f} TB, save {ck['save_s']:.0f} s ({ck['mode']})")
    s.kpi("replications", f"{d['replications']} (seed {d['seed']})")
    share = {k.replace("_", " "): 100 * v for k, v in d["time_share"].items() if v}
    s.figures.append(figures.bars("time_share", "Where the wall-clock time goes", share, "% of wall time"))
    lost = {k: v for k, v in d["lost_gpu_hours"]["by_cause"].items() if v}
    s.figures.append(figures.bars("lost_gpu_hours", "Lost GPU-hours per run by cause", lost, "GPU-hours"))
    s.table("failure classes", ["class", "units", "rate / unit-day", "per day", "per run"],
            [[r["class"], f"{r['units']:,.0f} {r['unit']}", f"{r['rate_per_unit_day']:.3g}",
              f"{r['job_rate_per_day']:.2f}", f"{r['interruptions_per_run']:.1f}"] for r in d["rates"]])
    s.notes += d.get("notes", [])
    return s


def present_goodput(d: dict[str, Any]) -> Section:
    rows = d["sizes"]
    s = Section("goodput", f"Goodput against scale: {d['scenario']}")
    s.kpi("sizes", f"{len(rows)} ({rows[0]['gpus']:,} to {rows[-1]['gpus']:,} GPUs)" if rows else "0")
    s.kpi("interval policy", d["policy"])
    s.kpi("replications", f"{d['replications']} each (seed {d['seed']})")
    if rows:
        s.kpi(f"ETTR at {rows[-1]['gpus']:,} GPUs", fmt_pct(rows[-1]["ettr"]["mean"]))
    x = [r["gpus"] for r in rows]
    series = {"ETTR (mean)": [r["ettr"]["mean"] for r in rows], "ETTR P10": [r["ettr"]["p10"] for r in rows],
              "ETTR P90": [r["ettr"]["p90"] for r in rows], "goodput (mean)": [r["goodput"]["mean"] for r in rows]}
    fig = figures.line("goodput_scale", "Goodput against cluster size", x, series, "GPUs", "fraction of wall time",
                       x_log=True)
    s.figures.append(fig)
    s.table("by size", ["GPUs", "interruptions/day", "MTTF h", "interval min", "ETTR", "P10", "P90", "goodput",
                        "days", "finished"],
            [[f"{r['gpus']:,}", _num(r["interruptions_per_day"]["mean"], ".2f"), _num(r["job_mttf_h"]["expected"], ".2f"),
              _num(r["checkpoint_interval_min"], ".2f"), _num(r["ettr"]["mean"]), _num(r["ettr"]["p10"]),
              _num(r["ettr"]["p90"]), _num(r["goodput"]["mean"]), _num(r["days_to_train"]["mean"], ".1f"),
              fmt_pct(r["finished_fraction"])] for r in rows])
    s.notes.append("throughput per GPU, spare share and storage bandwidth are held fixed across sizes")
    return s
