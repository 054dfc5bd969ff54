"""Fitting a GPU family's efficiency profile to reference runs, and cross-validating the fit.

One code path for `benchmarks/calibrate.py --fit` and `colossim validate --cross-validate`,
so the product's accuracy figure and the catalog's fitted values cannot drift apart.

- Only the fields in ``FITTED`` move, each inside the bounds its measurements allow (a GEMM
  cannot beat the best-shape MAMF ceiling, a kernel cannot beat STREAM), and those in
  ``TIED`` follow the field they are tied to; every other field keeps its catalog value.
  One profile per GPU family, fitted to all of that family's runs at once, never per run.
- Objective: the mean absolute step-time error (L1: a run whose mechanism colossim lacks,
  such as DeepSeek-V3's DualPipe, pulls the fit less than under a squared or worst-case loss).
- Search: every candidate profile of a round is evaluated in one vectorized call per run
  (the plan repeated once per candidate, the fitted rates as arrays over candidates); a
  round samples ``CANDIDATES`` points of the current box (a fixed seed: deterministic),
  keeps the best, and halves the box around it, ``ROUNDS`` times.
- A GPU with no measured GEMM ceiling (perf/hardware.py assumed_gemm_ceiling: GB300, the
  500 W H100) does not steer its family's fields (:func:`informs_fit`); once they are fitted,
  its own sustained-GEMM scale is fitted to its runs alone (:func:`fit_gpu_scales`), so an
  unmeasured GPU is calibrated by what was published on it and by nothing else.
- Cross-validation: leave one case family out, refit that GPU family on the rest, predict
  the family left out. A GPU family left with no run keeps its PRIOR (the profile before any
  fit), else its catalog profile; a GPU left with no run keeps the scale 1 (the assumption).
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import numpy as np

from colossim import catalog
from colossim.perf.hardware import (
    Hardware,
    assumed_gemm_ceiling,
    fitted_gemm_scale,
    resolve_hardware,
)
from colossim.perf.step import evaluate
from colossim.scenario import Scenario
from colossim.validation.runs import ReferenceRun, reference_runs
from colossim.workers import can_fork, default_workers

# GPU name in the validation data -> efficiency profile
GPU_FAMILY = {"a100": "ampere", "h100": "hopper", "h800": "hopper", "h200": "hopper", "b200": "blackwell",
              "gb200": "blackwell", "b300": "blackwell", "gb300": "blackwell", "mi355x": "cdna4"}

# field -> (lower, upper, what bounds it). gemm_max_fraction moves the bf16/fp16/tf32 GEMMs
# (and fp8 too where the family has no gemm_fp8_fraction); gemm_fp8_fraction is the fp8
# GEMMs' own kernel class (Hopper: 15 of its runs train in FP8, and they sustain less of
# their peak than the best-shape MAMF ratio to bf16 says).
FITTED: dict[str, dict[str, tuple[float, float, str]]] = {
    "ampere": {
        "gemm_max_fraction": (0.55, 0.869, "best-shape MAMF 271.2/312 (hardware.md 5.1)"),
        "gemm_half_k": (16.0, 1024.0, "a tile reduces k in 32-64 steps; half speed below ~1k"),
        "hbm_fraction": (0.70, 0.92, "STREAM-class copies reach ~90% of 2.04 TB/s"),
        "step_host_s": (0.0, 0.05, "0-50 ms of host time between steps (Megatron timers: loss/norm .item(), get_batch)"),
    },
    "hopper": {
        "gemm_max_fraction": (0.55, 0.803, "best-shape MAMF 794.5/989 (hardware.md 5.1)"),
        "gemm_fp8_fraction": (0.40, 0.709, "best-shape FP8 MAMF 0.709 of the 1,979 TFLOP/s dense peak (hardware.md 5.1)"),
        # gemm_half_output, gemm_half_k and gemm_floor_s are not fitted: they are measured
        # (XLA's CUPTI-timed H100 matmul table, benchmarks/gemm_curve.py)
        "hbm_fraction": (0.70, 0.92, "STREAM-class copies reach ~90% of 3.35 TB/s"),
        "step_host_s": (0.0, 0.05, "as ampere"),
        "p2p_exposed_fraction": (0.0, 1.0, "none to all of an overlapped pipeline exchange exposed"),
    },
    "blackwell": {
        # gemm_max_fraction (bf16) is TIED to the fp8 fraction below
        "gemm_fp8_fraction": (0.35, 0.763, "best-shape FP8 MAMF 3,432.5/4,500 on B200 (hardware.md 5.1)"),
        # the GEMM curve's shape and floor are measured, as Hopper's (XLA's B200 table)
        "hbm_fraction": (0.70, 0.92, "STREAM-class copies reach ~90% of 8 TB/s"),
        "step_host_s": (0.0, 0.05, "as ampere"),
        "p2p_exposed_fraction": (0.0, 1.0, "as hopper"),
    },
    "cdna4": {
        # three one-node FP8 runs of one model (MLPerf v5.1's Llama 3.1 8B): the FP8 GEMM class
        # only; every other field keeps its assumption (efficiency.yaml)
        "gemm_fp8_fraction": (0.30, 0.622, "no FP8 MAMF is published for MI355X: at most its BF16 MAMF share, "
                                           "1,565/2,516.6 (MLENG; hardware.md 5.1), as on H100 (FP8 0.709 against "
                                           "BF16 0.803) and B200 (0.763 against 0.776)"),
    },
}
# Fields no run measures on its own follow a fitted one: every Blackwell reference run trains in
# FP8, its bf16 GEMMs are only the output layers, and fitted free the bf16 fraction wandered to
# 0.96 of its MAMF ceiling while fp8 sat at 0.61 of its own. Tied, bf16 keeps the fp8 fraction's
# share of its ceiling: bf16 = fp8 x (0.776 / 0.763), the B200 MAMF fractions (hardware.md 5.1).
TIED: dict[str, dict[str, tuple[str, float]]] = {
    "blackwell": {"gemm_max_fraction": ("gemm_fp8_fraction", 0.776 / 0.763)},
}
# What a family's profile is before any of its runs is fitted: the cross-validation fold of a
# family's only case family predicts it from this, never from the catalog values that were
# fitted with it. Blackwell: Hopper's sustained/MAMF ratio (0.722/0.803, the 2026-12 first fit)
# carried to the B200 MAMF figures, HBM as first set in the catalog (sources there).
PRIOR: dict[str, dict[str, float]] = {
    "blackwell": {"gemm_max_fraction": 0.698, "gemm_fp8_fraction": 0.686,
                  "hbm_fraction": 0.82, "step_host_s": 0.0, "p2p_exposed_fraction": 0.0},
    # CDNA 4: the catalog's assumption before its first runs (2026-12-08), fp8 0.56 of the
    # MI355X's 5,033 TFLOP/s dense peak
    "cdna4": {"gemm_fp8_fraction": 0.56},
}
# 384 x 14 since Hopper and Blackwell fit five fields (2026-12-03): at 192 x 9 the search
# stopped short of the optimum it finds with more points (in-sample 4.89% against 4.72% over
# the 131 runs); 768 x 16 keeps the in-sample error and moves the fields by up to 0.02 (the
# L1 objective is flat: Hopper's HBM fraction, Blackwell's exposed pipeline share)
CANDIDATES = 384
ROUNDS = 14
SEED = 0
# fit_gpu_scales: one field, so a grid over its bounds, then a finer one around the best point
SCALE_GRID = 97


@dataclass(frozen=True)
class Case:
    run: ReferenceRun
    scenario: Scenario
    hw: Hardware  # under the catalog profile


def family_of(run: ReferenceRun) -> str:
    return GPU_FAMILY[run.gpu_family]


@functools.cache
def all_cases() -> tuple[Case, ...]:
    out = []
    for r in reference_runs():
        s = r.build()
        out.append(Case(r, s, resolve_hardware(s.cluster, s.training)))
    return tuple(out)


_SCALE_PREFIX = "gpu_gemm_scale["


def scale_key(gpu: str) -> str:
    """The fitted-values key of ``gpu``'s sustained-GEMM scale (:func:`fit_gpu_scales`)."""
    return f"{_SCALE_PREFIX}{gpu}]"


