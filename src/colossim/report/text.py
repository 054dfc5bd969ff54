"""Terminal reports with rich (imported only by the CLI).

One console for every command: rich detects the terminal's width (and honours ``COLUMNS``;
80 columns when the output is not a terminal), so no table is laid out for a fixed width.
Numbers go through the formatters of :mod:`colossim.report.present` (``fmt_quantity``:
SI prefixes, or binary ones for bytes, stated in the unit).
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from colossim import catalog
from colossim.perf.estimate import Estimate
from colossim.report.layout import FittedTable
from colossim.report.present import fmt_count, fmt_num, fmt_quantity, fmt_time, is_number
from colossim.scenario import Scenario


def console(width: int | None = None) -> Console:
    """The one terminal console every command report prints to (width: the terminal's)."""
    return Console(highlight=False, soft_wrap=False, width=width)


def table(title: str | None = None, **kwargs: Any) -> FittedTable:
    """A table that fits the terminal without cutting a number or a word (report/layout.py), and
    whose title never breaks mid-phrase: the title is as wide as it needs."""
    t = FittedTable(title=title, title_justify="left", **kwargs)
    if title:
        t.min_width = min(len(title), 200)
    return t


def fields(rows: list[tuple[str, str]], indent: int = 2) -> Table:
    """Label and value lines: a value that wraps stays under its value, not under the label."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(no_wrap=True)
    grid.add_column()
    for label, value in rows:
        grid.add_row(" " * indent + label, value)
    return grid


def print_estimate(sc: Scenario, est: Estimate, time_to_train: dict[str, Any] | None = None,
                   flow: dict[str, Any] | None = None) -> None:
    con = console()
    m, c, t, p = sc.model, sc.cluster, sc.training, est.plan
    if time_to_train is not None and time_to_train["goodput"].get("warning"):
        con.print(f"[bold red]warning:[/bold red] {time_to_train['goodput']['warning']}")
    con.print(f"[bold]{sc.name}[/bold]")
    source = " (the search's best: no parallel section)" if sc.plan_source == "search" else ""
    about: list[tuple[str, str]] = []
    about.append(("model", f"{m.name}: {fmt_count(m.total_params(t.seq_len))} params"
                  + (f" ({fmt_count(m.active_params(t.seq_len))} active)" if m.moe else "")
                  + f", {m.num_layers} layers, hidden {m.hidden_size:,}"))
    domain = "Infinity Fabric" if catalog.gpu(c.gpu).vendor == "AMD" else "NVLink"  # the scale-up fabric's name
    about.append(("cluster", f"{c.name}: {c.num_gpus:,} x {c.gpu}, {c.gpus_per_node} per {domain} domain, "
                  f"{c.nic_gbps_per_gpu:g} Gb/s per GPU, {c.fabric.tiers}-tier {c.fabric.switch} ({c.fabric.routing})"))
    etp = p.get("etp") or p["tp"]
    about.append(("plan", f"tp={p['tp']} pp={p['pp']} dp={p['dp']} cp={p['cp']} ep={p['ep']} "
                  + ("" if etp == p["tp"] else f"etp={etp} ") + f"vpp={p['vpp']} "
                  f"sp={'on' if p['sequence_parallel'] else 'off'}, micro-batch {p['micro_batch_size']} "
                  f"x {est.num_micro_batches}, recompute {p['recompute']}, ZeRO-{p['zero_stage']}, "
                  f"{t.precision}"
                  + (f", schedule {p['schedule']}" if p.get("schedule", "1f1b") != "1f1b" else "") + source))
    about.append(("batch", f"{t.global_batch_size:,} x {t.seq_len:,} = {est.tokens_per_step:,} tokens per step"))
    con.print(fields(about))
    con.print()
    head = Table(show_header=False, box=None, pad_edge=False)
    head.add_row("step time", fmt_time(est.step_time_s))
    head.add_row("throughput", f"{est.tokens_per_s:,.0f} tokens/s")
    head.add_row("MFU / HFU", f"{est.mfu:.1%} / {est.hfu:.1%}")
    head.add_row("model TFLOP/s per GPU", f"{est.model_tflops_per_gpu:.1f}")
    fits = "fits" if est.fits_in_memory else f"DOES NOT FIT: {est.memory_per_gpu_gb - est.hbm_per_gpu_gb:.1f} GB over"
    head.add_row("memory per GPU", f"{est.memory_per_gpu_gb:.1f} of {est.hbm_per_gpu_gb:.1f} GB ({fits})")
    head.add_row("GPUs used", f"{est.gpus_used:,} ({est.gpus_idle:,} idle)")
    if time_to_train is not None:
        g = time_to_train["goodput"]
        head.add_row("time to train", f"{time_to_train['days']:.1f} days for {fmt_count(t.total_tokens)} tokens "
                                      f"at goodput {g['value']:.3f}")
        head.add_row("", f"{time_to_train['failure_free_days']:.1f} days failure-free; goodput: {g['detail']}")
    elif est.time_to_train_days is not None:
        head.add_row("time to train", f"{est.time_to_train_days:.1f} days for {fmt_count(t.total_tokens)} tokens")
    con.print(head)
    con.print()
    breakdown = table("step time breakdown (slowest pipeline stage)")
    breakdown.add_column("term")
    breakdown.add_column("time", justify="right")
    breakdown.add_column("share", justify="right")
    for name, value in est.breakdown_s.items():
        breakdown.add_row(name.replace("_", " "), fmt_time(value), f"{value / est.step_time_s:.1%}")
    mem = table("memory per GPU (fullest stage)")
    mem.add_column("part")
    mem.add_column("GB", justify="right")
    for name, value in est.memory_breakdown_gb.items():
        mem.add_row(name.replace("_", " "), f"{value:.2f}")
    con.print(breakdown)
    con.print(mem)
    if flow is not None:
        print_flow_comparison(con, flow)
    else:
        con.print("collectives: analytic (alpha-beta); --network flow simulates them on the built fabric")
    con.print(f"dominant overhead: {est.dominant_overhead.replace('_', ' ')}")
    for note in est.notes:
        con.print(f"note: {note}")


def print_flow_comparison(con: Console, flow: dict[str, Any]) -> None:
    """``estimate --network flow``: each collective's time, analytic beside simulated."""
    cmp = table(f"collectives: {flow['model']}")
    for col, just in (("term", "left"), ("analytic", "right"), ("simulated", "right"), ("ratio", "right")):
        cmp.add_column(col, justify=just)
    for row in flow["rows"]:
        term = f"{row['collective']} {row['group']} x{row['ranks']:,}, {fmt_quantity(row['size_bytes'], 'B', binary=True)}"
        ratio = row["simulated_s"] / row["analytic_s"] if row["analytic_s"] else None
        cmp.add_row(term, fmt_time(row["analytic_s"]), fmt_time(row["simulated_s"]),
                    "-" if ratio is None else f"{ratio:.2f}x")
    con.print(cmp)
    if flow["rows"] and all(abs(r["simulated_s"] - r["analytic_s"]) <= 1e-3 * r["analytic_s"] for r in flow["rows"]):
        con.print("simulated = analytic: no link of the fabric is a bottleneck for these groups (the analytic "
                  "model's line rate holds); try network: {routing: ecmp} in the scenario")
    con.print(f"step time: {fmt_time(flow['step_time_flow_s'])} with the simulated collectives (this estimate), "
              f"{fmt_time(flow['step_time_analytic_s'])} with the analytic ones")


def print_validation(rows: list[Any], summary: dict[str, Any]) -> None:
    con = console()
    runs = table("published runs: predicted against measured step time")
    cv = any(getattr(r, "cross_validated_error", None) is not None for r in rows)
    cols = [("case", "left"), ("run", "left"), ("GPUs", "right"), ("measured", "right"), ("predicted", "right"),
            ("error", "right"), *([("CV error", "right")] if cv else []), ("MFU", "right")]
    for col, just in cols:
        # names fold onto a second line in a narrow terminal rather than being cut; numbers never
        # break, and only the MFU is left out where the terminal is too narrow
        runs.add_column(col, justify=just, keep=col != "MFU")
    previous = None
    for r in rows:
        cells = [r.case if r.case != previous else "", r.run, f"{r.gpus:,}", fmt_time(r.measured_iter_s),
                 fmt_time(r.predicted_iter_s), f"{r.error:+.1%}"]
        if cv:
            cells.append("-" if r.cross_validated_error is None else f"{r.cross_validated_error:+.1%}")
        runs.add_row(*cells, f"{r.predicted_mfu:.1%}")
        previous = r.case
    con.print(runs)
    con.print(f"{summary['cases']} runs: MAPE {summary['mape']:.2%}, worst {summary['max_abs_error']:.2%}")


_KNOB_SHORT = {"training.micro_batch_size": "mbs", "parallel.sequence_parallel": "sp", "training.zero_stage": "zero",
               "training.recompute": "recompute", "training.precision": "precision", "parallel.vpp": "vpp",
               "training.seq_len": "seq_len", "training.recompute_modules": "recompute_modules"}


def print_unknowns(rows: list[Any], summary: dict[str, Any]) -> None:
    """The error range each run's conventions span (validation/unknowns.py): one block per
    case, headed by the knobs its source leaves out, one line per run (fits 80 columns)."""
    con = console()
    con.print("[bold]what the sources leave out[/]: each run's error as described, its range over every "
              "admissible value of the knobs filled by convention, the knob that alone spans most, and "
              "whether the measured step lies inside the range")

    def span(lo: float, hi: float) -> str:
        return f"{100 * lo:+.1f}..{100 * hi:+.1f}%"

    def short(keys: tuple[str, ...]) -> str:
        return ", ".join(_KNOB_SHORT.get(k, k) for k in keys)

    name_w = 22
    case = knobs = None
    for r in rows:
        u = r.unknowns
        if u is None or not (u.knobs or u.not_swept):
            continue
        head = " ".join(filter(None, (short(u.knobs), f"(not swept: {short(u.not_swept)})" if u.not_swept else "")))
        if (r.case, head) != (case, knobs):
            con.print(f"\n[bold]{r.case}[/]: {head}")
            con.print(f"  {'run':<{name_w}} {'error':>7}  {'range':>14}  {'widest alone':<23} inside")
            case, knobs = r.case, head
        widest = u.widest_knob()
        alone = f"{_KNOB_SHORT.get(widest, widest)} {span(*u.per_knob[widest])}" if widest else "-"
        rng = span(u.low, u.high) if u.knobs else "-"
        inside = ("yes" if u.contains_measured else "no") if u.knobs else "-"
        name = r.run
        if len(name) > name_w:  # a long name takes its own line; the figures follow under it
            con.print(f"  {name}", highlight=False, markup=False)
            name = ""
        con.print(f"  {name:<{name_w}} {r.error:>+7.1%}  {rng:>14}  {alone:<23} {inside}", highlight=False,
                  markup=False)
    stated, open_ = summary["fully_stated"], summary["with_unknowns"]

    def mapes(group: dict[str, Any]) -> str:
        cv = group.get("cross_validated_mape")
        return (f"cross-validated MAPE {cv:.2%}, in-sample {group['mape']:.2%}" if cv is not None
                else f"MAPE {group['mape']:.2%}")

    con.print()
    if stated["runs"]:
        con.print(f"{stated['runs']} runs state every knob: {mapes(stated)} (the step model's own error)")
    if open_["runs"]:
        con.print(f"{open_['runs']} runs fill knobs by convention: {mapes(open_)}; the measured step lies "
                  f"inside the range of {open_['inside_range']}, outside it for {len(open_['outside_range'])}"
                  + (f" ({len(open_['not_swept'])} fill only knobs not swept)" if open_["not_swept"] else ""))


def print_catalog(tables: dict[str, list[dict[str, Any]]]) -> None:
    """One listing per kind: the first column is the name a user types next (never cut nor left
    out); text and headers wrap, and columns that do not fit are left out, named under it."""
    con = console()
    for kind, rows in tables.items():
        if not rows:
            continue
        cells = [{k: "" if v is None else fmt_num(v) for k, v in r.items()} for r in rows]
        columns = list(rows[0])
        numeric = {c: any(is_number(r[c]) for r in rows) for c in columns}
        listing = table(kind)
        for i, col in enumerate(columns):
            listing.add_column(col.replace("_", " "), justify="right" if numeric[col] else "left", no_wrap=i == 0)
        for x in cells:
            listing.add_row(*(x[c] for c in columns))
        con.print(listing)


def print_entry(kind: str, entry: dict[str, Any]) -> None:
    con = console()
    fields = table(f"{kind}: {entry.get('name', '')}", show_header=False)
    fields.add_column("field")
    fields.add_column("value")
    for key, value in entry.items():
        fields.add_row(key, fmt_num(value))
    con.print(fields)


__all__ = ["console", "fmt_quantity", "fmt_time", "print_catalog", "print_entry", "print_estimate",
           "print_unknowns", "print_validation", "table"]
