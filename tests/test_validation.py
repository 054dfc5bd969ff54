"""The published runs as tests: the accuracy goal of issue #2."""

from __future__ import annotations

import pytest

from colossim.validation.runs import mape, reference_runs, validate

MAPE_GOAL = 0.035  # Calculon, the best peer, reaches 3.65% on 8 of these cases
WORST_GOAL = 0.10


@pytest.fixture(scope="module")
def rows():
    return validate()


def test_reference_set_is_complete() -> None:
    cases = {r.case for r in reference_runs()}
    assert cases == {"megatron_sc21_table1", "korthikanti_2022_table5", "megatron_core_h100_readme_2024", "bloom_176b"}
    assert len(reference_runs()) == 28
    for run in reference_runs():
        assert run.source.get("url") or run.source.get("repo")


def test_mape_goal(rows) -> None:
    assert mape(rows) <= MAPE_GOAL, f"MAPE {mape(rows):.2%}"


def test_no_case_worse_than_ten_percent(rows) -> None:
    worst = max(rows, key=lambda r: abs(r.error))
    assert abs(worst.error) <= WORST_GOAL, f"{worst.case}/{worst.run}: {worst.error:+.1%}"


def test_korthikanti_mfu_is_reproduced(rows) -> None:
    """Published MFU of the selective-recompute runs (Table 5) within 10% relative."""
    published = {"22B selective + SP": 0.415, "175B selective + SP": 0.514, "530B selective + SP": 0.56,
                  "1T selective + SP": 0.563}
    for r in rows:
        if r.run in published:
            assert r.predicted_mfu == pytest.approx(published[r.run], rel=0.10)
