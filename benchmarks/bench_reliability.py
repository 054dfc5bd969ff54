"""Speed of the goodput Monte Carlo.

Goal (issue #6): 1,000 replications of a 90-day run on 200,000 GPUs in under 10 seconds.
The job is Llama 3 405B's 16,384-GPU run scaled to 200,000 GPUs (Llama 3 failure rates,
Meta-like recovery, Daly's interval), with 90 failure-free days of training; at about 81
unexpected interruptions a day and a recovery as long as the MTTF, a replication lives
through far more than 90 wall-clock days and ~23,000 interruptions, so this is a harder
test than the goal's ~7,000. Prints seconds, interruptions simulated per second, and the
event-by-event engine's rate for comparison.

    .venv/bin/python benchmarks/bench_reliability.py [--replications 1000] [--gpus 200000] [--days 90]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

from colossim.reliability import build_job, daly_interval, reliability_config, simulate_lockstep
from colossim.reliability.events import simulate_events
from colossim.scenario import load_scenario

LLAMA3 = {"model": "llama3-405b", "cluster": "llama3-24k",
          "training": {"seq_len": 8192, "global_batch_size": 2048},
          "parallel": {"tp": 8, "pp": 16, "dp": 128}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--replications", type=int, default=1000)
    ap.add_argument("--gpus", type=int, default=200_000)
    ap.add_argument("--days", type=float, default=90.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sc = load_scenario(LLAMA3)
    base = build_job(sc, reliability_config({"run_days": args.days}))
    job = base.scaled(args.gpus)
    job = dataclasses.replace(job, work_s=args.days * 86400.0)
    job = job.with_interval(daly_interval(job.block_s, job.mttf_s))
    simulate_lockstep(job, 8, args.seed)  # warm up
    best, runs = float("inf"), None
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        runs = simulate_lockstep(job, args.replications, args.seed)
        best = min(best, time.perf_counter() - t0)
    assert runs is not None
    events = float((runs.n_unexpected + runs.n_planned).sum())
    print(f"vectorized: {args.replications:,} replications x {args.days:g} failure-free days on {args.gpus:,} GPUs "
          f"in {best:.2f} s (goal: < 10 s); {events / args.replications:,.0f} interruptions per replication, "
          f"{events / best:,.0f} interruptions/s; mean ETTR {runs.ettr().mean():.3f}, "
          f"wall {runs.wall.mean() / 86400:.1f} days")
    # the goal's own arithmetic (~7,000 interruptions): a run lasting about 90 wall-clock days
    short = job.with_interval(job.interval_s)
    short = dataclasses.replace(short, work_s=job.work_s * 90.0 * 86400.0 / float(runs.wall.mean()))
    t0 = time.perf_counter()
    runs90 = simulate_lockstep(short, args.replications, args.seed)
    dt90 = time.perf_counter() - t0
    ev90 = float((runs90.n_unexpected + runs90.n_planned).sum()) / args.replications
    print(f"vectorized: {args.replications:,} replications lasting {runs90.wall.mean() / 86400:.1f} wall-clock days "
          f"({ev90:,.0f} interruptions each) in {dt90:.2f} s (goal: < 10 s)")
    n_ev = max(1, min(5, args.replications))
    t0 = time.perf_counter()
    ev = simulate_events(job, n_ev, args.seed)
    dt = time.perf_counter() - t0
    ev_events = float((ev.n_unexpected + ev.n_planned).sum())
    print(f"events:     {n_ev} replications in {dt:.2f} s ({ev_events / dt:,.0f} interruptions/s; "
          f"{dt / n_ev * args.replications:,.0f} s projected for {args.replications:,})")


if __name__ == "__main__":
    main()
