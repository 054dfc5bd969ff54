"""Software stacks (catalog/data/stacks.yaml), the once-per-step costs and chunked TP overlap."""

from __future__ import annotations

import numpy as np
import pytest

from colossim.catalog import stacks
from colossim.cli import main
from colossim.errors import ColossimError
from colossim.scenario import load_scenario
from colossim.scenario.training import TrainingSpec


def _scenario(training: dict, parallel: dict | None = None):
    return load_scenario({"model": "llama3-8b", "cluster": {"gpu": "h100", "num_gpus": 64},
                          "training": {"seq_len": 4096, "global_batch_size": 64, **training},
                          "parallel": parallel or {"tp": 2, "pp": 1, "dp": 32}})


def test_every_stack_sets_every_field_with_a_source() -> None:
    for name in stacks.stack_names():
        st = stacks.stack(name)
        assert st.repo and st.commit and st.date
        for field in stacks.STACK_FIELDS:
            assert st.source(field), f"{name}.{field}"
        for precision in ("bf16", "fp16", "fp8"):
            TrainingSpec(seq_len=2048, global_batch_size=8, stack=name, precision=precision)


def test_issue_stacks_exist_and_default_is_megatron_core() -> None:
    wanted = {"megatron-lm-2021", "megatron-lm-2022", "megatron-lm-2023", "megatron-core-2024",
              "megatron-deepspeed-2022", "torchtitan-2025"}
    assert wanted <= set(stacks.stack_names())
    assert stacks.default_stack() == "megatron-core-2024"
    tr = TrainingSpec(seq_len=2048, global_batch_size=8)
    assert tr.stack == "megatron-core-2024"
    # Megatron reduces bf16 gradients in fp32 unless told otherwise; fp16 in fp16
    assert tr.grad_reduce_in_fp32 is True
    assert TrainingSpec(seq_len=2048, global_batch_size=8, precision="fp16").grad_reduce_in_fp32 is False


def test_a_stack_fills_fields_and_the_scenario_overrides_one() -> None:
    old = TrainingSpec(seq_len=2048, global_batch_size=8, stack="megatron-lm-2021")
    assert (old.attention_kernel, old.tp_overlap, old.grad_accumulation_fusion) == ("unfused", "none", False)
    tt = TrainingSpec(seq_len=2048, global_batch_size=8, stack="torchtitan-2025", tp_overlap="full")
    assert tt.tp_overlap == "full" and tt.dropout is False and tt.dp_bucket_params is None


def test_nemo_launcher_stack_runs_flash_attention_and_mlperf_cases_state_their_own() -> None:
    """The NeMo 24.01-24.07 launcher exports NVTE_FUSED_ATTN=0 (its config.yaml), so the stack runs
    flash-attn 2; MLPerf's NeMo submissions use their own scripts, so every MLPerf case on the stack
    states its kernel rather than inheriting the launcher's."""
    from colossim.validation.runs import case_info, case_names

    assert TrainingSpec(seq_len=2048, global_batch_size=8, stack="nemo-2024").attention_kernel == "flash"
    assert "NVTE_FUSED_ATTN" in stacks.stack("nemo-2024").source("attention_kernel")
    mlperf = [n for n in case_names() if n.startswith("mlperf_") and case_info(n)["stack"] == "nemo-2024"]
    assert len(mlperf) >= 14
    for name in mlperf:
        kernel = case_info(name)["stated"]["training"]["attention_kernel"]
        if name == "mlperf_gpt3_h100_v30":  # states FlashAttention v1 (flash1), as its Dockerfile's TE 0.8 ran
            assert kernel == "flash1"
        elif name == "mlperf_llama31_8b_cdna4":  # AMD's: Composable Kernel's FlashAttention-style kernels
            assert kernel == "flash"
        else:
            assert kernel == "cudnn", name


