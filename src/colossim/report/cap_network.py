"""The network twin (issue #4) for the dashboard, the API and reports: `colossim network`
(one collective simulated on the scenario's built fabric) with options in place of flags
(cli/network.py).

A simulation routes one flow per rank and queue pair; a shared server refuses a request
whose flow count exceeds ``Limits.max_flows`` before it builds anything.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from colossim.errors import ColossimError
from colossim.report import figures
from colossim.report.capabilities import Context, Limits, Options
from colossim.report.present import Section, fmt_field, fmt_pct, fmt_time

REQUIRES = ("colossim.network.twin", "colossim.network.config", "colossim.network.topology", "scipy.sparse")
FLAGS = {"--collective": "collective", "--group": "group", "--size": "size", "--routing": "routing",
         "--algorithm": "algorithm", "--flows-per-pair": "flows_per_pair", "--seed": "seed",
         "--node-order": "node_order"}


class NetworkOptions(Options):
    collective: Literal["all-reduce", "all-gather", "reduce-scatter", "all-to-all", "p2p"] = Field(
        "all-reduce", description="the collective every group runs at once")
    group: Literal["dp", "edp", "tp", "ep", "pp", "cp"] = Field("dp", description="the parallel group running it")
    size: str = Field("1GiB", description="buffer per rank: 1GiB, 512MB, 64KiB or bytes")
    routing: Literal["ecmp", "adaptive", "flowlet", "ideal"] | None = Field(None, description="default: the fabric's")
    algorithm: Literal["auto", "nccl", "hierarchical", "ring", "tree", "nvls", "nvls-tree", "sharp", "direct"] | None = Field(
        None, description="default: auto")
    flows_per_pair: int | None = Field(None, ge=1, le=256, description="ECMP: hashed flows (queue pairs) per GPU pair")
    seed: int | None = Field(None, ge=0, description="hashing / placement seed (default 0; recorded)")
    node_order: Literal["packed", "random", "interleaved"] | None = Field(None, description="node placement order")


def _config(ctx: Context) -> Any:
    from colossim.network import config as cfg

    o: Any = ctx.options
    overrides: dict[str, Any] = {"routing": o.routing, "algorithm": o.algorithm, "flows_per_pair": o.flows_per_pair,
                                 "seed": o.seed}
    base = cfg.network_config(ctx.scenario)
    if o.node_order is not None:
        overrides["placement"] = {**base.placement.model_dump(), "node_order": o.node_order}
    return cfg.network_config(ctx.scenario, **overrides)


def check_network(ctx: Context, limits: Limits) -> None:
    from colossim.network.config import parse_size

    parse_size(getattr(ctx.options, "size", "1GiB"), field="options.size")
    conf = _config(ctx)
    if conf.routing == "flowlet":  # flowlets per connection, over the feedback generations
        from colossim.network.adaptive import flowlet_policy

        policy = flowlet_policy()
        parts = policy.width * policy.generations
    else:
        parts = max(int(conf.flows_per_pair or 1), 1)
    flows = ctx.scenario.num_gpus_used * parts
    if flows > limits.max_flows:
        raise ColossimError(
            f"options: this simulation routes about {flows:,} flows, more than this server allows "
            f"({limits.max_flows:,}; colossim serve --max-flows): lower flows_per_pair, or run colossim network locally",
            field="options.flows_per_pair", value=flows)


def run_network(ctx: Context) -> dict[str, Any]:
    """As `colossim network --json` (cli/network.py): the collective plus the fabric inventory."""
    from colossim.network.topology import fabric_inventory
    from colossim.network.twin import simulate_collective

    o: Any = ctx.options
    conf = _config(ctx)
    result = simulate_collective(ctx.scenario, o.collective, o.group, o.size, config=conf)
    return {**result.to_dict(), "fabric": fabric_inventory(ctx.scenario.cluster, conf).to_dict()}


def present_network(d: dict[str, Any]) -> Section:
    s = Section("network", f"{d['collective']} over {d['group']}: {d['scenario']}")
    s.kpi("time", fmt_time(d["time_s"]))
    s.kpi("bus bandwidth per NIC", f"{d['busbw_per_nic_gbps']:.1f} GB/s")
    s.kpi("throughput vs non-blocking", fmt_pct(d["throughput_fraction"]))
    s.kpi("routing", f"{d['routing']}" + (f" x{d['flows_per_pair']} flows/pair" if d["flows_per_pair"] > 1 else ""))
    s.kpi("flows", f"{d['num_flows']:,}")
    fab = d["fabric"]
    s.kpi("switches", f"{sum(fab['switches_per_tier']):,} in {len(fab['switches_per_tier'])} tiers")
    util = {tier: 100.0 * u.get("mean", 0.0) for tier, u in d["link_utilization"].items()}
    s.figures.append(figures.bars("link_utilization", "Mean link utilization by tier", util, "%"))
    s.table("link utilization by tier", ["tier", *next(iter(d["link_utilization"].values()), {}).keys()],
            [[tier, *(fmt_field(k, v) for k, v in u.items())] for tier, u in d["link_utilization"].items()])
    s.table("hottest links", list(d["hottest_links"][0]) if d["hottest_links"] else ["link"],
            [[fmt_field(k, v) for k, v in h.items()] for h in d["hottest_links"][:10]])
    s.notes += d.get("notes", [])
    return s
