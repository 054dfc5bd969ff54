"""Speed and soundness of the plan search (issues #3, #14).

Issue #14: the Grok-1 search on colossus-100k at least 2.5x faster than the first search
(whole product with its caps, one core, every plan evaluated), timed in one run
(`speedup`), finding the same best plan; the legal-row enumeration and the branch and bound
proven to drop nothing by brute force over the whole uncapped product on small cases (the
same top 5), and the MT-NLG 530B case on 5,128 A100s (where vpp <= 8 dropped the optimum)
found (`brute_force`).

Goals: >= 500,000 candidate plans per second per core; the full search for a 1T dense
model on 131,072 GPUs and for Grok-1 on colossus-100k each under 30 s on a 2-core machine
with under 4 GB of memory; for every published run, the search's best plan predicts at
least the throughput of the published plan (which is in the space).

    .venv/bin/python benchmarks/bench_search.py [--skip-validation]
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

from colossim.perf import estimate
from colossim.scenario import load_scenario
from colossim.search import search
from colossim.validation.runs import reference_runs

HERE = Path(__file__).parent
ROOT = HERE.parent


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # KiB on Linux


def timed_search(path: Path) -> None:
    sc = load_scenario(path)
    t0 = time.perf_counter()
    r = search(sc, top=10)
    dt = time.perf_counter() - t0
    best = r.top[0]
    print(f"{sc.name}: {r.candidates:,} candidates ({r.evaluated:,} evaluated) in {dt:.2f} s = "
          f"{r.candidates / dt:,.0f} candidates/s ({r.workers} workers, {r.bounded:,} bounded); peak RSS {peak_rss_gb():.2f} GB; "
          f"best {best.tokens_per_s:,.0f} tokens/s, MFU {best.mfu:.1%}")


def _cpu_s() -> float:
    self_, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return self_.ru_utime + self_.ru_stime + kids.ru_utime + kids.ru_stime


def speedup(path: Path) -> None:
    """The first search's path (whole product, caps, one core) against the new one, one run."""
    sc = load_scenario(path)
    runs = {}
    for label, kw in (("first search: whole product, one core", {"workers": 1, "naive": True, "legacy": True}),
                      ("branch and bound, one core", {"workers": 1}), ("branch and bound, every core", {})):
        t0, c0 = time.perf_counter(), _cpu_s()
        r = search(sc, top=10, **kw)
        runs[label] = (time.perf_counter() - t0, _cpu_s() - c0, r)
        print(f"  {label:40s} {runs[label][0]:6.1f} s wall {runs[label][1]:6.1f} s CPU  {r.candidates:>11,} "
              f"candidates {r.evaluated:>10,} evaluated  best {r.top[0].tokens_per_s:,.0f} tok/s", flush=True)
    (w0, c0, old), (w1, c1, new) = runs["first search: whole product, one core"], runs["branch and bound, every core"]
    same = old.top[0].plan == new.top[0].plan
    print(f"  speedup {w0 / w1:.2f}x wall, {c0 / c1:.2f}x CPU; same best plan: {same} ({new.workers} workers; "
          f"the new space also holds every micro-batch size and schedule: {new.bounded:,} plans bounded)")


def brute_force() -> None:
    """#1 of the search = #1 of every plan of the whole uncapped product, evaluated."""
    small = [{"model": "llama3-8b", "cluster": {"gpu": "h100-sxm", "num_gpus": 64},
              "training": {"seq_len": 4096, "global_batch_size": 128}},
             {"model": "mixtral-8x7b", "cluster": {"gpu": "h100-sxm", "num_gpus": 128},
              "training": {"seq_len": 4096, "global_batch_size": 256}}]
    for body in small:
        sc = load_scenario(body)
        t0 = time.perf_counter()
        brute = search(sc, top=5, workers=1, naive=True)
        t1 = time.perf_counter()
        found = search(sc, top=5)
        t2 = time.perf_counter()
        same = [e.plan for e in found.top] == [e.plan for e in brute.top]
        print(f"  {sc.model.name:14s} brute force over {brute.candidates:,} ({brute.evaluated:,} evaluated, "
              f"{t1 - t0:.1f} s): {brute.top[0].tokens_per_s:,.0f} tok/s; search ({found.evaluated:,} evaluated, "
              f"{found.bounded:,} bounded, {t2 - t1:.1f} s): same top 5 {same}")
    sc = load_scenario({"model": "mt-nlg-530b", "cluster": {"gpu": "a100-80gb", "num_gpus": 5128},
                        "training": {"seq_len": 2048, "global_batch_size": 1920}})
    capped = search(sc, top=1, legacy=True)
    full = search(sc, top=1, exhaustive=True)
    new = search(sc, top=1)
    print(f"  MT-NLG 530B on 5,128 A100: first search (vpp <= 8) {capped.top[0].tokens_per_s:,.0f} tok/s "
          f"vpp {capped.top[0].plan['vpp']}; every legal plan evaluated {full.top[0].tokens_per_s:,.0f} tok/s "
          f"vpp {full.top[0].plan['vpp']}; default search (branch and bound) same plan: "
          f"{new.top[0].plan == full.top[0].plan}")


def published_plans_in_space() -> None:
    worst = None
    for run in reference_runs():
        sc = run.build()
        published = estimate(sc)
        # the same GPUs as the published run: the cluster shrunk to the run's world size
        same_gpus = load_scenario({**sc.to_dict(), "cluster": {**sc.to_dict()["cluster"], "num_gpus": sc.num_gpus_used}})
        best = search(same_gpus, top=1).top[0]
        ratio = best.tokens_per_s / published.tokens_per_s
        worst = ratio if worst is None else min(worst, ratio)
        flag = "ok" if ratio >= 1 - 1e-9 else "WORSE"
        print(f"  {run.label:52s} published plan {published.tokens_per_s:12,.0f} tok/s, "
              f"search best {best.tokens_per_s:12,.0f} tok/s ({ratio:.3f}x) {flag}")
    print(f"  smallest ratio best/published: {worst:.3f} (goal: >= 1)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-validation", action="store_true")
    ap.add_argument("--issue14", action="store_true", help="only the speedup and brute-force checks")
    args = ap.parse_args()
    print("speedup against the first search (one run):")
    speedup(ROOT / "examples" / "grok1-colossus-100k.yaml")
    print("brute force:")
    brute_force()
    if args.issue14:
        return
    timed_search(HERE / "scenarios" / "dense-1t-131k.yaml")
    timed_search(ROOT / "examples" / "grok1-colossus-100k.yaml")
    if not args.skip_validation:
        print("published plans against the search's best:")
        published_plans_in_space()


if __name__ == "__main__":
    main()
