"""Pipeline schedules: one checker for every schedule, their closed forms and properties."""

from __future__ import annotations

import numpy as np
import pytest

from colossim.errors import ColossimError
from colossim.perf import evaluate
from colossim.perf.schedule import SCHEDULES, StageTimes, chunk_factor, one_f_one_b
from colossim.scenario import PlanBatch, build_cluster, build_model, load_scenario
from colossim.scenario.parallel import SCHEDULE_CODES
from colossim.scenario.training import TrainingSpec

A = np.asarray


def equal_stages(pp, m, t=1.0, w=0.3, vpp=1, chunk=1.0) -> StageTimes:
    pp, m = A(pp, dtype=np.int64), A(m, dtype=np.int64)
    n = pp.shape[0] if pp.ndim else 1
    pp, m = np.broadcast_to(pp, (n,)), np.broadcast_to(m, (n,))
    one = np.full(n, t)
    return StageTimes(first=one, middle=one, last=one, has_middle=pp > 2, wgrad_first=one * w, wgrad_middle=one * w,
                      wgrad_last=one * w, chunk_first=np.full(n, chunk), chunk_middle=np.full(n, chunk),
                      chunk_last=np.full(n, chunk), pp=pp, vpp=np.full(n, vpp), n_micro=m)


CLOSED_FORMS = {
    # bubble of equal stages of time t with weight-gradient part w (B = (t - w) / 2 for DualPipe)
    "1f1b": lambda p, t, w: (p - 1) * t,  # Narayanan et al. 2021
    "zero-bubble": lambda p, t, w: (p - 1) * (t - 2 * w),  # ZB-H1: (p-1)(F + B - W)
    "dualpipe": lambda p, t, w: (p // 2 - 1) * (t + (t - w) / 2 - 3 * w),  # DeepSeek-V3 Table 2
}


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_every_schedule_obeys_the_checker(name: str) -> None:
    """One checker: closed form, non-negative, never above 1F1B's, in-flight within bounds,
    bubble monotone in pp, bubble share falling with the micro-batch count."""
    fn = SCHEDULES[name]
    pp = np.array([2, 4, 8, 16, 32])
    res = fn(equal_stages(pp, 64))
    assert res.bubble_s == pytest.approx(CLOSED_FORMS[name](pp, 1.0, 0.3))
    assert np.all(res.bubble_s >= 0) and np.all(res.bubble_s <= one_f_one_b(equal_stages(pp, 64)).bubble_s + 1e-12)
    assert np.all(np.diff(res.bubble_s) >= 0)  # monotone in pp
    assert np.all(res.pace_s == 1.0)
    for flight in (res.in_flight_first, res.in_flight_middle, res.in_flight_last):
        assert np.all(flight >= 1) and np.all(flight <= pp + 1)
    m = np.array([16, 32, 64, 128, 256])
    share = [fn(equal_stages(8, mi)).bubble_s[0] / (mi * 1.0) for mi in m]
    assert np.all(np.diff(share) <= 0)  # falling share as micro-batches grow
    assert res.weight_copies[0] == (2.0 if name == "dualpipe" else 1.0)
    assert bool(res.hides_ep[0]) == (name == "dualpipe")


def test_interleaving_divides_the_bubble_and_uneven_chunks_cost() -> None:
    even = one_f_one_b(equal_stages(16, 32, vpp=2)).bubble_s[0]
    assert even == pytest.approx(15 / 2)
    # 7 layers in 2 chunks: the 4-layer chunk paces the fill and drain, 8/7 of the mean chunk
    assert chunk_factor(A([7, 8]), A([2, 2])) == pytest.approx([8 / 7, 1.0])
    uneven = one_f_one_b(equal_stages(16, 32, vpp=2, chunk=8 / 7)).bubble_s[0]
    assert uneven == pytest.approx(even * 8 / 7)


def test_dualpipe_keeps_pp_plus_one_micro_batches() -> None:
    res = SCHEDULES["dualpipe"](equal_stages(16, 120))
    assert res.in_flight_first[0] == 17 and res.in_flight_middle[0] == 17


SMALL = {"model": {"preset": "llama3-8b", "num_layers": 16}, "cluster": {"gpu": "h100-sxm", "num_gpus": 64},
         "training": {"seq_len": 4096, "global_batch_size": 64}}


def _plan(**parallel):
    return load_scenario({**SMALL, "parallel": {"tp": 1, "dp": 8, **parallel}})


@pytest.mark.parametrize(("parallel", "rule"), [
    ({"pp": 3, "schedule": "dualpipe", "dp": 16}, "even pp"),
    ({"pp": 4, "vpp": 2, "schedule": "zero-bubble"}, "vpp = 1"),
    ({"pp": 4, "vpp": 2, "schedule": "dualpipe"}, "vpp = 1"),
])
def test_bad_schedule_combinations_name_field_and_rule(parallel, rule) -> None:
    with pytest.raises(ColossimError) as exc:
        _plan(**parallel)
    assert exc.value.field == "parallel.schedule" and rule in str(exc.value)


def test_schedules_in_the_step_model() -> None:
    """Same plan, three schedules: zero-bubble and DualPipe shrink the bubble; DualPipe
    doubles the weights it holds."""
    res = {s: evaluate(*(lambda sc: (sc.model, sc.cluster, sc.training, sc.plan_batch()))(_plan(pp=8, schedule=s)))
           for s in SCHEDULE_CODES}
    assert res["zero-bubble"].pp_bubble_s[0] < res["1f1b"].pp_bubble_s[0]
    assert res["dualpipe"].pp_bubble_s[0] < res["1f1b"].pp_bubble_s[0]
    assert res["dualpipe"].weights_bytes[0] > 1.9 * res["1f1b"].weights_bytes[0]
    assert res["zero-bubble"].compute_forward_s[0] == res["1f1b"].compute_forward_s[0]


def test_mixed_schedules_in_one_batch_equal_one_by_one() -> None:
    model, cluster = build_model("llama3-70b"), build_cluster({"gpu": "h100-sxm", "num_gpus": 1024})
    training = TrainingSpec(seq_len=4096, global_batch_size=512)
    batch = PlanBatch.from_arrays(tp=[8, 8, 8], pp=[8, 8, 8], dp=[16, 16, 16], schedule=[0, 1, 2])
    together = evaluate(model, cluster, training, batch)
    for i in range(3):
        alone = evaluate(model, cluster, training, batch.take(np.array([i])))
        assert alone.step_time_s[0] == pytest.approx(together.step_time_s[i], rel=1e-12)
        assert alone.memory_bytes[0] == pytest.approx(together.memory_bytes[i], rel=1e-12)


def test_pinned_stage_needs_a_layer_per_chunk() -> None:
    with pytest.raises(ColossimError) as exc:
        _plan(pp=4, vpp=4, first_stage_layers=2, last_stage_layers=2, dp=16)
    assert exc.value.field == "parallel.vpp" and "at least vpp" in str(exc.value)
