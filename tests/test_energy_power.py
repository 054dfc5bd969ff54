"""Power per component: server ratings, measured node draw, phases, PUE, network, sources."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from colossim import catalog
from colossim.energy import presets
from colossim.energy.options import PowerOptions, power_options
from colossim.energy.power import (
    COMPONENTS,
    PHASE_OF_TERM,
    gpu_w_of_breakdown,
    power_model,
    resolve_pue,
)
from colossim.errors import ColossimError
from colossim.scenario import build_cluster


@dataclass(frozen=True)
class StubInventory:
    """The shape of colossim.network.topology.FabricInventory (counts for a 2-tier fabric)."""

    switches_per_tier: list[int] = field(default_factory=lambda: [16, 8, 0])
    switch_name: str = "qm9700"
    port_gbps: float = 400.0
    links_per_tier: list[int] = field(default_factory=lambda: [512, 512, 0])
    optical_transceivers: int = 1280  # 512 NIC modules + 768 twin-port switch modules
    optical_ports: int = 2048  # 512 NIC ends + 512 leaf ends + 2 x 512 leaf-spine ends
    dac_cables: int = 0
    nics: int = 512
    gpus: int = 512


def h100(num_gpus: int = 1024, **extra) -> object:
    return build_cluster({"gpu": "h100-sxm", "num_gpus": num_gpus, **extra})


def test_dgx_h100_node_is_10_2_kw_at_full_load() -> None:
    pm = power_model(h100(), inventory=StubInventory())
    assert pm.server_design == "dgx-h100"
    assert pm.node_w() == pytest.approx(10_200.0)


def test_dgx_b200_node_is_14_3_kw_at_full_load() -> None:
    pm = power_model(build_cluster({"gpu": "b200", "num_gpus": 64}), inventory=StubInventory())
    assert pm.node_w() == pytest.approx(14_300.0)


def test_training_draw_of_an_h100_node_matches_measurements() -> None:
    """8 x H100 HGX nodes in training: 8.4 kW peak (Latif et al. 2024), compute-heavy
    workloads at 76% of 10.2 kW = 7.75 kW (Newkirk et al. 2025)."""
    pm = power_model(h100(), inventory=StubInventory())
    compute_node_w = pm.node_w(pm.phase_w["compute"])
    assert 7_500.0 <= compute_node_w <= 8_600.0
    assert pm.node_w(pm.phase_w["idle"]) < pm.node_w(pm.phase_w["bubble"]) < compute_node_w < pm.node_w()


def test_phases_order_and_tdp_bound() -> None:
    pm = power_model(h100(), inventory=StubInventory())
    w = pm.phase_w
    assert w["idle"] < w["bubble"] < w["communication"] < w["optimizer"] < w["compute"] <= pm.tdp_w


def test_unknown_gpu_design_uses_the_dgx_ratio() -> None:
    pm = power_model(build_cluster({"gpu": "mi300x", "num_gpus": 64}), inventory=StubInventory())
    assert pm.server_design.startswith("generic")
    assert pm.node_w() == pytest.approx(8 * 750 * 1.82)


def test_components_sum_to_it_power_and_facility_is_it_times_pue() -> None:
    pm = power_model(h100(), inventory=StubInventory())
    for gpu_w in (pm.phase_w["bubble"], 500.0, pm.phase_w["compute"]):
        comp = pm.components_w(gpu_w, 1000)
        assert set(comp) == set(COMPONENTS)
        assert sum(comp.values()) == pytest.approx(float(pm.it_w(gpu_w, 1000)))
        assert all(v >= 0 for v in comp.values())
    assert pm.pue == pytest.approx(1.56)  # air-cooled by default: Uptime 2024 average


def test_network_from_the_inventory() -> None:
    inv = StubInventory()
    pm = power_model(h100(), inventory=inv)
    assert pm.num_switches == 24
    assert pm.switch_w == pytest.approx(1000.0)  # planning value, unverified
    assert pm.switch_optics_w == pytest.approx(1536 * 8.5)  # half a 17 W twin-port per 400G port
    assert pm.network_w == pytest.approx(24 * 1000.0 + 1536 * 8.5)


def test_switch_power_override_and_scaling_by_capacity() -> None:
    pm = power_model(h100(), PowerOptions(switch_w=2500), inventory=StubInventory())
    assert pm.switch_w == 2500.0
    opa = power_model(build_cluster({"gpu": "a100-80gb", "num_gpus": 64, "fabric": {"switch": "opa-edge"}}),
                      inventory=StubInventory())
    assert 0 < opa.switch_w < 1000


def test_gpu_power_is_the_time_weighted_phase_mean() -> None:
    pm = power_model(h100(), inventory=StubInventory())
    terms = {t: np.array([0.0, 1.0]) for t in PHASE_OF_TERM}
    terms["compute_forward_s"] = np.array([2.0, 1.0])
    terms["pp_bubble_s"] = np.array([2.0, 0.0])
    mean_w, busy_w = gpu_w_of_breakdown(pm, terms)
    w = pm.phase_w
    assert mean_w[0] == pytest.approx((w["compute"] + w["bubble"]) / 2)
    assert busy_w[0] == pytest.approx(w["compute"])
    assert w["bubble"] < mean_w[1] < w["compute"]


@settings(max_examples=40, deadline=None)
@given(st.floats(0.0, 700.0), st.integers(0, 1024))
def test_it_power_grows_with_gpu_draw(gpu_w: float, used: int) -> None:
    pm = power_model(h100(), inventory=StubInventory())
    assert float(pm.it_w(gpu_w + 10.0, used)) >= float(pm.it_w(gpu_w, used))
    assert float(pm.overhead_w(gpu_w)) <= pm.overhead_rated_w


def test_pue_presets_and_bad_values() -> None:
    assert resolve_pue(None, "liquid") == (1.2, "liquid")
    assert resolve_pue("air", "liquid")[0] == pytest.approx(1.56)
    assert resolve_pue(1.1, "air") == (1.1, "1.1")
    assert resolve_pue("1.3", "air")[0] == pytest.approx(1.3)
    with pytest.raises(ColossimError, match="at least 1.0"):
        resolve_pue(0.9, "air")
    with pytest.raises(ColossimError, match="did you mean 'liquid'"):
        resolve_pue("liquud", "air")


def test_power_section_is_validated_with_clear_messages() -> None:
    with pytest.raises(ColossimError, match=r"power\.pue: 0\.8 is not allowed; PUE"):
        power_options({"power": {"pue": 0.8}})
    with pytest.raises(ColossimError, match=r"power\.budget_mw"):
        power_options({"power": {"budget_mw": 0}})
    with pytest.raises(ColossimError, match=r"power\.budget_mw: -3"):
        power_options({"power": {"budget_mw": -3}})
    with pytest.raises(ColossimError, match=r"unknown field; allowed: .*budget_mw"):
        power_options({"power": {"budjet_mw": 5}})
    with pytest.raises(ColossimError, match=r"--budget-mw: -1\.0 is not allowed"):
        power_options({}, budget_mw=("--budget-mw", -1.0))
    opts = power_options({"power": {"pue": "air", "budget_mw": 10}}, budget_mw=("--budget-mw", 20.0))
    assert opts.pue == "air" and opts.budget_mw == 20.0


def test_every_figure_has_source_date_and_verified() -> None:
    def walk(node, path=""):
        if isinstance(node, dict):
            if "value" in node or "usd_per_kwh" in node or "g_co2_per_kwh" in node or "overhead_w_per_gpu" in node:
                for key in ("source", "date", "verified"):
                    assert key in node, f"{path}: no {key}"
                assert node["source"], f"{path}: empty source"
            for k, v in node.items():
                walk(v, f"{path}.{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}[{i}]")

    for name in ("power.yaml", "facility.yaml", "electricity.yaml", "carbon.yaml", "capex.yaml"):
        walk(presets.load(name), name)
    # switch power is not published by any vendor: it must stay marked unverified
    assert not any(v["verified"] for v in presets.load("power.yaml")["switch_w"].values())


def test_every_catalog_switch_and_gpu_has_a_power_figure() -> None:
    table = presets.load("power.yaml")["switch_w"]
    assert set(catalog.switch_names()) <= set(table)
    designs = {g for entry in presets.load("power.yaml")["server_overhead"] for g in entry["gpus"]}
    assert {"h100-sxm", "h200", "b200", "gb200", "a100-80gb"} <= designs
