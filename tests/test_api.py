"""The public Python API, as shown in the README."""

from __future__ import annotations

import pytest

from colossim.api import ColossimError, estimate, load_scenario, scenario, to_record


def test_readme_api_example(flagship_path) -> None:
    sc = load_scenario(flagship_path)
    est = estimate(sc)
    assert est.step_time_s > 0 and 0 < est.mfu < 1
    rec = to_record(est)
    assert rec["breakdown_s.pp_bubble"] == est.breakdown_s["pp_bubble"]
    assert rec["plan.tp"] == 8
    assert all(not isinstance(v, dict) for v in rec.values())


def test_build_in_code() -> None:
    sc = scenario("llama3-70b", "dgx-superpod-h100", {"seq_len": 8192, "global_batch_size": 512},
                  {"tp": 8, "pp": 4})
    assert sc.parallel.dp == 16  # at most 1016 / 32 = 31 ranks; the largest that divides 512 is 16
    est = estimate(sc)
    assert est.gpus_idle == 1016 - est.gpus_used


def test_errors_are_value_errors() -> None:
    with pytest.raises(ColossimError):
        scenario("llama3-70", "dgx-superpod-h100", {"seq_len": 8192, "global_batch_size": 512})
    assert issubclass(ColossimError, ValueError)
