"""Colossus against public records: ~150 MW approved, not the 35 MW of the seed article."""

from __future__ import annotations

import pytest

from colossim.api import load_scenario
from colossim.energy.options import PowerOptions
from colossim.energy.site import power_report


@pytest.fixture(scope="module")
def colossus():
    from pathlib import Path

    return load_scenario(Path(__file__).resolve().parents[1] / "examples" / "grok1-colossus-100k.yaml")


@pytest.fixture(scope="module")
def colossus_35mw(colossus):
    return power_report(colossus, PowerOptions(budget_mw=35))


def test_colossus_facility_power_in_the_range_public_records_support(colossus_35mw) -> None:
    """TVA approved 150 MW for the 100k-GPU site (colossus.yaml); default PUE (liquid, 1.2)."""
    d = colossus_35mw.to_dict()
    assert d["pue"] == pytest.approx(1.2)
    assert 120.0 <= d["facility_power_mw"] <= 200.0
    assert 120.0 <= d["facility_power_nameplate_mw"] <= 200.0
    assert d["facility_power_avg_mw"] < d["facility_power_mw"] < d["facility_power_nameplate_mw"]
    assert d["it_power_mw"] * 1.2 == pytest.approx(d["facility_power_mw"])


def test_the_35_mw_claim_is_impossible_for_100k_h100(colossus_35mw) -> None:
    b = colossus_35mw.to_dict()["budget"]
    assert b["fits"] is False
    assert b["needs_mw"] > 3 * 35
    assert b["gpus_at_tdp_only_mw"] == pytest.approx(70.0)  # the GPUs alone draw twice the claim
    assert 15_000 <= b["max_gpus_in_budget"] <= 35_000
    assert b["max_gpus_in_budget"] % 8 == 0  # whole servers
    assert colossus_35mw.max_gpus_in_budget == b["max_gpus_in_budget"]


def test_150_mw_feeds_colossus(colossus) -> None:
    r = power_report(colossus, PowerOptions(budget_mw=150))
    assert r.budget["fits"] and r.budget["max_gpus_in_budget"] >= 100_000


def test_budget_bases_order(colossus) -> None:
    got = {basis: power_report(colossus, PowerOptions(budget_mw=35, budget_basis=basis)).budget["max_gpus_in_budget"]
           for basis in ("average", "peak", "nameplate")}
    assert got["average"] > got["peak"] > got["nameplate"] > 0


def test_max_gpus_grows_with_the_budget(colossus) -> None:
    counts = [power_report(colossus, PowerOptions(budget_mw=mw)).budget["max_gpus_in_budget"] for mw in (1, 10, 35, 100)]
    assert counts == sorted(counts) and counts[0] < counts[-1]


def test_a_budget_too_small_for_one_server(colossus) -> None:
    r = power_report(colossus, PowerOptions(budget_mw=0.005))
    assert r.budget["max_gpus_in_budget"] == 0 and not r.budget["fits"]


def test_swing_and_events(colossus_35mw) -> None:
    d = colossus_35mw.to_dict()
    sw, ev = d["swing"], d["events"]
    assert sw["period_s"] == pytest.approx(d["step_time_s"])
    assert 0 < sw["trough_mw"] < sw["mean_mw"] < sw["peak_mw"]
    assert sw["swing_mw"] > 5.0  # tens of MW at 100k GPUs (Llama 3 paper 3.3.4, Choukse et al. 2025)
    assert 0 < ev["checkpoint_dip_mw"] < ev["restart_dip_mw"] < d["facility_power_avg_mw"]
    bat = d["battery"]
    assert bat["energy_mwh"] > 0 and bat["power_mw"] >= ev["restart_dip_mw"] * 0.9
    assert bat["units"] >= 1


def test_small_cluster_reports_without_budget(small_dense) -> None:
    r = power_report(load_scenario(small_dense))
    d = r.to_dict()
    assert d["max_gpus_in_budget"] is None and d["budget"] is None
    assert 0 < d["it_power_avg_mw"] < d["it_power_mw"] <= d["it_power_nameplate_mw"]
    assert d["server_kw"]["nameplate"] == pytest.approx(10.2)


def test_a_budget_beyond_the_scenarios_fabric_grows_its_tiers() -> None:
    # 64 GPUs on a 2-tier radix-64 fabric (2,048 GPUs at most): 5 MW feeds more than that, so the
    # inversion prices the 3-tier fabric the same switch needs, instead of refusing the scenario
    from pathlib import Path

    sc = load_scenario(Path(__file__).resolve().parents[1] / "examples" / "llama3-8b-64.yaml")
    b = power_report(sc, PowerOptions(budget_mw=5)).budget
    assert b["fits"] and b["max_gpus_in_budget"] > 2_048
    assert (b["fabric_tiers"], b["fabric_tiers_at_max"], b["fabric_limited"]) == (2, 3, False)
    # past the largest 3-tier fabric (k^3/4 = 65,536) the switch, not the power, sets the count
    b = power_report(sc, PowerOptions(budget_mw=10_000)).budget
    assert b["max_gpus_in_budget"] == 65_536 and b["fabric_limited"]


def test_a_non_finite_flag_names_its_range(tmp_path) -> None:
    # NaN fails pydantic's "greater than 0" before any finite check: refused first, with the
    # field's own range; inf keeps the range the section's bounds give it
    import subprocess
    import sys
    from pathlib import Path

    ex = Path(__file__).resolve().parents[1] / "examples" / "llama3-8b-64.yaml"
    for cmd, flag, value, reason in (("power", "--budget-mw", "nan", "site MW: 1 kW to 1 TW"),
                                     ("cost", "--usd-per-kwh", "inf", "USD per kWh: 0 to 100")):
        r = subprocess.run([sys.executable, "-m", "colossim", cmd, str(ex), flag, value], capture_output=True, text=True)
        assert r.returncode == 2 and "Traceback" not in r.stderr
        assert f"{flag}: {value} is not allowed; must be a finite number ({reason})" in r.stderr
