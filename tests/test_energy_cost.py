"""Energy, cost and carbon of a run; Llama 3 405B's published GPU-hours as a check."""

from __future__ import annotations

import pytest

from colossim.api import load_scenario
from colossim.energy.cost import HOURS_PER_YEAR, cost_model, cost_report, energy_from_gpu_hours
from colossim.energy.options import CostOptions, cost_options
from colossim.energy.site import power_report
from colossim.errors import ColossimError
from colossim.scenario import build_cluster

# Llama 3 405B pre-training as published (arXiv:2407.21783): 16,384 H100 of the 24k RoCE
# cluster, TP8 x PP16 (7 layers on the first and last stage) x DP128, 8K sequences, 16M-token
# batches, 15.6T tokens; interleaved pipeline.
LLAMA3_405B = {
    "name": "Llama 3 405B on 16k H100",
    "model": "llama3-405b",
    "cluster": "llama3-24k",
    "training": {"seq_len": 8192, "global_batch_size": 2048, "total_tokens": 15.6e12},
    "parallel": {"tp": 8, "pp": 16, "dp": 128, "vpp": 2, "first_stage_layers": 7, "last_stage_layers": 7},
}
GPU_HOURS_405B = 30.84e6  # Llama 3.1 model card
GPU_HOURS_FAMILY = 39.3e6  # 8B + 70B + 405B


@pytest.fixture(scope="module")
def llama():
    sc = load_scenario(LLAMA3_405B)
    return sc, power_report(sc)


@pytest.mark.parametrize("gpu_hours", [GPU_HOURS_405B, GPU_HOURS_FAMILY])
def test_llama3_energy_from_published_gpu_hours_is_within_tdp_and_rating(llama, gpu_hours) -> None:
    """GPU-hours x 700 W (GPUs alone at TDP, the model card's basis) <= modelled IT energy
    <= GPU-hours x (700 W + rated DGX overhead) (servers at their 10.2 kW rating)."""
    _, power = llama
    e = energy_from_gpu_hours(power, gpu_hours)
    assert e["bound_gpus_at_tdp_mwh"] == pytest.approx(gpu_hours * 0.7 / 1e3)
    assert e["bound_servers_at_rating_mwh"] == pytest.approx(gpu_hours * 1.275 / 1e3)
    assert e["bound_gpus_at_tdp_mwh"] < e["it_mwh"] < e["bound_servers_at_rating_mwh"]
    assert e["facility_mwh"] == pytest.approx(e["it_mwh"] * power.model.pue)
    assert 300.0 < e["gpu_w"] < 700.0


def test_cost_report_arithmetic(llama) -> None:
    sc, power = llama
    r = cost_report(sc, power, CostOptions(electricity="tennessee", grid="tva"))
    d = r.to_dict()
    hours = d["run_days"] * 24
    assert d["gpu_hours"] == pytest.approx(16384 * hours)
    assert d["energy_mwh"] == pytest.approx(d["facility_power_avg_mw"] * hours)
    assert d["usd_per_kwh"] == pytest.approx(0.0623) and d["g_co2_per_kwh"] == pytest.approx(283)
    assert d["electricity_usd"] == pytest.approx(d["energy_mwh"] * 1e3 * 0.0623)
    assert d["co2_tonnes"] == pytest.approx(d["energy_mwh"] * 283 / 1e3)
    assert d["cost_usd"] == pytest.approx(d["electricity_usd"] + sum(d["capex_amortized_usd"].values()))
    assert d["cost_per_million_tokens_usd"] == pytest.approx(d["cost_usd"] / 15.6e6)
    assert d["energy_per_token_j"] == pytest.approx(d["energy_mwh"] * 3.6e9 / 15.6e12)
    assert d["capex_usd"]["gpus"] == pytest.approx(24576 * 27500)
    years = hours / HOURS_PER_YEAR
    assert d["capex_amortized_usd"]["gpus"] == pytest.approx(24576 * 27500 * years / 4)


def test_given_price_and_intensity_override_presets(llama) -> None:
    sc, power = llama
    d = cost_report(sc, power, CostOptions(electricity="tennessee", usd_per_kwh=0.1, g_co2_per_kwh=0)).to_dict()
    assert d["usd_per_kwh"] == 0.1 and d["price_preset"] == "given"
    assert d["co2_tonnes"] == 0.0


def test_goodput_stretches_the_run(llama) -> None:
    sc, power = llama
    full = cost_report(sc, power, CostOptions(goodput=1.0)).to_dict()
    half = cost_report(sc, power, CostOptions(goodput=0.5)).to_dict()
    assert half["run_days"] == pytest.approx(2 * full["run_days"])
    assert half["energy_mwh"] == pytest.approx(2 * full["energy_mwh"])


def test_gpu_hours_set_the_run_length(llama) -> None:
    sc, power = llama
    d = cost_report(sc, power, CostOptions(), gpu_hours=GPU_HOURS_405B).to_dict()
    assert d["gpu_hours"] == pytest.approx(GPU_HOURS_405B)
    assert d["energy_bounds_mwh"]["gpus_at_tdp"] == pytest.approx(GPU_HOURS_405B * 0.7 / 1e3)


def test_no_capex_leaves_electricity_only(llama) -> None:
    sc, power = llama
    d = cost_report(sc, power, CostOptions(include_capex=False)).to_dict()
    assert d["cost_usd"] == pytest.approx(d["electricity_usd"])


def test_unknown_presets_and_bad_values_are_clear() -> None:
    cluster = build_cluster({"gpu": "h100-sxm", "num_gpus": 64})
    with pytest.raises(ColossimError, match="did you mean 'tennessee'"):
        cost_model(cluster, CostOptions(electricity="tenessee"))
    with pytest.raises(ColossimError, match=r"cost\.grid: 'mars' is not allowed; unknown grid carbon preset"):
        cost_model(cluster, CostOptions(grid="mars"))
    with pytest.raises(ColossimError, match=r"cost\.usd_per_kwh: -0\.1 is not allowed"):
        cost_options({"cost": {"usd_per_kwh": -0.1}})
    with pytest.raises(ColossimError, match=r"--goodput: 0\.0 is not allowed"):
        cost_options({}, goodput=("--goodput", 0.0))


def test_a_gpu_without_a_price_needs_one() -> None:
    cluster = build_cluster({"gpu": "gb200", "num_gpus": 72})
    with pytest.raises(ColossimError, match=r"cost\.gpu_price_usd: the catalog has no price for gb200"):
        cost_model(cluster, CostOptions())
    assert cost_model(cluster, CostOptions(include_capex=False)).gpu_price_usd is None
    assert cost_model(cluster, CostOptions(gpu_price_usd=40000)).gpu_price_usd == 40000


def test_a_run_needs_its_token_count(small_dense) -> None:
    sc = load_scenario(small_dense)
    with pytest.raises(ColossimError, match=r"training\.total_tokens: missing"):
        cost_report(sc, power_report(sc), CostOptions())
    d = cost_report(sc, power_report(sc), CostOptions(total_tokens=1e9)).to_dict()
    assert d["total_tokens"] == 1e9 and d["cost_usd"] > 0
