"""Catalog data: every entry sourced, model presets reproduce published parameter counts."""

from __future__ import annotations

import pytest

from colossim import catalog
from colossim.catalog.views import find_entry, summaries
from colossim.errors import ColossimError
from colossim.scenario import build_cluster, build_model

REQUIRED_GPUS = ["a100-40gb", "a100-80gb", "h100-sxm", "h100-pcie", "h800", "h200", "b200", "gb200", "mi300x"]
REQUIRED_MODELS = ["gpt3-175b", "llama3-8b", "llama3-70b", "llama3-405b", "grok-1", "mixtral-8x7b",
                   "deepseek-v3", "nemotron4-340b", "bloom-176b"]


@pytest.mark.parametrize("name", REQUIRED_GPUS)
def test_required_gpus_have_sourced_figures(name: str) -> None:
    g = catalog.gpu(name)
    assert g.peak_tflops["bf16"] > 0 and g.hbm_gb > 0 and g.hbm_bw_tbps > 0
    assert g.scaleup_unidir_gbps > 0 and g.scaleup_domain >= 2 and g.tdp_w > 0
    assert g.source and g.date
    catalog.efficiency_profile(g.profile)


def test_gpu_aliases_and_suggestions() -> None:
    assert catalog.gpu("H100").name == "h100-sxm"
    with pytest.raises(ColossimError, match="did you mean 'h100-sxm'"):
        catalog.gpu("h100-sxn")


@pytest.mark.parametrize("name", catalog.model_names())
def test_model_params_match_published(name: str) -> None:
    """Within 1% of the published count (or of its printed rounding, for Table 1's 1.7B/3.6B)."""
    preset = catalog.model_preset(name)
    model = build_model(name)
    published = model.published_params_b
    assert published is not None, f"{name} has no published_params_b"
    assert preset.get("source"), f"{name} has no source"
    ours = model.total_params(seq_len=2048) / 1e9
    tolerance = max(0.01 * published, preset.get("published_rounding_b", 0.0))
    assert abs(ours - published) <= tolerance, f"{name}: {ours:.3f}B vs published {published}B"


def test_required_models_present() -> None:
    assert set(REQUIRED_MODELS) <= set(catalog.model_names())


def test_moe_active_params() -> None:
    assert build_model("mixtral-8x7b").active_params() / 1e9 == pytest.approx(12.9, rel=0.01)
    assert build_model("deepseek-v3").active_params() / 1e9 == pytest.approx(37, rel=0.03)
    assert build_model("grok-1").active_params() / 1e9 == pytest.approx(83.8, rel=0.01)


def test_megatron_eq2_parameter_count() -> None:
    """Narayanan et al. 2021 Eq. 2: P = 12 l h^2 (1 + 13/(12h) + (V+s)/(12lh)), plus the final norm."""
    m = build_model("megatron-1t")
    n_layers, h, v, s = m.num_layers, m.hidden_size, m.vocab_size, 2048
    eq2 = 12 * n_layers * h * h * (1 + 13 / (12 * h) + (v + s) / (12 * n_layers * h))
    assert m.total_params(seq_len=s) == pytest.approx(eq2 + 2 * h, rel=1e-12)


def test_clusters_build_and_colossus_layout() -> None:
    for name in catalog.cluster_names():
        c = build_cluster(name)
        assert c.num_gpus >= c.gpus_per_node
        assert catalog.cluster_preset(name).get("source")
    col = build_cluster("colossus-100k")
    assert (col.num_gpus, col.gpus_per_node, col.nic_gbps_per_gpu, col.fabric.tiers) == (100_000, 8, 400, 3)
    assert col.gpus_per_rack == 64 and col.racks_per_group == 8 and col.fabric.switch == "sn5600"
    assert build_cluster("colossus-200k").num_gpus == 200_000
    llama = build_cluster("llama3-24k")
    assert llama.fabric.pod_gpus == 3072 and llama.fabric.top_oversubscription == 7


def test_every_efficiency_profile_has_sources() -> None:
    for g in catalog.gpus():
        prof = catalog.efficiency_profile(g.profile)
        assert "gemm_max_fraction" in prof.sources
        assert 0 < prof.gemm_max_fraction["bf16"] < 1


def test_views() -> None:
    for kind in ("gpus", "models", "clusters", "switches"):
        assert summaries(kind)
    assert find_entry("grok-1")[0] == "model"
    assert find_entry("H100")[0] == "gpu"
    with pytest.raises(ColossimError, match="did you mean"):
        find_entry("colossus-100")


def test_a_fitted_gpu_gemm_scale_names_an_unmeasured_gpu_of_its_family() -> None:
    from colossim.perf.hardware import assumed_gemm_ceiling

    for family in ("ampere", "hopper", "blackwell", "cdna3", "cdna4"):
        prof = catalog.efficiency_profile(family)
        assert not prof.gpu_gemm_scale or "gpu_gemm_scale" in prof.sources
        for name, scale in prof.gpu_gemm_scale.items():
            gpu = catalog.gpu(name)
            # a measured MAMF would price it; the scale stands in only where none is published
            assert gpu.profile == family and assumed_gemm_ceiling(gpu, prof)
            assert 0.5 < scale < 2.0
