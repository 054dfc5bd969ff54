"""`colossim buildout SCENARIO.yaml`: the cluster's build-out day by day, and when training starts.

Reads the scenario's ``buildout:`` section (docs/buildout.md); flags override a few fields.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from colossim.cli.common import JSON_OPTION, print_json, scenario_path, user_errors
from colossim.errors import field_error


def register(app: typer.Typer) -> None:
    @app.command()
    @user_errors
    def buildout(
        scenario: Path = typer.Argument(..., help="scenario YAML file with a buildout: section"),
        json_out: bool = JSON_OPTION,
        plot: Path | None = typer.Option(None, "--plot", help="write a PNG/SVG/PDF: GPUs, MW and tokens by day"),
        day: int | None = typer.Option(None, "--day", help="report tokens trained by this day (default 122)"),
        compare: list[Path] | None = typer.Option(None, "--compare", help="another scenario to run side by side (repeatable)"),
        power_mw_per_month: float | None = typer.Option(
            None, "--power-mw-per-month", help="replace the grid schedule by a ramp of this many MW per month"),
        start: str | None = typer.Option(None, "--start", help="ready (train on what is ready) or full (wait)"),
        pod_order: str | None = typer.Option(None, "--pod-order", help="sequential or interleaved"),
        target_tokens: float | None = typer.Option(None, "--target-tokens", help="for the pod-order question (default: tokens by --day)"),
        every: int = typer.Option(7, "--every", help="table: one row every N days (plus every change)"),
    ) -> None:
        """Delivery, install, burn-in, pods, power and a growing job: first training day, full scale, tokens by day."""
        from colossim.api import load_scenario
        from colossim.buildout import questions

        if every < 1:
            raise field_error("--every", every, "give a positive number of days")
        from colossim import gate

        gate.check_field("training.total_tokens", target_tokens, "--target-tokens")
        changes: dict[str, Any] = {}
        if day is not None:
            if day < 0:
                raise field_error("--day", day, "give a day number >= 0")
            changes["report_day"] = day
        if start is not None:
            changes["training.start"] = _choice("--start", start, ("ready", "full"))
        if pod_order is not None:
            changes["network.pod_order"] = _choice("--pod-order", pod_order, questions.POD_ORDERS)
        if plot is not None:
            from colossim.energy.plot import check_plot_path

            check_plot_path(plot)

        sc = load_scenario(scenario_path(scenario))
        others = [load_scenario(scenario_path(p)) for p in compare or []]
        out, results = questions.buildout_report(sc, changes, power_mw_per_month=power_mw_per_month,
                                                 target_tokens=target_tokens, others=others)
        if plot is not None:
            from colossim.buildout.plot import plot_buildout

            plot_buildout(results, plot)
        out["plot"] = None if plot is None else str(plot)
        if json_out:
            print_json(out)
        else:
            _print(out, every)


def _choice(flag: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise field_error(flag, value, f"allowed: {', '.join(allowed)}", choices=allowed)
    return value


# ---- the human report (rich, imported lazily) --------------------------------------------

def _shown_rows(out: dict[str, Any], every: int) -> list[dict[str, Any]]:
    rows = out["timeline"]
    keep = {0, len(rows) - 1, out["report_day"]}
    keep |= {s["day"] for s in out["steps"]}
    keep |= {d for d in (out["first_training_day"], out["full_scale_day"]) if d is not None}
    keep |= set(range(0, len(rows), every))
    keep |= {i for i in range(1, len(rows)) if rows[i]["bottleneck"] != rows[i - 1]["bottleneck"]}
    return [rows[i] for i in sorted(keep) if i < len(rows)]


def _print(out: dict[str, Any], every: int) -> None:
    from colossim.report.present import fmt_count
    from colossim.report.text import console, fields
    from colossim.report.text import table as titled_table

    con = console()

    def when(key: str) -> str:
        day, date = out[key], out.get(key.replace("_day", "_date"))
        return "never" if day is None else f"day {day}" + (f" ({date})" if date else "")

    con.print(f"[bold]{out['scenario']}[/bold]: {out['cluster_gpus']:,} GPUs")
    s = out["searches"]
    con.print(fields([
        ("first training day", when("first_training_day")),
        ("full scale", f"{when('full_scale_day')} ({out['full_scale_gpus']:,} GPUs in the job)"),
        (f"tokens by day {out['report_day']}", fmt_count(out["tokens_by_day"])),
        ("re-plans", f"{len(out['steps'])} ({s['count']} searches in {s['seconds']:.2f} s, "
                     f"fixed {', '.join(f'{k}={v}' for k, v in s['fixed'].items())})")]))
    table = titled_table("day by day")
    # (header, cell); a terminal under 110 columns gets the columns that carry the story, as
    # compact counts (the JSON keeps every column in full)
    wide = con.width >= 110
    gpus = (lambda n: f"{n:,}") if wide else fmt_count
    cols = [("day", lambda r: str(r["day"])), ("delivered", lambda r: gpus(r["gpus_delivered"])),
            ("installed", lambda r: gpus(r["gpus_installed"])), ("burned in", lambda r: gpus(r["gpus_burned_in"])),
            ("ready", lambda r: gpus(r["gpus_ready"])), ("training", lambda r: gpus(r["gpus_training"])),
            ("idle", lambda r: gpus(r["gpus_idle"])), ("supply MW", lambda r: f"{r['power_available_mw']:.1f}"),
            ("facility MW", lambda r: f"{r['facility_mw']:.1f}"), ("tokens", lambda r: fmt_count(r["tokens_trained"])),
            ("bottleneck", lambda r: str(r["bottleneck"]))]
    if not wide:
        short = {"installed": "installed", "burned in": "burned", "training": "training", "facility MW": "MW"}
        cols = [(short.get(n, n), c) for n, c in cols if n not in ("delivered", "ready", "supply MW")]
    for name, _ in cols:
        table.add_column(name, justify="left" if name == "bottleneck" else "right", no_wrap=True)
    for r in _shown_rows(out, every):
        table.add_row(*(cell(r) for _, cell in cols))
    con.print(table)
    steps = titled_table("growth steps (each re-planned by the search)")
    for c in ("day", "from", "to", "plan", "tokens/s", "ETTR", "restart + reshard"):
        steps.add_column(c, justify="left" if c == "plan" else "right")
    for st in out["steps"]:
        p = st["plan"]
        steps.add_row(str(st["day"]), f"{st['gpus_from']:,}", f"{st['gpus_to']:,}",
                      f"tp{p['tp']} pp{p['pp']} dp{p['dp']} cp{p['cp']} ep{p['ep']}", fmt_count(st["tokens_per_s"]),
                      f"{st['ettr']:.3f}", f"{st['cost_s'] / 60:.1f} min")
    con.print(steps)
    ph = titled_table("facility power by phase")
    for c in ("days", "GPUs", "mean MW", "jump at start MW", "step swing MW", "battery MWh / MW", "on site enough"):
        ph.add_column(c, justify="right")
    for p in out["power_phases"]:
        ph.add_row(f"{p['start_day']}-{p['end_day']}", f"{p['gpus']:,}", f"{p['facility_mw_mean']:.1f}",
                   f"{p['step_change_mw']:+.1f}", f"{p['swing_mw']:.1f}",
                   f"{p['battery_mwh']:.2f} / {p['battery_mw']:.1f}", "yes" if p["battery_enough"] else "no")
    con.print(ph)
    q = out["questions"]
    w = q["wait_vs_ready"]
    con.print(f"waiting for the whole cluster: first training day {w['wait_for_full']['first_training_day']}, "
              f"{fmt_count(w['wait_for_full']['tokens_by_day'])} tokens by day {w['report_day']} against "
              f"{fmt_count(w['ready']['tokens_by_day'])} training on what is ready: "
              f"{fmt_count(w['tokens_lost_by_waiting'])} tokens lost")
    po = q["pod_order"]
    parts = [f"{k} " + ("never" if v["day_reaching_target"] is None else f"day {v['day_reaching_target']:.2f}")
             for k, v in po["orders"].items()]
    con.print(f"pod order to reach {fmt_count(po['target_tokens'])} tokens: {', '.join(parts)} "
              f"(first: {po['first'] or 'neither'})")
    if "power_ramp" in q:
        con.print(f"power at {q['power_ramp']['mw_per_month']:g} MW/month: full scale "
                  f"{'never' if q['power_ramp']['full_scale_day'] is None else 'on day ' + str(q['power_ramp']['full_scale_day'])}")
    if "compare" in out:
        cmp = titled_table("side by side")
        for c in ("scenario", "GPUs", "first training", "full scale", "tokens by report day", "peak MW", "re-plans"):
            cmp.add_column(c, justify="left" if c == "scenario" else "right")
        for r in out["compare"]:
            cmp.add_row(r["scenario"], f"{r['cluster_gpus']:,}", str(r["first_training_day"]),
                        str(r["full_scale_day"]), fmt_count(r["tokens_by_day"]) + f" (day {r['report_day']})",
                        f"{r['peak_facility_mw']:.1f}", str(r["steps"]))
        con.print(cmp)
    for note in out["notes"]:
        con.print(f"note: {note}")
    if out["plot"]:
        con.print(f"plot written to {out['plot']}")
