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
import tracemalloc
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


def scaling(sizes: tuple[int, ...]) -> None:
    """Flows per second and peak memory (traced numpy allocations) of one collective over
    every group at once, at growing cluster sizes (Grok-1, tp 8, ep 8, dp fills; scattered
    nodes, per-flow ECMP: the most events)."""
    print("\n== scaling: flows per second and peak memory (tracemalloc) per collective")
    print(f"{'GPUs':>7s} {'collective':12s} {'flows':>10s} {'events':>7s} {'wall':>7s} {'flows/s':>11s} {'peak':>8s}")
    for gpus in sizes:
        sc = load_scenario({"model": "grok-1", "training": {"seq_len": 8192, "global_batch_size": gpus // 8},
                            "cluster": {"gpu": "h100-sxm", "num_gpus": gpus,
                                        "fabric": {"switch": "sn5600", "tiers": 3, "rail_optimized": True}},
                            "parallel": {"tp": 8, "ep": 8, "dp": gpus // 8}})
        for coll, group in (("all-reduce", "dp"), ("all-to-all", "ep")):
            tracemalloc.start()
            t0 = time.perf_counter()
            r = simulate_collective(sc, coll, group, "1GiB", routing="ecmp", seed=1, placement={"node_order": "random"})
            wall = time.perf_counter() - t0
            peak = tracemalloc.get_traced_memory()[1] / 1e9
            tracemalloc.stop()
            events = sum(p.events for p in r.phases)
            print(f"{gpus:>7,} {coll:12s} {r.num_flows:>10,} {events:>7d} {wall:6.2f}s {r.num_flows / wall:>11,.0f} "
                  f"{peak:6.2f}GB")


def routing_models() -> None:
    """ECMP and adaptive routing on the flagship: the path policy is the only difference."""
    sc = load_scenario(FLAGSHIP)
    print("\n== routing models on the flagship (DP all-reduce, 1 GiB, tree where said)")
    job = {"gpus": 49_152, "parallel": {"tp": 8}, "size": "1GiB", "placement": "random"}
    half = {**sc.to_dict(), "parallel": {"tp": 8, "ep": 8, "dp": 6144}}
    for routing, order, algo, qps in (("adaptive", "packed", "auto", 1), ("adaptive", "random", "auto", 1),
                                      ("flowlet", "packed", "auto", 1), ("flowlet", "random", "auto", 1),
                                      ("flowlet", "random", "tree", 1), ("ecmp", "random", "tree", 16)):
        t0 = time.perf_counter()
        r = simulate_collective(sc, "all-reduce", "dp", "1GiB", routing=routing, flows_per_pair=qps, seed=1,
                                algorithm=algo, placement={"node_order": order})
        parts = "16x2" if routing == "flowlet" else str(qps)
        print(f"{r.routing_model:17s} {order:7s} {r.algorithm:13s} x{parts:<4s} of ideal {r.throughput_fraction:6.1%} "
              f"of line {r.busbw_per_nic_gbps / LINE_RATE_GBPS:6.1%} {r.num_flows:>11,} flows "
              f"{time.perf_counter() - t0:5.1f}s", flush=True)
    from colossim.network.jobs import simulate_jobs

    for routing in ("adaptive", "flowlet"):
        two = load_scenario({**half, "network": {"jobs": [job], "placement": {"node_order": "random"}}})
        t0 = time.perf_counter()
        r = simulate_jobs(two, "all-reduce", "dp", "1GiB", routing=routing, seed=1)
        print(f"{r.routing_model:17s} two jobs of 49,152 GPUs, shuffled nodes: slowdowns "
              f"{', '.join(f'{j.slowdown:.3f}x' for j in r.jobs)}; of ideal {r.throughput_fraction:6.1%} "
              f"(packed single job: 100.0%) {time.perf_counter() - t0:5.1f}s", flush=True)


def worst_case() -> None:
    sc = load_scenario(FLAGSHIP)
    print("\n== worst case: expert all-to-all, scattered nodes, per-flow ECMP (688k independent flows)")
    t0 = time.perf_counter()
    r = simulate_collective(sc, "all-to-all", "ep", "1GiB", routing="ecmp", seed=1, placement={"node_order": "random"})
    print(f"{r.num_flows:,} flows, {sum(p.events for p in r.phases)} events: {r.throughput_fraction:.1%} of ideal in "
          f"{time.perf_counter() - t0:.1f} s, peak RSS {peak_rss_gb():.2f} GB")
    inc = r.incast
    print(f"incast: fan-in {inc['fan_in']}, {inc['peak_senders']} bursts meet, queue {inc['queue_bytes'] / 1e6:.2f} MB "
          f"(XOFF {inc['xoff_bytes'] / 1e6:.2f} MB), pause {inc['pause_s'] * 1e6:.1f} us, "
          f"lost {inc['time_s'] * 1e6:.1f} us ({inc['share']:.3%} of the bandwidth time)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the slowest cases")
    parser.add_argument("--scaling-only", action="store_true", help="only the flows/s and memory table")
    parser.add_argument("--worst-case-only", action="store_true", help="only the 98k-GPU expert all-to-all (ECMP)")
    args = parser.parse_args()
    if args.worst_case_only:
        worst_case()
        return
    if args.scaling_only:
        scaling((4096, 16_384, 65_536, 98_304))
        return
    inventories()
    colossus(args.quick)
    agreement()
    scaling((4096, 16_384) if args.quick else (4096, 16_384, 65_536, 98_304))
    routing_models()
    if not args.quick:
        worst_case()


if __name__ == "__main__":
    main()
