"""Calibrate the fitted fields of a GPU family's efficiency profile against the reference runs.

    python benchmarks/calibrate.py                       # evaluate the catalog profiles, per-run errors
    python benchmarks/calibrate.py --fit                  # re-fit every family that has reference runs
    python benchmarks/calibrate.py --fit --family hopper  # one family
    python benchmarks/calibrate.py --fit --params gemm_max_fraction,hbm_fraction

What it does (docs/methodology.md, "Calibration"):

- the reference runs are `colossim.validation` (src/colossim/validation/data/training_runs.yaml),
  each replayed with its case's conventions exactly as `colossim validate` does;
- only the fields listed in ``FITTED`` move, each inside the bounds its measurements allow
  (a GEMM can't beat the best-shape MAMF ceiling, a kernel can't beat STREAM); every other
  field of the profile stays at its catalog value;
- one profile per family is fitted to all of that family's runs at once, never per run;
- the objective is the mean absolute step-time error plus a soft guard on the worst run
  (half of whatever exceeds 8%), minimised by Nelder-Mead in coordinates scaled to each
  field's range, started from the catalog values and from the middle of the bounds (the
  better end point wins). Deterministic: the same catalog gives the same numbers.

It prints the fitted values (to paste into catalog/data/efficiency.yaml with their sources),
each run's measured and predicted step time, and the family's MAPE and worst error. Needs
scipy (the `dev` extra).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

import numpy as np

from colossim import catalog
from colossim.perf.hardware import resolve_hardware
from colossim.perf.step import evaluate
from colossim.scenario import Scenario
from colossim.validation.runs import ReferenceRun, reference_runs

# GPU families with reference runs, and the GPU names those runs use
FAMILY_GPU = {"ampere": "a100", "hopper": "h100"}

# field -> (lower, upper, what bounds it). gemm_max_fraction moves every dtype together,
# keeping the catalog's ratios (fp8 / bf16 follows the MAMF ratio).
FITTED: dict[str, dict[str, tuple[float, float, str]]] = {
    "ampere": {
        "gemm_max_fraction": (0.55, 0.869, "best-shape MAMF 271.2/312 (hardware.md 5.1)"),
        "gemm_half_k": (16.0, 1024.0, "a tile reduces k in 32-64 steps; half speed below ~1k"),
        "hbm_fraction": (0.70, 0.92, "STREAM-class copies reach ~90% of 2.04 TB/s"),
    },
    "hopper": {
        "gemm_max_fraction": (0.55, 0.803, "best-shape MAMF 794.5/989 (hardware.md 5.1)"),
        "gemm_half_k": (16.0, 1024.0, "as ampere"),
        "gemm_half_output": (1.0e5, 4.3e6, "at most one wave of 128x256 tiles on 132 SMs"),
        "hbm_fraction": (0.70, 0.92, "STREAM-class copies reach ~90% of 3.35 TB/s"),
    },
}
WORST_GUARD = 0.08  # errors beyond this count again, at half weight


@dataclass(frozen=True)
class Case:
    run: ReferenceRun
    scenario: Scenario


def family_cases(family: str) -> list[Case]:
    return [Case(r, r.build()) for r in reference_runs() if r.gpu_family == FAMILY_GPU[family]]


def with_values(base: catalog.EfficiencyProfile, values: dict[str, float]) -> catalog.EfficiencyProfile:
    body = base.model_dump()
    for name, value in values.items():
        if name == "gemm_max_fraction":
            bf16 = body[name]["bf16"]
            body[name] = {dtype: frac * value / bf16 for dtype, frac in body[name].items()}
        else:
            body[name] = value
    return type(base)(**body)


def current_values(base: catalog.EfficiencyProfile, names: list[str]) -> dict[str, float]:
    return {n: (base.gemm_max_fraction["bf16"] if n == "gemm_max_fraction" else getattr(base, n)) for n in names}


def errors(cases: list[Case], profile: catalog.EfficiencyProfile) -> np.ndarray:
    """Signed relative step-time error of every case under ``profile``."""
    out = []
    for c in cases:
        s = c.scenario
        hw = resolve_hardware(s.cluster, s.training, profile)
        step = evaluate(s.model, s.cluster, s.training, s.plan_batch(), hw=hw).step_time_s[0]
        out.append(step / c.run.measured_iter_s - 1.0)
    return np.array(out)


def objective(err: np.ndarray) -> float:
    worst = float(np.max(np.abs(err)))
    return float(np.mean(np.abs(err))) + 0.5 * max(0.0, worst - WORST_GUARD)


def fit(family: str, names: list[str], cases: list[Case]) -> dict[str, float]:
    from scipy.optimize import minimize  # dev extra, only needed to fit

    base = catalog.efficiency_profile(family)
    bounds = FITTED[family]
    lo = np.array([bounds[n][0] for n in names])
    hi = np.array([bounds[n][1] for n in names])

    def values(z: np.ndarray) -> dict[str, float]:
        return dict(zip(names, (lo + np.clip(z, 0.0, 1.0) * (hi - lo)).tolist(), strict=True))

    def f(z: np.ndarray) -> float:
        return objective(errors(cases, with_values(base, values(z))))

    start = np.array([current_values(base, names)[n] for n in names])
    best = None
    for z0 in (np.clip((start - lo) / (hi - lo), 0.0, 1.0), np.full(len(names), 0.5)):
        res = minimize(f, z0, method="Nelder-Mead",
                       options={"maxiter": 400 * len(names), "xatol": 1e-4, "fatol": 1e-7, "initial_simplex": None})
        if best is None or res.fun < best.fun:
            best = res
    assert best is not None
    return values(best.x)


def report(family: str, cases: list[Case], profile: catalog.EfficiencyProfile, fitted: dict[str, float] | None) -> float:
    err = errors(cases, profile)
    print(f"\n{family} ({len(cases)} runs)")
    if fitted:
        for name, value in fitted.items():
            lo, hi, why = FITTED[family][name]
            edge = "  (at a bound)" if min(value - lo, hi - value) < 1e-3 * (hi - lo) else ""
            print(f"  {name:20s} = {value:.6g}   bounds [{lo:g}, {hi:g}]: {why}{edge}")
    print(f"  {'run':52s} {'measured':>10s} {'predicted':>10s} {'error':>7s}")
    for c, e in zip(cases, err, strict=True):
        print(f"  {c.run.label:52s} {c.run.measured_iter_s:10.3f} {c.run.measured_iter_s * (1 + e):10.3f} {100 * e:+6.1f}%")
    print(f"  MAPE {100 * np.mean(np.abs(err)):.2f}%, worst {100 * np.max(np.abs(err)):.1f}%")
    return float(np.sum(np.abs(err)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--family", choices=[*FAMILY_GPU, "all"], default="all")
    ap.add_argument("--fit", action="store_true", help="re-fit the FITTED fields (default: evaluate the catalog)")
    ap.add_argument("--params", help="comma-separated subset of the family's FITTED fields")
    args = ap.parse_args(argv)
    families = list(FAMILY_GPU) if args.family == "all" else [args.family]
    total, count = 0.0, 0
    for family in families:
        cases = family_cases(family)
        base = catalog.efficiency_profile(family)
        fitted = None
        if args.fit:
            names = args.params.split(",") if args.params else list(FITTED[family])
            unknown = [n for n in names if n not in FITTED[family]]
            if unknown:
                ap.error(f"--params: {unknown} are not fitted for {family}; choose from {list(FITTED[family])}")
            fitted = fit(family, names, cases)
            base = with_values(base, fitted)
        total += report(family, cases, base, fitted)
        count += len(cases)
    if len(families) > 1:
        print(f"\nall {count} runs: MAPE {100 * total / count:.2f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
