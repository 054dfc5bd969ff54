"""CP, ZeRO-3 and expert-overlap pricing: the terms the plan search used to under-price."""

from __future__ import annotations

import numpy as np
import pytest

from colossim.perf.estimate import estimate
from colossim.perf.fsdp import ring_latency_s
from colossim.perf.hardware import resolve_hardware
from colossim.scenario import build_cluster, load_scenario
from colossim.scenario.training import TrainingSpec

A = np.asarray
BASE = {"model": "llama3-70b", "cluster": {"preset": "h100-ib-6k", "num_gpus": 1024},
        "training": {"seq_len": 8192, "global_batch_size": 512}}


def _est(training=None, parallel=None, base=BASE):
    return estimate(load_scenario({**base, "training": {**base["training"], **(training or {})},
                                   "parallel": parallel or {}}))


def test_ring_latency_follows_nccl_tuning_model() -> None:
    hw = resolve_hardware(build_cluster({"preset": "h100-ib-6k", "num_gpus": 1024}),
                          TrainingSpec(seq_len=8, global_batch_size=8))
    # 1,024 ranks on 128 nodes: 10 + 896 * 1.9 + 127 * 4.0 us
    assert ring_latency_s(A([1024]), A([1]), hw)[0] == pytest.approx((10 + 896 * 1.9 + 127 * 4.0) * 1e-6)
    assert ring_latency_s(A([1]), A([1]), hw)[0] == 0.0


def test_zero3_pays_more_than_zero1_and_without_reshard_less() -> None:
    plan = {"tp": 1, "pp": 1, "cp": 4, "dp": 256, "sequence_parallel": False}
    z1 = _est({"zero_stage": 1}, plan)
    z3 = _est({"zero_stage": 3}, plan)
    once = _est({"zero_stage": 3, "reshard_after_forward": False}, plan)
    assert z3.breakdown_s["dp_exposed"] > z1.breakdown_s["dp_exposed"]
    assert once.breakdown_s["dp_exposed"] < z3.breakdown_s["dp_exposed"]


@pytest.mark.parametrize("comm", ["p2p", "all-gather"])
def test_context_parallel_costs_most_at_short_sequences(comm) -> None:
    plan = {"tp": 8, "pp": 1, "cp": 4, "dp": 32}
    share = []
    for seq, gbs in ((8192, 512), (65536, 64)):
        est = _est({"seq_len": seq, "global_batch_size": gbs, "cp_comm": comm, "zero_stage": 1}, plan)
        share.append(est.breakdown_s["cp_exposed"] / est.step_time_s)
    assert share[0] > share[1] > 0


def test_megatron_ep_overlap_hides_all_to_all() -> None:
    base = {"model": "mixtral-8x7b", "cluster": {"preset": "h100-ib-6k", "num_gpus": 256},
            "training": {"seq_len": 4096, "global_batch_size": 512}}
    plan = {"tp": 2, "pp": 2, "ep": 8, "dp": 64}
    plain, hidden = _est({}, plan, base), _est({"ep_overlap": True}, plan, base)
    assert hidden.breakdown_s["ep_all_to_all"] < plain.breakdown_s["ep_all_to_all"]
    assert hidden.step_time_s < plain.step_time_s


def test_fp8_parameter_gathers_halve_the_gather() -> None:
    """param_gather_dtype fp8 (Megatron-Core --fp8-param-gather, NeMo fp8_params) moves 1 byte
    per parameter in the distributed optimizer's all-gather instead of 2; the gradient
    reduce-scatter is unchanged (here nothing overlaps, so exposed = reduce + gather)."""
    plan = {"tp": 8, "pp": 1, "dp": 128}
    fp8 = {"precision": "fp8", "zero_stage": 1, "overlap_dp_comm": False, "grad_reduce_in_fp32": False}
    bf16_gather = _est(fp8, plan).breakdown_s["dp_exposed"]
    fp8_gather = _est({**fp8, "param_gather_dtype": "fp8"}, plan).breakdown_s["dp_exposed"]
    # reduce-scatter (2 B) + gather (2 B) against reduce-scatter + gather (1 B): 4 -> 3 parts
    assert fp8_gather == pytest.approx(0.75 * bf16_gather, rel=0.02)