def scale_gpu(name: str) -> str | None:
    """The GPU whose scale the fitted-values key ``name`` holds; None for a profile field."""
    return name[len(_SCALE_PREFIX):-1] if name.startswith(_SCALE_PREFIX) else None


def _candidate_hw(hw: Hardware, base: catalog.EfficiencyProfile, values: dict[str, np.ndarray],
                  precision: str = "bf16", gpu: str = "") -> Hardware:
    """``hw`` with the fitted fields replaced by arrays over candidates. ``gemm_max_fraction``
    is the bf16 (and fp16/tf32) one; ``gemm_fp8_fraction`` the fp8 one, which only fp8 runs'
    precision GEMMs use (their attention and logits GEMMs stay bf16). ``gpu``'s own scale
    (:func:`scale_key`) multiplies both, in place of the catalog's."""
    upd: dict[str, np.ndarray] = {}
    fp8 = precision == "fp8"
    scale: np.ndarray | None = None
    for name, v in values.items():
        if (scaled := scale_gpu(name)) is not None:
            if scaled == gpu:
                scale = v / fitted_gemm_scale(catalog.gpu(gpu), base)
        elif name == "gemm_max_fraction":
            ratio = v / base.gemm_max_fraction["bf16"]
            if not (fp8 and "gemm_fp8_fraction" in values):
                upd["gemm_flops"] = hw.gemm_flops * ratio
            upd["gemm_flops_bf16"] = hw.gemm_flops_bf16 * ratio
        elif name == "gemm_fp8_fraction":
            if fp8:
                upd["gemm_flops"] = hw.gemm_flops * v / base.gemm_max_fraction["fp8"]
        elif name == "hbm_fraction":
            upd["hbm_bytes_s"] = hw.hbm_bytes_s * v / base.hbm_fraction
        else:
            upd[name] = v
    if scale is not None:
        upd["gemm_flops"] = upd.get("gemm_flops", hw.gemm_flops) * scale
        upd["gemm_flops_bf16"] = upd.get("gemm_flops_bf16", hw.gemm_flops_bf16) * scale
    return dataclasses.replace(hw, **upd)  # type: ignore[arg-type]


