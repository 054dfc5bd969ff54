"""The step model's software mechanisms, each checked against its own formula.

One setting changes at a time, so the difference in one breakdown term must be exactly the
cost the mechanism's formula gives (docs/methodology.md).
"""

from __future__ import annotations

import numpy as np
import pytest

from colossim import catalog
from colossim.perf import comm
from colossim.perf.exposure import (
    GRAD_BUFFER_PASSES,
    PARAM_TENSORS_PER_LAYER,
    grad_accumulation_bytes,
)
from colossim.perf.exposure import tp_exposed as _tp_exposed
from colossim.perf.hardware import resolve_hardware
from colossim.perf.layer import ACT_BYTES, LayerTimes
from colossim.perf.stages import layer_params
from colossim.perf.step import evaluate
from colossim.scenario import load_scenario

A = np.asarray


def _scenario(training: dict | None = None, parallel: dict | None = None, model: str = "llama3-8b"):
    return load_scenario({
        "model": model,
        "cluster": {"gpu": "a100-80gb", "num_gpus": 64},
        "training": {"seq_len": 2048, "global_batch_size": 64, **(training or {})},
        "parallel": {"tp": 2, "pp": 2, "dp": 16, **(parallel or {})},
    })


def _run(sc):
    return evaluate(sc.model, sc.cluster, sc.training, sc.plan_batch())


def test_unfused_gradient_accumulation_adds_one_pass_per_micro_batch() -> None:
    """Megatron's DDP hook main_grad.add_(grad) after every micro-batch: 2 + 2 + 4 + 4 bytes
    per parameter of the stage (fp32 main gradients), plus one kernel per parameter tensor."""
    fused = _scenario({"grad_reduce_in_fp32": True}, {"pp": 1, "dp": 32})
    unfused = _scenario({"grad_reduce_in_fp32": True, "grad_accumulation_fusion": False}, {"pp": 1, "dp": 32})
    assert grad_accumulation_bytes(unfused.training) == 12.0
    a, b = _run(fused), _run(unfused)
    hw = resolve_hardware(fused.cluster, fused.training)
    m, plan = fused.model, fused.plan_batch()
    p = layer_params(m, plan.tp, plan.ep, plan.pp, 2048)
    stage = m.num_layers * p.dense_layer + p.embedding + p.output
    per_micro = stage * 12.0 / hw.hbm_bytes_s + m.num_layers * PARAM_TENSORS_PER_LAYER * hw.kernel_overhead_s
    assert b.compute_backward_s - a.compute_backward_s == pytest.approx(a.n_micro * per_micro, rel=1e-9)
    assert b.step_time_s[0] > a.step_time_s[0]


def test_fp16_main_gradients_accumulate_in_fewer_bytes() -> None:
    assert grad_accumulation_bytes(_scenario({"grad_reduce_in_fp32": False}).training) == 4 * ACT_BYTES


def test_sequential_pipeline_exchange_doubles_p2p() -> None:
    """DeepSpeed's PipelineEngine sends, then receives; Megatron does both at once."""
    batched = _scenario({"overlap_pp_comm": False})
    serial = _scenario({"overlap_pp_comm": False, "pipeline_p2p_batched": False})
    assert batched.model.tied_embeddings is False  # no tied-embedding all-reduce in the term
    assert _run(serial).pp_p2p_s[0] == pytest.approx(2.0 * _run(batched).pp_p2p_s[0], rel=1e-12)


def test_an_overlapped_pipeline_exposes_its_share_of_every_steady_state_exchange() -> None:
    """overlap_pp_comm: the fill and drain's 2(p-1) exchanges plus the GPU family's fitted
    p2p_exposed_fraction of each of the steady state's 2 x m x v (blocking: all 2(mv + p - 1))."""
    def h100(overlap: bool):
        return load_scenario({"model": "llama3-8b", "cluster": {"gpu": "h100-sxm", "num_gpus": 64},
                              "training": {"seq_len": 2048, "global_batch_size": 64, "overlap_pp_comm": overlap},
                              "parallel": {"tp": 2, "pp": 4, "dp": 8, "vpp": 2}})
    overlapped, blocking = h100(True), h100(False)
    f = resolve_hardware(overlapped.cluster, overlapped.training).p2p_exposed_fraction
    assert 0.0 < f < 1.0
    r = _run(overlapped)
    m, v, p = r.n_micro[0], 2, 4
    ratio = (2 * (p - 1) + f * 2 * m * v) / (2 * (m * v + p - 1))
    assert r.pp_p2p_s[0] == pytest.approx(ratio * _run(blocking).pp_p2p_s[0], rel=1e-9)
    assert f == catalog.efficiency_profile("hopper").p2p_exposed_fraction  # fitted once per family, not per run


