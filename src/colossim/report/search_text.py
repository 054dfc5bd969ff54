"""Terminal report of a plan search."""

from __future__ import annotations

from colossim.report.present import fmt_num, is_number
from colossim.report.text import console, fmt_time
from colossim.report.text import table as titled_table
from colossim.search.engine import SearchResult
from colossim.search.explain import flags_text, result_label

# short column headers of the objective values (their units are printed under the table)
OBJECTIVE_HEADERS = {"cost": "USD/Mtok", "energy": "kWh/Mtok"}


def print_search(r: SearchResult) -> None:
    con = console()
    con.print(f"[bold]{r.scenario}[/bold]: best plans by {r.objective} (constraints: {r.constraints})")
    table = titled_table()
    # kept at any width: the rank, the plan, and what it is ranked by; the rest is left out
    # (rightmost first, and named) where the terminal is too narrow
    columns = [("#", "right", True), ("plan", "left", True), ("step", "right", False), ("tokens/s", "right", True)]
    if r.objective_unit is not None:  # the value it ranks by, where no other column shows it
        columns.append((OBJECTIVE_HEADERS.get(r.objective, r.objective), "right", True))
    columns += [("MFU", "right", False), ("GPUs", "right", False), ("mem/GPU", "right", False),
                ("dominant overhead", "left", False)]
    for col, just, keep in columns:
        table.add_column(col, justify=just, keep=keep)
    for i, e in enumerate(r.top, start=1):
        value = [f"{r.objective_values[i - 1]:.4g}"] if r.objective_unit is not None else []
        table.add_row(str(i), result_label(e), fmt_time(e.step_time_s), f"{e.tokens_per_s:,.0f}", *value,
                      f"{e.mfu:.1%}", f"{e.gpus_used:,}", f"{e.memory_per_gpu_gb:.1f} GB",
                      e.dominant_overhead.replace("_", " "))
    con.print(table)
    if r.objective_unit is not None:
        con.print(f"{OBJECTIVE_HEADERS.get(r.objective, r.objective)}: {r.objective_unit}")
    con.print(f"why: {r.explanation}")
    if marks := flags_text(r.top):
        con.print(f"flags: {marks}")
    if r.top[0].time_to_train_days is not None:
        con.print(f"time to train with #1: {r.top[0].time_to_train_days:.1f} days failure-free "
                  "(colossim estimate adds the reliability model's goodput)")
    rules = ", ".join(f"{k} {v:,}" for k, v in sorted(r.broken_rules.items(), key=lambda kv: -kv[1]))
    con.print(f"{r.candidates:,} candidates in {r.elapsed_s:.1f} s ({r.rate_per_s:,.0f}/s): {r.evaluated:,} evaluated, "
              f"{r.not_fitting:,} do not fit in memory, {r.redundant:,} redundant duplicates"
              + (f", {r.bounded:,} bounded (cannot beat the top {len(r.top)})" if r.bounded else "")
              + (f", {r.missed_condition:,} miss the deadline" if r.missed_condition else "")
              + (f"; broken rules: {rules}" if rules else ""))


def print_sweep(rows: list[dict], grid_keys: list[str], table_path, plot_path) -> None:
    con = console()
    table = titled_table("sweep: best plan per scenario")
    failed = any(r.get("status") != "ok" for r in rows)
    # kept at any width: what names the scenario, its throughput and plan, and a failure's status
    for k in grid_keys:
        numeric = all(is_number(r[k]) for r in rows)
        table.add_column(k.split(".")[-1].replace("_", " "), justify="right" if numeric else "left", keep=True)
    # with every scenario ok the status column says nothing and is the first to go
    tail = ["status", "GPUs used"] if failed else ["GPUs used", "status"]
    for col in ("tokens/s", "MFU", "plan", *tail):
        table.add_column(col, justify="left" if col in ("plan", "status") else "right",
                         keep=col in ("tokens/s", "plan") or (col == "status" and failed))
    for r in rows:
        ok = r.get("status") == "ok"
        plan = (f"tp{r['plan_tp']} pp{r['plan_pp']} dp{r['plan_dp']} cp{r['plan_cp']} ep{r['plan_ep']} "
                f"mbs{r['plan_micro_batch_size']} {r['plan_recompute']} zero{r['plan_zero_stage']}") if ok else ""
        cells = {"status": "ok" if ok else str(r.get("status")), "GPUs used": f"{r['gpus_used']:,}" if ok else ""}
        table.add_row(*(fmt_num(r[k]) for k in grid_keys), f"{r['tokens_per_s']:,.0f}" if ok else "",
                      f"{r['mfu']:.1%}" if ok else "", plan, *(cells[c] for c in tail))
    con.print(table)
    con.print(f"results: {table_path}" + (f"; plot: {plot_path}" if plot_path else ""))
