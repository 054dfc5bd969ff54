"""The published runs as tests: the accuracy goals of issues #2 and #10.

Issue #10's goals. Cross-validated MAPE <= 5% over all 40+ runs is reached: 4.92% over 142 runs
since the seventeenth pass (2026-12-07), 4.86% since the nineteenth, and 4.99% over 145 since MLPerf
v5.1's three AMD runs joined (2026-12-08: the cdna4 profile's assumptions, cross-validated, read
+3% to +18%). It was met from the fifteenth pass (4.59% over 133 runs)
until NeMo's long-context Llama 2 7B rows joined (chosen by rule: at 16K-1M tokens they ran up to
30% slower than priced, 5.55% over 142); their launcher turns cuDNN attention off (NVTE_FUSED_ATTN 0),
and priced as the FlashAttention-2 they ran, on FA2's own published length curve, they read
+1% to +7%. In-sample <= 3.5% and no case family's cross-validated
error above 8% are not reached either: the tests marked ``xfail(strict=True)`` hold the goals and will fail loudly (XPASS) the day they are met. The
tests without a mark hold what the model honestly reaches today (REACHED_*), so a regression
still fails. docs/validation.md explains the gap family by family.
"""

from __future__ import annotations

import pytest

from colossim.validation.runs import (
    case_info,
    cross_validated_mape,
    family_summary,
    mape,
    reference_runs,
    validate,
)

# issue #10's goals
GOAL_CV_MAPE = 0.05
GOAL_IN_SAMPLE_MAPE = 0.035
GOAL_FAMILY_CV = 0.08
# what the model reaches today (measured with `colossim validate --cross-validate`), rounded up
REACHED_IN_SAMPLE_MAPE = 0.043
REACHED_CV_MAPE = 0.050
# A100 families that meet the per-family goal (MT-NLG 530B, 17%, does not: see the module docstring)
A100_FAMILIES = ("megatron_sc21_table1", "korthikanti_2022_table5", "bloom_176b", "mosaicml_mpt_a100_roce",
                 "mosaicml_mpt_a100_40gb_roce")
# Hopper families that meet it too (cross-validated 2.2%, 0.3%, 3.1%, 3.3%, 2.4%, 3.8%, 3.5%, 6.6%, 3.2%, 0.9%,
# 0.2%, 0.6%, 5.3% (MLPerf v3.0's GPT-3), 2.1% (MLPerf v4.0's GPT-3 on Sustainable Metal Cloud's H100) and 3.0%
# (torchtitan on Trainy/WhiteFiber's H200, since the fifteenth pass); since the seventeenth pass (the NeMo launcher's
# rows run FlashAttention-2) the Megatron-Core H100 README, 7.9%, and NeMo's long-context rows, 3.7%, meet it too;
# MLPerf GPT-3 on Oracle's RoCE H100, 8.1%, and MLPerf's Llama 3.1 8B on Cisco's H100, 17.6%, do not)
HOPPER_FAMILIES_MEETING_GOAL = ("deepseek_v3_h800", "megatron_core_moe_mixtral", "torchtitan_llama3_8b_h100",
                                "torchtitan_llama3_70b_405b_h100", "nemo_24_07_h100", "mosaicml_mpt_h100",
                                "megatron_bridge_h100_moe", "megatron_bridge_h100", "mlperf_gpt3_h100",
                                "mlperf_llama31_405b_h100", "mlperf_llama31_405b_h200", "mlperf_llama31_8b_h200",
                                "mlperf_gpt3_h100_v30", "mlperf_gpt3_h100_smc", "torchtitan_llama3_8b_h200",
                                "megatron_core_h100_readme_2024", "nemo_long_context_h100")
# Blackwell families that meet it (cross-validated 1.9%, 4.6%, 2.9%, 6.1%, 2.8%, 4.9%, and since the fifteenth
# pass Megatron-Bridge's GB300 rows, 3.9%, and MLPerf's Llama 3.1 8B on GB300, 5.1%; MLPerf's B200 GPT-3 run,
# 17.3%, and its Llama 3.1 8B runs on B300, 9.3%, do not)
BLACKWELL_FAMILIES_MEETING_GOAL = ("megatron_bridge_b200", "megatron_bridge_gb200", "mlperf_llama31_8b_b200",
                                   "mlperf_llama31_8b_gb200", "mlperf_llama31_405b_gb200", "mlperf_llama31_405b_b200",
                                   "megatron_bridge_gb300", "mlperf_llama31_8b_gb300")
ORIGINAL = ("megatron_sc21_table1", "korthikanti_2022_table5", "megatron_core_h100_readme_2024", "bloom_176b")


@pytest.fixture(scope="module")
def rows():
    return validate(cross_validate=True)


def test_reference_set_is_complete() -> None:
    runs = reference_runs()
    cases = {r.case for r in runs}
    assert set(ORIGINAL) <= cases and len(cases) == 36
    assert len(runs) == 145 and len(runs) - 28 >= 12
    for run in runs:
        assert run.source.get("url") or run.source.get("repo")
        assert run.scenario["training"]["stack"], run.label


