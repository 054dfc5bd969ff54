"""Fitting an efficiency profile to your own measurements, and using it.

``fit_profile`` turns nccl-tests runs and a GEMM sweep into the fields of an
:class:`colossim.catalog.EfficiencyProfile` that those measurements determine; every other
field stays the GPU family's catalog value. The result is a small YAML file
(``base`` + fitted fields + ``sources``) that a scenario names with
``cluster.efficiency_profile: path.yaml``.

- GEMMs: perf/layer.py's curve, efficiency = f_dtype * mn/(mn + H) * k/(k + K): H and K
  are fitted on a log grid (shared by all dtypes), each f_dtype then in closed form as the
  median ratio of measured to curve, so one odd shape does not move it.
- All-reduce / all-gather within one node: the large-message busbw over the nominal NVLink
  bandwidth is ``scaleup_busbw_fraction``; the smallest message's time is the latency
  (twice it for an all-gather, which perf/comm.py prices at half an all-reduce).
- Across nodes: the per-GPU NIC bytes/s behind the large-message busbw (with k ranks per
  node, B = busbw (N-1)/N n/(n-1) / k), over the NIC's nominal bytes/s, is
  ``scaleout_busbw_fraction``; the small-message time beyond the NVLink latency, over
  2 log2(nodes) steps (perf/comm.py), is ``scaleout_latency_s``.
- All-to-all across nodes: busbw (n-k)/(n-1) over the fitted NIC bytes/s is
  ``all_to_all_fraction`` (within a node colossim's all-to-all runs at NVLink speed).
Large messages: the top quarter of the sizes measured (at least 1 MiB); small: the smallest.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from colossim import catalog
from colossim.calibration.measurements import GemmSweep, NcclRun
from colossim.errors import ColossimError, field_error
from colossim.perf.layer import gemm_shape

# (lower, upper) of every field a profile file may set: physical bounds, never clamped
BOUNDS: dict[str, tuple[float, float]] = {
    "gemm_half_output": (1.0, 1e9), "gemm_half_k": (1.0, 1e6),
    "attention_fwd_fraction": (1e-3, 1.0), "attention_bwd_fraction": (1e-3, 1.0), "hbm_fraction": (1e-3, 1.0),
    "attention_cudnn_fwd_fraction": (1e-3, 1.0), "attention_cudnn_bwd_fraction": (1e-3, 1.0),
    "attention_fwd_half_seq": (0.0, 1e6), "attention_bwd_half_seq": (0.0, 1e6),
    "attention_flash_fwd_half_seq": (0.0, 1e6), "attention_flash_bwd_half_seq": (0.0, 1e6),
    "scaleup_busbw_fraction": (1e-3, 1.0), "scaleup_latency_s": (0.0, 1e-2),
    "scaleout_busbw_fraction": (1e-3, 1.0), "scaleout_latency_s": (0.0, 1e-2),
    "all_to_all_fraction": (1e-3, 1.0), "comm_sm_fraction": (0.0, 1.0), "kernel_overhead_s": (0.0, 1e-3),
    "gemm_floor_s": (0.0, 1e-3),
    "step_host_s": (0.0, 10.0), "p2p_exposed_fraction": (0.0, 1.0),
}
GEMM_FRACTION_BOUNDS = (1e-3, 1.0)


def _large(run: NcclRun) -> np.ndarray:
    cut = max(np.quantile(run.size_bytes, 0.75), 1 << 20)
    big = run.size_bytes >= cut
    return big if big.any() else run.size_bytes >= run.size_bytes.max()


# Grids of the GEMM-curve fit (perf/layer.py gemm_s): half_output, half_k and the per-kernel
# floor. The floor spans none to 20 us: a GEMM kernel's fixed GPU time is a few us.
HALF_OUTPUT_GRID = np.geomspace(1e3, 1e8, 61)
HALF_K_GRID = np.geomspace(1.0, 4096.0, 49)
FLOOR_GRID_S = np.concatenate([[0.0], np.geomspace(1e-7, 2e-5, 47)])
# The fit reads the GEMMs a training step runs: m, n and k all >= 1,024 (m is tokens per
# micro-batch, n and k hidden sizes and their TP shards). Below that a GEMM is a fraction of
# one wave of tiles and its rate steps with the wave count, which the smooth curve does not
# follow: fitted to XLA's B200 table down to 256, the fp8 fraction goes to its bound of 1.0
# (benchmarks/gemm_curve.py). A sweep with fewer such points than FIT_MIN_POINTS is fitted whole.
FIT_MIN_DIM = 1024
FIT_MIN_POINTS = 8


def fit_points(sweep: GemmSweep) -> np.ndarray:
    big = np.minimum(np.minimum(sweep.m, sweep.n), sweep.k) >= FIT_MIN_DIM
    return big if big.sum() >= FIT_MIN_POINTS else np.ones(len(sweep.m), dtype=bool)


def dense_peak_flops(dtype: np.ndarray, gpu: catalog.GPUEntry) -> np.ndarray:
    """Each sweep point's dense peak (an fp32 sweep is held to the bf16 tensor-core peak)."""
    return np.array([gpu.peak_flops("bf16" if d == "fp32" else str(d)) for d in dtype])


