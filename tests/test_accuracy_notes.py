"""Every estimate says how accurate it is likely to be, and why a large exposed term is there.

The catalog profile of each validated GPU family stores what `colossim validate
--cross-validate` measures for it (``validated``); the estimate quotes it. The stored
figures are checked against the live ones here, so they cannot go stale.
"""

from __future__ import annotations

import pytest

from colossim import catalog
from colossim.perf.estimate import estimate
from colossim.scenario import load_scenario
from colossim.validation.fit import GPU_FAMILY
from colossim.validation.runs import reference_runs, validate


@pytest.fixture(scope="module")
def rows():
    return validate(cross_validate=True)


@pytest.mark.parametrize("family", sorted({GPU_FAMILY[r.gpu_family] for r in reference_runs()}))
def test_stored_accuracy_matches_the_live_validation(rows, family: str) -> None:
    fam = {r.label: GPU_FAMILY[r.gpu_family] for r in reference_runs()}
    mine = [r for r in rows if fam[f"{r.case}/{r.run}"] == family]
    stored = catalog.efficiency_profile(family).validated
    assert stored is not None, family
    assert stored["runs"] == len(mine)
    cv = sum(abs(r.cross_validated_error) for r in mine) / len(mine)
    mape = sum(abs(r.error) for r in mine) / len(mine)
    assert stored["cross_validated_mape"] == pytest.approx(cv, abs=5e-4), f"{family}: re-store {cv:.4f}"
    assert stored["mape"] == pytest.approx(mape, abs=5e-4), f"{family}: re-store {mape:.4f}"


def _scenario(gpu: str, **training) -> dict:
    return {"model": "llama3-70b", "cluster": {"gpu": gpu, "num_gpus": 1024},
            "training": {"seq_len": 8192, "global_batch_size": 128, **training}, "parallel": {"tp": 8, "pp": 1, "dp": 128}}


def test_an_estimate_quotes_its_family_cross_validated_error() -> None:
    est = estimate(load_scenario(_scenario("h100-sxm")))
    err = catalog.efficiency_profile("hopper").validated["cross_validated_mape"]
    assert est.envelope["expected_error"] == err
    assert any(n.startswith("accuracy:") and f"{err:.1%}" in n for n in est.notes)


def test_an_unvalidated_family_says_so() -> None:
    assert "cdna3" not in GPU_FAMILY.values()  # no reference run: MI300X's profile stays unvalidated
    est = estimate(load_scenario(_scenario("mi300x")))
    assert est.envelope["expected_error"] is None
    assert any("no published run validates" in n for n in est.notes)


def test_exposed_data_parallel_traffic_names_the_stack_default() -> None:
    off = estimate(load_scenario(_scenario("h100-sxm")))  # megatron-core-2024: no DP overlap by default
    assert any("not overlapped" in n and "megatron-core-2024" in n for n in off.notes)
    on = estimate(load_scenario(_scenario("h100-sxm", overlap_dp_comm=True)))
    assert not any("not overlapped" in n for n in on.notes)
    assert on.step_time_s < off.step_time_s


def test_an_own_calibrated_profile_is_not_quoted_the_catalog_accuracy(tmp_path) -> None:
    prof = tmp_path / "mine.yaml"
    prof.write_text("base: hopper\nhbm_fraction: 0.8\n")
    sc = _scenario("h100-sxm")
    sc["cluster"]["efficiency_profile"] = str(prof)
    est = estimate(load_scenario(sc))
    assert est.envelope["expected_error"] is None
    assert any("no published run validates" in n for n in est.notes)


def test_search_results_quote_the_accuracy_too() -> None:
    from colossim.search import search

    sc = load_scenario({"model": "llama3-8b", "cluster": {"gpu": "h100-sxm", "num_gpus": 64},
                        "training": {"seq_len": 4096, "global_batch_size": 64}})
    top = search(sc).top[0]
    assert top.envelope["expected_error"] == catalog.efficiency_profile("hopper").validated["cross_validated_mape"]


def test_stored_stack_accuracy_matches_the_live_validation(rows) -> None:
    from colossim.catalog import stacks
    from colossim.validation.runs import stack_summary

    live = stack_summary(rows)
    for name in stacks.stack_names():
        stored = stacks.stack(name).validated
        if name not in live:
            assert stored is None, f"{name}: no published run, but a stored record"
            continue
        assert stored is not None, f"{name}: store {live[name]} (benchmarks/calibrate.py --cross-validate --store)"
        assert stored["runs"] == live[name]["runs"]
        for key in ("cross_validated_mape", "cross_validated_bias"):
            assert stored[key] == pytest.approx(live[name][key], abs=5e-4), f"{name} {key}: re-store {live[name]}"


def test_an_estimate_names_its_stack_bias_when_material() -> None:
    biased = estimate(load_scenario(_scenario("a100-80gb", stack="megatron-deepspeed-2021")))
    note = next(n for n in biased.notes if "on stack megatron-deepspeed-2021" in n)
    assert "shorter than measured" in note and "optimistic" in note
    assert biased.envelope["stack_bias"] < -0.05
    plain = estimate(load_scenario(_scenario("h100-sxm", stack="nemo-2024")))
    assert not any("on stack" in n for n in plain.notes)  # |bias| below 5%: no note
