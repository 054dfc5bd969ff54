"""Speed and findings of the network twin (issue #4).

Goals: a collective over all 98,304 GPUs of the flagship scenario (Grok-1 on the 100k-GPU
Colossus preset) simulated flow by flow on the built 3-tier fabric in seconds, within a
few GB, on a 2-core machine; the Colossus claim reproduced (Spectrum-X adaptive routing
~95% of line rate, standard Ethernet ECMP ~60%); flow simulation = alpha-beta on an idle
non-blocking fabric.

    .venv/bin/python benchmarks/bench_network.py [--quick]
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np

from colossim import catalog
from colossim.network.topology import fabric_inventory
from colossim.network.twin import simulate_collective
from colossim.perf import comm
from colossim.perf.hardware import resolve_hardware
from colossim.scenario import load_scenario
from colossim.scenario.loader import build_cluster

ROOT = Path(__file__).resolve().parent.parent
FLAGSHIP = ROOT / "examples" / "grok1-colossus-100k.yaml"
LINE_RATE_GBPS = 50.0  # 400 Gb/s NIC, GB/s


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # KiB on Linux


def inventories() -> None:
    print("== fabric inventory of every cluster preset")
    for name in catalog.cluster_names():
        t0 = time.perf_counter()
        inv = fabric_inventory(build_cluster(name))
        dt = time.perf_counter() - t0
        print(f"{name:20s} {inv.gpus:>7,} GPUs  {inv.tiers}-tier {inv.switch_name:<21s} k={inv.radix:<3d} "
              f"switches {inv.switches_per_tier}  cables {inv.links_per_tier}  optics {inv.optical_transceivers:,}  "
              f"limit {inv.max_gpus_nonblocking:,}  ({dt * 1e3:.1f} ms)")


def colossus(quick: bool) -> None:
    sc = load_scenario(FLAGSHIP)
    print(f"\n== {sc.name}: data-parallel all-reduce of 1 GiB per GPU over every DP group at once")
    cases = [("hierarchical", "packed", "adaptive", 1), ("hierarchical", "packed", "ecmp", 1),
             ("hierarchical", "random", "adaptive", 1), ("hierarchical", "random", "ecmp", 1),
             ("hierarchical", "random", "ecmp", 16), ("tree", "random", "adaptive", 1),
             ("tree", "random", "ecmp", 1), ("tree", "random", "ecmp", 16)]
    if not quick:
        cases += [("hierarchical", "random", "ecmp", 64), ("tree", "packed", "ecmp", 16)]
    print(f"{'algorithm':13s} {'nodes':7s} {'routing':13s} {'time':>9s} {'of ideal':>9s} {'of line':>8s} "
          f"{'busbw/NIC':>10s} {'flows':>10s} {'wall':>7s} {'peak RSS':>9s}")
    for algo, order, routing, qps in cases:
        t0 = time.perf_counter()
        r = simulate_collective(sc, "all-reduce", "dp", "1GiB", routing=routing, flows_per_pair=qps, seed=1,
                                algorithm=algo, placement={"node_order": order})
        wall = time.perf_counter() - t0
        label = routing + (f" x{qps} QP" if qps > 1 else "")
        print(f"{algo:13s} {order:7s} {label:13s} {r.time_s * 1e3:7.1f}ms {r.throughput_fraction:9.1%} "
              f"{r.busbw_per_nic_gbps / LINE_RATE_GBPS:8.1%} {r.busbw_per_nic_gbps:8.2f}GB {r.num_flows:>10,} "
              f"{wall:6.2f}s {peak_rss_gb():7.2f}GB")
    print("(of ideal: against a non-blocking fabric; of line: busbw per NIC / 50 GB/s, i.e. after RoCE protocol "
          "efficiency 0.93; nodes: packed = Megatron rank order on consecutive nodes, random = scheduler order)")


def agreement() -> None:
    print("\n== flow simulation vs alpha-beta on an idle non-blocking fabric (adaptive routing)")
    worst = 0.0
    for gpus, tiers, tp in ((64, 2, 1), (1024, 2, 8), (8192, 3, 8), (8192, 3, 1)):
        sc = load_scenario({"model": "llama3-8b", "cluster": {"gpu": "h100-sxm", "num_gpus": gpus,
                            "fabric": {"switch": "sn5600", "tiers": tiers}},
                            "training": {"seq_len": 4096, "global_batch_size": gpus}, "parallel": {"tp": tp}})
        hw = resolve_hardware(sc.cluster, sc.training)
        for coll, fn in (("all-reduce", comm.all_reduce_s), ("reduce-scatter", comm.reduce_scatter_s),
                         ("all-gather", comm.reduce_scatter_s), ("all-to-all", comm.all_to_all_s)):
            if coll == "all-to-all" and gpus // tp > 1024:
                continue
            for size in (2.0**20, 2.0**30):
                r = simulate_collective(sc, coll, "dp", size, routing="adaptive")
                a = float(fn(np.array([size]), np.array([r.num_ranks]), np.array([tp]), hw)[0])
                worst = max(worst, abs(r.time_s / a - 1.0))
    print(f"worst relative difference over 4 scales x 4 collectives x 2 sizes: {worst:.2e}")


def worst_case() -> None:
    sc = load_scenario(FLAGSHIP)
    print("\n== worst case: expert all-to-all, scattered nodes, per-flow ECMP (688k independent flows)")
    t0 = time.perf_counter()
    r = simulate_collective(sc, "all-to-all", "ep", "1GiB", routing="ecmp", seed=1, placement={"node_order": "random"})
    print(f"{r.num_flows:,} flows, {sum(p.events for p in r.phases)} events: {r.throughput_fraction:.1%} of ideal in "
          f"{time.perf_counter() - t0:.1f} s, peak RSS {peak_rss_gb():.2f} GB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the slowest cases")
    args = parser.parse_args()
    inventories()
    colossus(args.quick)
    agreement()
    if not args.quick:
        worst_case()


if __name__ == "__main__":
    main()