def _cli(capsys, *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out + out.err


def test_unknown_stack_or_field_is_one_line_with_did_you_mean(tmp_path, capsys) -> None:
    with pytest.raises(ColossimError, match="did you mean 'megatron-core-2024'"):
        _scenario({"stack": "megatron-core-2025"})
    p = tmp_path / "s.yaml"
    p.write_text("model: llama3-8b\ncluster: {gpu: h100, num_gpus: 8}\n"
                 "training: {seq_len: 2048, global_batch_size: 8, stack: torchtitan-2026}\n")
    code, text = _cli(capsys, "estimate", str(p))
    lines = text.strip().splitlines()
    assert code == 2 and "Traceback" not in text
    assert len(lines) == 1 and "did you mean 'torchtitan-2025'" in lines[0]
    p.write_text("model: llama3-8b\ncluster: {gpu: h100, num_gpus: 8}\n"
                 "training: {seq_len: 2048, global_batch_size: 8, tp_overlapp: full}\n")
    code, text = _cli(capsys, "estimate", str(p))
    assert code == 2 and "did you mean 'tp_overlap'" in text


@pytest.mark.parametrize("precision", ["fp4", "FP8", 8, ["fp8"]])
def test_an_unknown_precision_is_named_before_the_stack_fills_its_defaults(precision) -> None:
    # the stack's precision-dependent defaults ({bf16: true, fp16: false}) must not be looked
    # up with a precision the field will refuse: that was a KeyError traceback for fp4
    with pytest.raises(ColossimError, match="training.precision: .* allowed: 'bf16', 'fp16' or 'fp8'"):
        _scenario({"precision": precision})


def _run(s):
    from colossim.perf.step import evaluate

    return evaluate(s.model, s.cluster, s.training, s.plan_batch())


def test_once_per_step_costs_include_host_time_and_scalar_syncs() -> None:
    from colossim.perf.exposure import optimizer_s
    from colossim.perf.hardware import resolve_hardware

    s = _scenario({})
    hw = resolve_hardware(s.cluster, s.training)
    assert hw.step_host_s > 0.0
    r = _run(s)
    assert r.optimizer_s[0] > hw.step_host_s
    fused = _run(_scenario({"optimizer": "fused"})).optimizer_s[0]
    unfused = _run(_scenario({"optimizer": "unfused"})).optimizer_s[0]
    assert unfused > fused  # one kernel chain per tensor
    assert optimizer_s  # the optimizer pass itself stays in exposure.py


def test_bf16_master_gradients_cost_a_copy() -> None:
    """bf16 main gradients halve the buffer passes (3 x 2 B instead of 3 x 4 B per local
    parameter) but add the fp32 master copy of the optimizer shard (6 B per parameter): the
    same bytes without ZeRO, fewer with ZeRO-1, whose shard is 1/dp of the gradients."""
    import pytest

    from colossim.perf.hardware import resolve_hardware
    from colossim.perf.stages import layer_params

    fp32 = _run(_scenario({"grad_reduce_in_fp32": True, "zero_stage": 0}))
    bf16 = _run(_scenario({"grad_reduce_in_fp32": False, "zero_stage": 0}))
    assert bf16.optimizer_s[0] == pytest.approx(fp32.optimizer_s[0], rel=1e-12)
    s1 = _scenario({"grad_reduce_in_fp32": True, "zero_stage": 1})
    fp32_z1, bf16_z1 = _run(s1), _run(_scenario({"grad_reduce_in_fp32": False, "zero_stage": 1}))
    hw = resolve_hardware(s1.cluster, s1.training)
    p = layer_params(s1.model, np.array([2]), np.array([1]), np.array([1]), 4096)
    local = float((s1.model.num_layers * p.dense_layer + p.embedding + p.output)[0])
    saved = (12.0 * local - (6.0 * local + 6.0 * local / 32)) / hw.hbm_bytes_s
    assert fp32_z1.optimizer_s[0] - bf16_z1.optimizer_s[0] == pytest.approx(saved, rel=1e-6)


def test_last_gradient_bucket_is_exposed_when_overlapped() -> None:
    small = _run(_scenario({"overlap_dp_comm": True, "dp_bucket_params": 1e6}))
    large = _run(_scenario({"overlap_dp_comm": True, "dp_bucket_params": 4e8}))
    assert large.dp_exposed_s[0] > small.dp_exposed_s[0]


def test_chunked_tp_overlap_costs_gemm_efficiency() -> None:
    from colossim.perf.hardware import resolve_hardware
    from colossim.perf.layer import chunked_tp_costs, shapes

    s = _scenario({"tp_overlap": "full"}, {"tp": 8, "pp": 1, "dp": 8})
    hw = resolve_hardware(s.cluster, s.training)
    tp = np.array([1, 2, 8])
    one = np.ones(3, dtype=int)
    sh = shapes(s.model, s.training, tp, one, one, np.ones(3, dtype=bool))
    loss, copy_s = chunked_tp_costs(s.model, sh, tp, hw)
    assert loss[0] == 0.0 and loss[2] > loss[1] > 0.0
    assert copy_s[0] == 0.0 and copy_s[2] > 0.0


def test_hai_llm_inherits_megatron_core_and_states_deepseeks_choices() -> None:
    """DeepSeek's stack: what its papers state, Megatron-Core's value (and source) otherwise."""
    hai, core = stacks.stack("hai-llm-2024"), stacks.stack("megatron-core-2024")
    v = hai.values("fp8")
    assert v["optimizer_state_dtype"] == "bf16" and v["cross_entropy"] == "inplace"
    assert v["dp_bucket_params"] == core.values("fp8")["dp_bucket_params"]
    assert hai.source("dp_bucket_params").startswith("megatron-core-2024: ")
    assert "DeepSeek-V3" in hai.source("optimizer_state_dtype")


def test_eager_elementwise_kernels_move_more_bytes() -> None:
    from colossim.catalog.store import model_preset
    from colossim.perf.layer import elementwise_bytes, shapes
    from colossim.scenario.model import ModelSpec

    model = ModelSpec(**{k: v for k, v in model_preset("llama3-8b").items() if k != "source"})
    one = np.array([1])
    out = []
    for kind in ("fused", "eager"):
        tr = TrainingSpec(seq_len=8192, global_batch_size=8, stack="torchtitan-2025", elementwise_kernels=kind)
        sh = shapes(model, tr, one, one, one, np.array([True]))
        out.append(elementwise_bytes(model, tr, sh, model.ffn_hidden_size, sh.tokens, one)[0])
    assert out[1] > 2.5 * out[0]