def _check_below_peak(sweep: GemmSweep, gpu: catalog.GPUEntry, peak: np.ndarray) -> None:
    """A GEMM faster than the GPU's dense peak is a mistimed kernel or the wrong --gpu: refused."""
    over = np.flatnonzero(sweep.flops_s > peak)
    if over.size:
        i = int(over[0])
        d = sweep.dtype[i]
        raise ColossimError(f"GEMM sweep: {int(sweep.m[i])}x{int(sweep.n[i])}x{int(sweep.k[i])} {d} runs at "
                            f"{sweep.flops_s[i] / 1e12:,.1f} TFLOP/s, above the {gpu.name} dense {d} peak of "
                            f"{peak[i] / 1e12:,.1f}: a mistimed kernel, or the sweep is not from this GPU (--gpu)",
                            field="gemm")


def curve_time_s(sweep: GemmSweep, body: dict[str, Any], gpu: catalog.GPUEntry) -> np.ndarray:
    """Each sweep point's time on a fitted curve (``body`` as :func:`fit_gemm` returns it)."""
    frac = np.array([body["gemm_max_fraction"][d] for d in sweep.dtype])
    shape = gemm_shape(sweep.m * sweep.n, sweep.k, body["gemm_half_output"], body["gemm_half_k"])
    work = 2.0 * sweep.m * sweep.n * sweep.k
    return work / (frac * dense_peak_flops(sweep.dtype, gpu) * shape) + body["gemm_floor_s"]


def fit_gemm(sweep: GemmSweep, gpu: catalog.GPUEntry) -> dict[str, Any]:
    """The GEMM curve of perf/layer.py ``gemm_s`` fitted to a measured sweep: time =
    2mnk / (fraction x peak x mn/(mn + half_output) x k/(k + half_k)) + gemm_floor_s, one
    fraction per dtype (at most 1), the shape terms and the floor shared. Least squares in
    log time over the grids above, on the training-sized points (``fit_points``); each
    dtype's fraction is the median that the candidate curve implies."""
    all_peak = dense_peak_flops(sweep.dtype, gpu)
    _check_below_peak(sweep, gpu, all_peak)
    use = fit_points(sweep)
    m, n, k, dtype, peak = sweep.m[use], sweep.n[use], sweep.k[use], sweep.dtype[use], all_peak[use]
    work = 2.0 * m * n * k
    t = work / sweep.flops_s[use]
    mn = m * n
    curve = np.asarray(gemm_shape(mn, k, HALF_OUTPUT_GRID[:, None, None], HALF_K_GRID[None, :, None]))  # (H, K, points)
    ideal = work / (peak * curve)  # time at fraction 1, no floor
    dtypes = np.unique(dtype)
    best: tuple[float, float, float, float] | None = None
    for floor in FLOOR_GRID_S:
        if floor >= t.min():
            break
        f_point = ideal / (t - floor)
        resid = np.zeros(curve.shape[:2])
        for d in dtypes:
            sel = dtype == d
            f = np.minimum(np.median(f_point[..., sel], axis=-1, keepdims=True), GEMM_FRACTION_BOUNDS[1])
            resid += np.sum(np.log((ideal[..., sel] / f + floor) / t[sel]) ** 2, axis=-1)
        hi, ki = np.unravel_index(np.argmin(resid), resid.shape)
        if best is None or resid[hi, ki] < best[0]:
            best = (float(resid[hi, ki]), float(HALF_OUTPUT_GRID[hi]), float(HALF_K_GRID[ki]), float(floor))
    assert best is not None
    _, h, kk, floor = best
    implied = work / (peak * gemm_shape(mn, k, h, kk) * (t - floor))
    fractions = {str(d): min(float(np.median(implied[dtype == d])), GEMM_FRACTION_BOUNDS[1]) for d in dtypes}
    return {"gemm_max_fraction": fractions, "gemm_half_output": h, "gemm_half_k": kk, "gemm_floor_s": floor}


def _ring_bytes_s(run: NcclRun) -> float:
    """Per-GPU NIC bytes/s behind a multi-node ring's busbw (perf/comm.py: with k ranks per
    node, time = 2(N-1)/N * S / (k B) and nccl-tests' busbw = S/t * 2(n-1)/n)."""
    n, nodes = run.ranks, run.nodes
    k = n / nodes
    busbw = float(np.median(run.busbw_bytes_s[_large(run)]))
    return busbw * (nodes - 1) / nodes * n / (n - 1) / k


def _small_latency_s(run: NcclRun) -> float:
    """The smallest message's time as an all-reduce latency (reduce-scatter and all-gather
    cost half an all-reduce, latency included: perf/comm.py)."""
    t = float(run.time_s[np.argmin(run.size_bytes)])
    return t if run.collective == "all_reduce" else 2.0 * t


