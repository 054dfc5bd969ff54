"""Scenario parsing: presets, overrides, defaults and clear errors."""

from __future__ import annotations

import pytest

from colossim.errors import ColossimError
from colossim.scenario import load_scenario


def base(**over):
    d = {"model": "llama3-8b", "cluster": {"gpu": "h100-sxm", "num_gpus": 64},
         "training": {"seq_len": 4096, "global_batch_size": 64}, "parallel": {"tp": 2, "pp": 2, "dp": 16}}
    d.update(over)
    return d


def test_preset_with_overrides_and_nested_merge() -> None:
    sc = load_scenario(base(model={"preset": "llama3-405b", "num_layers": 32},
                            cluster={"preset": "colossus-100k", "fabric": {"routing": "ecmp"}}))
    assert sc.model.num_layers == 32 and sc.model.hidden_size == 16384
    assert sc.cluster.fabric.routing == "ecmp" and sc.cluster.fabric.tiers == 3  # merged, not replaced


def test_cluster_defaults_come_from_the_gpu() -> None:
    sc = load_scenario(base(cluster={"gpu": "gb200", "num_gpus": 144}, parallel={"tp": 4}))
    assert sc.cluster.gpus_per_node == 72 and sc.cluster.scaleup_gbps_per_gpu == 900
    assert sc.cluster.gpus_per_server == 8


def test_a_default_nvlink_domain_larger_than_the_cluster_is_named_not_shrunk() -> None:
    # 8 GB300 (two NVL72 trays): the default gpus_per_node is the whole 72-GPU domain
    with pytest.raises(ColossimError, match=r"cluster.gpus_per_node: not set.*NVLink domain of 72.*at most 8"):
        load_scenario(base(cluster={"gpu": "gb300", "num_gpus": 8}, parallel={"tp": 1}))
    sc = load_scenario(base(cluster={"gpu": "gb300", "num_gpus": 8, "gpus_per_node": 8, "gpus_per_server": 4},
                            parallel={"tp": 1}))
    assert sc.cluster.gpus_per_node == 8


def test_dp_inferred_largest_that_fits() -> None:
    sc = load_scenario(base(parallel={"tp": 2, "pp": 2}))
    assert sc.parallel.dp == 16 and sc.dp_was_inferred
    sc = load_scenario(base(cluster={"gpu": "h100-sxm", "num_gpus": 100}, parallel={"tp": 2, "pp": 2}))
    assert sc.parallel.dp == 16 and sc.num_gpus_idle == 100 - 64  # 25 does not divide 64


def test_yaml_text_and_file(tmp_path) -> None:
    text = "model: llama3-8b\ncluster: {gpu: h100, num_gpus: 8}\ntraining: {seq_len: 2048, global_batch_size: 8}\n"
    assert load_scenario(text).parallel.dp == 8
    p = tmp_path / "s.yaml"
    p.write_text(text)
    assert load_scenario(p).cluster.gpu == "h100-sxm"


