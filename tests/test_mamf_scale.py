"""Per-GPU GEMM ceilings: a family's fractions are its reference GPU's; a sibling with a
measured best-shape MAMF runs them scaled by its MAMF share of peak over the reference's."""

from __future__ import annotations

import pytest

from colossim import catalog
from colossim.perf.hardware import fitted_gemm_scale, mamf_scale, resolve_hardware
from colossim.scenario import load_scenario


def _hw(gpu: str, precision: str = "fp8"):
    sc = load_scenario({"model": "llama3-8b", "cluster": {"gpu": gpu, "num_gpus": 8, "gpus_per_node": 8},
                        "training": {"seq_len": 4096, "global_batch_size": 8, "precision": precision},
                        "parallel": {"tp": 1, "pp": 1, "dp": 8}})
    return resolve_hardware(sc.cluster, sc.training)


def test_gb200_sustains_its_measured_mamf_ratio_over_b200_not_its_peak_ratio() -> None:
    b200, gb200 = _hw("b200"), _hw("gb200")
    assert gb200.gemm_flops / b200.gemm_flops == pytest.approx(3615.6 / 3432.5, rel=1e-9)
    assert gb200.gemm_flops_bf16 / b200.gemm_flops_bf16 == pytest.approx(1822.0 / 1745.0, rel=1e-9)
    assert gb200.peak_flops / b200.peak_flops == pytest.approx(5000 / 4500)  # MFU keeps the printed peak


def test_the_reference_and_unmeasured_gpus_keep_the_family_fraction() -> None:
    hopper = catalog.efficiency_profile("hopper")
    assert hopper.reference_gpu == "h100-sxm"
    assert mamf_scale(catalog.gpu("h100-sxm"), hopper, "fp8") == 1.0
    assert mamf_scale(catalog.gpu("h800"), hopper, "fp8") == 1.0  # no MAMF measured
    assert mamf_scale(catalog.gpu("gb300"), catalog.efficiency_profile("blackwell"), "fp8") == 1.0
    assert mamf_scale(catalog.gpu("b300"), catalog.efficiency_profile("blackwell"), "fp4") == 1.0
    assert mamf_scale(catalog.gpu("h200"), hopper, "fp8") == pytest.approx((1453.4 / 1979) / (1402.6 / 1978.9), rel=1e-3)
    assert mamf_scale(catalog.gpu("h200"), hopper, "fp16") == pytest.approx(1.0)  # bf16 "the same" as H100


def test_no_gpu_is_priced_above_its_own_mamf() -> None:
    """The fitted fractions sit below the reference GPU's MAMF share, so scaled they stay below each GPU's own."""
    for gpu in catalog.gpus():
        if gpu.mamf_tflops is None:
            continue
        for dtype, mamf in gpu.mamf_tflops.items():
            hw = _hw(gpu.name, "fp8" if dtype == "fp8" else "bf16")
            rate = hw.gemm_flops if dtype == "fp8" else hw.gemm_flops_bf16
            assert rate < mamf * 1e12, (gpu.name, dtype)


def test_a_calibrated_profile_is_not_rescaled(tmp_path) -> None:
    """`colossim calibrate` fits gemm_max_fraction on the user's own GPU: its share of that GPU's peak."""
    from colossim.calibration.profile import load_profile

    path = tmp_path / "profile.yaml"
    path.write_text("base: blackwell\ngemm_max_fraction: {fp8: 0.6}\n", encoding="utf-8")
    prof = load_profile(str(path), "blackwell")
    assert prof.reference_gpu is None
    assert mamf_scale(catalog.gpu("gb200"), prof, "fp8") == 1.0
    # nor scaled by the catalog's fit to GB300's published runs: the user measured the GPU
    assert prof.gpu_gemm_scale == {} and fitted_gemm_scale(catalog.gpu("gb300"), prof) == 1.0


def test_an_unmeasured_gpu_runs_at_its_fitted_scale_and_below_the_reference_ceiling() -> None:
    """GB300 and the 500 W H100 have no MAMF: their runs fit a scale on the reference's share of
    their own peak, bounded by the reference's best-shape MAMF share (validation/fit.py)."""
    gb300, b200 = _hw("gb300"), _hw("b200")
    scale = catalog.efficiency_profile("blackwell").gpu_gemm_scale["gb300"]
    assert gb300.gemm_flops / gb300.peak_flops == pytest.approx(scale * b200.gemm_flops / b200.peak_flops, rel=1e-9)
    assert gb300.gemm_flops / gb300.peak_flops < 3432.5 / 4500
    for precision, ceiling in (("bf16", 794.5 / 989), ("fp8", 0.709)):
        hw = _hw("h100-sxm-96gb-500w", precision)
        assert hw.gemm_flops / hw.peak_flops < ceiling
