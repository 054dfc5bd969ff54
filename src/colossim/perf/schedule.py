"""Pipeline schedules: one function per schedule, one signature.

Each takes the per-micro-batch time of the pipeline's ranks (:class:`StageTimes`) and
returns a :class:`ScheduleResult`: the per-micro-batch pace of the steady state, the
bubble, the micro-batches of activations each rank holds at its peak, the weight copies
each rank keeps and what the schedule hides. ``step.evaluate`` assembles the step from it.

- ``one_f_one_b`` (PipeDream-Flush, Narayanan et al. 2021 Sec. 2.2; interleaved when
  vpp > 1, Sec. 2.2.2): a pipeline of stage times t_i runs (m - 1) * max(t) + sum(t), so
  the bubble is sum(t) - max(t); interleaving divides it by vpp. With uneven chunks
  (``first_stage_layers``/``last_stage_layers`` that vpp does not divide) the fill and
  drain pass through each stage's largest chunk: sum_i c_i - max_i c_i with
  c_i = t_i * ceil(n_i / vpp) / n_i (equal to t_i / vpp when vpp divides n_i).
  In flight: min(pp - stage, m) micro-batches; interleaved, Megatron's warm-up count
  (pp - 1 - stage) * 2 + (vpp - 1) * pp + 1 chunks (Korthikanti 2022 Eq. 3-4).
- ``zero_bubble`` (ZB-H1, Qi et al. 2023, arXiv:2401.10241 Sec. 3.1): the backward
  splits into B (input gradient) and W (weight gradient); W fills the drain, so the bubble
  falls from (p - 1)(F + B + W) to (p - 1)(F + B - W), with 1F1B's peak memory.
- ``dualpipe`` (DeepSeek-V3, arXiv:2412.19437 Sec. 3.2.1 and Table 2): micro-batches
  enter from both ends; rank i holds stage i and stage pp-1-i (two weight copies), each
  rank runs half the micro-batches through each of its stages, and one micro-batch's
  forward chunk overlaps another's backward chunk so that expert all-to-all and pipeline
  sends hide behind compute. Bubble (pp/2 - 1)(F&B + B - 3W), F&B taken as F + B + W
  (the communication hidden); activations PP + 1 micro-batches of one stage per rank.

Left out: the schedules' own send/receive latencies (the step's pp_p2p term), Llama 3's
tunable micro-batch group (Megatron's microbatch_group_size_per_vp_stage), ZB-H2/ZB-V.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np

from colossim.scenario.parallel import SCHEDULE_CODES


@dataclass(frozen=True, slots=True)
class StageTimes:
    """Per-micro-batch time of the first, largest middle and last rank (all their chunks)."""

    first: np.ndarray
    middle: np.ndarray
    last: np.ndarray
    has_middle: np.ndarray  # bool: pp > 2
    wgrad_first: np.ndarray  # weight-gradient part (W) of each
    wgrad_middle: np.ndarray
    wgrad_last: np.ndarray
    chunk_first: np.ndarray  # ceil(n / vpp) * vpp / n: the largest chunk over the mean chunk
    chunk_middle: np.ndarray
    chunk_last: np.ndarray
    pp: np.ndarray
    vpp: np.ndarray
    n_micro: np.ndarray


@dataclass(frozen=True, slots=True)
class ScheduleResult:
    pace_s: np.ndarray  # per-micro-batch time of the slowest rank (sets the steady state)
    bubble_s: np.ndarray
    in_flight_first: np.ndarray  # micro-batches of whole-stage activations held at the peak
    in_flight_middle: np.ndarray
    in_flight_last: np.ndarray
    weight_copies: np.ndarray  # model stages a rank holds (DualPipe: 2)
    hides_ep: np.ndarray  # bool: expert all-to-all runs beside the paired micro-batch's compute


def _pace(st: StageTimes) -> np.ndarray:
    return np.maximum(np.maximum(st.first, np.where(st.has_middle, st.middle, 0.0)), st.last)


def _fill_drain(first: np.ndarray, middle: np.ndarray, last: np.ndarray, st: StageTimes) -> np.ndarray:
    """sum - max of per-stage times over the pipeline's pp stages (pp - 2 middles)."""
    total = first + np.maximum(st.pp - 2, 0) * middle + np.where(st.pp > 1, last, 0.0)
    top = np.maximum(np.maximum(first, np.where(st.has_middle, middle, 0.0)), np.where(st.pp > 1, last, 0.0))
    return total - top


