"""The reliability data files: every figure sourced, and the arithmetic behind the rates."""

from __future__ import annotations

import math

import pytest

from colossim.reliability.checkpoint import (
    DEFAULT_BYTES_PER_PARAM,
    TB,
    checkpoint_bytes,
    storage_names,
    storage_preset,
)
from colossim.reliability.failures import (
    class_names,
    links_per_gpu,
    load_reliability_data,
    preset_classes,
    preset_names,
)
from colossim.scenario import build_cluster, build_model

FILES = ("failure_rates.yaml", "storage.yaml", "recovery.yaml")


def _figures(node, path=""):
    if isinstance(node, dict):
        if "value" in node:
            yield path, node
        for key, child in node.items():
            yield from _figures(child, f"{path}.{key}")
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield from _figures(child, f"{path}[{i}]")


@pytest.mark.parametrize("filename", FILES)
def test_every_figure_has_source_date_verified(filename: str) -> None:
    figures = list(_figures(load_reliability_data(filename)))
    assert figures
    for path, fig in figures:
        if filename == "failure_rates.yaml" and ".rates." in path:
            continue  # a preset's rates share the preset's source, date and verified
        assert {"source", "date", "verified"} <= set(fig), path
        assert isinstance(fig["verified"], bool), path


def test_presets_carry_source_date_verified() -> None:
    for name, preset in load_reliability_data("failure_rates.yaml")["presets"].items():
        assert {"source", "date", "verified", "rates"} <= set(preset), name
        assert set(preset["rates"]) <= set(class_names()), name


def test_llama3_rates_are_events_over_exposure() -> None:
    preset = load_reliability_data("failure_rates.yaml")["presets"]["llama3"]
    exposure = preset["exposure"]
    classes = load_reliability_data("failure_rates.yaml")["classes"]
    per_unit = {"gpu": exposure["gpu_days"], "server": exposure["server_days"],
                "link": exposure["link_days"], "job": exposure["job_days"]}
    for name, rate in preset["rates"].items():
        expected = rate["events"] / per_unit[classes[name]["unit"]]
        assert rate["value"] == pytest.approx(expected, rel=2e-4), name
    events = {name: rate["events"] for name, rate in preset["rates"].items()}
    assert sum(events.values()) == 466  # Llama 3 Table 5: 466 interruptions in 54 days
    assert events["planned"] == 47
    assert sum(v for k, v in events.items() if k != "planned") == 419


def test_llama3_exposure_arithmetic() -> None:
    exposure = load_reliability_data("failure_rates.yaml")["presets"]["llama3"]["exposure"]
    cluster = build_cluster("llama3-24k")
    assert links_per_gpu(cluster.fabric) == pytest.approx(1 + 1 + 1 / 7)
    assert exposure["gpu_days"] == 16384 * 54
    assert exposure["server_days"] == 2048 * 54
    assert exposure["link_days"] == pytest.approx(16384 * links_per_gpu(cluster.fabric) * 54, rel=1e-6)


def test_links_per_gpu_by_fabric() -> None:
    assert links_per_gpu(build_cluster("colossus-100k").fabric) == 3.0
    assert links_per_gpu(build_cluster("dgx-superpod-h100").fabric) == 2.0


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_loads(name: str) -> None:
    classes = preset_classes(name)
    assert classes and all(c.rate_per_unit_day > 0 for c in classes)


def test_meta_and_logbook_presets() -> None:
    (node,) = preset_classes("meta-rsc1")
    assert node.unit == "server" and node.rate_per_unit_day == pytest.approx(6.50e-3)
    assert preset_classes("meta-rsc2")[0].rate_per_unit_day == pytest.approx(2.34e-3)
    assert preset_classes("opt-175b")[0].rate_per_unit_day == pytest.approx(2 / 124, rel=1e-4)
    assert preset_classes("bloom-176b")[0].rate_per_unit_day == pytest.approx(1 / (7 * 384), rel=1e-4)


def test_checkpoint_size_reproduces_megatron_1t() -> None:
    """Narayanan et al. SC'21 section 5.10: the 1T-parameter checkpoint is 13.8 TB."""
    assert DEFAULT_BYTES_PER_PARAM == 14.0
    params = build_model("megatron-1t").total_params(2048)
    size_tb = checkpoint_bytes(params) / TB
    assert size_tb == pytest.approx(13.8, rel=0.05)
    save_bps, load_bps = storage_preset("selene-megatron")
    assert 13.8 * TB / save_bps == pytest.approx(50.5, rel=0.01)  # 273 GB/s
    assert 13.8 * TB / load_bps == pytest.approx(13.8, rel=0.01)  # 1 TB/s


def test_checkpoint_size_bloom() -> None:
    """BLOOM 176B's checkpoints were 2.3 TB (bf16 weights + fp32 optimizer states)."""
    size_tb = checkpoint_bytes(build_model("bloom-176b").total_params(2048)) / TB
    assert size_tb == pytest.approx(2.3, rel=0.10)


def test_storage_presets_positive() -> None:
    for name in storage_names():
        save, load = storage_preset(name)
        assert save > 0 and load > 0 and math.isfinite(save)


def test_recovery_presets_complete() -> None:
    presets = load_reliability_data("recovery.yaml")["recovery"]
    for name, entry in presets.items():
        for key in ("detect_s", "restart_s", "comm_init_s", "comm_init_ref_gpus", "comm_init_exponent"):
            assert key in entry, (name, key)
