"""`colossim power SCENARIO.yaml`: what the plan draws, over time, and against a site budget."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from colossim.cli.common import (
    JSON_OPTION,
    PLOT_SUFFIXES,
    check_output_path,
    load_planned,
    print_json,
    user_errors,
)
from colossim.report.present import fmt_mw, fmt_mwh

BUDGET_OPTION = typer.Option(None, "--budget-mw", help="site budget, MW of facility power: does the plan fit, "
                                                       "and how many GPUs would")
PUE_OPTION = typer.Option(None, "--pue", help="PUE: a number >= 1 or a preset (air, liquid, new-large, hyperscale); "
                                              "default from cluster.cooling")


def load_power(scenario: Path, **flags: tuple[str, Any]) -> tuple[Any, Any]:
    """The scenario and its power report, with ``power:`` options and command-line flags."""
    from colossim.energy.options import power_options
    from colossim.energy.site import power_report

    sc = load_planned(scenario)
    flag, pue = flags.pop("pue", ("--pue", None))
    if pue is not None:
        from colossim.energy.power import resolve_pue

        resolve_pue(_number_or_name(pue), sc.cluster.cooling, field=flag)  # a clear error naming the flag
        flags["pue"] = (flag, _number_or_name(pue))
    opts = power_options(sc.sections, **flags)
    return sc, power_report(sc, opts)


def _number_or_name(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


def register(app: typer.Typer) -> None:
    @app.command()
    @user_errors
    def power(
        scenario: Path = typer.Argument(..., help="scenario YAML file"),
        budget_mw: float = BUDGET_OPTION,
        basis: str = typer.Option(None, "--basis", help="what must fit the budget: peak (default), average, nameplate"),
        pue: str = PUE_OPTION,
        ramp_mw_per_min: float = typer.Option(None, "--ramp-mw-per-min", help="grid ramp limit for the battery sizing"),
        checkpoint_stall_s: float = typer.Option(None, "--checkpoint-stall-s", help="blocking checkpoint write, s"),
        restart_s: float = typer.Option(None, "--restart-s", help="restart after a failure (job down), s"),
        plot: Path = typer.Option(None, "--plot", help="write the power-over-time figure (.png, .svg, .pdf)"),
        json_out: bool = JSON_OPTION,
    ) -> None:
        """IT and facility power per component, the swing over a step, the battery for a ramp limit,
        and whether a site budget feeds the plan (and how many GPUs it would feed)."""
        if plot is not None:
            check_output_path(plot, PLOT_SUFFIXES, "--plot")
        sc, report = load_power(
            scenario, budget_mw=("--budget-mw", budget_mw), budget_basis=("--basis", basis), pue=("--pue", pue),
            ramp_mw_per_min=("--ramp-mw-per-min", ramp_mw_per_min),
            checkpoint_stall_s=("--checkpoint-stall-s", checkpoint_stall_s), restart_s=("--restart-s", restart_s),
        )
        written = None
        if plot is not None:
            from colossim.energy.plot import plot_power

            written = plot_power(report, plot)
        if json_out:
            out = report.to_dict()
            out["plot"] = None if written is None else str(written)
            print_json(out)
            return
        print_power(report)
        if written is not None:
            print(f"plot: {written}")


def print_power(report: Any) -> None:
    from colossim.report.text import console, fields
    from colossim.report.text import table as titled_table

    d = report.to_dict()
    con = console()
    srv = d["server_kw"]
    con.print(f"[bold]{d['scenario']}[/bold]")
    con.print(fields([("cluster", f"{d['num_gpus']:,} x {d['gpu']} in {srv['design']} servers of "
                                  f"{srv['gpus_per_server']}, PUE {d['pue']:g} ({d['pue_preset']}); the plan uses "
                                  f"{d['gpus_used']:,} GPUs ({d['gpus_idle']:,} idle)")]))
    con.print()
    head = titled_table("power")
    for col in ("", "peak", "average", "nameplate"):
        head.add_column(col, justify="left" if not col else "right")
    head.add_row("IT", *(fmt_mw(d[k]) for k in ("it_power_mw", "it_power_avg_mw", "it_power_nameplate_mw")))
    head.add_row("facility", *(fmt_mw(d[k]) for k in ("facility_power_mw", "facility_power_avg_mw",
                                                    "facility_power_nameplate_mw")))
    head.add_row("per server (kW)", *(f"{srv[k]:.2f}" for k in ("peak", "average", "nameplate")))
    head.add_row("per GPU, facility (W)", *(f"{d['facility_w_per_gpu'][k]:,.0f}" for k in ("peak", "average", "nameplate")))
    head.add_row("GPU draw (W)", f"{d['gpu_power_w']['peak']:.0f}", f"{d['gpu_power_w']['average']:.0f}",
                 f"{report.model.tdp_w:.0f}")
    con.print(head)
    comp = titled_table("by component")
    for col in ("component", "peak", "average", "nameplate"):
        comp.add_column(col, justify="left" if col == "component" else "right")
    labels = {"gpus": "GPUs", "servers": "servers (CPU, memory, NVSwitch, fans, PSU)", "nics": "NICs + their optics",
              "switches": f"switches ({d['network']['switches']:,})", "switch_optics": "switch optics", "storage": "storage"}
    cm = d["components_mw"]
    for key, label in labels.items():
        comp.add_row(label, *(fmt_mw(cm[b][key]) for b in ("peak", "average", "nameplate")))
    it = {b: sum(cm[b].values()) for b in cm}
    comp.add_row("cooling and distribution (PUE - 1)", *(fmt_mw(it[b] * (d['pue'] - 1)) for b in ("peak", "average", "nameplate")))
    comp.add_row("[bold]facility[/bold]", *(f"[bold]{fmt_mw(it[b] * d['pue'])}[/bold]" for b in ("peak", "average", "nameplate")))
    con.print(comp)
    sw, ev, bat = d["swing"], d["events"], d["battery"]
    con.print(f"over time: {fmt_mw(sw['swing_mw'])} swing every {sw['period_s']:.2f} s step "
              f"({fmt_mw(sw['trough_mw'])} to {fmt_mw(sw['peak_mw'])}); a {ev['checkpoint_stall_s']:g} s checkpoint stall dips "
              f"{fmt_mw(ev['checkpoint_dip_mw'])}, a restart {fmt_mw(ev['restart_dip_mw'])}")
    con.print(f"battery to hold the grid within {bat['ramp_limit_mw_per_min']:g} MW/min: "
              f"{fmt_mwh(bat['energy_mwh'])}, {fmt_mw(bat['power_mw'])} (~{bat['units']} x {bat['unit']})")
    b = d["budget"]
    if b is not None:
        verdict = "[green]fits[/green]" if b["fits"] else "[red]DOES NOT FIT[/red]"
        con.print(f"budget {b['budget_mw']:g} MW ({b['basis']}): {verdict}; the plan needs "
                  f"{fmt_mw(b['needs_mw'])} ({b['ratio']:.2f}x the budget)")
        con.print(f"  {b['budget_mw']:g} MW feeds at most {b['max_gpus_in_budget']:,} {d['gpu']} "
                  f"({b['max_servers_in_budget']:,} servers, {b['facility_w_per_gpu']:,.0f} W per GPU before the network); "
                  f"{d['num_gpus']:,} GPUs at TDP alone draw {fmt_mw(b['gpus_at_tdp_only_mw'])}")
        if b["fabric_limited"]:
            con.print(f"  (the largest {b['fabric_tiers_at_max']}-tier fabric of this switch: the budget would feed "
                      "more GPUs than it can connect)")
        elif b["fabric_tiers_at_max"] != b["fabric_tiers"]:
            con.print(f"  (that many GPUs need a {b['fabric_tiers_at_max']}-tier fabric of the same switch, "
                      f"not the scenario's {b['fabric_tiers']}; its switches are counted)")
    unverified = [f["name"] for f in d["figures"] if not f["verified"]]
    if unverified:
        con.print(f"unverified figures in use (see --json figures, docs/energy.md): {', '.join(unverified)}")
    for note in d["notes"]:
        con.print(f"note: {note}")