def with_tied(family: str, values: dict) -> dict:
    """``values`` with the family's TIED fields derived from the fields they follow."""
    out = dict(values)
    for name, (parent, ratio) in TIED.get(family, {}).items():
        if parent in values:
            out[name] = values[parent] * ratio
    return out


def errors(cases: list[Case], family: str, values: dict[str, np.ndarray]) -> np.ndarray:
    """Signed relative step-time errors, shape (cases, candidates)."""
    values = with_tied(family, values)
    base = catalog.efficiency_profile(family)
    k = len(next(iter(values.values())))
    out = np.empty((len(cases), k))
    for i, c in enumerate(cases):
        s = c.scenario
        plans = s.plan_batch().take(np.zeros(k, dtype=int))
        step = evaluate(s.model, s.cluster, s.training, plans,
                        hw=_candidate_hw(c.hw, base, values, s.training.precision, gpu_name(c))).step_time_s
        out[i] = step / c.run.measured_iter_s - 1.0
    return out


def objective(err: np.ndarray) -> np.ndarray:
    """Per candidate (columns of ``err``)."""
    return np.mean(np.abs(err), axis=0)


def catalog_values(family: str) -> dict[str, float]:
    base = catalog.efficiency_profile(family)
    special = {"gemm_max_fraction": base.gemm_max_fraction["bf16"],
               "gemm_fp8_fraction": base.gemm_max_fraction.get("fp8", base.gemm_max_fraction["bf16"])}
    out = {n: float(special[n]) if n in special else float(getattr(base, n)) for n in FITTED[family]}
    return {**out, **{scale_key(g): float(v) for g, v in base.gpu_gemm_scale.items()}}


def gpu_name(c: Case) -> str:
    return catalog.gpu(c.scenario.cluster.gpu).name


def scaled_gpus(family: str) -> list[str]:
    """The family's GPUs whose GEMM ceiling is an assumption (no measured MAMF, other peaks than
    the reference's): each gets its own scale (:func:`fit_gpu_scales`)."""
    prof = catalog.efficiency_profile(family)
    return [g.name for g in catalog.gpus() if g.profile == family and assumed_gemm_ceiling(g, prof)]


def scale_bounds(family: str, values: dict[str, float]) -> tuple[float, float]:
    """A GPU's scale keeps its sustained share of its own peak (the family's fitted fraction x
    the scale) inside the bounds the family's fractions have (FITTED: up to the reference's
    best-shape MAMF share): the intersection over the family's fitted GEMM fractions."""
    fracs = [n for n in ("gemm_max_fraction", "gemm_fp8_fraction") if n in FITTED[family] and n in values]
    lo = max(FITTED[family][n][0] / values[n] for n in fracs)
    hi = min(FITTED[family][n][1] / values[n] for n in fracs)
    return lo, hi


def fit_gpu_scales(family: str, cases: list[Case], values: dict[str, float]) -> dict[str, float]:
    """Under the family's fitted ``values``, the scale of each GPU of :func:`scaled_gpus` that
    best reproduces that GPU's runs among ``cases`` (L1, a grid over :func:`scale_bounds` and
    a finer one around its best point); 1, the assumption, for such a GPU with no run here."""
    out = {}
    lo, hi = scale_bounds(family, values)
    fixed = {n: np.full(SCALE_GRID, v) for n, v in values.items() if scale_gpu(n) is None}
    for gpu in scaled_gpus(family):
        mine = [c for c in cases if gpu_name(c) == gpu]
        if not mine:
            out[scale_key(gpu)] = 1.0
            continue
        grid = np.linspace(lo, hi, SCALE_GRID)
        for _ in range(2):
            f = objective(errors(mine, family, {**fixed, scale_key(gpu): grid}))
            best = float(grid[int(np.argmin(f))])
            step = grid[1] - grid[0]
            grid = np.linspace(max(lo, best - step), min(hi, best + step), SCALE_GRID)
        out[scale_key(gpu)] = best
    return out


