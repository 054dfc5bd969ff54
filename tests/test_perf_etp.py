"""Expert tensor parallelism (MoE parallel folding, ``parallel.etp``): perf/experts.py."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields

import numpy as np
import pytest

from colossim.perf import comm, evaluate, moe
from colossim.perf.estimate import estimate
from colossim.perf.hardware import resolve_hardware
from colossim.perf.layer import gemm_s, shapes
from colossim.perf.stages import layer_params
from colossim.scenario import PlanBatch, load_scenario
from colossim.search import Constraints, search

A = np.asarray
MIXTRAL = {"model": "mixtral-8x7b", "cluster": {"gpu": "h100-sxm", "num_gpus": 64},
           "training": {"seq_len": 4096, "global_batch_size": 64, "micro_batch_size": 1}}


def _scenario(**parallel):
    return load_scenario({**MIXTRAL, "parallel": {"tp": 8, "pp": 1, "ep": 8, "sequence_parallel": True, **parallel}})


def _arrays(sc):
    return evaluate(sc.model, sc.cluster, sc.training, PlanBatch.from_plan(sc.parallel, sc.training))


def test_absent_etp_is_bit_identical_to_etp_tp() -> None:
    a, b = _arrays(_scenario()), _arrays(_scenario(etp=8))
    for f in fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        assert np.array_equal(x, y), f.name


def test_etp1_keeps_expert_flops_per_gpu() -> None:
    """E/ep experts x tokens per expert x width: t*(etp/tp)*top_k*ep/E*C x expert_ffn/etp."""
    sc = _scenario()
    m, moe_spec = sc.model, sc.model.moe
    assert moe_spec is not None
    t, tp, ep = 4096.0, 8, 8

    def flops(etp: int) -> float:
        per_expert = t * (etp / tp) * moe_spec.top_k * ep / moe_spec.num_experts
        return moe_spec.num_experts / ep * per_expert * m.expert_ffn / etp

    assert flops(1) == pytest.approx(flops(8)) == pytest.approx(t * moe_spec.top_k * m.expert_ffn / tp)
    # and the model's grouped GEMMs: fewer, larger experts, not slower per FLOP by more than the shape curve
    hw = resolve_hardware(sc.cluster, sc.training)
    sh = shapes(m, sc.training, A([tp]), A([1]), A([1]), A([True]))
    from colossim.perf.layer import moe_ffn_s
    folded, _ = moe_ffn_s(m, sh, A([tp]), A([ep]), hw, A([1]))
    split, _ = moe_ffn_s(m, sh, A([tp]), A([ep]), hw, A([tp]))
    ideal = 3 * 2 * flops(1) * m.hidden_size / hw.gemm_flops  # gated FFN: 3 GEMMs, 2 FLOPs per MAC
    assert folded[0] >= ideal * 0.99 and split[0] >= ideal * 0.99
    assert gemm_s(A([1.0]), 1.0, 1.0, hw, hw.gemm_flops)[0] > 0


def test_expert_params_scale_with_one_over_etp() -> None:
    m = _scenario().model
    one = layer_params(m, A([8]), A([8]), A([1]), 4096, A([1]))
    eight = layer_params(m, A([8]), A([8]), A([1]), 4096, A([8]))
    default = layer_params(m, A([8]), A([8]), A([1]), 4096)
    assert one.moe_experts[0] == pytest.approx(8 * eight.moe_experts[0])
    assert eight.moe_experts[0] == default.moe_experts[0]
    assert one.moe_shared[0] == eight.moe_shared[0]  # attention, router: the dense split


def test_ep_group_on_one_node_uses_nvlink() -> None:
    """tp 8, ep 8 on H100 (8 per node): etp = tp strides the EP group over 8 nodes; etp = 1
    keeps it in one NVLink domain, so the all-to-all falls."""
    sc = _scenario()
    hw = resolve_hardware(sc.cluster, sc.training)
    coll = comm.AnalyticCollectives(hw)
    sh = shapes(sc.model, sc.training, A([8]), A([1]), A([1]), A([True]))
    split = moe.all_to_all_s(sc.model, sc.training, sh, A([8]), A([1]), A([8]), coll, A([8]))[0]
    folded = moe.all_to_all_s(sc.model, sc.training, sh, A([8]), A([1]), A([8]), coll, A([1]))[0]
    assert moe.ep_nodes(A([8]), A([1]), A([8]), hw, A([1]))[1][0] == 1
    assert moe.ep_nodes(A([8]), A([1]), A([8]), hw, A([8]))[1][0] == 8
    assert folded < 0.5 * split
    a, b = _arrays(_scenario()), _arrays(_scenario(etp=1))
    assert b.ep_all_to_all_s[0] < a.ep_all_to_all_s[0]
    assert b.tp_exposed_s[0] < a.tp_exposed_s[0]  # the experts' TP collectives are gone


def test_etp1_widens_the_expert_data_parallel_group() -> None:
    """edp = tp*cp*dp/(ep*etp): 8*1*8/(8*1) = 8 with etp 1; dp*cp/ep = 1 with etp = tp, so
    ZeRO shards the experts' optimizer states 8 ways only when they fold."""
    from colossim.perf.experts import expert_dp
    assert expert_dp(A([8]), A([1]), A([8]), A([8]), A([1]))[0] == 8
    assert expert_dp(A([8]), A([1]), A([8]), A([8]), A([8]))[0] == 1
    assert expert_dp(A([8]), A([1]), A([8]), A([8]))[0] == 1


