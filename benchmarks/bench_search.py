"""Speed and soundness of the plan search (issue #3).

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
          f"{r.candidates / dt:,.0f} candidates/s on one core; peak RSS {peak_rss_gb():.2f} GB; "
          f"best {best.tokens_per_s:,.0f} tokens/s, MFU {best.mfu:.1%}")


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
    args = ap.parse_args()
    timed_search(HERE / "scenarios" / "dense-1t-131k.yaml")
    timed_search(ROOT / "examples" / "grok1-colossus-100k.yaml")
    if not args.skip_validation:
        print("published plans against the search's best:")
        published_plans_in_space()


if __name__ == "__main__":
    main()
