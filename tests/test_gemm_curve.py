"""The GEMM curve measured, not fitted to training runs: shape and per-kernel floor.

The catalog's Hopper and Blackwell ``gemm_half_output``, ``gemm_half_k`` and ``gemm_floor_s``
must be what benchmarks/gemm_curve.py fits to XLA's stored CUPTI-timed matmul tables (so a
reader can rerun the derivation); the floor is a GEMM's own, and a sweep that beats the
GPU's peak is refused.
"""

from __future__ import annotations

import numpy as np
import pytest

from _benchmarks import load_benchmark
from colossim import catalog
from colossim.calibration.measurements import GemmSweep, parse_gemm_csv
from colossim.calibration.profile import check_profile, fit_gemm, fit_points
from colossim.errors import ColossimError
from colossim.perf.hardware import resolve_hardware
from colossim.perf.layer import gemm_s
from colossim.scenario import load_scenario
from colossim.validation import fit as vfit

gemm_curve = load_benchmark("gemm_curve")


def _hw(gpu: str, **training):
    s = load_scenario({"model": "llama3-8b", "cluster": {"gpu": gpu, "num_gpus": 8, "gpus_per_node": 8},
                       "training": {"seq_len": 4096, "global_batch_size": 8, **training},
                       "parallel": {"tp": 1, "pp": 1, "dp": 8}})
    return resolve_hardware(s.cluster, s.training)


@pytest.mark.parametrize(("gpu", "family"), [("b200", "blackwell"), ("h100", "hopper")])
def test_catalog_curve_is_the_fit_of_xlas_table(gpu: str, family: str) -> None:
    body, rms = gemm_curve.fit(gpu, gemm_curve.TABLES[gpu])
    prof = catalog.efficiency_profile(family)
    assert prof.gemm_half_output == pytest.approx(body["gemm_half_output"], rel=2e-3)
    assert prof.gemm_half_k == pytest.approx(body["gemm_half_k"], rel=2e-3)
    assert prof.gemm_floor_s == pytest.approx(body["gemm_floor_s"], rel=2e-3)
    assert rms < 0.05
    # measured, so the fit of the training runs must not move them
    assert not {"gemm_half_output", "gemm_half_k", "gemm_floor_s"} & set(vfit.FITTED[family])


def test_the_fit_reads_training_sized_gemms_and_small_sweeps_whole() -> None:
    sweep = parse_gemm_csv(gemm_curve.TABLES["b200"].read_text(), "b200.csv")
    use = fit_points(sweep)
    assert use.sum() == 54 and (np.minimum(np.minimum(sweep.m, sweep.n), sweep.k)[use] >= 1024).all()
    tiny = GemmSweep(m=np.array([256, 512]), n=np.array([256, 512]), k=np.array([256, 512]),
                     dtype=np.array(["bf16", "bf16"]), flops_s=np.array([5e12, 2e13]))
    assert fit_points(tiny).all()
    body = fit_gemm(tiny, catalog.gpu("b200"))
    assert 0 < body["gemm_max_fraction"]["bf16"] <= 1.0


def test_a_gemm_faster_than_peak_is_refused() -> None:
    # XLA's H100 fp8 column reaches 2,424 TFLOP/s at 4096 cubed, above the 1,979 dense peak
    bad = parse_gemm_csv("m,n,k,dtype,tflops\n4096,4096,4096,fp8,2423.754\n", "h.csv")
    with pytest.raises(ColossimError, match=r"4096x4096x4096 fp8 runs at 2,423.8 TFLOP/s, above"):
        fit_gemm(bad, catalog.gpu("h100"))


def test_the_floor_is_a_gemms_own_and_defaults_to_kernel_overhead() -> None:
    hw = _hw("b200")
    prof = catalog.efficiency_profile("blackwell")
    assert hw.gemm_floor_s == pytest.approx(prof.gemm_floor_s) and hw.kernel_overhead_s == pytest.approx(prof.kernel_overhead_s)
    # a 64-cubed GEMM is nearly all floor
    assert float(gemm_s(np.array([64.0]), 64.0, 64.0, hw, hw.gemm_flops)[0]) == pytest.approx(hw.gemm_floor_s, rel=0.05)
    blocking = _hw("b200", launch_blocking=True)
    assert blocking.gemm_floor_s - hw.gemm_floor_s == pytest.approx(blocking.kernel_overhead_s - hw.kernel_overhead_s)
    assert catalog.efficiency_profile("ampere").gemm_floor_s is None
    a100 = _hw("a100")
    assert a100.gemm_floor_s == a100.kernel_overhead_s


def test_a_profile_file_bounds_the_floor() -> None:
    with pytest.raises(ColossimError, match="gemm_floor_s"):
        check_profile({"gemm_floor_s": -1e-6}, "p")
    check_profile({"gemm_floor_s": 5e-6}, "p")
