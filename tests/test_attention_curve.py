"""Fused attention's length curve: rate x L/(L + half_seq), L the keys a kernel sweeps.

The catalog's figures must be what benchmarks/attention_curve.py fits to the stored cuDNN
timings (so a reader can rerun the derivation), and the step model must price a kernel by
the chunk it sweeps: context parallelism shortens it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from _benchmarks import load_benchmark
from colossim import catalog
from colossim.calibration.profile import load_profile
from colossim.errors import ColossimError
from colossim.perf.hardware import resolve_hardware
from colossim.perf.layer import attention_core_s, shapes
from colossim.scenario import load_scenario

attention_curve = load_benchmark("attention_curve")
A = np.asarray


def _scenario(gpu: str, seq_len: int, cp: int = 1):
    return load_scenario({
        "model": "llama3-8b", "cluster": {"gpu": gpu, "num_gpus": 8, "gpus_per_node": 8},
        "training": {"seq_len": seq_len, "global_batch_size": 8, "precision": "bf16", "attention_kernel": "cudnn"},
        "parallel": {"tp": 1, "pp": 1, "cp": cp, "dp": 8 // cp},
    })


def _seconds_per_flop(gpu: str, seq_len: int, cp: int = 1) -> tuple[float, float]:
    sc = _scenario(gpu, seq_len, cp)
    hw = resolve_hardware(sc.cluster, sc.training)
    sh = shapes(sc.model, sc.training, A([1.0]), A([float(cp)]), A([1.0]), A([False]))
    fwd, bwd = attention_core_s(sc.model, sc.training, sh, A([1.0]), hw)
    flops = 2.0 * sh.heads * sh.seq_q[0] * seq_len * 2 * sc.model.dim_head * 0.5
    return (fwd[0] - hw.kernel_overhead_s) / flops, (bwd[0] - 2 * hw.kernel_overhead_s) / flops


def test_catalog_blackwell_curve_is_the_fit_of_the_stored_timings() -> None:
    rows = [r for r in attention_curve.load(attention_curve.DATA) if r["family"] == "blackwell"]
    prof = catalog.efficiency_profile("blackwell")
    fwd_fraction, fwd_half, _, fwd_rms = attention_curve.fit_family(rows, "fwd_ms", 1.0)
    bwd_fraction, bwd_half, _, bwd_rms = attention_curve.fit_family(rows, "bwd_ms", 2.5)
    assert prof.attention_cudnn_fwd_fraction == pytest.approx(fwd_fraction, abs=5e-4)
    assert prof.attention_cudnn_bwd_fraction == pytest.approx(bwd_fraction, abs=5e-4)
    assert prof.attention_fwd_half_seq == pytest.approx(fwd_half, abs=1.0)
    assert prof.attention_bwd_half_seq == pytest.approx(bwd_half, abs=1.0)
    assert fwd_rms < 0.05 and bwd_rms < 0.10  # the curve describes the points it is fitted to


def test_a_blackwell_kernel_runs_at_its_measured_share_of_peak() -> None:
    """At L = 8k the curve gives cuDNN 0.724 x 8192/9421 = 0.63 of peak forward, 0.48 backward."""
    sc = _scenario("gb200", 8192)
    hw = resolve_hardware(sc.cluster, sc.training)
    fwd_s, bwd_s = _seconds_per_flop("gb200", 8192)
    peak = catalog.gpu("gb200").peak_flops("bf16")
    assert 1.0 / (fwd_s * peak) == pytest.approx(0.724 * 8192 / (8192 + 1229), rel=1e-3)
    assert 2.5 / (bwd_s * peak) == pytest.approx(0.588 * 8192 / (8192 + 1815), rel=1e-3)
    assert hw.attn_fwd_half_seq == 1229


def test_shorter_kernels_cost_more_per_flop_and_context_parallelism_shortens_them() -> None:
    long_fwd, long_bwd = _seconds_per_flop("b200", 8192)
    short_fwd, short_bwd = _seconds_per_flop("b200", 4096)
    cp_fwd, _ = _seconds_per_flop("b200", 8192, cp=2)  # each rank sweeps 4k-key chunks
    assert short_fwd / long_fwd == pytest.approx((1 + 1229 / 4096) / (1 + 1229 / 8192), rel=1e-9)
    assert short_bwd / long_bwd == pytest.approx((1 + 1815 / 4096) / (1 + 1815 / 8192), rel=1e-9)
    assert cp_fwd == pytest.approx(short_fwd, rel=1e-9)


def test_a_family_without_a_measured_curve_keeps_one_rate() -> None:
    assert catalog.efficiency_profile("ampere").attention_fwd_half_seq == 0.0
    assert _seconds_per_flop("a100-80gb", 2048)[0] == pytest.approx(_seconds_per_flop("a100-80gb", 8192)[0], rel=1e-9)


def test_hopper_takes_the_h200_curve_shape_anchored_at_its_4k_rates() -> None:
    """cuDNN 9.19's shape (fitted from the stored H200 timings), the 2024 rates at 4k kept."""
    rows = [r for r in attention_curve.load(attention_curve.DATA) if r["family"] == "hopper"]
    prof = catalog.efficiency_profile("hopper")
    _, fwd_half, _, _ = attention_curve.fit_family(rows, "fwd_ms", 1.0)
    _, bwd_half, _, _ = attention_curve.fit_family(rows, "bwd_ms", 2.5)
    assert prof.attention_fwd_half_seq == pytest.approx(fwd_half, abs=1.0)
    assert prof.attention_bwd_half_seq == pytest.approx(bwd_half, abs=1.0)
    at_4k = 4096 / (4096 + prof.attention_fwd_half_seq)
    assert prof.attention_cudnn_fwd_fraction * at_4k == pytest.approx(0.486, abs=1e-3)


