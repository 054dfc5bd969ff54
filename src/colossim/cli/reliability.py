"""`colossim reliability SCENARIO.yaml`: failures, checkpoints and restarts over a whole run.

Options come from the scenario's optional ``reliability:`` section; flags override it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer

from colossim.cli.common import (
    JSON_OPTION,
    check_output_path,
    load_planned,
    print_json,
    user_errors,
)
from colossim.errors import ColossimError, field_error

RATE_HELP = "override a class's failures per unit-day, CLASS=VALUE (repeatable), e.g. --rate gpu=2e-4"


def _rate_overrides(rates: list[str] | None) -> dict[str, tuple[str, Any]]:
    out: dict[str, tuple[str, Any]] = {}
    for item in rates or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise field_error("--rate", item, "use CLASS=FAILURES_PER_UNIT_DAY, e.g. gpu=2e-4")
        try:
            number: Any = float(value)
        except ValueError:
            number = value
        out[f"failure_classes.{name.strip()}.rate_per_unit_day"] = (f"--rate {name.strip()}", number)
    return out


def _sizes(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        sizes = tuple(int(float(x)) for x in text.replace(" ", "").split(",") if x)
    except (ValueError, OverflowError):
        raise field_error("--sizes", text, "a comma-separated list of GPU counts, e.g. 1024,16384,200000") from None
    bad = [s for s in sizes if not 1 <= s <= 100_000_000]
    if not sizes or bad:
        raise field_error("--sizes", text, "GPU counts must be integers from 1 to 100 million, e.g. 1024,16384,200000")
    return sizes


def register(app: typer.Typer) -> None:
    @app.command()
    @user_errors
    def reliability(
        scenario: Path = typer.Argument(..., help="scenario YAML file"),
        replications: int | None = typer.Option(None, "--replications", "-n", help="Monte Carlo replications (default 500)"),
        seed: int | None = typer.Option(None, "--seed", help="random seed (default 0; recorded in the output)"),
        json_out: bool = JSON_OPTION,
        plot: Path | None = typer.Option(None, "--plot", help="write a PNG: the timeline of one replication, or ETTR against scale with --sweep-gpus"),
        sweep: bool = typer.Option(False, "--sweep-gpus", help="ETTR and the optimal interval from 1k to 200k GPUs"),
        sizes: str | None = typer.Option(None, "--sizes", help="GPU counts for --sweep-gpus, comma-separated"),
        interval: str | None = typer.Option(None, "--interval", help="checkpoint interval: young, daly, simulate, or minutes"),
        mode: str | None = typer.Option(None, "--mode", help="checkpoint saves: sync or async"),
        failure_preset: str | None = typer.Option(None, "--failure-preset", help="llama3, meta-rsc1, meta-rsc2, opt-175b, bloom-176b"),
        rate: list[str] | None = typer.Option(None, "--rate", help=RATE_HELP),
        rate_scale: float | None = typer.Option(None, "--rate-scale", help="multiply every failure rate"),
        storage: str | None = typer.Option(None, "--storage", help="checkpoint storage preset"),
        save_tbps: float | None = typer.Option(None, "--save-tbps", help="checkpoint save bandwidth, TB/s"),
        load_tbps: float | None = typer.Option(None, "--load-tbps", help="checkpoint load bandwidth, TB/s"),
        recovery: str | None = typer.Option(None, "--recovery", help="recovery preset: meta-llama3, megascale, megatron-2021, manual-ops"),
        spares: int | None = typer.Option(None, "--spares", help="hot spare servers (default: the cluster's idle servers)"),
        when_exhausted: str | None = typer.Option(None, "--when-exhausted", help="no spare left: wait or shrink"),
        run_days: float | None = typer.Option(None, "--run-days", help="failure-free training days (default: from total_tokens)"),
        engine: str = typer.Option("vectorized", "--engine", help="vectorized (fast) or events (event by event)"),
        repair_h: float | None = typer.Option(None, "--repair-h", help="repair turnaround of a failed server, hours"),
        per_run: bool = typer.Option(False, "--per-run", help="with --json: add every replication's figures"),
        target_ettr: float | None = typer.Option(
            None, "--target-ettr", help="solve for what reaches this ETTR: recovery time, checkpoint, spares"),
        technique: str | None = typer.Option(
            None, "--technique", help="recovery technique: baseline, async-checkpoint, in-memory, hot-spare-swap, "
                                      "elastic-dp, or all (with --sweep-gpus: ETTR against scale for each)"),
    ) -> None:
        """Simulate failures, checkpoints and restarts over the whole run: ETTR, days to train, MTTF."""
        from colossim.reliability import analysis
        from colossim.reliability.config import reliability_config

        if engine not in ("vectorized", "events"):
            raise field_error("--engine", engine, "allowed: vectorized, events", choices=["vectorized", "events"])
        overrides: dict[str, tuple[str, Any]] = {
            "replications": ("--replications", replications), "seed": ("--seed", seed),
            "checkpoint.interval": ("--interval", interval), "checkpoint.mode": ("--mode", mode),
            "failure_preset": ("--failure-preset", failure_preset), "rate_scale": ("--rate-scale", rate_scale),
            "checkpoint.storage": ("--storage", storage), "checkpoint.save_tbps": ("--save-tbps", save_tbps),
            "checkpoint.load_tbps": ("--load-tbps", load_tbps), "recovery.preset": ("--recovery", recovery),
            "spares.servers": ("--spares", spares), "spares.when_exhausted": ("--when-exhausted", when_exhausted),
            "run_days": ("--run-days", run_days), "spares.repair_h": ("--repair-h", repair_h),
            **_rate_overrides(rate),
        }
        grid = _sizes(sizes)
        if plot is not None:
            check_output_path(plot, (".png",), "--plot")
        _check_goal(target_ettr, technique)
        sc = load_planned(scenario)
        cfg = reliability_config(sc.sections.get("reliability"), overrides)
        if sweep and technique is not None:
            _technique_sweep(sc, cfg, grid or analysis.DEFAULT_SIZES, technique, target_ettr, plot, json_out)
            return
        if sweep:
            rows = analysis.sweep_gpus(sc, cfg, grid or analysis.DEFAULT_SIZES)
            if plot is not None:
                from colossim.reliability.plot import plot_sweep

                plot_sweep(rows, plot)
            if json_out:
                print_json({"scenario": sc.name, "seed": cfg.seed, "replications": cfg.replications,
                            "policy": rows[0].choice.policy, "sizes": [r.summary() for r in rows],
                            "plot": None if plot is None else str(plot)})
            else:
                _print_sweep(sc.name, rows, plot)
            return
        if grid is not None:
            raise ColossimError("--sizes: only meaningful with --sweep-gpus", field="--sizes", value=sizes)
        result = analysis.analyze(sc, cfg, engine=engine)  # type: ignore[arg-type]
        if plot is not None:
            from colossim.reliability.events import timeline
            from colossim.reliability.plot import plot_timeline

            plot_timeline(result, timeline(result.job, cfg.seed)[1], plot)
        out = result.to_dict(per_run=per_run)
        if target_ettr is not None or technique is not None:
            _add_goal(out, sc, result, target_ettr, technique)
        if json_out:
            out["plot"] = None if plot is None else str(plot)
            print_json(out)
        else:
            _print_result(out, plot)
            if "target" in out or "techniques" in out:
                _print_goal(out)


# ---- --target-ettr and --technique (colossim.reliability.whatif) -------------------------

def _check_goal(target: float | None, technique: str | None) -> None:
    if target is not None and not 0.0 < target < 1.0:
        raise field_error("--target-ettr", target, "give an ETTR between 0 and 1 (exclusive), e.g. 0.9")
    if technique is not None and technique != "all":
        from colossim.reliability.techniques import technique_names

        names = technique_names()
        if technique.lower() not in names:
            raise field_error("--technique", technique, f"allowed: {', '.join(names)}, all", choices=[*names, "all"])


def _step_s(sc: Any) -> float:
    from colossim.perf.estimate import estimate

    return float(estimate(sc).step_time_s)


def _add_goal(out: dict[str, Any], sc: Any, result: Any, target: float | None, technique: str | None) -> None:
    from colossim.reliability import whatif

    out.update(whatif.goal(result.job, target, technique, _step_s(sc), result.seed))


def _technique_sweep(sc: Any, cfg: Any, sizes: tuple[int, ...], technique: str, target: float | None,
                     plot: Path | None, json_out: bool) -> None:
    from colossim.reliability import whatif
    from colossim.reliability.job import build_job
    from colossim.reliability.techniques import technique_names

    names = technique_names() if technique == "all" else list(dict.fromkeys(["baseline", technique.lower()]))
    job = build_job(sc, cfg)
    ettr = whatif.technique_sweep(job, sizes, names, _step_s(sc))
    if plot is not None:
        from colossim.reliability.plot import plot_techniques

        plot_techniques(sizes, ettr, plot, target)
    if json_out:
        print_json({"scenario": sc.name, "sizes": list(sizes), "techniques": ettr, "target_ettr": target,
                    "model": whatif.sources(job)["model"], "plot": None if plot is None else str(plot)})
        return
    from colossim.report.text import table as titled_table

    con = _console()
    table = titled_table(f"{sc.name}: ETTR against scale by recovery technique (analytic model)")
    table.add_column("GPUs", justify="right")
    for n in names:
        table.add_column(n, justify="right")
    for i, size in enumerate(sizes):
        table.add_row(f"{size:,}", *(f"{ettr[n][i]:.3f}" for n in names))
    con.print(table)
    if plot is not None:
        con.print(f"ETTR against scale by technique written to {plot}")


def _print_goal(d: dict[str, Any]) -> None:
    from colossim.report.text import fields
    from colossim.report.text import table as titled_table

    con = _console()
    t = d.get("target")
    if t is not None:
        a, c = t["alone"], t["combined"]
        con.print()
        con.print(f"[bold]what it takes to reach ETTR {t['ettr']:g}[/bold] at {t['gpus']:,} GPUs "
                  f"(technique {t['technique']}; analytic model {t['baseline_ettr']:.3f} now): {t['message']}")

        def s(x: float | None, unit: str = "s") -> str:
            return "not alone" if x is None else f"{x:,.1f} {unit}"

        now = a["baseline"]
        recovery = (f"detect + restart <= {s(a['max_recovery_s'])}" if a["max_recovery_s"] is not None
                    else "no detect + restart time is enough alone")
        save = (f"checkpoint pause <= {s(a['checkpoint_save_s'])} every {s(a['checkpoint_interval_s'])}"
                if a["checkpoint_save_s"] is not None else "no checkpoint speed is enough alone")
        spares = (f"hot spares >= {a['hot_spare_servers']:,}" if a["hot_spare_servers"] is not None
                  else "no number of hot spares is enough alone")
        alone = (f"{recovery} (now {now['detect_restart_s']:,.0f} s); {save} (now {now['checkpoint_save_s']:.1f} s); "
                 f"{spares} (now {now['hot_spare_servers']:,})")
        if c["reachable"]:
            sim = c.get("simulated_ettr")
            combined = (f"detect + restart {c['detect_restart_s']:,.0f} s, checkpoint pause "
                        f"{s(c['checkpoint_save_s'])} every {s(c['checkpoint_interval_s'])}, "
                        f"{c['hot_spare_servers']:,} hot spares: ETTR {c['ettr']:.3f}"
                        + ("" if sim is None else f" (Monte Carlo: {sim:.3f})"))
        else:
            combined = f"not reachable, the best is {t['best_ettr']:.3f}"
        con.print(fields([("each alone", alone), ("combined", combined)]))
    rows = t["techniques"] if t is not None else d.get("techniques", [])
    if rows:
        table = titled_table("recovery techniques at this scale (analytic model)")
        for col in ("technique", "ETTR", "rollback", "recovery", "save pause", "source"):
            left = col in ("technique", "rollback", "source")
            table.add_column(col, justify="left" if left else "right", overflow="fold", no_wrap=not left)
        for r in rows:
            pause = r["checkpoint_pause_s"]
            table.add_row(r["technique"], f"{r['ettr']:.3f}", r["rollback"], f"{r['recovery_s']:,.0f} s",
                          "-" if pause is None else f"{pause:.2f} s", _short_source(r["source"]))
        con.print(table)


# ---- human reports (rich, imported lazily) ----------------------------------------------

def _short_source(source: str) -> str:
    """A citation's name, without what follows it in parentheses or after a colon (``--json``
    keeps the whole source): "Wang et al., Gemini: Fast Failure ..." -> "Wang et al., Gemini"."""
    return re.split(r" \(|: ", source, maxsplit=1)[0]


def _console() -> Any:
    from colossim.report.text import console

    return console()


def _row(s: dict[str, Any], fmt: str) -> list[str]:
    return [("-" if s.get(k) is None else format(s[k], fmt)) for k in ("mean", "p10", "p50", "p90")]


def _print_result(d: dict[str, Any], plot: Path | None) -> None:
    from colossim.report.present import fmt_count, fmt_num
    from colossim.report.text import fields
    from colossim.report.text import table as titled_table

    con = _console()
    ck, rec, sp = d["checkpoint"], d["recovery"], d["spares"]
    if d.get("warning"):
        con.print(f"[bold red]warning:[/bold red] {d['warning']}")
    con.print(f"[bold]{d['scenario']}[/bold]: {d['gpus']:,} GPUs on {d['servers']:,} servers, "
              f"{d['ideal_days']:.1f} failure-free days; {d['replications']} replications, seed {d['seed']} ({d['engine']})")
    con.print(fields([
        ("failures", f"preset {d['failure_preset']}: {d['interruptions_per_day']['expected']:.2f} unexpected "
                     f"interruptions/day expected (MTTF {d['job_mttf_h']['expected']:.2f} h), "
                     f"{d['planned_per_day']['expected']:.2f} planned/day"),
        ("checkpoint", f"{ck['size_tb']:.2f} TB, {ck['mode']}: save {ck['save_s']:.1f} s (pause {ck['blocking_s']:.1f} s), "
                       f"load {ck['load_s']:.1f} s, every {ck['interval_min']:.2f} min ({ck['policy']}; Young "
                       f"{_opt(ck['young_interval_min'])}, Daly {_opt(ck['daly_interval_min'])} min)"),
        ("recovery", f"{rec['preset']}: detect {rec['detect_s']:.0f} s + restart {rec['restart_s']:.0f} s + "
                     f"communicator init {rec['comm_init_s']:.0f} s + reload {rec['reload_s']:.1f} s = "
                     f"{rec['total_s'] / 60:.1f} min"),
        ("spares", f"{sp['servers']:,} hot spare servers, then {sp['when_exhausted']}; stragglers: "
                   f"{d['stragglers']['probability']:.0%} chance of a slow server ({d['stragglers']['slowdown']:.3f}x)")]))
    con.print()
    table = titled_table("over the whole run")
    for col in ("metric", "mean", "P10", "P50", "P90"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    table.add_row("ETTR", *_row(d["ettr"], ".3f"))
    table.add_row("goodput (incl. stragglers)", *_row(d["goodput"], ".3f"))
    table.add_row("days to train", *_row(d["days_to_train"], ".2f"))
    table.add_row("unexpected interruptions/day", *_row(d["interruptions_per_day"], ".2f"))
    table.add_row("job MTTF (h)", *_row(d["job_mttf_h"], ".2f"))
    con.print(table)
    lost = d["lost_gpu_hours"]
    causes = titled_table(f"lost GPU-hours per run by cause (mean; total {fmt_count(lost['total'])}; rate: "
                         "failures per million unit-days)")
    for col in ("cause", "unit", "rate", "per day", "per run", "GPU-hours", "share"):
        left = col in ("cause", "unit")
        causes.add_column(col, justify="left" if left else "right")
    for r in d["rates"]:
        gh = lost["by_cause"][r["class"]]
        causes.add_row(r["class"], f"{r['units']:,.0f} {r['unit']}", fmt_num(r["rate_per_unit_day"] * 1e6),
                       f"{r['job_rate_per_day']:.2f}", f"{r['interruptions_per_run']:,.1f}", fmt_count(gh),
                       f"{gh / lost['total']:.1%}" if lost["total"] else "-")
    for name in ("checkpoint", "stragglers", "shrink"):
        gh = lost["by_cause"][name]
        if gh:
            causes.add_row(name, "", "", "", "", fmt_count(gh), f"{gh / lost['total']:.1%}" if lost["total"] else "-")
    con.print(causes)
    share = titled_table("where the wall-clock time goes")
    share.add_column("time")
    share.add_column("share", justify="right")
    for k in ("kept", "lost", "checkpoint", "detect", "spare_wait", "restart", "reload", "planned_save"):
        share.add_row(k.replace("_", " "), f"{d['time_share'][k]:.2%}")
    con.print(share)
    for note in d["notes"]:
        con.print(f"note: {note}")
    if plot is not None:
        con.print(f"timeline of replication 0 written to {plot}")


def _opt(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def _print_sweep(name: str, rows: list[Any], plot: Path | None) -> None:
    from rich.table import Table


    con = _console()
    first = rows[0]
    con.print(f"[bold]{name}[/bold]: the same job from {rows[0].job.gpus:,} to {rows[-1].job.gpus:,} GPUs "
              f"({first.runs.replications} replications each, seed {first.seed}, interval policy {first.choice.policy})")
    from rich import box

    summaries = [r.summary() for r in rows]
    # a light box, and the finished share only where some replication did not finish: ten
    # columns fit an 80-column terminal without cutting a number
    unfinished = any(s["finished_fraction"] < 1.0 for s in summaries)
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False, show_edge=False)
    cols = ["GPUs", "intr/day", "MTTF h", "ckpt min", "ETTR", "P10", "P90", "goodput", "days"]
    for col in cols + (["finished"] if unfinished else []):
        table.add_column(col, justify="right", no_wrap=col in ("GPUs",))
    for s in summaries:
        days = s["days_to_train"]["mean"]
        cells = [f"{s['gpus']:,}", f"{s['interruptions_per_day']['mean']:.2f}",
                 f"{s['job_mttf_h']['expected']:.2f}", f"{s['checkpoint_interval_min']:.2f}",
                 f"{s['ettr']['mean']:.3f}", f"{s['ettr']['p10']:.3f}", f"{s['ettr']['p90']:.3f}",
                 f"{s['goodput']['mean']:.3f}", "-" if days is None else f"{days:.1f}"]
        table.add_row(*cells, *([f"{s['finished_fraction']:.0%}"] if unfinished else []))
    con.print(table)
    con.print("throughput per GPU, spare share and storage bandwidth are held fixed across sizes")
    if plot is not None:
        con.print(f"ETTR against scale written to {plot}")