def test_without_sequence_parallelism_the_receiver_all_gathers() -> None:
    """Scatter/gather (Narayanan et al. 2021 Sec. 4.1): each message is 1/tp of the activation
    sent between nodes plus an all-gather of the whole activation inside the node."""
    with_sp = _scenario({"overlap_pp_comm": False}, {"sequence_parallel": True})
    without = _scenario({"overlap_pp_comm": False}, {"sequence_parallel": False})
    a, b = _run(with_sp), _run(without)
    hw = resolve_hardware(with_sp.cluster, with_sp.training)
    full = ACT_BYTES * 2048 * with_sp.model.hidden_size
    gather = comm.reduce_scatter_s(A([full]), A([2]), A([1]), hw)[0]
    messages = 2.0 * (a.n_micro[0] + 2 - 1)
    assert b.pp_p2p_s[0] - a.pp_p2p_s[0] == pytest.approx(messages * gather, rel=1e-9)


def _layer(gemm_fwd: float) -> LayerTimes:
    g = A([gemm_fwd])
    return LayerTimes(fwd=g, bwd=2 * g, attn_core_fwd=0 * g, attn_core_bwd=0 * g, gemm_fwd=g)


@pytest.mark.parametrize("sp", [False, True])
def test_backward_overlap_hides_only_the_column_parallel_collectives(sp: bool) -> None:
    """Megatron's async TP: the input-gradient all-reduce (or, with SP, the re-gather and the
    reduce-scatter) runs beside the weight-gradient GEMM; with SP the row-parallel layers'
    output-gradient all-gather must finish before their data-gradient GEMM: exposed."""
    from colossim.scenario.training import TrainingSpec

    tr = TrainingSpec(seq_len=2048, global_batch_size=8, tp_overlap="backward")
    ar, sm = 1e-3, 0.15
    got = _tp_exposed(_layer(1.0), A([ar]), A([8]), A([1]), A([sp]), tr, sm)[0]
    hidden = 3.0 if sp else 2.0
    exposed = 2.0 + (1.0 if sp else 0.0)  # forward pair + (SP) the synchronous all-gather
    assert got == pytest.approx(ar * (exposed + sm * (hidden - (1.0 if sp else 0.0))), rel=1e-12)


@pytest.mark.parametrize("tp", [2, 4, 8])
def test_full_overlap_exposes_the_last_reduce_scatter_chunk(tp: int) -> None:
    """Chunked (userbuffers) overlap: the forward reduce-scatter of the last of tp chunks
    has no GEMM left to hide behind, 1/tp of the two forward reduce-scatters."""
    from colossim.scenario.training import TrainingSpec

    tr = TrainingSpec(seq_len=2048, global_batch_size=8, tp_overlap="full")
    ar = 1e-3
    got = _tp_exposed(_layer(1.0), A([ar]), A([tp]), A([1]), A([True]), tr, 0.0)[0]
    assert got == pytest.approx(ar / tp, rel=1e-12)
    # with no GEMM to hide behind, everything is exposed
    assert _tp_exposed(_layer(0.0), A([ar]), A([tp]), A([1]), A([True]), tr, 0.0)[0] == pytest.approx(5 * ar)


@pytest.mark.parametrize(("recompute", "rs_sms", "bulk_sms"), [(0, 16.0, 16.0), (2, 16.0, 16.0), (0, 24.0, 4.0), (2, 1.0, 2.5)])
def test_full_overlap_prices_each_userbuffers_slot_by_its_sms(recompute: int, rs_sms: float, bulk_sms: float) -> None:
    """Transformer Engine's userbuffers slots: the forward all-gathers (half the forward traffic)
    and the two backward dgrad all-gathers (a third of the SP backward's) are copy-engine ring
    exchanges on 1 SM; the forward reduce-scatters run on tp_overlap_rs_sms, the backward bulk
    pairs on tp_overlap_bulk_sms; each SM costs comm_sm_fraction / 16 of the hidden time."""
    from colossim.perf.exposure import UB_DEFAULT_SMS, UB_RING_EXCHANGE_SMS
    from colossim.scenario.training import TrainingSpec

    tr = TrainingSpec(seq_len=2048, global_batch_size=8, tp_overlap="full", tp_overlap_rs_sms=rs_sms,
                      tp_overlap_bulk_sms=bulk_sms)
    ar, tp, sm = 1e-3, 4, 0.12
    args = (A([ar]), A([tp]), A([recompute]), A([True]), tr)
    # a long GEMM window: everything but the last chunk's reduce-scatter hides
    extra = _tp_exposed(_layer(1.0), *args, sm)[0] - _tp_exposed(_layer(1.0), *args, 0.0)[0]
    fwd = (2.0 + (2.0 if recompute == 2 else 0.0)) * ar
    bwd = 3.0 * ar
    ring, rs, bulk = fwd / 2 + bwd / 3, fwd / 2 - fwd / (2 * tp), 2 * bwd / 3
    want = sm / UB_DEFAULT_SMS * (ring * UB_RING_EXCHANGE_SMS + rs * rs_sms + bulk * bulk_sms)
    assert extra == pytest.approx(want, rel=1e-9)
    assert extra < sm * (ring + rs + bulk)


def test_userbuffers_sms_are_bounded() -> None:
    from pydantic import ValidationError

    from colossim.scenario.training import TrainingSpec

    for bad in (0, -1, 65, float("nan")):
        with pytest.raises(ValidationError):
            TrainingSpec(seq_len=2048, global_batch_size=8, tp_overlap_bulk_sms=bad)


