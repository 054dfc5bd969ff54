"""benchmarks/mlperf_steps.py: the step times of the mlperf_* validation cases, from MLLOG logs."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("mlperf_steps", ROOT / "benchmarks" / "mlperf_steps.py")
assert _spec and _spec.loader
mlperf_steps = importlib.util.module_from_spec(_spec)
sys.modules["mlperf_steps"] = mlperf_steps  # dataclasses look their module up
_spec.loader.exec_module(mlperf_steps)


def _line(key, value=None, t=0, event="POINT_IN_TIME", **metadata) -> str:
    return ":::MLLOG " + json.dumps({"namespace": "", "time_ms": t, "event_type": event, "key": key,
                                     "value": value, "metadata": metadata})


def _gpt3_log(block_s: list[float]) -> str:
    """Blocks of 11 steps of 2,304 x 2,048 tokens (MLPerf v4.0's 512-GPU GPT-3 shape)."""
    lines = [_line("global_batch_size", 2304), _line("gradient_accumulation_steps", 72),
             _line("max_sequence_length", 2048), "noise that is not an MLLOG line"]
    t = 1000
    for s in block_s:
        lines.append(_line("block_start", t=t, event="INTERVAL_START", epoch_count=11 * 2304 * 2048))
        t += int(s * 1000)
        lines.append(_line("block_stop", t=t, event="INTERVAL_END"))
        t += 500  # evaluation between blocks: not counted
    return "\n".join(lines)


def test_block_step_times_exclude_evaluation() -> None:
    log = mlperf_steps.parse(_gpt3_log([120.78, 120.89, 121.0]))
    assert log.global_batch_size == 2304 and log.grad_accumulation == 72
    step, method, n = mlperf_steps.median_step_s([log])
    assert method == "blocks" and n == 3 and step == pytest.approx(120.89 / 11)


def _v30_log(stretch_s: list[float]) -> str:
    """MLPerf v3.0's GPT-3 shape: one block around the whole run, evaluations inside it every 12
    steps of 2,048 x 2,048 tokens."""
    tokens = 12 * 2048 * 2048
    lines = [_line("global_batch_size", 2048), _line("max_sequence_length", 2048),
             _line("block_start", t=1000, event="INTERVAL_START", epoch_count=tokens)]
    t = 1000
    for i, s in enumerate(stretch_s, start=1):
        t += int(s * 1000)
        lines.append(_line("eval_start", t=t, event="INTERVAL_START", epoch_num=i * tokens))
        t += 15000  # the evaluation: not counted
        lines.append(_line("eval_stop", t=t, event="INTERVAL_END", epoch_num=i * tokens))
    lines.append(_line("block_stop", t=t, event="INTERVAL_END"))
    return "\n".join(lines)


def test_v30_logs_time_the_stretches_between_evaluations() -> None:
    """One block spans the run and its evaluations: the block would count them, the stretches do
    not; each file's first stretch (warm-up) is left out."""
    logs = [mlperf_steps.parse(_v30_log([150.0, 145.2, 145.3, 145.4]))]
    step, method, n = mlperf_steps.median_step_s(logs)
    assert (method, n) == ("stretches", 3) and step == pytest.approx(145.3 / 12)


def test_logged_step_times_drop_each_files_first_step() -> None:
    text = "\n".join([_line("global_batch_size", 1152)]
                     + [_line("tracked_stats", {"train_step_time": s}) for s in (70.0, 55.0, 55.2, 55.1)])
    step, method, n = mlperf_steps.median_step_s([mlperf_steps.parse(text)])
    assert (method, n) == ("train_step_time", 3) and step == pytest.approx(55.1)


def test_the_command_walks_a_results_checkout(tmp_path, capsys) -> None:
    d = tmp_path / "NVIDIA" / "results" / "eos_n64" / "gpt3"
    d.mkdir(parents=True)
    for i in range(3):
        (d / f"result_{i}.txt").write_text(_gpt3_log([121.0]), encoding="utf-8")
    assert mlperf_steps.main([str(tmp_path), "gpt3"]) == 0
    out = capsys.readouterr().out
    assert "NVIDIA/eos_n64" in out and "files 3" in out and "median 11.0000 s" in out
    assert mlperf_steps.main([str(tmp_path), "llama31_405b"]) == 2


def _amd_log(block_s: list[float]) -> str:
    """AMD's v5.1 Llama 3.1 8B shape: no train_step_time, no epoch_count; blocks of 12,288 samples
    (384 steps of 32) carry samples_count."""
    lines = [_line("global_batch_size", 32), _line("gradient_accumulation_steps", 2),
             _line("max_sequence_length", 8192)]
    t, samples = 1000, 0
    for s in block_s:
        lines.append(_line("block_start", t=t, event="INTERVAL_START", samples_count=samples))
        t += int(s * 1000)
        samples += 12288
        lines.append(_line("block_stop", t=t, event="INTERVAL_END", samples_count=samples))
        t += 10000  # evaluation between blocks: not counted
    return "\n".join(lines)


def test_sample_counted_blocks_leave_each_files_first_block_out() -> None:
    logs = [mlperf_steps.parse(_amd_log([420.0, 400.0, 401.0])), mlperf_steps.parse(_amd_log([430.0, 402.0]))]
    step, method, n = mlperf_steps.median_step_s(logs)
    assert method == "sample blocks" and n == 3 and step == pytest.approx(401.0 / 384)


def test_deepspeed_train_schedule_is_not_lock_stepped() -> None:
    """benchmarks/deepspeed_schedule.py: DeepSpeed v0.5.4's TrainSchedule with blocking sends
    takes 1F1B's (m + p - 1)(fwd + bwd) when transfers are free (it is not lock-stepped), and
    each slot pays nearly four transfers when they are not (what perf/exposure.py charges)."""
    from _benchmarks import load_benchmark

    ds = load_benchmark("deepspeed_schedule")
    for p, m in ((4, 8), (5, 16), (8, 8)):
        assert ds.makespan(m, p) == pytest.approx((m + p - 1) * 4.0)
    per_slot = (ds.makespan(64, 8, transfer=0.01) - 71 * 4.0) / 0.01 / 71
    assert 3.0 < per_slot <= 4.0
