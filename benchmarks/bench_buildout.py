"""Speed of the build-out twin and of the target-ETTR solver.

Goals (issue 15): a whole build-out of the 200k Colossus doubling (730 simulated days, its
ladder of searched plans, the what-if re-runs) in under 5 seconds; re-planning is a search
per distinct size, cached, so a re-run with another delivery costs no search; the
``--target-ettr`` solve at 200k GPUs (alone and combined) in under 1 second.

    .venv/bin/python benchmarks/bench_buildout.py
"""

from __future__ import annotations

import time
from pathlib import Path

from colossim.api import load_scenario
from colossim.buildout import run_buildout
from colossim.buildout.questions import buildout_report, changed
from colossim.reliability import build_job, reliability_config
from colossim.reliability.target import solve_target

EXAMPLES = Path(__file__).parent.parent / "examples"


def main() -> None:
    sc = load_scenario(EXAMPLES / "colossus-buildout-200k.yaml")
    t = time.perf_counter()
    out, (res, *_) = buildout_report(sc)
    full = time.perf_counter() - t
    print(f"build-out + what-ifs: {full:.2f} s ({res.planner.searches} searches, {res.planner.search_s:.2f} s of it)")
    t = time.perf_counter()
    again = run_buildout(sc, changed(res.config, {"delivery.racks_per_day": 40.0}), planner=res.planner, phases=False)
    print(f"re-run with another delivery, plans cached: {time.perf_counter() - t:.2f} s "
          f"({again.planner.searches - res.planner.searches} new searches)")
    rel = load_scenario(EXAMPLES / "colossus-200k-reliability.yaml")
    job = build_job(rel, reliability_config(rel.sections["reliability"]))
    t = time.perf_counter()
    ans = solve_target(job, 0.9)
    print(f"target-ETTR solve at {job.gpus:,} GPUs: {time.perf_counter() - t:.3f} s (reachable: {ans.reachable})")
    print("goals: build-out < 5 s, target solve < 1 s:", "met" if full < 5 else "MISSED")


if __name__ == "__main__":
    main()