def informs_fit(c: Case) -> bool:
    """Whether run ``c`` can steer its family's fitted GEMM fractions: its GPU is the profile's
    reference GPU, has a measured MAMF (perf/hardware.py mamf_scale puts it on the reference's
    scale), or has the reference's dense peaks (the same silicon at the same clocks: H800 and
    H100). A GPU with neither (GB300: no MAMF, peaks 11% above B200's; the 500 W H100: an
    interpolated peak) is priced at the reference's share of its own peak, an assumption the
    fit could only absorb into the fraction every other GPU of the family shares. Such runs are
    predicted, scored and cross-validated like any other; they do not move the profile, only
    their own GPU's scale (:func:`fit_gpu_scales`)."""
    return not assumed_gemm_ceiling(catalog.gpu(c.scenario.cluster.gpu), catalog.efficiency_profile(family_of(c.run)))


def fit(family: str, cases: list[Case]) -> dict[str, float]:
    """The fitted fields of ``family`` that best reproduce ``cases`` (deterministic), from the
    runs among them that :func:`informs_fit`, then each unmeasured GPU's scale from its own
    runs (:func:`fit_gpu_scales`)."""
    values = _fit_profile(family, [c for c in cases if informs_fit(c)])
    return {**values, **fit_gpu_scales(family, cases, values)}


def _fit_profile(family: str, cases: list[Case]) -> dict[str, float]:
    names = list(FITTED[family])
    lo = np.array([FITTED[family][n][0] for n in names])
    hi = np.array([FITTED[family][n][1] for n in names])
    if not cases:
        prior = PRIOR.get(family) or {n: v for n, v in catalog_values(family).items() if n in FITTED[family]}
        return with_tied(family, dict(prior))
    rng = np.random.default_rng(SEED)
    # The first round samples the whole box (centre +- 0.5), so the fit depends on the runs
    # only, not on the catalog values it may replace (a cross-validated figure must not
    # lean on a profile fitted with the held-out family in it).
    best_z = np.full(len(names), 0.5)
    width = 1.0
    best_f = np.inf
    for _ in range(ROUNDS):
        z = best_z + (rng.random((CANDIDATES, len(names))) - 0.5) * width
        z = np.clip(np.vstack([best_z, z]), 0.0, 1.0)
        vals = lo + z * (hi - lo)
        f = objective(errors(cases, family, {n: vals[:, j] for j, n in enumerate(names)}))
        j = int(np.argmin(f))
        if f[j] <= best_f:
            best_f, best_z = float(f[j]), z[j]
        width *= 0.5
    return with_tied(family, dict(zip(names, (lo + best_z * (hi - lo)).tolist(), strict=True)))


def predict(cases: list[Case], family: str, values: dict[str, float]) -> np.ndarray:
    return errors(cases, family, {n: np.array([v]) for n, v in values.items()})[:, 0]


def _fold_errors(held: str) -> dict[str, float]:
    """Errors of case family ``held`` under its GPU family's profile refitted without it."""
    cases = list(all_cases())
    test = [c for c in cases if c.run.case == held]
    family = family_of(test[0].run)
    train = [c for c in cases if c.run.case != held and family_of(c.run) == family]
    values = fit(family, train)
    return {c.run.label: float(e) for c, e in zip(test, predict(test, family, values), strict=True)}


@functools.cache
def cross_validated_errors() -> dict[str, float]:
    """Leave-one-case-family-out error of every run, by ``case/run`` label.

    The folds are independent refits, so with more than one core they run in forked
    processes (which inherit the cases built here); every fit is deterministic (SEED), so
    the result does not depend on the number of workers."""
    folds = list(dict.fromkeys(c.run.case for c in all_cases()))
    workers = min(default_workers(), len(folds))
    if workers > 1 and can_fork():
        import multiprocessing as mp

        with mp.get_context("fork").Pool(workers) as pool:
            parts = pool.map(_fold_errors, folds, chunksize=1)
    else:
        parts = [_fold_errors(held) for held in folds]
    out: dict[str, float] = {}
    for part in parts:
        out.update(part)
    return out
