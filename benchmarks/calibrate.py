"""Calibrate the fitted fields of each GPU family's efficiency profile against the reference runs.

    python benchmarks/calibrate.py                       # evaluate the catalog profiles, per-run errors
    python benchmarks/calibrate.py --fit                  # re-fit every family that has reference runs
    python benchmarks/calibrate.py --fit --family hopper  # one family
    python benchmarks/calibrate.py --cross-validate       # leave one case family out, as `colossim validate` does,
                                                          # and each profile's `validated` record to store

The fit itself is :mod:`colossim.validation.fit` (the same code `colossim validate
--cross-validate` runs, so the product's figure and the catalog's values cannot drift):
only the fields in ``FITTED`` move, inside bounds set by measurements; one profile per GPU
family, fitted to all of that family's runs at once; deterministic vectorized search.
It prints the fitted values (to paste into catalog/data/efficiency.yaml with their sources),
each run's measured and predicted step time, and the family's MAPE and worst error.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np

from colossim.validation import fit as vfit


def report(family: str, cases: list[vfit.Case], values: dict[str, float], fitted: bool) -> float:
    err = vfit.predict(cases, family, values)
    print(f"\n{family} ({len(cases)} runs)")
    if fitted:
        for name, value in values.items():
            if name in vfit.TIED.get(family, {}):
                parent, ratio = vfit.TIED[family][name]
                print(f"  {name:20s} = {value:.6g}   tied: {parent} x {ratio:.4f}")
                continue
            if (gpu := vfit.scale_gpu(name)) is not None:
                n = sum(vfit.gpu_name(c) == gpu for c in cases)
                if not n:
                    print(f"  {name:20s} = 1   no run on {gpu}: the assumption (not stored)")
                    continue
                lo, hi = vfit.scale_bounds(family, values)
                print(f"  {name:20s} = {value:.6g}   bounds [{lo:.4g}, {hi:.4g}]: fitted to the {n} runs on {gpu} alone "
                      "(efficiency.yaml gpu_gemm_scale)")
                continue
            lo, hi, why = vfit.FITTED[family][name]
            edge = "  (at a bound)" if min(value - lo, hi - value) < 1e-3 * (hi - lo) else ""
            print(f"  {name:20s} = {value:.6g}   bounds [{lo:g}, {hi:g}]: {why}{edge}")
    print(f"  {'run':52s} {'measured':>10s} {'predicted':>10s} {'error':>7s}")
    for c, e in zip(cases, err, strict=True):
        print(f"  {c.run.label:52s} {c.run.measured_iter_s:10.3f} {c.run.measured_iter_s * (1 + e):10.3f} {100 * e:+6.1f}%")
    print(f"  MAPE {100 * np.mean(np.abs(err)):.2f}%, worst {100 * np.max(np.abs(err)):.1f}%")
    return float(np.sum(np.abs(err)))


def validated_records(cv: dict[str, float]) -> tuple[dict[str, dict], dict[str, dict]]:
    """The `validated` record of each fitted profile (catalog/data/efficiency.yaml) and of each
    stack (stacks.yaml); tests/test_accuracy_notes.py keeps the stored ones equal to these."""
    from colossim.validation.runs import stack_summary, validate

    profiles = {}
    for family in vfit.FITTED:
        cases = [c for c in vfit.all_cases() if vfit.family_of(c.run) == family]
        if cases:
            ins = vfit.predict(cases, family, vfit.catalog_values(family))
            cvs = [cv[c.run.label] for c in cases]
            profiles[family] = {"runs": len(cases), "cross_validated_mape": round(float(np.mean(np.abs(cvs))), 4),
                                "mape": round(float(np.mean(np.abs(ins))), 4)}
    return profiles, stack_summary(validate(cross_validate=True))


def _flow(rec: dict) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in rec.items()) + "}"


def store_validated(profiles: dict[str, dict], stack_recs: dict[str, dict]) -> None:
    """Replace (or add) the `    validated: {...}` line of each entry, keeping the files' layout:
    a profile's line sits among its fields, a stack's right after its `    date:` line."""
    from colossim.atomic import write_text

    data = Path(vfit.__file__).resolve().parents[1] / "catalog" / "data"
    for fname, recs, anchor in (("efficiency.yaml", profiles, "    gemm_max_fraction:"), ("stacks.yaml", stack_recs, "    date:")):
        lines = (data / fname).read_text(encoding="utf-8").split("\n")
        out, entry = [], None
        for line in lines:
            if re.match(r"^  [a-z0-9][a-z0-9.-]*:$", line):
                entry = line.strip()[:-1]
            if entry in recs and line.startswith("    validated:"):
                continue
            out.append(line)
            if entry in recs and line.startswith(anchor):
                out.append(f"    validated: {_flow(recs[entry])}")
        write_text(data / fname, "\n".join(out))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--family", choices=[*vfit.FITTED, "all"], default="all")
    ap.add_argument("--fit", action="store_true", help="re-fit the FITTED fields (default: evaluate the catalog)")
    ap.add_argument("--cross-validate", action="store_true", help="leave-one-case-family-out errors")
    ap.add_argument("--store", action="store_true",
                    help="with --cross-validate: write each profile's and stack's `validated` record into the catalog")
    args = ap.parse_args(argv)
    if args.cross_validate:
        cv = vfit.cross_validated_errors()
        for label, e in cv.items():
            print(f"  {label:52s} {100 * e:+6.1f}%")
        print(f"cross-validated MAPE {100 * np.mean(np.abs(list(cv.values()))):.2f}% over {len(cv)} runs")
        profiles, stack_recs = validated_records(cv)
        for family, rec in profiles.items():
            print(f"  {family}: validated: {_flow(rec)}")
        for name, rec in stack_recs.items():
            print(f"  stack {name}: validated: {_flow(rec)}")
        if args.store:
            store_validated(profiles, stack_recs)
            print("stored in catalog/data/efficiency.yaml and stacks.yaml")
        return 0
    families = list(vfit.FITTED) if args.family == "all" else [args.family]
    total, count = 0.0, 0
    for family in families:
        cases = [c for c in vfit.all_cases() if vfit.family_of(c.run) == family]
        if not cases:
            print(f"\n{family}: no reference run (its profile keeps the catalog values)")
            continue
        values = vfit.fit(family, cases) if args.fit else vfit.catalog_values(family)
        total += report(family, cases, values, args.fit)
        count += len(cases)
    if len(families) > 1:
        print(f"\nall {count} runs: MAPE {100 * total / count:.2f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
