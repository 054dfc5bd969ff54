"""GEMM sweep: achieved TFLOP/s of (m x k) @ (k x n) for the shapes a transformer layer runs.

    python benchmarks/gpu/gemm_sweep.py --output gemm.csv                 # CUDA, bf16 (+ fp8 on Hopper/Blackwell)
    python benchmarks/gpu/gemm_sweep.py --device cpu --tiny --output t.csv  # a seconds-long smoke run (tests)

Writes a CSV with the header ``m,n,k,dtype,tflops`` that `colossim calibrate --gemm` reads.
Needs only PyTorch (on CPU without PyTorch it falls back to numpy, so the script itself
is tested anywhere: tests/test_calibrate.py). Each shape: warm-up, then CUDA-event timing of ``--iters`` launches
(wall clock on CPU); the reported rate is 2*m*n*k / time. fp8 uses torch._scaled_mm
(per-tensor scales of 1) where the GPU and PyTorch support it, and is skipped otherwise.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import sys
import time

# m: tokens per micro-batch (and their tp chunks); n, k: hidden sizes and their tp shards
FULL_M = (512, 1024, 2048, 4096, 8192, 16384)
FULL_NK = (1024, 2048, 4096, 8192, 16384)
TINY_M = (16, 32)
TINY_NK = (16, 32)


def _have_torch() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def _time_s(fn, iters: int, device: str) -> float:
    for _ in range(3):
        fn()
    if device == "cuda":
        import torch

        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize()
        start.record()
        for _ in range(iters):
            fn()
        end.record()
        torch.cuda.synchronize()
        return start.elapsed_time(end) / 1e3 / iters
    t0 = time.perf_counter()
    for _ in range(iters):
        fn()
    return (time.perf_counter() - t0) / iters


def _fp8_supported(device: str) -> bool:
    if device != "cuda":
        return False
    import torch

    return (device == "cuda" and hasattr(torch, "float8_e4m3fn") and hasattr(torch, "_scaled_mm")
            and torch.cuda.get_device_capability()[0] >= 9)


def _gemm(m: int, n: int, k: int, dtype: str, device: str):
    if device == "cpu" and not _have_torch():
        import numpy as np

        a32 = np.random.default_rng(0).standard_normal((m, k), dtype=np.float32)
        b32 = np.random.default_rng(1).standard_normal((k, n), dtype=np.float32)
        return lambda: a32 @ b32
    import torch

    if dtype == "fp8":
        a = torch.randn(m, k, device=device).to(torch.float8_e4m3fn)
        b = torch.randn(n, k, device=device).to(torch.float8_e4m3fn).t()  # column-major, as _scaled_mm needs
        one = torch.tensor(1.0, device=device)
        return lambda: torch._scaled_mm(a, b, scale_a=one, scale_b=one, out_dtype=torch.bfloat16)
    tdt = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[dtype]
    a = torch.randn(m, k, device=device, dtype=tdt)
    b = torch.randn(k, n, device=device, dtype=tdt)
    return lambda: torch.mm(a, b)


def sweep(device: str, dtypes: list[str], ms, nks, iters: int) -> list[dict[str, object]]:
    rows = []
    for dtype in dtypes:
        if dtype == "fp8" and not _fp8_supported(device):
            print("skipping fp8: needs a CUDA GPU of compute capability >= 9 and torch._scaled_mm", file=sys.stderr)
            continue
        for m, n, k in itertools.product(ms, nks, nks):
            t = _time_s(_gemm(m, n, k, dtype, device), iters, device)
            rows.append({"m": m, "n": n, "k": k, "dtype": dtype, "tflops": round(2.0 * m * n * k / t / 1e12, 6)})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--output", "-o", required=True, help="CSV to write (m,n,k,dtype,tflops)")
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--dtypes", default=None, help="comma-separated: bf16,fp16,fp8,fp32 (default: bf16,fp8 on cuda, fp32 on cpu)")
    ap.add_argument("--tiny", action="store_true", help="a few tiny shapes (smoke test)")
    ap.add_argument("--iters", type=int, default=20)
    args = ap.parse_args(argv)
    if args.device == "cuda":
        if not _have_torch():
            ap.error("--device cuda needs PyTorch (pip install torch)")
        import torch

        if not torch.cuda.is_available():
            ap.error("--device cuda: no CUDA device visible (use --device cpu for a smoke run)")
    dtypes = args.dtypes.split(",") if args.dtypes else (["bf16", "fp8"] if args.device == "cuda" else ["fp32"])
    ms, nks = (TINY_M, TINY_NK) if args.tiny else (FULL_M, FULL_NK)
    rows = sweep(args.device, dtypes, ms, nks, max(args.iters, 1))
    with open(args.output, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=["m", "n", "k", "dtype", "tflops"])
        w.writeheader()
        w.writerows(rows)
    print(f"{len(rows)} shapes written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
