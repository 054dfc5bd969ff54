"""The build-out (issue 15) for the dashboard, the API and reports: `colossim buildout` with
options in place of its flags (cli/buildout.py); the same ``buildout_report`` behind both."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from colossim.errors import ColossimError
from colossim.report import figures
from colossim.report.capabilities import Context, Limits, Options
from colossim.report.present import Section, fmt_count

REQUIRES = ("colossim.buildout.result", "colossim.buildout.questions")


class BuildoutOptions(Options):
    day: int | None = Field(None, ge=0, description="report tokens trained by this day (default 122)")
    start: Literal["ready", "full"] | None = Field(None, description="train on what is ready, or wait for the whole cluster")
    pod_order: Literal["sequential", "interleaved"] | None = Field(None, description="how racks fill the pods")
    power_mw_per_month: float | None = Field(None, gt=0, description="replace the grid schedule by a ramp, MW per month")
    target_tokens: float | None = Field(None, gt=0, description="tokens for the pod-order question")


def _changes(o: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if o.day is not None:
        out["report_day"] = o.day
    if o.start is not None:
        out["training.start"] = o.start
    if o.pod_order is not None:
        out["network.pod_order"] = o.pod_order
    return out


NO_SECTION_NOTE = ("the scenario has no buildout: section: every GPU arrives on day 0 and the site has the "
                   "cluster's nameplate facility power (add a buildout: section, docs/buildout.md)")


def _scenario(ctx: Context) -> Any:
    """The scenario, with a default build-out when it has none: all racks on day 0, power
    for the whole cluster at its ratings."""
    sc = ctx.scenario
    if sc.sections.get("buildout") is not None:
        return sc
    from colossim.energy.options import power_options
    from colossim.energy.power import network_w_at, power_model
    from colossim.energy.site import per_gpu_it_w

    model = power_model(sc.cluster, power_options(sc.sections))
    n = sc.cluster.num_gpus
    mw = model.pue * (n * per_gpu_it_w(model, None) + network_w_at(sc.cluster, n, model)) / 1e6
    section = {"delivery": {"batches": [{"day": 0, "gpus": n}]}, "power": {"grid": [{"day": 0, "mw": mw}]}}
    return sc.model_copy(update={"sections": {**sc.sections, "buildout": section}})


def check_buildout(ctx: Context, limits: Limits) -> None:
    from colossim.buildout.config import buildout_config

    cfg = buildout_config(_scenario(ctx).sections.get("buildout"))
    gpus = cfg.cluster_gpus or ctx.scenario.cluster.num_gpus
    if gpus > limits.max_gpus:
        raise ColossimError(f"buildout.cluster_gpus: {gpus:,} GPUs is more than this server simulates "
                            f"({limits.max_gpus:,}; `colossim serve --max-gpus`)", field="buildout.cluster_gpus",
                            value=gpus, allowed=f"at most {limits.max_gpus:,}")


def run_buildout(ctx: Context) -> dict[str, Any]:
    from colossim.buildout.questions import buildout_report

    o: Any = ctx.options
    sc = _scenario(ctx)
    out, _ = buildout_report(sc, _changes(o), power_mw_per_month=o.power_mw_per_month,
                             target_tokens=o.target_tokens)
    if sc is not ctx.scenario:
        out["notes"].insert(0, NO_SECTION_NOTE)
    return out


def _day(d: dict[str, Any], key: str) -> str:
    day, date = d[key], d.get(key.replace("_day", "_date"))
    return "never" if day is None else f"day {day}" + (f" ({date})" if date else "")


def present_buildout(d: dict[str, Any]) -> Section:
    s = Section("buildout", f"Build-out: {d['scenario']}")
    s.kpi("first training day", _day(d, "first_training_day"))
    s.kpi("full scale", f"{_day(d, 'full_scale_day')}, {d['full_scale_gpus']:,} GPUs")
    s.kpi(f"tokens by day {d['report_day']}", fmt_count(d["tokens_by_day"]))
    s.kpi("re-plans", f"{len(d['steps'])} ({d['searches']['count']} searches, {d['searches']['seconds']:.2f} s)")
    w = d["questions"]["wait_vs_ready"]
    s.kpi("tokens lost waiting for the whole cluster", fmt_count(w["tokens_lost_by_waiting"]))
    rows = d["timeline"]
    x = [r["day"] for r in rows]
    gpus = {label: [r[key] / 1e3 for r in rows] for key, label in
            (("gpus_installed", "installed"), ("gpus_ready", "ready"), ("gpus_training", "training"))}
    s.figures.append(figures.line("buildout_gpus", "GPUs by day (thousands)", x, gpus, "day", "thousand GPUs"))
    mw = {"supply": [r["power_available_mw"] for r in rows], "facility draw": [r["facility_mw"] for r in rows],
          "tokens trained (T)": [r["tokens_trained"] / 1e12 for r in rows]}
    s.figures.append(figures.line("buildout_power", "Facility MW and tokens trained by day", x, mw, "day",
                                  "MW / trillion tokens"))
    s.table("growth steps", ["day", "from", "to", "tokens/s", "ETTR", "restart + reshard (min)"],
            [[st["day"], f"{st['gpus_from']:,}", f"{st['gpus_to']:,}", fmt_count(st["tokens_per_s"]),
              f"{st['ettr']:.3f}", f"{st['cost_s'] / 60:.1f}"] for st in d["steps"]])
    s.table("power by phase", ["days", "GPUs", "mean MW", "jump MW", "step swing MW", "battery MWh", "battery MW"],
            [[f"{p['start_day']}-{p['end_day']}", f"{p['gpus']:,}", f"{p['facility_mw_mean']:.1f}",
              f"{p['step_change_mw']:+.1f}", f"{p['swing_mw']:.1f}", f"{p['battery_mwh']:.2f}",
              f"{p['battery_mw']:.1f}"] for p in d["power_phases"]])
    s.table("bottleneck days", ["bottleneck", "days"], [[k, v] for k, v in d["bottleneck_days"].items()])
    s.notes += d.get("notes", [])
    return s
