"""`colossim network SCENARIO.yaml`: simulate a collective on the scenario's built fabric."""

from __future__ import annotations

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


def register(app: typer.Typer) -> None:
    @app.command()
    @user_errors
    def network(
        scenario: Path = typer.Argument(..., help="scenario YAML file"),
        collective: str = typer.Option("all-reduce", help="all-reduce | all-gather | reduce-scatter | all-to-all | p2p"),
        group: str = typer.Option("dp", help="parallel group running it: dp | edp | tp | ep | pp | cp"),
        size: str = typer.Option("1GiB", help="buffer per rank: 1GiB, 512MB, 64KiB or bytes"),
        routing: str = typer.Option(None, help="ecmp | adaptive | flowlet | ideal (default: network.routing, then the fabric's)"),
        algorithm: str = typer.Option(None, help="auto | nccl (as NCCL would pick; shown) | hierarchical | ring | tree | "
                                                 "nvls | nvls-tree | sharp | direct"),
        flows_per_pair: int = typer.Option(None, "--flows-per-pair", help="ECMP: hashed flows (queue pairs) per GPU pair"),
        seed: int = typer.Option(None, help="seed for hashing, random placement and random failures (default 0)"),
        node_order: str = typer.Option(None, "--node-order", help="packed | random | interleaved"),
        fail: list[str] = typer.Option([], "--fail", help="failed switch or cable, e.g. spine:3, core:0, leaf-spine:17 "
                                                         "(repeatable)"),
        inventory: bool = typer.Option(False, "--inventory", help="print the fabric's switches, cables and optics only"),
        plot: Path = typer.Option(None, "--plot", help="write a link-utilization plot (PNG)"),
        json_out: bool = JSON_OPTION,
    ) -> None:
        """Simulate one collective on the built fat tree: time, algbw/busbw, throughput against a non-blocking
        fabric, link utilization per tier and the hottest links (ECMP vs adaptive routing, failures, two jobs)."""
        from colossim.network import config as cfg
        from colossim.network.topology import fabric_inventory

        if plot is not None:
            check_output_path(plot, (".png",), "--plot")
        sc = load_planned(scenario)
        if not inventory:
            cfg.require_scipy("colossim network")
        overrides: dict[str, Any] = {"routing": routing, "algorithm": algorithm, "flows_per_pair": flows_per_pair,
                                     "seed": seed}
        base = cfg.network_config(sc)
        if node_order is not None:
            overrides["placement"] = {**base.placement.model_dump(), "node_order": node_order}
        if fail:
            switches = [f for f in fail if f.split(":")[0] in cfg.SWITCH_KINDS]
            links = [f for f in fail if f not in switches]
            overrides["failures"] = {**base.failures.model_dump(), "switches": [*base.failures.switches, *switches],
                                     "links": [*base.failures.links, *links]}
        conf = cfg.network_config(sc, **overrides)
        inv = fabric_inventory(sc.cluster, conf)
        if inventory:
            if json_out:
                print_json(inv.to_dict())
            else:
                _print_inventory(inv)
            return
        if conf.second_job is not None or conf.jobs:
            from colossim.network.jobs import simulate_jobs

            shared = simulate_jobs(sc, collective, group, size, config=conf)
            if json_out:
                print_json({"fabric": inv.to_dict(), **shared.to_dict()})
            else:
                _print_inventory(inv)
                _print_jobs(shared)
            return
        from colossim.network.twin import simulate_collective

        result = simulate_collective(sc, collective, group, size, config=conf)
        if plot is not None:
            from colossim.network.plot import plot_utilization

            plot_utilization(result, plot)
        if json_out:
            print_json({**result.to_dict(), "fabric": inv.to_dict()})
            return
        _print_inventory(inv)
        _print_result(result)
        if plot is not None:
            print(f"plot written to {plot}")


def _console() -> Any:
    from colossim.report.text import console

    return console()


def _pct(x: float) -> str:
    return f"{x:.1%}"


def _print_inventory(inv: Any) -> None:
    from colossim.report.text import fields

    con = _console()
    names = ["leaf", "spine", "core"][: inv.tiers]
    counts = ", ".join(f"{n} {c:,}" for n, c in zip(names, inv.switches_per_tier, strict=True))
    con.print(fields([
        ("[bold]fabric[/bold]", f"{inv.cluster}: {inv.gpus:,} GPUs, {inv.nics:,} NICs at {inv.nic_gbps:g} Gb/s, "
                                f"{inv.tiers}-tier {inv.switch_name} (radix {inv.radix} at {inv.port_gbps:g} Gb/s), "
                                f"{inv.rails} rails, {inv.pods} pod(s) of {inv.gpus_per_pod:,} GPUs"),
        ("", f"switches {counts} (total {inv.num_switches:,}); cables "
             f"{', '.join(f'{c:,}' for c in inv.links_per_tier)}; optics {inv.optical_transceivers:,} modules; "
             f"holds {inv.max_gpus:,} GPUs (non-blocking fat-tree limit {inv.max_gpus_nonblocking:,})")], indent=0))


