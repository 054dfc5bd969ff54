"""Fit the GEMM curve of H100 and B200 to XLA's measured matmul tables.

    python benchmarks/gemm_curve.py

Model (perf/layer.py ``gemm_s``): a GEMM of m x k by k x n takes
``2mnk / (fraction x peak x mn/(mn + half_output) x k/(k + half_k)) + gemm_floor_s``.
The floor is the kernel's fixed GPU time (first loads, pipeline fill, epilogue); below
about 1k cubed it is most of the time. The fit is ``colossim calibrate``'s own
(calibration/profile.py ``fit_gemm``), so ``colossim calibrate --gpu b200 --gemm
benchmarks/data/xla_gemm_b200.csv`` prints the same fields.

Data: the OpenXLA GPU cost model's measured GEMM tables, each GEMM timed as its median
kernel duration over 5 runs under CUPTI (xla/tools/matmul_perf_table_gen.cc
``HloOpProfiler::GetKernelTracer``, ``kNumProfilingRuns = 5``): GPU time of the kernel
itself, no launch latency. Both from openxla/xla
``xla/service/gpu/model/default_matmul_perf_table.txtpb`` at 336bb15c32a11820a81b226ae502d9ebbfab4412
(2026-06-11; read through its ROCm/xla mirror), the b = 1 dots, m, n, k in 256..4096, TFLOP/s
rounded to 3 decimals:

- ``benchmarks/data/xla_gemm_b200.csv``: key ``sm_100_B200``, ``bf16xbf16->bf16`` as bf16 and
  ``f8e4m3fnxf8e4m3fn->bf16`` as fp8.
- ``benchmarks/data/xla_gemm_h100.csv``: key ``sm_90``, ``bf16xbf16->bf16`` only. Its fp8 column
  is left out: it reaches 2,424 TFLOP/s at 4096 cubed, above H100's 1,979 dense fp8 peak, so
  those kernels were mistimed (``colossim calibrate`` refuses such a row).

The fit reads the points with m, n, k >= 1,024 (calibration/profile.py ``FIT_MIN_DIM``: the
GEMMs a training step runs; below, wave quantisation steps the rate and the smooth curve
cannot follow it). The rms below is over those points.

Only the curve's shape (``gemm_half_output``, ``gemm_half_k``) and ``gemm_floor_s`` go into
catalog/data/efficiency.yaml; the fractions printed are an isolated kernel's and stay out
(a family's sustained fraction is fitted to its training runs, validation/fit.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from colossim import catalog
from colossim.calibration.measurements import parse_gemm_csv
from colossim.calibration.profile import curve_time_s, fit_gemm, fit_points

DATA = Path(__file__).parent / "data"
TABLES = {"b200": DATA / "xla_gemm_b200.csv", "h100": DATA / "xla_gemm_h100.csv"}


def fit(gpu: str, path: Path) -> tuple[dict, float]:
    """The fitted fields and the rms relative error of the fitted times."""
    sweep = parse_gemm_csv(path.read_text(encoding="utf-8"), str(path))
    entry = catalog.gpu(gpu)
    body = fit_gemm(sweep, entry)
    use = fit_points(sweep)
    model = curve_time_s(sweep, body, entry)
    measured = 2.0 * sweep.m * sweep.n * sweep.k / sweep.flops_s
    return body, float(np.sqrt(np.mean((model / measured - 1.0)[use] ** 2)))


def main() -> None:
    for gpu, path in TABLES.items():
        body, rms = fit(gpu, path)
        fractions = ", ".join(f"{d} {v:.3f}" for d, v in body["gemm_max_fraction"].items())
        print(f"{gpu} ({catalog.gpu(gpu).profile}): gemm_half_output {body['gemm_half_output']:.3g}, "
              f"gemm_half_k {body['gemm_half_k']:.0f}, gemm_floor_s {body['gemm_floor_s']:.3g}; "
              f"isolated-kernel fraction of peak: {fractions}; rms {rms:.1%} over {path.name}'s m, n, k >= 1,024")


if __name__ == "__main__":
    sys.exit(main())