def test_fp8_parameter_gathers_need_fp8_training() -> None:
    from colossim.errors import ColossimError

    with pytest.raises(ColossimError, match="param_gather_dtype"):
        _est({"precision": "bf16", "param_gather_dtype": "fp8"})


def test_fused_cross_entropy_moves_fewer_bytes() -> None:
    """TE's fused cross-entropy reads the bf16 logits twice and rewrites them with their
    gradient (6 + 4 bytes per logit) where the fp32 loss moves 38 + 14: the last stage's
    loss is cheaper and so is the step (the output GEMM is the same)."""
    from colossim.perf.layer import LOSS_BYTES, logits_s, shapes

    plan = {"tp": 8, "pp": 1, "dp": 128}
    assert _est({"cross_entropy": "inplace"}, plan).step_time_s < _est({"cross_entropy": "fp32"}, plan).step_time_s
    s = load_scenario({**BASE, "parallel": plan})
    hw = resolve_hardware(s.cluster, s.training)
    sh = shapes(s.model, s.training, A([8]), A([1]), A([1]), A([True]))
    times = {}
    for kind in ("fp32", "inplace"):
        f, b = logits_s(s.model, s.training.model_copy(update={"cross_entropy": kind}), sh, A([8]), hw)
        times[kind] = f[0] + b[0]
    logits = 8192 * s.model.vocab_size / 8
    saved = (sum(LOSS_BYTES["fp32"]) - sum(LOSS_BYTES["inplace"])) * logits / hw.hbm_bytes_s
    assert times["fp32"] - times["inplace"] == pytest.approx(saved, rel=1e-6)


def test_fp8_parameters_drop_the_bf16_weight_copy() -> None:
    """With fp8 parameters the transformer layers keep their fp8 weights only (Megatron-Core
    --fp8-param-gather: 'keep the compute param in fp8'): 2 bytes per GEMM parameter fewer;
    the embedding and output layer stay bf16."""
    plan = {"tp": 8, "pp": 1, "dp": 128}
    fp8 = {"precision": "fp8", "zero_stage": 1}
    base = _est(fp8, plan).memory_breakdown_gb["weights"]
    lean = _est({**fp8, "param_gather_dtype": "fp8"}, plan).memory_breakdown_gb["weights"]
    s = load_scenario({**BASE, "parallel": plan})
    m = s.model
    bf16_only = (2 * m.vocab_size * m.hidden_size) / 8 / 1e9  # untied embedding + output layer, per GPU
    gemm = base / 3.0 - bf16_only * 2.0 / 3.0  # base = 3 * gemm + 2 * bf16_only (GB of parameters)
    assert lean == pytest.approx(gemm + 2.0 * bf16_only, rel=0.02)


def test_fp8_quantization_bytes_follow_the_recipe() -> None:
    """Delayed scaling casts in one pass (the amax taken in it), current scaling reads the
    tensor once more for its amax, MXFP8 writes row- and column-wise copies in one pass; on
    Hopper (TN-only fp8 GEMMs) a tensor-scaled input is written transposed too."""
    from colossim.perf.layer import fp8_quantize_bytes

    assert [fp8_quantize_bytes(r, tn_only=False) for r in ("delayed", "mxfp8", "current")] == [3.0, 4.0, 5.0]
    assert fp8_quantize_bytes("delayed", tn_only=True) == 4.0 and fp8_quantize_bytes("current", tn_only=True) == 6.0
    assert fp8_quantize_bytes("mxfp8", tn_only=True) == 4.0  # its column-wise copy is counted already
    assert resolve_hardware(build_cluster({"gpu": "h100-sxm", "num_gpus": 8}), TrainingSpec(seq_len=8, global_batch_size=8)).fp8_tn_only
    assert not resolve_hardware(build_cluster({"gpu": "b200", "num_gpus": 8}), TrainingSpec(seq_len=8, global_batch_size=8)).fp8_tn_only


def test_an_fp8_recipe_prices_the_step_and_only_in_fp8() -> None:
    plan = {"tp": 8, "pp": 1, "dp": 128}
    steps = {r: _est({"precision": "fp8", "fp8_recipe": r}, plan).step_time_s for r in ("delayed", "current")}
    assert steps["delayed"] < steps["current"]
    # in bf16 nothing is quantized: the recipe does not move the step
    assert _est({"fp8_recipe": "current"}, plan).step_time_s == _est({"fp8_recipe": "delayed"}, plan).step_time_s
