"""Speed of the step model: estimates per second when evaluated in batches.

Goal (issue #2): under 0.1 ms per estimate on average in batches (Calculon 2.1 ms,
llm-analysis 0.25 ms). Prints microseconds per estimate and estimates per second per core.

    .venv/bin/python benchmarks/bench_step.py [--n 200000]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from colossim.perf import evaluate
from colossim.perf.hardware import resolve_hardware
from colossim.scenario import PlanBatch, load_scenario


def random_plans(n: int, seed: int = 0) -> PlanBatch:
    rng = np.random.default_rng(seed)
    tp = rng.choice([1, 2, 4, 8], n)
    pp = rng.choice([1, 2, 4, 8, 16], n)
    return PlanBatch.from_arrays(
        tp=tp, pp=pp, dp=rng.choice([8, 16, 32, 64], n), cp=rng.choice([1, 2], n), ep=1,
        vpp=np.where(pp > 1, rng.choice([1, 2], n), 1), mbs=rng.choice([1, 2, 4], n),
        recompute=rng.integers(0, 3, n), zero=rng.integers(0, 4, n), sp=rng.random(n) < 0.5,
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    for name, model in (("dense llama3-70b", "llama3-70b"), ("moe grok-1", "grok-1")):
        sc = load_scenario({"model": model, "cluster": "colossus-100k",
                            "training": {"seq_len": 8192, "global_batch_size": 4096}})
        batch = random_plans(args.n)
        if sc.model.moe:
            batch = PlanBatch.from_arrays(**{**{f: getattr(batch, f) for f in batch.__dataclass_fields__},
                                             "ep": np.random.default_rng(1).choice([1, 2, 4, 8], args.n)})
        hw = resolve_hardware(sc.cluster, sc.training)
        evaluate(sc.model, sc.cluster, sc.training, batch.take(slice(0, 100)), hw)  # warm up
        best = float("inf")
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            evaluate(sc.model, sc.cluster, sc.training, batch, hw)
            best = min(best, time.perf_counter() - t0)
        per = best / args.n
        print(f"{name:18s} {args.n:>9,} plans in {best:.3f} s: {per * 1e6:.2f} us per estimate, "
              f"{1 / per:,.0f} estimates/s (one process; goal: < 100 us)")


if __name__ == "__main__":
    main()