def _print_result(r: Any) -> None:
    from rich.table import Table

    from colossim.report.present import fmt_num
    from colossim.report.text import fmt_time
    from colossim.report.text import table as titled_table

    con = _console()
    con.print(f"[bold]{r.collective}[/bold] over {r.group}: {r.num_groups:,} group(s) x {r.num_ranks:,} ranks "
              f"({r.ranks_per_node} per NVLink domain, {r.nodes_per_group:,} domains), {r.size_bytes / 2**30:.3g} GiB "
              f"per rank, {r.algorithm}, routing {r.routing}"
              + (f" x{r.flows_per_pair} flows per pair" if r.flows_per_pair > 1 else "") + f", seed {r.seed}")
    con.print()
    head = Table(show_header=False, box=None, pad_edge=False)
    head.add_row("time", f"{fmt_time(r.time_s)} (bandwidth {fmt_time(r.bandwidth_time_s)} + latency "
                         f"{fmt_time(r.latency_s)}); ideal fabric {fmt_time(r.ideal_time_s)}")
    head.add_row("algbw / busbw", f"{r.algbw_gbps:.1f} / {r.busbw_gbps:.1f} GB/s; busbw per NIC {r.busbw_per_nic_gbps:.2f} GB/s")
    head.add_row("throughput vs ideal", f"{_pct(r.throughput_fraction)} (mean flow {_pct(r.flow_throughput_fraction)}, "
                                        f"all flows running {_pct(r.steady_state_fraction)})")
    inc = r.incast
    if inc and inc["time_s"] > 0:
        head.add_row("incast", f"{fmt_time(inc['time_s'])} ({inc['share']:.2%} of the bandwidth time): {inc['peak_senders']} "
                               f"of {inc['fan_in']} senders' start bursts meet at a port; PFC pauses its leaf's cables "
                               f"{fmt_time(inc['pause_s'])}")
    head.add_row("flows", f"{r.num_flows:,} in {len(r.phases)} phase(s); simulated in {r.runtime_s:.2f} s")
    if r.slowdown is not None:
        head.add_row("failures", f"{'; '.join(r.failures)}: {r.slowdown:.3f}x the healthy time "
                                 f"({fmt_time(r.healthy_time_s)})")
        if r.reroute:
            head.add_row("rerouted", r.reroute)
    con.print(head)
    tiers = titled_table("link utilization over the collective")
    for col in ("tier", "links", "busy", "mean", "mean busy", "p99", "max"):
        tiers.add_column(col, justify="left" if col == "tier" else "right")
    for name, u in r.link_utilization.items():
        tiers.add_row(name, f"{u['links']:,}", f"{u['busy_links']:,}", _pct(u["mean"]), _pct(u["mean_busy"]),
                      _pct(u["p99"]), _pct(u["max"]))
    con.print(tiers)
    phases = titled_table("phases")
    for col in ("phase", "lane", "steps", "time", "ideal", "flows", "events"):
        phases.add_column(col, justify="left" if col in ("phase", "lane") else "right")
    for p in r.phases:
        phases.add_row(p.name, p.lane, fmt_num(p.steps), fmt_time(p.time_s), fmt_time(p.ideal_time_s), f"{p.num_flows:,}",
                       str(p.events))
    con.print(phases)
    if r.hottest_links:
        hot = titled_table("hottest links")
        for col in ("link", "tier", "utilization", "GB"):
            hot.add_column(col, justify="left" if col in ("link", "tier") else "right")
        for h in r.hottest_links:
            hot.add_row(h["link"], h["tier"], _pct(h["utilization"]), f"{h['bytes'] / 1e9:.2f}")
        con.print(hot)
    for note in r.notes:
        con.print(f"note: {note}")


def _print_jobs(shared: Any) -> None:
    from colossim.report.text import fmt_time
    from colossim.report.text import table as titled_table

    con = _console()
    count = "two" if len(shared.jobs) == 2 else str(len(shared.jobs))
    table = titled_table(f"{count} jobs on one fabric ({shared.routing_model}, seed {shared.seed})")
    for col in ("job", "GPUs", "placement", "collective", "alone", "shared", "slowdown", "busbw alone",
                "busbw shared"):
        table.add_column(col, justify="left" if col in ("job", "collective") else "right")
    for j in shared.jobs:
        where = j.placement + (f", offset {j.phase_offset:g}" if j.phase_offset else "") + (
            f", gap {j.gap:g}" if j.gap else "")
        table.add_row(j.name, f"{j.gpus:,}", where, f"{j.collective} over {j.group} ({j.algorithm})",
                      fmt_time(j.alone_time_s),
                      fmt_time(j.shared_time_s), f"{j.slowdown:.3f}x", f"{j.busbw_alone_gbps:.1f} GB/s",
                      f"{j.busbw_shared_gbps:.1f} GB/s")
    con.print(table)
    con.print(("links both jobs cross: " if len(shared.jobs) == 2 else "links two or more jobs cross: ") + ", ".join(f"{k} {v:,}" for k, v in shared.shared_links.items())
              + f"; simulated in {shared.runtime_s:.2f} s")
