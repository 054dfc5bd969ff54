"""The error range a reference run's conventions span (validation/unknowns.py)."""

from __future__ import annotations

import json

import pytest

from colossim.cli import main
from colossim.validation.runs import reference_runs, validate
from colossim.validation.unknowns import (
    _plan_values,
    unknowns_range,
    unknowns_summary,
)

EPS = 1e-9


@pytest.fixture(scope="module")
def ranges():
    rows = validate(unknowns=True)
    return {f"{r.case}/{r.run}": r for r in rows}


def test_the_convention_itself_lies_inside_every_range(ranges) -> None:
    # the run as described is one of the admissible plans, so its error bounds nothing out
    for label, row in ranges.items():
        u = row.unknowns
        assert u.low - EPS <= row.error <= u.high + EPS, label
        for knob, (lo, hi) in u.per_knob.items():
            assert lo - EPS <= row.error <= hi + EPS, (label, knob)


def test_a_fully_stated_run_has_a_point_range(ranges) -> None:
    row = ranges["mlperf_llama31_405b_h100/" + reference_runs("mlperf_llama31_405b_h100")[0].name]
    u = row.unknowns
    assert u.knobs == () and u.not_swept == () and u.variants == 1
    assert u.low == pytest.approx(row.error) and u.high == pytest.approx(row.error)


def test_the_micro_batch_alone_spans_the_readme_32b_error(ranges) -> None:
    # the README's 32B row (tp 8 x dp 48, 192 sequences) at micro-batch 1 runs 4 micro-batches and
    # reduce-scatters 16 GB of fp32 gradients per GPU behind one of them; at micro-batch 4 the
    # whole backward hides it. The table states neither, so the row cannot tell which.
    u = ranges["megatron_core_h100_readme_2024/32B"].unknowns
    lo, hi = u.per_knob["training.micro_batch_size"]
    assert lo < 0.0 < hi and u.contains_measured
    assert "training.zero_stage" not in u.knobs  # it follows from --overlap-param-gather: stated


def test_admissible_micro_batches_divide_the_rank_batch() -> None:
    run = next(r for r in reference_runs("mtnlg_530b_selene") if r.name.startswith("530B 280"))
    values = _plan_values(("training", "micro_batch_size"), run.scenario, 105)
    assert values == [1, 2, 4, 8]  # 1920 / dp 8 = 240 sequences per rank
    assert ("training", "micro_batch_size") in run.conventions
    u = unknowns_range(run)
    assert u.extremes["low"] and u.variants >= 2 and set(u.knobs) == {"training.zero_stage", "training.micro_batch_size"}


def test_summary_splits_stated_runs_from_the_rest(ranges) -> None:
    rows = list(ranges.values())
    s = unknowns_summary(rows)
    assert s["fully_stated"]["runs"] + s["with_unknowns"]["runs"] == len(rows)
    w = s["with_unknowns"]
    assert w["inside_range"] + len(w["outside_range"]) + len(w["not_swept"]) == w["runs"]
    assert "torchtitan_llama3_70b_405b_h100/70B 2D 256 GPUs" in w["not_swept"]  # seq_len only
    assert "megatron_core_h100_readme_2024/32B" not in s["with_unknowns"]["outside_range"]


def test_cli_unknowns(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["validate", "--unknowns", "--json", "--case", "mtnlg_530b_selene"])
    assert exc.value.code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["unknowns"]["with_unknowns"]["runs"] == 3
    assert all(len(r["unknowns"]["error_range"]) == 2 for r in out["rows"])
    with pytest.raises(SystemExit) as exc:
        main(["validate", "--unknowns", "--case", "mtnlg_530b_selene"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "what the sources leave out" in text and "fill knobs by convention" in text
    # one block per case, one line per run: nothing folds in an 80-column terminal
    assert "mtnlg_530b_selene: zero, mbs" in text and "  530B 280 nodes" in text
    assert max(len(line) for line in text.splitlines()) <= 80



def test_a_plan_level_variant_is_the_scenario_with_that_value() -> None:
    # the sweep sets micro-batch, recompute, SP and interleaving in the PlanBatch only; that is
    # honest only while the step model reads them from the plan and no training-level check
    # refuses a value the plan accepts: built as scenarios, the variants must price the same
    import copy

    import numpy as np

    from colossim.perf.step import evaluate
    from colossim.scenario import load_scenario
    from colossim.validation.unknowns import PLAN_KNOBS, _batch

    run = next(r for r in reference_runs("megatron_core_h100_readme_2024") if r.name == "32B")
    knobs = [k for k in run.conventions if k in PLAN_KNOBS]
    assert knobs == [("training", "micro_batch_size"), ("training", "recompute"),
                     ("parallel", "sequence_parallel"), ("parallel", "vpp")]
    combos = [(2, "none", True, 1), (4, "full", False, 1), (1, "selective", True, 1)]
    base = run.build()
    swept = evaluate(base.model, base.cluster, base.training, _batch(base, knobs, combos)).step_time_s
    for combo, step in zip(combos, swept, strict=True):
        raw = copy.deepcopy(run.scenario)
        for (section, name), value in zip(knobs, combo, strict=True):
            raw[section][name] = value
        s = load_scenario(raw)
        alone = evaluate(s.model, s.cluster, s.training, s.plan_batch()).step_time_s[0]
        assert np.isclose(alone, step, rtol=1e-12), combo