def fit_comm(runs: list[NcclRun], scaleup_gbytes_s: float, nic_gbits_s: float,
             base: catalog.EfficiencyProfile) -> dict[str, float]:
    out: dict[str, float] = {}
    by = {(r.collective, r.nodes > 1): r for r in runs}
    intra = by.get(("all_reduce", False)) or by.get(("all_gather", False))
    if intra is not None:
        out["scaleup_busbw_fraction"] = float(np.median(intra.busbw_bytes_s[_large(intra)])) / (scaleup_gbytes_s * 1e9)
        out["scaleup_latency_s"] = _small_latency_s(intra)
    inter = by.get(("all_reduce", True)) or by.get(("all_gather", True))
    nic_bytes_s = nic_gbits_s / 8 * 1e9
    if inter is not None:
        out["scaleout_busbw_fraction"] = _ring_bytes_s(inter) / nic_bytes_s
        steps = 2.0 * np.log2(max(inter.nodes, 2))
        alpha = out.get("scaleup_latency_s", base.scaleup_latency_s) if inter.ranks > inter.nodes else 0.0
        out["scaleout_latency_s"] = max(_small_latency_s(inter) - alpha, 0.0) / steps
    a2a = by.get(("alltoall", True))
    if a2a is not None:  # on one node colossim's all-to-all runs at NVLink speed: nothing to fit
        n, k = a2a.ranks, a2a.ranks / a2a.nodes
        busbw = float(np.median(a2a.busbw_bytes_s[_large(a2a)]))
        nic = nic_bytes_s * out.get("scaleout_busbw_fraction", base.scaleout_busbw_fraction)
        out["all_to_all_fraction"] = busbw * (n - k) / (n - 1) / nic
    return {name: round(float(v), 9) for name, v in out.items()}


def fit_profile(gpu_name: str, runs: list[NcclRun], sweep: GemmSweep | None,
                sources: dict[str, str]) -> dict[str, Any]:
    """The profile file's content: ``base`` (the GPU family), the fitted fields, ``sources``."""
    gpu = catalog.gpu(gpu_name, "--gpu")
    body: dict[str, Any] = {"base": gpu.profile, "gpu": gpu.name}
    if sweep is not None:
        body.update(fit_gemm(sweep, gpu))
    body.update(fit_comm(runs, gpu.scaleup_unidir_gbps, gpu.nic_gbps, catalog.efficiency_profile(gpu.profile)))
    body["sources"] = dict(sources)
    check_profile(body, "profile")
    return body


def check_profile(body: dict[str, Any], where: str) -> None:
    """Refuse (never clamp) a field outside its physical bounds or unknown to profiles."""
    allowed = {*BOUNDS, "gemm_max_fraction", "base", "gpu", "sources"}
    for name, value in body.items():
        if name not in allowed:
            raise field_error(f"{where}.{name}", name, f"unknown profile field; allowed: {', '.join(sorted(allowed))}",
                              choices=sorted(allowed))
        if name in BOUNDS:
            lo, hi = BOUNDS[name]
            if not isinstance(value, (int, float)) or not lo <= float(value) <= hi:
                raise field_error(f"{where}.{name}", value, f"must be a number in [{lo:g}, {hi:g}]")
    for dtype, frac in (body.get("gemm_max_fraction") or {}).items():
        lo, hi = GEMM_FRACTION_BOUNDS
        if not isinstance(frac, (int, float)) or not lo <= float(frac) <= hi:
            raise field_error(f"{where}.gemm_max_fraction.{dtype}", frac, f"must be a fraction in [{lo:g}, {hi:g}]")


def to_yaml(body: dict[str, Any]) -> str:
    return "# colossim efficiency profile fitted by `colossim calibrate`\n" + yaml.safe_dump(body, sort_keys=False)


@functools.cache
def _read(path: str) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise ColossimError(f"cluster.efficiency_profile: file not found: {path}", field="cluster.efficiency_profile",
                            value=path)
    try:
        body = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ColossimError(f"{path}: invalid YAML{where}", field="cluster.efficiency_profile") from None
    if not isinstance(body, dict):
        raise ColossimError(f"{path}: a profile must be a mapping", field="cluster.efficiency_profile")
    check_profile(body, path)
    return body


def load_profile(path: str, family: str) -> catalog.EfficiencyProfile:
    """The GPU family's catalog profile with the file's fields in place of its own."""
    body = _read(path)
    base = catalog.efficiency_profile(family)
    if body.get("base", family) != family:
        raise field_error("cluster.efficiency_profile", path,
                          f"fitted for the {body['base']!r} family, but the cluster's GPU is {family!r}")
    merged = base.model_dump()
    for name, value in body.items():
        if name == "gemm_max_fraction":
            merged[name] = {**merged[name], **value}
        elif name in BOUNDS:
            merged[name] = float(value)
    if "gemm_max_fraction" in body:  # measured on the user's own GPU: no sibling scaling on top
        merged["reference_gpu"] = None
        merged["gpu_gemm_scale"] = {}
    merged["sources"] = {**merged["sources"], **{k: f"{path}: {v}" for k, v in (body.get("sources") or {}).items()}}
    return type(base)(**merged)
