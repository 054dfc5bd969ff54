"""Power and cost (issue #5) for the dashboard, the API and reports: `colossim power` and
`colossim cost` with options in place of flags (cli/power.py, cli/cost.py)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from colossim.report import figures
from colossim.report.capabilities import Context, Options
from colossim.report.present import Section, fmt_count, fmt_mw, fmt_mwh, fmt_num, fmt_usd


class PowerOptions(Options):
    budget_mw: float | None = Field(None, description="site budget, MW of facility power")
    basis: Literal["peak", "average", "nameplate"] | None = Field(None, description="what must fit the budget")
    pue: float | str | None = Field(None, description="a number >= 1 or a preset (air, liquid, new-large, hyperscale)")
    ramp_mw_per_min: float | None = Field(None, description="grid ramp limit for the battery sizing")
    checkpoint_stall_s: float | None = Field(None, description="blocking checkpoint write, s")
    restart_s: float | None = Field(None, description="restart after a failure (job down), s")


def _pue(value: float | str | None) -> float | str | None:
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _power(ctx: Context, **flags: tuple[str, Any]) -> Any:
    """As `colossim power` loads it (cli/power.py load_power), with option names for flags."""
    from colossim.energy.options import power_options
    from colossim.energy.power import resolve_pue
    from colossim.energy.site import power_report

    pue = _pue(getattr(ctx.options, "pue", None))
    if pue is not None:
        resolve_pue(pue, ctx.scenario.cluster.cooling, field="options.pue")
    opts = power_options(ctx.scenario.sections, pue=("options.pue", pue), **flags)
    return power_report(ctx.scenario, opts)


def run_power(ctx: Context) -> dict[str, Any]:
    o: Any = ctx.options
    names = {"budget_mw": "budget_mw", "budget_basis": "basis", "ramp_mw_per_min": "ramp_mw_per_min",
             "checkpoint_stall_s": "checkpoint_stall_s", "restart_s": "restart_s"}
    return _power(ctx, **{k: (f"options.{v}", getattr(o, v)) for k, v in names.items()}).to_dict()


class CostOptions(Options):
    electricity: str | None = Field(None, description="price preset: us-industrial (default), tennessee, ...")
    usd_per_kwh: float | None = Field(None, description="electricity price, USD/kWh (overrides the preset)")
    grid: str | None = Field(None, description="carbon preset: us-average (default), tva, gas-turbine")
    g_co2_per_kwh: float | None = Field(None, description="grid intensity, g CO2/kWh (overrides the preset)")
    total_tokens: float | None = Field(None, description="tokens of the run (default: training.total_tokens)")
    gpu_hours: float | None = Field(None, description="run length as GPU-hours of the plan's GPUs")
    goodput: float | None = Field(None, description="useful fraction of wall time, (0, 1]")
    gpu_price_usd: float | None = Field(None, description="price per GPU (default: catalog estimate)")
    no_capex: bool = Field(False, description="leave capital cost out of the total")
    pue: float | str | None = Field(None, description="a number >= 1 or a preset")


def run_cost(ctx: Context) -> dict[str, Any]:
    """As `colossim cost` (cli/cost.py), options in place of flags."""
    from colossim.energy import presets
    from colossim.energy.cost import cost_report
    from colossim.energy.options import cost_options
    from colossim.errors import field_error

    o: Any = ctx.options
    if o.electricity is not None:
        presets.price_preset(o.electricity, "options.electricity")
    if o.grid is not None:
        presets.grid_preset(o.grid, "options.grid")
    if o.gpu_hours is not None and not o.gpu_hours > 0:
        raise field_error("options.gpu_hours", o.gpu_hours, "a positive number of GPU-hours")
    power = _power(ctx)
    names = ("electricity", "usd_per_kwh", "grid", "g_co2_per_kwh", "total_tokens", "goodput", "gpu_price_usd")
    flags = {k: (f"options.{k}", getattr(o, k)) for k in names}
    opts = cost_options(ctx.scenario.sections, include_capex=("options.no_capex", False if o.no_capex else None),
                        **flags)
    out = cost_report(ctx.scenario, power, opts, gpu_hours=o.gpu_hours).to_dict()
    out["it_power_mw"] = power.it_w["peak"] / 1e6
    out["facility_power_mw"] = power.facility_w("peak") / 1e6
    return out


# ---- presentation ------------------------------------------------------------------------


def present_power(d: dict[str, Any]) -> Section:
    s = Section("power", f"Power: {d['scenario']}")
    s.kpi("facility power (peak)", fmt_mw(d["facility_power_mw"]))
    s.kpi("facility power (average)", fmt_mw(d["facility_power_avg_mw"]))
    s.kpi("IT power (peak)", fmt_mw(d["it_power_mw"]))
    s.kpi("PUE", f"{d['pue']:g} ({d['pue_preset']})")
    s.kpi("swing over a step", fmt_mw(d["swing"]["swing_mw"]))
    s.kpi("battery for the ramp limit", fmt_mwh(d["battery"]["energy_mwh"]))
    b = d.get("budget")
    if b is not None:
        s.kpi(f"budget {b['budget_mw']:g} MW ({b['basis']})",
              ("fits" if b["fits"] else "DOES NOT FIT") + f"; feeds {b['max_gpus_in_budget']:,} GPUs")
    s.figures.append(figures.power_components(d))
    cm = d["components_mw"]
    s.table("IT power by component", ["component", "peak", "average", "nameplate"],
            [[figures.POWER_LABELS.get(k, k), *(fmt_mw(cm[b][k]) for b in ("peak", "average", "nameplate"))]
             for k in cm["peak"]])
    s.notes += d.get("notes", [])
    return s


def present_cost(d: dict[str, Any]) -> Section:
    s = Section("cost", f"Cost: {d['scenario']}")
    s.kpi("cost of the run", fmt_usd(d["cost_usd"]))
    per = d.get("cost_per_million_tokens_usd")
    s.kpi("per million tokens", fmt_usd(per))
    s.kpi("GPU-hours", fmt_count(d["gpu_hours"]))
    s.kpi("energy", fmt_mwh(d["energy_mwh"]))
    s.kpi("electricity", fmt_usd(d["electricity_usd"]))
    s.kpi("emissions", f"{fmt_num(d['co2_tonnes'], 3)} t CO2")
    s.kpi("run length", f"{d['run_days']:.1f} days")
    s.kpi("goodput", f"{d['goodput']:.3f}")
    s.notes.append(f"run length at goodput {d['goodput']:.3f}: {d.get('goodput_source', '')}")
    if d.get("goodput_warning"):
        s.notes.insert(0, f"warning: {d['goodput_warning']}")
    s.figures.append(figures.cost_parts(d))
    s.table("capital (whole cluster)", ["part", "capital", "charged to this run"],
            [[k, fmt_usd(v), fmt_usd(d["capex_amortized_usd"][k])] for k, v in d["capex_usd"].items()])
    s.notes += d.get("notes", [])
    return s