def test_every_case_names_its_stack_and_cites_what_it_states() -> None:
    from colossim.validation.runs import _data

    for c in _data()["cases"]:
        assert c["stack"]
        for section in (c.get("stated") or {}).values():
            for field, entry in section.items():
                assert entry.get("source"), f"{c['case']}: {field} has no citation"
        for section in (c.get("conventions") or {}).values():
            for field, entry in section.items():
                assert entry.get("convention"), f"{c['case']}: {field} is a convention without a reason"
        assert c.get("chosen_because") or c["case"] in ORIGINAL
        software = {"attention_kernel", "dropout", "tp_overlap", "grad_accumulation_fusion", "pipeline_p2p_batched"}
        assert not software & set((c.get("conventions") or {}).get("training", {})), c["case"]


def test_case_info_separates_stated_from_conventions() -> None:
    info = case_info("megatron_core_h100_readme_2024")
    assert info["stack"] == "megatron-core-2024"
    assert info["stated"]["training"]["tp_overlap"] == "full"  # README: --tp-comm-overlap
    assert "micro_batch_size" in info["conventions"]["training"]


def test_in_sample_mape_reached(rows) -> None:
    assert mape(rows) <= REACHED_IN_SAMPLE_MAPE, f"MAPE {mape(rows):.2%}"


def test_cross_validated_mape_reached(rows) -> None:
    assert all(r.cross_validated_error is not None for r in rows)
    assert cross_validated_mape(rows) <= REACHED_CV_MAPE, f"cross-validated MAPE {cross_validated_mape(rows):.2%}"


def test_a100_families_meet_the_per_family_goal(rows) -> None:
    for f in family_summary(rows):
        if f["case"] in A100_FAMILIES:
            assert f["cross_validated_mape"] <= GOAL_FAMILY_CV, f
            assert f["mape"] <= 0.07, f


def test_hopper_families_that_meet_the_per_family_goal(rows) -> None:
    meeting = HOPPER_FAMILIES_MEETING_GOAL + BLACKWELL_FAMILIES_MEETING_GOAL
    assert set(meeting) <= {f["case"] for f in family_summary(rows)}
    for f in family_summary(rows):
        if f["case"] in meeting:
            assert f["cross_validated_mape"] <= GOAL_FAMILY_CV, f


def test_goal_cross_validated_mape(rows) -> None:
    assert cross_validated_mape(rows) <= GOAL_CV_MAPE


@pytest.mark.xfail(strict=True, reason="issue #10 goal not reached (4.23%): MT-NLG 530B (-16 to -19%), NeMo 24.07's FP8 rows (-3 to +9%), "
                   "Megatron-Core H100 README 32B (+41%: its fp32 reduce-scatter cannot hide behind one micro-batch "
                   "at the unstated micro-batch size 1), MLPerf's micro-batch-2 GPT-3 rows (H100 +6 to +11%, B200 +16%), "
                   "MLPerf's Llama 3.1 8B on Cisco's H100 at TP 2 (-24%) and the one-node Blackwell 8B runs (+8 to +10%)")
def test_goal_in_sample_mape(rows) -> None:
    assert mape(rows) <= GOAL_IN_SAMPLE_MAPE


@pytest.mark.xfail(strict=True, reason="issue #10 goal not reached: MLPerf B200 GPT-3 18.1%, MLPerf Llama 3.1 8B on Cisco's "
                   "H100 17.6% and on B300 9.4%, MT-NLG 530B 17.2% and MLPerf GPT-3 on Oracle's RoCE H100 8.1% "
                   "cross-validated (see test_goal_in_sample_mape)")
def test_goal_no_family_cross_validated_above_eight_percent(rows) -> None:
    assert max(f["cross_validated_mape"] for f in family_summary(rows)) <= GOAL_FAMILY_CV


def test_cross_validation_refits_without_the_family(rows) -> None:
    """Leaving a family out changes the fit: its cross-validated errors differ from in-sample."""
    sc21 = [r for r in rows if r.case == "megatron_sc21_table1"]
    assert any(abs(r.cross_validated_error - r.error) > 1e-3 for r in sc21)


def test_korthikanti_mfu_is_reproduced(rows) -> None:
    """Published MFU of the selective-recompute runs (Table 5) within 10% relative."""
    published = {"22B selective + SP": 0.415, "175B selective + SP": 0.514, "530B selective + SP": 0.56,
                  "1T selective + SP": 0.563}
    for r in rows:
        if r.run in published:
            assert r.predicted_mfu == pytest.approx(published[r.run], rel=0.10)


