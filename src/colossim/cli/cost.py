"""`colossim cost SCENARIO.yaml`: GPU-hours, energy, electricity, emissions and capital of a run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from colossim.cli.common import JSON_OPTION, print_json, user_errors
from colossim.cli.power import PUE_OPTION, load_power


def register(app: typer.Typer) -> None:
    @app.command()
    @user_errors
    def cost(
        scenario: Path = typer.Argument(..., help="scenario YAML file"),
        electricity: str = typer.Option(None, "--electricity", help="price preset: us-industrial (default), tennessee, ..."),
        usd_per_kwh: float = typer.Option(None, "--usd-per-kwh", help="electricity price, USD/kWh (overrides the preset)"),
        grid: str = typer.Option(None, "--grid", help="carbon preset: us-average (default), tva, gas-turbine"),
        g_co2_per_kwh: float = typer.Option(None, "--g-co2-per-kwh", help="grid intensity, g CO2/kWh (overrides the preset)"),
        total_tokens: float = typer.Option(None, "--total-tokens", help="tokens of the run (default: training.total_tokens)"),
        gpu_hours: float = typer.Option(None, "--gpu-hours", help="run length as GPU-hours of the plan's GPUs (published runs)"),
        goodput: float = typer.Option(None, "--goodput", help="useful fraction of wall time, (0, 1]"),
        gpu_price_usd: float = typer.Option(None, "--gpu-price-usd", help="price per GPU (default: catalog estimate)"),
        no_capex: bool = typer.Option(False, "--no-capex", help="leave capital cost out of the total"),
        pue: str = PUE_OPTION,
        json_out: bool = JSON_OPTION,
    ) -> None:
        """The whole run: GPU-hours, energy (MWh), electricity cost, CO2, amortized capital, cost per million tokens."""
        from colossim.energy import presets
        from colossim.energy.cost import cost_report
        from colossim.energy.options import cost_options

        if electricity is not None:
            presets.price_preset(electricity, "--electricity")
        if grid is not None:
            presets.grid_preset(grid, "--grid")
        if gpu_hours is not None:
            from colossim import gate

            gate.check_number("--gpu-hours", gpu_hours, 1e-3, 1e13, "GPU-hours of the run: 0.001 to 1e13")
        sc, power = load_power(scenario, pue=("--pue", pue))
        opts = cost_options(
            sc.sections, electricity=("--electricity", electricity), usd_per_kwh=("--usd-per-kwh", usd_per_kwh),
            grid=("--grid", grid), g_co2_per_kwh=("--g-co2-per-kwh", g_co2_per_kwh),
            total_tokens=("--total-tokens", total_tokens), goodput=("--goodput", goodput),
            gpu_price_usd=("--gpu-price-usd", gpu_price_usd), include_capex=("--no-capex", False if no_capex else None),
        )
        report = cost_report(sc, power, opts, gpu_hours=gpu_hours)
        out = report.to_dict()
        out["it_power_mw"] = power.it_w["peak"] / 1e6
        out["facility_power_mw"] = power.facility_w("peak") / 1e6
        if json_out:
            print_json(out)
            return
        print_cost(out)


def _usd(x: float) -> str:
    for unit, scale in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= scale:
            return f"${x / scale:,.2f}{unit}"
    return f"${x:,.2f}"


def print_cost(d: dict[str, Any]) -> None:
    from rich.table import Table

    from colossim.report.present import fmt_count, fmt_mw, fmt_mwh, fmt_num
    from colossim.report.text import console, fields
    from colossim.report.text import table as titled_table

    con = console()
    if d.get("goodput_warning"):
        con.print(f"[bold red]warning:[/bold red] {d['goodput_warning']}")
    con.print(f"[bold]{d['scenario']}[/bold]")
    basis = d["basis"]
    if d.get("tokens_per_s") and d.get("total_tokens"):  # the count as a reader says it: 15.00T, not 15 digits
        basis = (f"{fmt_count(d['total_tokens'])} tokens at {d['tokens_per_s']:,.0f} tokens/s, "
                 f"goodput {d['goodput']:.3f} ({d['goodput_source']})")
    con.print(fields([("run", f"{basis}: {d['run_days']:.1f} days on {d['gpus_used']:,} of {d['num_gpus']:,} GPUs")]))
    con.print()
    t = Table(show_header=False, box=None, pad_edge=False)
    t.add_row("GPU-hours", f"{fmt_count(d['gpu_hours'])} ({fmt_count(d['cluster_gpu_hours'])} for the whole cluster)")
    t.add_row("facility power", f"{fmt_mw(d['facility_power_avg_mw'])} average, {fmt_mw(d['facility_power_mw'])} peak")
    t.add_row("energy", f"{fmt_mwh(d['energy_mwh'])} facility ({fmt_mwh(d['it_energy_mwh'])} IT)"
              + (f", {d['energy_per_token_j']:.2f} J per token" if d["energy_per_token_j"] else ""))
    t.add_row("electricity", f"{_usd(d['electricity_usd'])} at ${d['usd_per_kwh']:.4f}/kWh ({d['price_preset']})")
    t.add_row("emissions", f"{fmt_num(d['co2_tonnes'], 3)} t CO2 at {d['g_co2_per_kwh']:g} g/kWh "
                           f"({d['grid_preset']}, location-based)")
    con.print(t)
    con.print()
    cap = titled_table("capital (whole cluster)")
    for col in ("part", "capital", "charged to this run"):
        cap.add_column(col, justify="left" if col == "part" else "right")
    for part, value in d["capex_usd"].items():
        cap.add_row(part, _usd(value), _usd(d["capex_amortized_usd"][part]))
    cap.add_row("[bold]total[/bold]", _usd(d["capex_total_usd"]), _usd(sum(d["capex_amortized_usd"].values())))
    con.print(cap)
    life = d["lifetime_years"]
    con.print(f"  amortized straight-line: hardware over {life['hardware']:g} years, facility over {life['facility']:g} years"
              + ("" if d["include_capex"] else " (left out of the total: --no-capex)"))
    per = d["cost_per_million_tokens_usd"]
    con.print(f"[bold]cost of the run: {_usd(d['cost_usd'])}[/bold]"
              + (f", {_usd(per)} per million tokens" if per is not None else ""))
    b = d["energy_bounds_mwh"]
    con.print(f"energy bounds for these GPU-hours: GPUs at TDP only {fmt_mwh(b['gpus_at_tdp'])}; servers at their rating "
              f"{fmt_mwh(b['servers_at_rating'])} IT, {fmt_mwh(b['servers_at_rating_with_pue'])} with PUE")
    for note in d["notes"]:
        con.print(f"note: {note}")
