"""Step times of MLPerf Training results, measured from their MLLOG result logs.

How the mlperf_* validation cases (src/colossim/validation/data/training_runs.yaml) got their
``measured.iter_s``; rerun it to check them or to add a round:

    python benchmarks/mlperf_steps.py PATH/training_results_v4.0 gpt3
    python benchmarks/mlperf_steps.py PATH/training_results_v5.0 llama31_405b
    python benchmarks/mlperf_steps.py PATH/training_results_v5.1 llama31_8b

PATH is a checkout of github.com/mlcommons/training_results_vX.Y. For every
``<submitter>/results/<system>/<benchmark>/result_*.txt`` it prints the logged global batch and
gradient-accumulation steps and the median step time over every result file of the system:

- ``train_step_time`` where the log has it (tracked_stats, Llama 3.1 405B from v5.0, 8B in v5.1), each
  file's first step left out (it includes warm-up);
- otherwise training blocks: (block_stop - block_start) / steps in the block, with
  steps = epoch_count / (global_batch_size x max_sequence_length) (GPT-3, whose epoch_count is
  in tokens); evaluation runs between blocks and is not counted;
- v3.0's GPT-3 logs open one block for the whole run and evaluate inside it: there the training
  stretches between evaluations (block_start or eval_stop to the next eval_start) count, with
  steps = the tokens between the two evaluations' epoch_num / (global_batch_size x max_sequence_length);
- blocks that count samples (AMD's Llama 3.1 8B logs in v5.1: no train_step_time, no epoch_count,
  block_start/block_stop carry ``samples_count``): steps = the samples between the two /
  global_batch_size, each file's first block left out (it includes warm-up).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ResultLog:
    global_batch_size: int | None = None
    grad_accumulation: float | None = None
    seq_len: int = 2048
    platform: str = ""
    step_times_s: list[float] = field(default_factory=list)  # train_step_time, in order
    block_step_s: list[float] = field(default_factory=list)  # per training block
    stretch_step_s: list[float] = field(default_factory=list)  # per stretch between evaluations (v3.0)
    sample_block_step_s: list[float] = field(default_factory=list)  # per block that counts samples


def parse(text: str) -> ResultLog:
    """One result file's MLLOG events."""
    log = ResultLog()
    start: dict | None = None
    stretch_ms, stretch_tokens = 0.0, 0.0
    for line in text.splitlines():
        if ":::MLLOG" not in line:
            continue
        try:
            ev = json.loads(line.split(":::MLLOG", 1)[1])
        except json.JSONDecodeError:
            continue
        key, value = ev.get("key"), ev.get("value")
        if key == "global_batch_size":
            log.global_batch_size = int(value)
        elif key == "gradient_accumulation_steps":
            log.grad_accumulation = float(value)
        elif key == "max_sequence_length":
            log.seq_len = int(value)
        elif key == "submission_platform":
            log.platform = str(value)
        elif key == "tracked_stats" and isinstance(value, dict) and "train_step_time" in value:
            log.step_times_s.append(float(value["train_step_time"]))
        elif key == "block_start":
            start = ev
            stretch_ms, stretch_tokens = ev["time_ms"], float(ev.get("metadata", {}).get("first_epoch_num", 0))
        elif key == "eval_start" and start is not None and log.global_batch_size:
            tokens = float(ev.get("metadata", {}).get("epoch_num", 0))
            steps = (tokens - stretch_tokens) / (log.global_batch_size * log.seq_len)
            if steps > 0:
                log.stretch_step_s.append((ev["time_ms"] - stretch_ms) / 1000.0 / steps)
        elif key == "eval_stop" and start is not None:
            stretch_ms, stretch_tokens = ev["time_ms"], float(ev.get("metadata", {}).get("epoch_num", 0))
        elif key == "block_stop" and start is not None and log.global_batch_size:
            tokens = float(start.get("metadata", {}).get("epoch_count", 0))
            steps = tokens / (log.global_batch_size * log.seq_len)
            samples = [e.get("metadata", {}).get("samples_count") for e in (start, ev)]
            seconds = (ev["time_ms"] - start["time_ms"]) / 1000.0
            if steps > 0:
                log.block_step_s.append(seconds / steps)
            elif None not in samples and samples[1] > samples[0]:
                log.sample_block_step_s.append(seconds / ((samples[1] - samples[0]) / log.global_batch_size))
            start = None
    return log


def median_step_s(logs: list[ResultLog]) -> tuple[float, str, int]:
    """(median step time, method, samples) over a system's result files."""
    steps = [s for log in logs for s in log.step_times_s[1:]]
    if steps:
        return statistics.median(steps), "train_step_time", len(steps)
    if all(len(log.block_step_s) <= 1 and log.stretch_step_s for log in logs):
        # one block around the whole run (v3.0): the stretches between evaluations, each file's
        # first left out (it includes warm-up)
        stretches = [s for log in logs for s in log.stretch_step_s[1:]]
        if stretches:
            return statistics.median(stretches), "stretches", len(stretches)
    blocks = [s for log in logs for s in log.block_step_s]
    if blocks:
        return statistics.median(blocks), "blocks", len(blocks)
    counted = [s for log in logs for s in log.sample_block_step_s[1:]]
    if counted:
        return statistics.median(counted), "sample blocks", len(counted)
    return float("nan"), "none", 0


def systems(root: Path, benchmark: str) -> dict[str, list[Path]]:
    out: dict[str, list[Path]] = {}
    for path in sorted(root.glob(f"*/results/*/{benchmark}/result_*.txt")):
        submitter, system = path.parts[-5], path.parts[-3]
        out.setdefault(f"{submitter}/{system}", []).append(path)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("root", type=Path, help="a checkout of mlcommons/training_results_vX.Y")
    ap.add_argument("benchmark", help="the results directory name, e.g. gpt3 or llama31_405b")
    args = ap.parse_args(argv)
    found = systems(args.root, args.benchmark)
    if not found:
        print(f"error: no {args.root}/*/results/*/{args.benchmark}/result_*.txt", file=sys.stderr)
        return 2
    for name, paths in found.items():
        logs = [parse(p.read_text(encoding="utf-8", errors="replace")) for p in paths]
        step, method, n = median_step_s(logs)
        first = logs[0]
        print(f"{name:60s} {first.platform:28s} gbs {first.global_batch_size} ga {first.grad_accumulation} "
              f"files {len(paths)} {method} n={n} median {step:.4f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
