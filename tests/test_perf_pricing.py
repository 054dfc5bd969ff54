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
