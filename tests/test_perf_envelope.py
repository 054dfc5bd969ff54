"""Every estimate says whether its plan lies inside what the validation covers."""

from __future__ import annotations

from pathlib import Path

from colossim.perf.envelope import MFU_FLAG, assess, notes, validation_envelope
from colossim.perf.estimate import estimate
from colossim.scenario import load_scenario
from colossim.search.explain import flags, flags_text
from colossim.validation.runs import reference_runs

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_validation_runs_lie_inside_their_envelope() -> None:
    env = validation_envelope()
    assert env.ranges["tp"][0] == 1 and env.gpus[0] <= env.gpus[1]
    for run in reference_runs()[:5]:
        est = estimate(run.build())
        assert est.envelope["inside_validation"], est.envelope["outside"]


def test_an_extrapolation_says_why_and_high_mfu_is_flagged() -> None:
    # DeepSeek-V3's published plan is a validation case (inside); the same model under a
    # schedule no validated run used is an extrapolation
    published = load_scenario(EXAMPLES / "deepseek-v3-h800-2k.yaml")
    assert estimate(published).envelope["inside_validation"]
    est = estimate(load_scenario({**published.to_dict(),
                                  "parallel": {"tp": 2, "pp": 16, "ep": 64, "dp": 64, "schedule": "zero-bubble"}}))
    env = est.to_dict()["envelope"]
    assert not env["inside_validation"]
    text = " ".join(env["outside"])
    assert "schedule=zero-bubble" in text
    assert any(n.startswith("extrapolation") for n in est.notes)
    assert "*" in flags(est) and "extrapolation" in flags_text([est])
    hot = estimate(load_scenario({"model": "llama3-70b", "cluster": {"preset": "h100-ib-6k", "num_gpus": 1024},
                                  "training": {"seq_len": 8192, "global_batch_size": 512, "zero_stage": 3},
                                  "parallel": {"tp": 1, "pp": 1, "cp": 4, "dp": 256, "sequence_parallel": False}}))
    # issue 11's blind spot (tp1 cp4 ZeRO-3 at 59% MFU) is priced now: below the flag, and flagged the day it is not
    assert hot.envelope["mfu_flag"] == (hot.mfu > MFU_FLAG) and hot.mfu < MFU_FLAG
    high = assess(hot.plan, 1024, 0.59)
    assert high["mfu_flag"] and any("MFU above" in n for n in notes(high))


def test_a_long_context_estimate_quotes_the_published_long_context_runs() -> None:
    from colossim.perf.envelope import LONG_CONTEXT_TOKENS

    env = validation_envelope()
    long_runs = [r for r in reference_runs() if r.build().training.seq_len >= LONG_CONTEXT_TOKENS]
    assert env.long_context is not None and env.long_context[0] == len(long_runs) >= 7
    body = {"model": "llama3-8b", "cluster": {"gpu": "h100", "num_gpus": 128},
            "training": {"seq_len": 131072, "global_batch_size": 32, "precision": "fp8"},
            "parallel": {"tp": 4, "pp": 1, "dp": 8, "cp": 4}}
    est = estimate(load_scenario(body))
    said = [n for n in est.notes if "tokens per sequence" in n]
    lo, hi = env.long_context[1], env.long_context[2]
    assert len(said) == 1 and f"{lo:+.0%} to {hi:+.0%}" in said[0]
    assert est.envelope["long_context"]["runs"] == len(long_runs)
    # the long-context runs ran flash-attn 2 (their launcher turns cuDNN off): a cuDNN plan (the default
    # stack's kernel) is told its kernel is not what they validate; a flash plan gets their lean
    assert env.long_context_kernels == {"flash"} and est.envelope["long_context"]["attention_kernel"] == "cudnn"
    assert "validated by no published run" in said[0] and "likely" not in said[0]
    flash = estimate(load_scenario({**body, "training": {**body["training"], "attention_kernel": "flash"}}))
    assert any("tokens per sequence" in n and "likely" in n for n in flash.notes)
    short = estimate(load_scenario({**body, "training": {**body["training"], "seq_len": 8192, "global_batch_size": 512},
                                    "parallel": {"tp": 1, "pp": 1, "dp": 128, "cp": 1}}))
    assert not any("tokens per sequence" in n for n in short.notes) and short.envelope["long_context"] is None
    beyond = estimate(load_scenario({**body, "training": {**body["training"], "seq_len": 1 << 22, "global_batch_size": 1},
                                     "parallel": {"tp": 8, "pp": 1, "dp": 1, "cp": 16}}))
    assert any(f"seq_len={1 << 22:,}" in o for o in beyond.envelope["outside"])


def test_a_gpu_family_is_validated_only_at_the_sizes_its_runs_used() -> None:
    """AMD's three runs are one node each: an MI355X plan on 1,024 GPUs lies inside the global GPU
    range (4 to 11,616) and is still an extrapolation for its family."""
    env = validation_envelope()
    assert env.family_gpus["cdna4"] == (8, 8)
    plan = {"tp": 1, "pp": 1, "dp": 128, "cp": 1, "ep": 1, "vpp": 1, "micro_batch_size": 1}
    why = env.outside(plan, 1024, {"gpu_family": "cdna4"})
    assert why == ["1,024 GPUs on cdna4 (its published runs: 8-8 GPUs)"]
    assert env.outside(plan, 1024, {"gpu_family": "hopper"}) == []  # Hopper's runs span 4 to 11,616
