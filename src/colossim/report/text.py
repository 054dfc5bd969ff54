"""Terminal reports with rich (imported only by the CLI)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from colossim.perf.estimate import Estimate
from colossim.report.present import fmt_count, fmt_time
from colossim.scenario import Scenario


def console(width: int = 140) -> Console:
    """The one terminal console every command report prints to."""
    return Console(highlight=False, soft_wrap=False, width=width)


def print_estimate(sc: Scenario, est: Estimate) -> None:
    con = console()
    m, c, t, p = sc.model, sc.cluster, sc.training, est.plan
    con.print(f"[bold]{sc.name}[/bold]")
    con.print(f"  model    {m.name}: {fmt_count(m.total_params(t.seq_len))} params"
              + (f" ({fmt_count(m.active_params(t.seq_len))} active)" if m.moe else "")
              + f", {m.num_layers} layers, hidden {m.hidden_size}")
    con.print(f"  cluster  {c.name}: {c.num_gpus:,} x {c.gpu}, {c.gpus_per_node} per NVLink domain, "
              f"{c.nic_gbps_per_gpu:g} Gb/s per GPU, {c.fabric.tiers}-tier {c.fabric.switch} ({c.fabric.routing})")
    con.print(f"  plan     tp={p['tp']} pp={p['pp']} dp={p['dp']} cp={p['cp']} ep={p['ep']} vpp={p['vpp']} "
              f"sp={'on' if p['sequence_parallel'] else 'off'}, micro-batch {p['micro_batch_size']} "
              f"x {est.num_micro_batches}, recompute {p['recompute']}, ZeRO-{p['zero_stage']}, {t.precision}"
              + (f", schedule {p['schedule']}" if p.get("schedule", "1f1b") != "1f1b" else ""))
    con.print(f"  batch    {t.global_batch_size:,} x {t.seq_len:,} = {est.tokens_per_step:,} tokens per step")
    con.print()
    head = Table(show_header=False, box=None, pad_edge=False)
    head.add_row("step time", fmt_time(est.step_time_s))
    head.add_row("throughput", f"{est.tokens_per_s:,.0f} tokens/s")
    head.add_row("MFU / HFU", f"{est.mfu:.1%} / {est.hfu:.1%}")
    head.add_row("model TFLOP/s per GPU", f"{est.model_tflops_per_gpu:.1f}")
    fits = "fits" if est.fits_in_memory else f"DOES NOT FIT: {est.memory_per_gpu_gb - est.hbm_per_gpu_gb:.1f} GB over"
    head.add_row("memory per GPU", f"{est.memory_per_gpu_gb:.1f} of {est.hbm_per_gpu_gb:.1f} GB ({fits})")
    head.add_row("GPUs used", f"{est.gpus_used:,} ({est.gpus_idle:,} idle)")
    if est.time_to_train_days is not None:
        head.add_row("time to train", f"{est.time_to_train_days:.1f} days for {t.total_tokens:.3g} tokens")
    con.print(head)
    con.print()
    table = Table(title="step time breakdown (slowest pipeline stage)", title_justify="left")
    table.add_column("term")
    table.add_column("time", justify="right")
    table.add_column("share", justify="right")
    for name, value in est.breakdown_s.items():
        table.add_row(name.replace("_", " "), fmt_time(value), f"{value / est.step_time_s:.1%}")
    mem = Table(title="memory per GPU (fullest stage)", title_justify="left")
    mem.add_column("part")
    mem.add_column("GB", justify="right")
    for name, value in est.memory_breakdown_gb.items():
        mem.add_row(name.replace("_", " "), f"{value:.2f}")
    con.print(table)
    con.print(mem)
    con.print(f"dominant overhead: {est.dominant_overhead.replace('_', ' ')}")
    for note in est.notes:
        con.print(f"note: {note}")


def print_validation(rows: list[Any], summary: dict[str, Any]) -> None:
    con = console()
    table = Table(title="published runs: predicted against measured step time", title_justify="left")
    for col, just in (("case", "left"), ("run", "left"), ("GPUs", "right"), ("measured", "right"),
                      ("predicted", "right"), ("error", "right"), ("MFU", "right")):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    for r in rows:
        table.add_row(r.case, r.run, f"{r.gpus:,}", f"{r.measured_iter_s:.3f} s", f"{r.predicted_iter_s:.3f} s",
                      f"{r.error:+.1%}", f"{r.predicted_mfu:.1%}")
    con.print(table)
    con.print(f"{summary['cases']} runs: MAPE {summary['mape']:.2%}, worst {summary['max_abs_error']:.2%}")


def print_catalog(tables: dict[str, list[dict[str, Any]]]) -> None:
    con = console()
    for kind, rows in tables.items():
        if not rows:
            continue
        table = Table(title=kind, title_justify="left")
        for col in rows[0]:
            table.add_column(col)
        for row in rows:
            table.add_row(*("" if v is None else str(v) for v in row.values()))
        con.print(table)


def print_entry(kind: str, entry: dict[str, Any]) -> None:
    con = console()
    table = Table(title=f"{kind}: {entry.get('name', '')}", title_justify="left", show_header=False)
    table.add_column("field")
    table.add_column("value")
    for key, value in entry.items():
        table.add_row(key, str(value))
    con.print(table)