def test_hopper_flash_attention_2_takes_its_own_published_curve_anchored_at_4k() -> None:
    """FlashAttention-2's shape is the fit of its published rates as they are (PyTorch SDPA's flash
    backend, NGC 24.03 and 24.07; benchmarks/data/flash2_sdpa_causal.csv); its rates stay anchored
    at the FA3 paper's H100 4k figures, which the benchmark's own 4k rates match within 3%."""
    rows = attention_curve.load(attention_curve.DATA.with_name("flash2_sdpa_causal.csv"))
    prof = catalog.efficiency_profile("hopper")
    fwd_fraction, fwd_half, _, fwd_rms = attention_curve.fit_family(rows, "fwd_ms", 1.0, per_call_overhead=False)
    bwd_fraction, bwd_half, _, bwd_rms = attention_curve.fit_family(rows, "bwd_ms", 2.5, per_call_overhead=False)
    assert max(fwd_rms, bwd_rms) < 0.03
    assert prof.attention_flash_fwd_half_seq == pytest.approx(fwd_half, abs=1.0)
    assert prof.attention_flash_bwd_half_seq == pytest.approx(bwd_half, abs=1.0)
    fwd_4k = 4096 / (4096 + prof.attention_flash_fwd_half_seq)
    bwd_4k = 4096 / (4096 + prof.attention_flash_bwd_half_seq)
    assert prof.attention_fwd_fraction * fwd_4k == pytest.approx(0.30, abs=2e-3)
    assert prof.attention_bwd_fraction * bwd_4k == pytest.approx(0.25, abs=2e-3)
    assert fwd_fraction * fwd_4k == pytest.approx(0.30, rel=0.03)
    assert bwd_fraction * bwd_4k == pytest.approx(0.25, rel=0.03)


def test_flash_kernels_take_the_flash_curve_and_cudnn_the_shared_one() -> None:
    """At 32k keys FA2's flatter backward curve prices it faster, relative to 4k, than cuDNN's."""
    def ratio(kernel: str) -> float:
        per_flop = []
        for seq in (4096, 32768):
            sc = load_scenario({
                "model": "llama3-8b", "cluster": {"gpu": "h100", "num_gpus": 8, "gpus_per_node": 8},
                "training": {"seq_len": seq, "global_batch_size": 8, "precision": "bf16", "attention_kernel": kernel},
                "parallel": {"tp": 1, "pp": 1, "dp": 8}})
            hw = resolve_hardware(sc.cluster, sc.training)
            assert hw.attn_bwd_half_seq == (1418 if kernel == "flash" else 887)
            sh = shapes(sc.model, sc.training, A([1.0]), A([1.0]), A([1.0]), A([False]))
            _, bwd = attention_core_s(sc.model, sc.training, sh, A([1.0]), hw)
            per_flop.append(bwd[0] / seq**2)
        return per_flop[0] / per_flop[1]
    assert ratio("flash") > ratio("cudnn") > 1.0


@pytest.mark.parametrize("field", ["attention_fwd_half_seq", "attention_flash_bwd_half_seq"])
def test_a_profile_file_with_a_negative_half_seq_is_refused(tmp_path: Path, field: str) -> None:
    path = tmp_path / "profile.yaml"
    path.write_text(f"{field}: -5\n", encoding="utf-8")
    with pytest.raises(ColossimError, match=field):
        load_profile(str(path), "blackwell")


def test_a_profile_file_may_set_the_flash_curve(tmp_path: Path) -> None:
    path = tmp_path / "profile.yaml"
    path.write_text("attention_flash_fwd_half_seq: 400\nattention_flash_bwd_half_seq: 1200\n", encoding="utf-8")
    prof = load_profile(str(path), "hopper")
    assert (prof.attention_flash_fwd_half_seq, prof.attention_flash_bwd_half_seq) == (400, 1200)
