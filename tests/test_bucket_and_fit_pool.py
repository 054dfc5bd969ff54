"""Megatron-Core's data-parallel gradient buckets (perf/step_costs.py bucket_params) and which
reference runs steer a family's fit (validation/fit.py informs_fit)."""

from __future__ import annotations

import numpy as np
import pytest

from colossim.catalog import stacks
from colossim.cli import main
from colossim.errors import ColossimError
from colossim.perf import step_costs
from colossim.perf.estimate import estimate
from colossim.scenario import load_scenario
from colossim.scenario.training import TrainingSpec


def _training(**kw) -> TrainingSpec:
    return TrainingSpec(seq_len=2048, global_batch_size=8, **kw)


def test_megatron_core_bucket_grows_with_data_parallel_size() -> None:
    # megatron/core/distributed/distributed_data_parallel.py at 307dcf3: max(40M, 1M x dp)
    tr = _training()
    assert tr.dp_bucket_params == "megatron-core"
    assert stacks.stack("megatron-core-2024").values("bf16")["dp_bucket_params"] == "megatron-core"
    dp = np.array([1, 16, 40, 48, 12288])
    got = step_costs.bucket_params(tr, np.ones(5), dp)
    assert got.tolist() == [4e7, 4e7, 4e7, 4.8e7, 1.2288e10]
    # a stated bucket is used as it is, whatever the data-parallel size
    assert step_costs.bucket_params(_training(dp_bucket_params=1.34217728e8), np.ones(1), 12288)[0] == 1.34217728e8
    # Megatron-Bridge sets its own (comm_overlap.py: 128 Mi when dp > 1)
    assert stacks.stack("megatron-bridge-2025").values("fp8")["dp_bucket_params"] == 134217728


def _grok(bucket) -> dict:
    return {"model": "grok-1", "cluster": "colossus-100k",
            "training": {"seq_len": 8192, "global_batch_size": 12288, "micro_batch_size": 1, "precision": "bf16",
                         "zero_stage": 2, "overlap_dp_comm": True, "dropout": False, "dp_bucket_params": bucket},
            "parallel": {"tp": 8, "pp": 1, "dp": 12288, "ep": 8, "sequence_parallel": True}}


def test_one_bucket_for_the_whole_gradient_hides_nothing_and_says_so() -> None:
    default = estimate(load_scenario(_grok("megatron-core")))
    tuned = estimate(load_scenario(_grok(134217728)))
    # at dp 12,288 the default bucket (12.3B parameters) holds the GPU's whole gradient
    assert default.breakdown_s["dp_exposed"] > 10 * tuned.breakdown_s["dp_exposed"]
    assert any("--ddp-bucket-size" in n for n in default.notes)
    assert not any("--ddp-bucket-size" in n for n in tuned.notes)


@pytest.mark.parametrize("value, needle", [("megatron", "did you mean 'megatron-core'"), (-5, "-5 is not allowed"),
                                           (0, "0 is not allowed"), (True, "true is not allowed")])
def test_a_wrong_bucket_gets_one_message(value, needle) -> None:
    with pytest.raises((ColossimError, ValueError)) as err:
        load_scenario(_grok(value))
    text = str(err.value)
    assert "dp_bucket_params" in text and needle in text and "constrained-float" not in text


