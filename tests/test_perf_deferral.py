"""The output layer's deferred weight gradient (training.defer_output_wgrad, perf/deferral.py)."""

from __future__ import annotations

import numpy as np
import pytest

from colossim.cli import main
from colossim.errors import ColossimError
from colossim.perf import deferral
from colossim.perf.hardware import resolve_hardware
from colossim.perf.layer import logits_gemm_s, shapes
from colossim.perf.memory import FRAGMENTATION_FRACTION, MEMORY_FIELDS
from colossim.perf.step import evaluate
from colossim.scenario import load_scenario


def _scenario(training: dict | None = None, parallel: dict | None = None):
    return load_scenario({
        "model": "llama3-70b", "cluster": {"gpu": "h100-sxm", "num_gpus": 256},
        "training": {"seq_len": 8192, "global_batch_size": 256, **(training or {})},
        "parallel": {"tp": 8, "pp": 4, "dp": 8, **(parallel or {})},
    })


def _run(sc):
    return evaluate(sc.model, sc.cluster, sc.training, sc.plan_batch())


def _memory(r) -> float:
    return float(sum(getattr(r, f)[0] for f in MEMORY_FIELDS))


def _gemm_s(sc) -> float:
    hw = resolve_hardware(sc.cluster, sc.training)
    plan = sc.plan_batch()
    sh = shapes(sc.model, sc.training, plan.tp, plan.cp, plan.mbs, plan.sp)
    return float(logits_gemm_s(sc.model, sh, plan.tp, hw)[0])


@pytest.mark.parametrize("limit", [0, 5])
def test_deferral_saves_at_most_the_drain_idle_time_and_costs_its_buffers(limit: int) -> None:
    base, dfr = _scenario(), _scenario({"defer_output_wgrad": True, "wgrad_deferral_limit": limit})
    a, b = _run(base), _run(dfr)
    saved = a.step_time_s[0] - b.step_time_s[0]
    w, m = _gemm_s(base), 256 // 8
    k = m if limit == 0 else limit
    # the last stage paces the pipeline: its k weight-gradient GEMMs leave the steady state and
    # fill the last rank's wait in the drain; what outlasts that wait is paid after it
    assert 0.0 < saved <= k * w + 1e-9
    plan = dfr.plan_batch()
    sh = shapes(dfr.model, dfr.training, plan.tp, plan.cp, plan.mbs, plan.sp)
    kept = deferral.buffer_bytes(dfr.model, sh, plan.tp, np.array([float(k)]))[0]
    assert kept == pytest.approx(k * 2 * 8192 * (128_256 / 8 + 8192 / 8))
    assert _memory(b) >= _memory(a)  # the peak rank is the first here: it holds pp micro-batches


def test_the_last_stage_keeps_the_deferred_buffers() -> None:
    # a long last stage is the peak rank, so its kept logits gradients and inputs show
    split = {"pp": 2, "dp": 16, "first_stage_layers": 10, "last_stage_layers": 70}
    a, b = _run(_scenario(None, split)), _run(_scenario({"defer_output_wgrad": True, "wgrad_deferral_limit": 4}, split))
    kept = 4 * 2 * 8192 * (128_256 / 8 + 8192 / 8)
    assert _memory(b) - _memory(a) == pytest.approx(kept * (1.0 + FRAGMENTATION_FRACTION), rel=1e-6)


def test_deferring_every_micro_batch_exposes_what_outlasts_the_drain() -> None:
    # deferring all 32 micro-batches puts 32 GEMMs into a drain that idles for ~3 backward passes
    all_k, some = _run(_scenario({"defer_output_wgrad": True})), _run(_scenario({"defer_output_wgrad": True,
                                                                                 "wgrad_deferral_limit": 2}))
    none = _run(_scenario())
    assert all_k.step_time_s[0] < none.step_time_s[0] and some.step_time_s[0] < none.step_time_s[0]
    w = np.array([1.0])
    assert deferral.exposed_s(w, 1.0, np.array([32.0]), np.array([3.0]))[0] == 29.0
    assert deferral.exposed_s(w, 2.0, np.array([1.0]), np.array([3.0]))[0] == 0.0
    assert deferral.drain_idle_s(np.array([2.0]), np.array([1.0]), np.array([4]), np.array([2]))[0] == 2.0


@pytest.mark.parametrize("parallel", [{"pp": 1, "dp": 32}, {"schedule": "zero-bubble"}, {"schedule": "dualpipe"}],
                         ids=["no-pipeline", "zero-bubble", "dualpipe"])
def test_deferral_is_priced_only_on_a_1f1b_pipeline(parallel: dict) -> None:
    a = _run(_scenario(None, parallel))
    b = _run(_scenario({"defer_output_wgrad": True}, parallel))
    assert b.step_time_s[0] == a.step_time_s[0] and _memory(b) == _memory(a)


def test_deferral_without_gradient_accumulation_fusion_is_refused(tmp_path, capsys) -> None:
    with pytest.raises(ColossimError, match="defer_output_wgrad needs grad_accumulation_fusion"):
        _scenario({"defer_output_wgrad": True, "grad_accumulation_fusion": False})
    p = tmp_path / "s.yaml"
    p.write_text("model: llama3-8b\ncluster: {gpu: h100, num_gpus: 8}\n"
                 "training: {seq_len: 2048, global_batch_size: 8, defer_output_wgrad: true,"
                 " grad_accumulation_fusion: false}\n")
    with pytest.raises(SystemExit) as exc:
        main(["estimate", str(p)])
    out = capsys.readouterr()
    assert exc.value.code == 2 and "Traceback" not in out.out + out.err
    assert "defer_output_wgrad" in out.err + out.out


@pytest.mark.parametrize(("parallel", "said"), [({"pp": 1, "dp": 32}, "without pipeline parallelism"),
                                                ({"schedule": "dualpipe"}, "dualpipe schedule")])
def test_an_estimate_says_when_the_plan_cannot_defer(parallel: dict, said: str) -> None:
    from colossim.perf.estimate import estimate

    assert any(said in n for n in estimate(_scenario({"defer_output_wgrad": True}, parallel)).notes)
    assert not any("defer_output_wgrad" in n for n in estimate(_scenario({"defer_output_wgrad": True})).notes)
