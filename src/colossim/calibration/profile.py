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

# (lower, upper) of every field a profile file may set: physical bounds, never clamped
BOUNDS: dict[str, tuple[float, float]] = {
    "gemm_half_output": (1.0, 1e9), "gemm_half_k": (1.0, 1e6),
    "attention_fwd_fraction": (1e-3, 1.0), "attention_bwd_fraction": (1e-3, 1.0), "hbm_fraction": (1e-3, 1.0),
    "attention_cudnn_fwd_fraction": (1e-3, 1.0), "attention_cudnn_bwd_fraction": (1e-3, 1.0),
    "attention_fwd_half_seq": (0.0, 1e6), "attention_bwd_half_seq": (0.0, 1e6),
    "scaleup_busbw_fraction": (1e-3, 1.0), "scaleup_latency_s": (0.0, 1e-2),
    "scaleout_busbw_fraction": (1e-3, 1.0), "scaleout_latency_s": (0.0, 1e-2),
    "all_to_all_fraction": (1e-3, 1.0), "comm_sm_fraction": (0.0, 1.0), "kernel_overhead_s": (0.0, 1e-3),
    "step_host_s": (0.0, 10.0),
}
GEMM_FRACTION_BOUNDS = (1e-3, 1.0)


def _large(run: NcclRun) -> np.ndarray:
    cut = max(np.quantile(run.size_bytes, 0.75), 1 << 20)
    big = run.size_bytes >= cut
    return big if big.any() else run.size_bytes >= run.size_bytes.max()


def fit_gemm(sweep: GemmSweep, gpu: catalog.GPUEntry) -> dict[str, Any]:
    peak = np.array([gpu.peak_flops("bf16" if d == "fp32" else d) for d in sweep.dtype])
    eff = sweep.flops_s / peak
    mn, k = sweep.m * sweep.n, sweep.k
    best: tuple[float, float, float] | None = None
    for h in np.geomspace(1e3, 1e8, 61):
        for kk in np.geomspace(1.0, 4096.0, 49):
            curve = mn / (mn + h) * k / (k + kk)
            resid = 0.0
            for d in np.unique(sweep.dtype):
                sel = sweep.dtype == d
                f = float(np.median(eff[sel] / curve[sel]))
                resid += float(np.sum(np.log(eff[sel] / (f * curve[sel])) ** 2))
            if best is None or resid < best[0]:
                best = (resid, float(h), float(kk))
    assert best is not None
    _, h, kk = best
    curve = mn / (mn + h) * k / (k + kk)
    fractions = {str(d): float(np.median(eff[sweep.dtype == d] / curve[sweep.dtype == d])) for d in np.unique(sweep.dtype)}
    return {"gemm_max_fraction": fractions, "gemm_half_output": h, "gemm_half_k": kk}


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
    merged["sources"] = {**merged["sources"], **{k: f"{path}: {v}" for k, v in (body.get("sources") or {}).items()}}
    return type(base)(**merged)