def test_a_wrong_bucket_exits_2_from_the_cli(tmp_path, capsys) -> None:
    import yaml

    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(_grok("megatron")))
    with pytest.raises(SystemExit) as exc:
        main(["estimate", str(path)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "did you mean 'megatron-core'" in err and "Traceback" not in err


def test_yaml_exponents_without_a_sign_still_read_as_numbers() -> None:
    # PyYAML (YAML 1.1) reads 4.0e7 as the string '4.0e7'
    assert _training(dp_bucket_params="4.0e7").dp_bucket_params == 4.0e7


def test_runs_on_a_gpu_with_an_assumed_gemm_ceiling_do_not_steer_the_fit() -> None:
    from colossim.validation import fit as vfit

    cases = vfit.all_cases()
    pool = {c.scenario.cluster.gpu: vfit.informs_fit(c) for c in cases}
    # no MAMF and peaks other than the reference GPU's: an assumption the fit could only absorb
    assert pool["gb300"] is False and pool["h100-sxm-96gb-500w"] is False
    # the reference GPUs, GPUs with a measured MAMF, and H800 (H100's peaks) steer it
    assert all(pool[g] for g in ("b200", "gb200", "b300", "h100-sxm", "h200", "h800"))
    gb300 = [c for c in cases if c.scenario.cluster.gpu == "gb300"]
    # a family left with only such runs keeps its prior fields, as with no run at all; only
    # GB300's own scale is fitted, and with no run it stays at 1 (the assumption)
    only, none = vfit.fit("blackwell", gb300), vfit.fit("blackwell", [])
    key = vfit.scale_key("gb300")
    assert {k: v for k, v in only.items() if k != key} == {k: v for k, v in none.items() if k != key}
    assert none[key] == 1.0 and only[key] != 1.0


def test_an_unmeasured_gpu_is_scaled_by_its_own_runs_alone() -> None:
    from colossim.validation import fit as vfit

    cases = [c for c in vfit.all_cases() if vfit.family_of(c.run) == "blackwell"]
    values = vfit.catalog_values("blackwell")
    key = vfit.scale_key("gb300")
    # the catalog's GB300 scale is what its runs fit under the catalog's family fields
    refit = vfit.fit_gpu_scales("blackwell", cases, vfit.with_tied("blackwell", values))[key]
    assert refit == pytest.approx(values[key], abs=2e-3)
    # the other GPUs' runs do not move it, and it moves no other GPU's prediction
    gb300 = [c for c in cases if c.scenario.cluster.gpu == "gb300"]
    others = [c for c in cases if c.scenario.cluster.gpu != "gb300"]
    assert vfit.fit_gpu_scales("blackwell", gb300, vfit.with_tied("blackwell", values))[key] == refit
    assert np.array_equal(vfit.predict(others, "blackwell", values),
                          vfit.predict(others, "blackwell", {**values, key: 1.0}))
    # its bounds keep GB300's sustained FP8 share inside the fp8 fraction's
    lo, hi = vfit.scale_bounds("blackwell", values)
    assert lo * values["gemm_fp8_fraction"] == pytest.approx(0.35) and hi * values["gemm_fp8_fraction"] == pytest.approx(0.763)


def test_a_cross_validation_fold_never_reads_the_held_out_runs_scale() -> None:
    from colossim.validation import fit as vfit

    # with the Megatron-Bridge GB300 rows left out, GB300's scale comes from MLPerf's GB300 runs
    train = [c for c in vfit.all_cases() if vfit.family_of(c.run) == "blackwell" and c.run.case != "megatron_bridge_gb300"]
    fold = vfit.fit("blackwell", train)[vfit.scale_key("gb300")]
    # the catalog's scale is fitted with the Bridge rows in; the fold's, without them, is its own
    assert fold > 1.1 and abs(fold - vfit.catalog_values("blackwell")[vfit.scale_key("gb300")]) > 1e-4
    # with every GB300 run left out there is nothing to fit: the assumption, 1
    no_gb300 = [c for c in train if c.scenario.cluster.gpu != "gb300"]
    assert vfit.fit("blackwell", no_gb300)[vfit.scale_key("gb300")] == 1.0


def test_an_estimate_on_a_gpu_with_an_assumed_ceiling_says_so() -> None:
    gb300 = estimate(load_scenario({"model": "llama3-70b", "cluster": {"gpu": "gb300", "num_gpus": 72, "gpus_per_node": 72},
                                    "training": {"seq_len": 8192, "global_batch_size": 256, "precision": "fp8"},
                                    "parallel": {"tp": 1, "pp": 4, "vpp": 5, "dp": 16}}))
    assert gb300.envelope["assumed_ceiling"] == {"gpu": "gb300", "reference": "b200", "fitted_scale": 1.249}
    assert any("no measured GEMM ceiling" in n and "x 1.25, a scale fitted" in n for n in gb300.notes)
    b200 = estimate(load_scenario({"model": "llama3-8b", "cluster": {"gpu": "b200", "num_gpus": 8},
                                   "training": {"seq_len": 8192, "global_batch_size": 8, "precision": "fp8"},
                                   "parallel": {"tp": 1, "pp": 1, "dp": 8}}))
    assert b200.envelope["assumed_ceiling"] is None and not any("GEMM ceiling" in n for n in b200.notes)


@pytest.mark.parametrize("training, suggestion", [({"dp_bucket_params": "megatron"}, "megatron-core"),
                                                   ({"stack": "megatron-core-2O24"}, "megatron-core-2024")])
def test_a_validator_error_keeps_its_fields_for_the_api(training, suggestion) -> None:
    # the HTTP API's 422 body reads these: allowed without the message around it, the did-you-mean
    with pytest.raises(ColossimError) as err:
        load_scenario({"model": "llama3-8b", "cluster": {"gpu": "h100-sxm", "num_gpus": 8},
                       "training": {"seq_len": 4096, "global_batch_size": 8, **training}})
    e = err.value
    field = "training." + next(iter(training))
    assert e.field == field and e.suggestion == suggestion and str(e).startswith(f"{field}: ")
    assert e.allowed and "is not allowed" not in e.allowed and "did you mean" not in e.allowed