@pytest.mark.parametrize(
    ("scenario", "match"),
    [
        (base(model="llama3-8"), r"model: 'llama3-8' .*did you mean 'llama3-8b'"),
        (base(cluster={"gpu": "h100-sx", "num_gpus": 8}), r"cluster.gpu: 'h100-sx'.*did you mean"),
        (base(parallel={"tp": 3, "pp": 1, "dp": 8}), r"parallel.tp: model.num_heads \(32\) must be divisible by parallel.tp \(3\)"),
        (base(parallel={"tp": 8, "pp": 8, "dp": 8}), r"tp\*pp\*cp\*dp = 512 GPUs but cluster.num_gpus is 64"),
        (base(training={"seq_len": 4096, "global_batch_size": 60}), r"global_batch_size \(60\) must be divisible"),
        (base(model={"preset": "mixtral-8x7b"}, parallel={"tp": 1, "pp": 1, "dp": 64, "ep": 3}), r"num_experts \(8\) must be divisible by parallel.ep \(3\)"),
        (base(parallel={"tp": 2, "pp": 2, "dp": 16, "ep": 2}), r"needs a mixture-of-experts"),
        (base(training={"seq_len": -1, "global_batch_size": 64}), r"training.seq_len: -1 is not allowed"),
        (base(training={"global_batch_size": 64}), r"training.seq_len: missing"),
        (base(training={"seq_len": 4096, "global_batch_size": 64, "recompute": "ful"}), r"training.recompute: 'ful'.*did you mean 'full'"),
        (base(training={"seq_len": 4096, "global_batch_size": 64, "zero_stage": 4}), r"training.zero_stage: 4 is not allowed"),
        (base(parallel={"tp": 2, "pp": 2, "dp": 16, "tpp": 1}), r"parallel.tpp.*did you mean 'tp'"),
        (base(trainig={}), r"unknown section.*did you mean 'training'"),
        ({"model": "llama3-8b", "cluster": {"num_gpus": 8}, "training": {"seq_len": 1, "global_batch_size": 1}}, r"cluster.gpu: missing"),
        ("model: [unclosed", r"invalid YAML"),
        (base(parallel={"tp": 8, "pp": 16}), r"tp\*pp\*cp = 128 GPUs per model replica, more than the cluster's 64"),
        (base(training={"seq_len": 4096, "global_batch_size": 64, "micro_batch_size": 128}, parallel={"tp": 2}),
         r"micro_batch_size \(128\) must divide training.global_batch_size \(64\): it is larger"),
        (base(training={"seq_len": 4096, "global_batch_size": 64, "fp8_recipe": "mx"}), r"training.fp8_recipe: 'mx'.*did you mean 'mxfp8'"),
        (base(training={"seq_len": 4096, "global_batch_size": 64, "precision": "fp8", "fp8_recipe": "mxfp8"}),
         r"training.fp8_recipe: 'mxfp8' is not allowed on h100-sxm.*needs a Blackwell or CDNA 4 GPU"),
        (base(parallel={"tp": 16, "pp": 1, "dp": 4}), r"model.num_kv_heads \(8\) must be divisible by parallel.tp \(16\)"),
        ("just a string", r"a scenario must be a mapping"),
        (base(training={"seq_len": 4096, "global_batch_size": 48}, parallel={"tp": 2, "pp": 2, "dp": 16, "vpp": 2}),
         r"parallel.vpp: the interleaved schedule \(vpp=2\) needs the micro-batch count \(3\) to be a multiple of pp \(2\)"),
    ],
)
def test_bad_input_names_field_and_value(scenario, match) -> None:
    with pytest.raises(ColossimError, match=match):
        load_scenario(scenario)


def test_every_missing_field_is_named_at_once() -> None:
    with pytest.raises(ColossimError, match=r"training.seq_len: missing \(required\); also missing: "
                                            r"training.global_batch_size$"):
        load_scenario(base(training={}))


def test_missing_file() -> None:
    with pytest.raises(ColossimError, match="not found"):
        load_scenario("does/not/exist.yaml")


def test_round_trip() -> None:
    sc = load_scenario(base())
    again = load_scenario(sc.to_dict())
    assert again.model == sc.model and again.parallel == sc.parallel and again.cluster == sc.cluster


def test_a_pod_smaller_than_a_server_is_refused() -> None:
    # cluster.fabric.pod_gpus 1 or 3 built a fabric of pods smaller than one 8-GPU server
    from colossim.errors import ColossimError
    from colossim.scenario import load_scenario

    base = {"model": "llama3-8b", "training": {"seq_len": 2048, "global_batch_size": 64}}
    with pytest.raises(ColossimError, match=r"pod_gpus \(3\) must be a whole number of servers of 8 GPUs"):
        load_scenario({**base, "cluster": {"gpu": "h100-sxm", "num_gpus": 64, "fabric": {"pod_gpus": 3}}})
    assert load_scenario({**base, "cluster": {"gpu": "h100-sxm", "num_gpus": 64, "fabric": {"pod_gpus": 32}}})