def _cli_estimate(tmp_path, parallel: str) -> subprocess.CompletedProcess:
    p = tmp_path / "s.yaml"
    p.write_text("model: mixtral-8x7b\ncluster: {gpu: h100-sxm, num_gpus: 64}\n"
                 "training: {seq_len: 4096, global_batch_size: 64}\n" + f"parallel: {parallel}\n")
    return subprocess.run([sys.executable, "-m", "colossim", "estimate", str(p)], capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize(("parallel", "needle"), [
    ("{tp: 8, ep: 8, etp: 2}", "parallel.etp"),
    ("{tp: 2, ep: 8, etp: 1, dp: 2}", "parallel.ep"),
    ("{tp: 8, ep: 8, etp: 1, sequence_parallel: false}", "parallel.sequence_parallel"),
])
def test_bad_etp_exits_2_naming_the_field(tmp_path, parallel, needle) -> None:
    r = _cli_estimate(tmp_path, parallel)
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr and "Traceback" not in r.stderr


def test_etp_on_a_dense_model_is_an_error() -> None:
    from colossim.errors import ColossimError
    with pytest.raises(ColossimError, match="parallel.etp"):
        load_scenario({"model": "llama3-8b", "cluster": {"gpu": "h100-sxm", "num_gpus": 8},
                       "training": {"seq_len": 4096, "global_batch_size": 8},
                       "parallel": {"tp": 8, "etp": 1}})


def test_etp1_lets_ep_span_the_tp_ranks() -> None:
    """tp 8, ep 8 on 8 GPUs: no data parallelism, which etp = tp cannot do (ep | dp*cp)."""
    sc = load_scenario({**MIXTRAL, "cluster": {"gpu": "h100-sxm", "num_gpus": 8},
                        "training": {"seq_len": 4096, "global_batch_size": 8},
                        "parallel": {"tp": 8, "ep": 8, "etp": 1}})
    est = estimate(sc)
    assert est.plan["etp"] == 1 and est.plan["dp"] == 1 and est.step_time_s > 0


def test_search_can_return_an_etp1_plan() -> None:
    """tp and ep fixed at 8 on 16 GPUs: only etp = 1 can place ep 8 (dp 2 is too few for
    ep | dp*cp), so the best plan folds; the searched plan re-estimates to the same time."""
    sc = load_scenario({**MIXTRAL, "cluster": {"gpu": "h100-sxm", "num_gpus": 16},
                        "training": {"seq_len": 4096, "global_batch_size": 16}})
    res = search(sc, top=3, workers=1, constraints=Constraints(fixed={"tp": 8, "ep": 8, "pp": 1}))
    assert res.top and res.top[0].plan["etp"] == 1
    best = res.top[0].plan
    parallel = {k: best[k] for k in ("tp", "pp", "dp", "cp", "ep", "etp", "vpp", "sequence_parallel", "schedule")}
    training = {**sc.training.model_dump(include={"seq_len", "global_batch_size"}),
                "micro_batch_size": best["micro_batch_size"], "recompute": best["recompute"],
                "zero_stage": best["zero_stage"]}
    again = estimate(load_scenario({**MIXTRAL, "cluster": {"gpu": "h100-sxm", "num_gpus": 16},
                                    "training": training, "parallel": parallel}))
    assert again.step_time_s == pytest.approx(res.top[0].step_time_s, rel=1e-12)