def _one_f_one_b_flight(st: StageTimes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    def at(stage):
        return np.minimum(np.maximum(st.pp - stage, 1), st.n_micro).astype(float)
    return at(0), at(1), at(np.maximum(st.pp - 1, 0))


def _result(st: StageTimes, bubble: np.ndarray, flight, copies: float, hides: bool) -> ScheduleResult:
    shape = st.pp.shape
    return ScheduleResult(pace_s=_pace(st), bubble_s=bubble, in_flight_first=flight[0], in_flight_middle=flight[1],
                          in_flight_last=flight[2], weight_copies=np.full(shape, copies),
                          hides_ep=np.full(shape, hides))


def one_f_one_b(st: StageTimes) -> ScheduleResult:
    """1F1B, interleaved when vpp > 1 (uneven chunks pace the fill and drain)."""
    vpp = st.vpp
    bubble = _fill_drain(st.first * st.chunk_first, st.middle * st.chunk_middle, st.last * st.chunk_last, st) / vpp

    def interleaved(stage):
        warmup_chunks = (st.pp - 1 - stage) * 2 + (vpp - 1) * st.pp + 1
        return np.minimum(warmup_chunks, st.n_micro * vpp) / vpp

    plain = _one_f_one_b_flight(st)
    flight = tuple(np.where(vpp > 1, interleaved(s), p)
                   for s, p in zip((0, 1, np.maximum(st.pp - 1, 0)), plain, strict=True))
    return _result(st, bubble, flight, 1.0, False)


def zero_bubble(st: StageTimes) -> ScheduleResult:
    """ZB-H1: the weight-gradient pass fills the drain (no interleaving)."""
    def cut(t, w):
        return np.maximum(t - 2.0 * w, 0.0)
    bubble = _fill_drain(cut(st.first, st.wgrad_first), cut(st.middle, st.wgrad_middle), cut(st.last, st.wgrad_last), st)
    return _result(st, bubble, _one_f_one_b_flight(st), 1.0, False)


def dualpipe(st: StageTimes) -> ScheduleResult:
    """DualPipe on ranks whose time already pairs stage i with stage pp-1-i (see step)."""
    def term(t, w):
        backward_input = np.maximum(t - w, 0.0) * 0.5  # B: half the non-W work is the backward input pass
        return np.maximum(t + backward_input - 3.0 * w, 0.0)
    worst = np.maximum(np.maximum(term(st.first, st.wgrad_first), np.where(st.has_middle, term(st.middle, st.wgrad_middle), 0.0)),
                       term(st.last, st.wgrad_last))
    bubble = np.maximum(st.pp // 2 - 1, 0) * worst
    flight = np.minimum(st.pp + 1, st.n_micro).astype(float)
    return _result(st, bubble, (flight, flight, flight), 2.0, True)


SCHEDULES: dict[str, Callable[[StageTimes], ScheduleResult]] = {
    "1f1b": one_f_one_b, "zero-bubble": zero_bubble, "dualpipe": dualpipe,
}


def run(st: StageTimes, code: np.ndarray) -> ScheduleResult:
    """Each plan through its own schedule (``code``: parallel.SCHEDULE_CODES)."""
    present = {name: SCHEDULES[name](st) for name, c in SCHEDULE_CODES.items() if np.any(code == c)}
    if len(present) == 1:
        return next(iter(present.values()))
    out = {}
    for f in fields(ScheduleResult):
        value = np.zeros_like(st.first) if f.name != "hides_ep" else np.zeros(st.first.shape, dtype=bool)
        for name, res in present.items():
            value = np.where(code == SCHEDULE_CODES[name], getattr(res, f.name), value)
        out[f.name] = value
    return ScheduleResult(**out)


def chunk_factor(n_layers: np.ndarray, vpp: np.ndarray) -> np.ndarray:
    """The largest of a stage's vpp chunks over the mean chunk (layers spread as evenly as possible)."""
    n = np.maximum(n_layers, 1)
    return np.ceil(n / vpp) * vpp / n
