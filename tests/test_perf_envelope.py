"""Every estimate says whether its plan lies inside what the validation covers."""

from __future__ import annotations

from pathlib import Path

from colossim.perf.envelope import MFU_FLAG, validation_envelope
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
    est = estimate(load_scenario(EXAMPLES / "deepseek-v3-h800-2k.yaml"))
    env = est.to_dict()["envelope"]
    assert not env["inside_validation"]
    text = " ".join(env["outside"])
    assert "ep=64" in text and "schedule=dualpipe" in text
    assert any(n.startswith("extrapolation") for n in est.notes)
    assert "*" in flags(est) and "extrapolation" in flags_text([est])
    hot = estimate(load_scenario({"model": "llama3-70b", "cluster": {"preset": "h100-ib-6k", "num_gpus": 1024},
                                  "training": {"seq_len": 8192, "global_batch_size": 512, "zero_stage": 3},
                                  "parallel": {"tp": 1, "pp": 1, "cp": 4, "dp": 256, "sequence_parallel": False}}))
    assert hot.mfu > MFU_FLAG and hot.envelope["mfu_flag"] and "!" in flags(hot)