@pytest.mark.parametrize("recompute", [0, 2])
def test_forward_overlap_hides_the_forward_and_leaves_the_backward_synchronous(recompute: int) -> None:
    """PyTorch async TP (``forward``): the forward's (and the recomputed forward's)
    collectives run chunked, the last reduce-scatter chunk exposed; the backward's three
    all-reduce-sized collectives (SP) are exposed as with ``none``."""
    from colossim.scenario.training import TrainingSpec

    ar, tp = 1e-3, 8
    fwd_tr = TrainingSpec(seq_len=2048, global_batch_size=8, tp_overlap="forward")
    none_tr = TrainingSpec(seq_len=2048, global_batch_size=8, tp_overlap="none")
    full_tr = TrainingSpec(seq_len=2048, global_batch_size=8, tp_overlap="full")
    args = (A([ar]), A([tp]), A([recompute]), A([True]))
    got = _tp_exposed(_layer(1.0), *args, fwd_tr, 0.0)[0]
    fwd_units = 2.0 + (2.0 if recompute == 2 else 0.0)
    assert got == pytest.approx(fwd_units * ar / (2 * tp) + 3.0 * ar, rel=1e-12)
    assert _tp_exposed(_layer(1.0), *args, full_tr, 0.0)[0] < got < _tp_exposed(_layer(1.0), *args, none_tr, 0.0)[0]


def test_cudnn_attention_is_faster_on_hopper_and_the_same_on_ampere() -> None:
    """cuDNN fused attention (Transformer Engine's choice on Hopper) runs at the H100 profile's
    cuDNN fractions (FlashAttention-3 paper: 1.6x FlashAttention-2); the A100 profile has no
    cuDNN figures, so there it is priced as flash."""
    def attention_s(gpu: str, kernel: str) -> float:
        sc = load_scenario({"model": "llama3-8b", "cluster": {"gpu": gpu, "num_gpus": 8},
                            "training": {"seq_len": 8192, "global_batch_size": 8, "attention_kernel": kernel},
                            "parallel": {"tp": 1, "pp": 1, "dp": 8}})
        return float(_run(sc).compute_forward_s[0])

    assert attention_s("h100-sxm", "cudnn") < attention_s("h100-sxm", "flash")
    assert attention_s("a100-80gb", "cudnn") == attention_s("a100-80gb", "flash")


def test_flash_attention_v1_runs_at_half_the_flash_rate_with_the_same_memory() -> None:
    """flash1 (FlashAttention v1, Transformer Engine 0.x): the flash class's fractions x 0.5
    (FlashAttention-2 paper: "around 2x"), the same memory-efficient kernel (no score matrix)."""
    from colossim.perf.hardware import FLASH1_RATE

    def scenario(kernel: str):
        return load_scenario({"model": "gpt3-175b", "cluster": {"gpu": "h100-sxm", "num_gpus": 64},
                              "training": {"seq_len": 2048, "global_batch_size": 64, "attention_kernel": kernel},
                              "parallel": {"tp": 8, "pp": 8, "dp": 1}})

    v1, v2 = scenario("flash1"), scenario("flash")
    hw1, hw2 = resolve_hardware(v1.cluster, v1.training), resolve_hardware(v2.cluster, v2.training)
    assert hw1.attn_fwd_flops == pytest.approx(FLASH1_RATE * hw2.attn_fwd_flops)
    assert hw1.attn_bwd_flops == pytest.approx(FLASH1_RATE * hw2.attn_bwd_flops)
    r1, r2 = _run(v1), _run(v2)
    assert r1.compute_forward_s[0] > r2.compute_forward_s[0] and r1.compute_backward_s[0] > r2.compute_backward_s[0]
    assert r1.memory_bytes[0] == r2.memory_bytes[0]


def test_optimizer_passes_over_the_whole_gradient_buffer() -> None:
    """Zeroing and 1/dp scaling touch every local gradient once per step (3 x its bytes)."""
    bf16 = _scenario({"zero_stage": 0, "grad_reduce_in_fp32": False})
    fp32 = _scenario({"zero_stage": 0, "grad_reduce_in_fp32": True})
    hw = resolve_hardware(bf16.cluster, bf16.training)
    m, plan = bf16.model, bf16.plan_batch()
    p = layer_params(m, plan.tp, plan.ep, plan.pp, 2048)
    stage = (m.num_layers // 2) * p.dense_layer + np.maximum(p.embedding, p.output)  # first or last stage
    delta = _run(fp32).optimizer_s[0] - _run(bf16).optimizer_s[0]
    # fp32 buffers cost 2 more bytes per pass; bf16 ones need the fp32 master-gradient copy
    # (perf/step_costs.py: read 2, write 4 bytes per parameter of the shard, here all of it)
    from colossim.perf.step_costs import MASTER_GRAD_COPY_BYTES

    expected = (GRAD_BUFFER_PASSES * 2.0 - MASTER_GRAD_COPY_BYTES) * stage[0] / hw.hbm_bytes_s
    assert delta == pytest.approx(expected, abs=1e-12)