def test_mlperf_rows_replay_their_logs_plans_and_machines() -> None:
    """Each MLPerf row's batch splits exactly into its data-parallel ranks and micro-batches (the
    logs' gradient-accumulation steps, checked when the case was written); the Azure row runs on
    its own cluster, the rest on Eos; fp8 parameter gathers start with v4.0 (FP8_PARAMS=True)."""
    assert [r.scenario["cluster"]["fabric"]["routing"] for r in reference_runs("mlperf_gpt3_h100_roce")] == ["ecmp"] * 2
    runs = reference_runs("mlperf_gpt3_h100")
    assert len(runs) == 13 and sum(r.scenario["parallel"]["tp"] * r.scenario["parallel"]["pp"]
                                   * r.scenario["parallel"]["dp"] > 6144 for r in runs) == 6
    for r in runs:
        t, p = r.scenario["training"], r.scenario["parallel"]
        assert t["global_batch_size"] % (p["dp"] * t["micro_batch_size"]) == 0, r.label
        assert (t["param_gather_dtype"] == "fp8") == ("v3.1" not in r.name), r.label
        # TE before v1.2 ran flash-attn ahead of cuDNN (the v3.1 containers); v4.0 on pick cuDNN on sm90
        assert (t.get("attention_kernel") == "flash") == ("v3.1" in r.name), r.label
        machine = r.scenario["cluster"]["name"]
        assert ("Azure" in machine) == (" ND)" in r.name), r.label
    assert reference_runs("mlperf_gpt3_b200")[0].scenario["cluster"]["gpu"] == "b200"
    v30 = reference_runs("mlperf_gpt3_h100_v30")
    assert len(v30) == 5
    for r in v30:
        t, p = r.scenario["training"], r.scenario["parallel"]
        assert t["attention_kernel"] == "flash1" and t["param_gather_dtype"] == "bf16", r.label
        assert r.build().num_gpus_used == p["tp"] * p["pp"] * p["dp"] == r.scenario["cluster"]["num_gpus"], r.label


def test_mlperf_llama31_rows_split_their_batch_and_edges() -> None:
    """The v5.0 Llama 3.1 405B rows: 126 layers + embedding + loss in 8 stages of 16 (the first
    and last 15), 8 virtual stages, CP 2; the batch is data-parallel ranks x micro-batches of 1."""
    for case in ("mlperf_llama31_405b_h100", "mlperf_llama31_405b_h200", "mlperf_llama31_405b_gb200"):
        for r in reference_runs(case):
            p, t = r.scenario["parallel"], r.scenario["training"]
            assert (p["pp"], p["vpp"], p["cp"], p["first_stage_layers"], p["last_stage_layers"]) == (8, 8, 2, 15, 15)
            assert t["global_batch_size"] % p["dp"] == 0 and t["micro_batch_size"] == 1, r.label
            assert r.build().num_gpus_used == p["tp"] * 8 * 2 * p["dp"]


def test_mlperf_llama31_8b_rows_are_fp8_and_split_their_batch() -> None:
    """The v5.1 Llama 3.1 8B rows: FP8 (the NVFP4 runs are left out by the case rule), no pipeline,
    the batch is data-parallel ranks x micro-batches (one micro-batch per step in every row); every
    row names its own machine, B300 and GB300 on the Blackwell profile."""
    from colossim.validation.fit import GPU_FAMILY

    cases = ("h100", "h200", "b200", "b300", "gb200", "gb300")
    runs = [r for c in cases for r in reference_runs(f"mlperf_llama31_8b_{c}")]
    assert len(runs) == 16
    for r in runs:
        t, p = r.scenario["training"], r.scenario["parallel"]
        assert t["precision"] == "fp8" and t["param_gather_dtype"] == "fp8" and p["pp"] == 1, r.label
        assert t["global_batch_size"] == p["dp"] * t["micro_batch_size"], r.label
        assert r.build().num_gpus_used == p["tp"] * p["cp"] * p["dp"] == r.scenario["cluster"]["num_gpus"]
        assert GPU_FAMILY[r.gpu_family] == ("hopper" if r.gpu_family in ("h100", "h200") else "blackwell")


def test_cross_validation_folds_do_not_depend_on_the_worker_processes(rows) -> None:
    """The folds run in forked workers where there are cores; one fold rerun in this process
    gives the same errors (each fit is deterministic)."""
    from colossim.validation.fit import _fold_errors

    here = _fold_errors("mlperf_llama31_8b_h200")
    assert here and all(r.cross_validated_error == here[f"{r.case}/{r.run}"] for r in rows
                        if r.case == "mlperf_llama31_8b_h200")


def test_amd_runs_are_predicted_from_the_assumed_profile_when_held_out(rows) -> None:
    """The cdna4 profile's only runs: held out, their prediction is the profile before any fit
    (validation/fit.py PRIOR: fp8 0.56, the MI350X at scale 1), so the cross-validated figure is
    the catalog's assumption tested, and in-sample the fp8 fraction fitted at its bound."""
    from colossim.validation import fit as vfit

    amd = [r for r in rows if r.case == "mlperf_llama31_8b_cdna4"]
    assert len(amd) == 3
    cases = [c for c in vfit.all_cases() if c.run.case == "mlperf_llama31_8b_cdna4"]
    prior = vfit.predict(cases, "cdna4", vfit.fit("cdna4", []))
    for r, e in zip(amd, prior, strict=True):
        assert r.cross_validated_error == pytest.approx(float(e), abs=1e-9)
        assert abs(r.error) <= abs(r.cross_validated_error) + 1e-9  # the fit does not make them worse
