"""`colossim calibrate`: nccl-tests and GEMM-sweep parsing, the profile fit, and its use in a scenario."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from colossim.calibration.measurements import parse_gemm_csv, parse_nccl_tests
from colossim.calibration.profile import check_profile, fit_profile
from colossim.cli import main
from colossim.errors import ColossimError
from colossim.scenario import load_scenario

DATA = Path(__file__).parent / "data" / "calibration"
ROOT = Path(__file__).resolve().parents[1]


def _nccl(name: str, kind: str):
    p = DATA / name
    return parse_nccl_tests(p.read_text(), str(p), kind)


def test_nccl_tests_outputs_are_read() -> None:
    ar = _nccl("all_reduce_perf_1node.txt", "all_reduce")
    assert (ar.ranks, ar.nodes) == (8, 1) and ar.size_bytes[0] == 8 and ar.time_s[0] == pytest.approx(22e-6, rel=0.01)
    multi = _nccl("all_reduce_perf_4nodes_rail.txt", "all_reduce")
    assert (multi.ranks, multi.nodes) == (4, 4)


def test_fit_recovers_the_link_efficiencies() -> None:
    runs = [_nccl("all_reduce_perf_1node.txt", "all_reduce"), _nccl("all_reduce_perf_4nodes_rail.txt", "all_reduce")]
    body = fit_profile("h100", runs, None, {})
    assert body["base"] == "hopper"
    assert body["scaleup_busbw_fraction"] == pytest.approx(368 / 450, rel=0.01)
    assert body["scaleout_busbw_fraction"] == pytest.approx(46.5 / 50, rel=0.01)
    assert body["scaleup_latency_s"] == pytest.approx(22e-6, rel=0.01)


def test_fit_recovers_the_gemm_curve() -> None:
    p = DATA / "gemm_sweep_h100_sample.csv"
    body = fit_profile("h100", [], parse_gemm_csv(p.read_text(), str(p)), {})
    assert body["gemm_max_fraction"]["bf16"] == pytest.approx(0.72, rel=0.04)
    assert body["gemm_max_fraction"]["fp8"] == pytest.approx(0.64, rel=0.04)
    assert body["gemm_half_output"] == pytest.approx(1e6, rel=0.3)
    assert body["gemm_half_k"] == pytest.approx(200, rel=0.3)


def test_malformed_files_name_line_and_column() -> None:
    text = (DATA / "all_reduce_perf_1node.txt").read_text().replace("     float     sum      -1    22.00", "     float     sum      -1    22.x0", 1)
    assert "22.x0" in text
    with pytest.raises(ColossimError, match=r"ar\.txt:\d+:\d+: time: expected a number, got '22\.x0'"):
        parse_nccl_tests(text, "ar.txt", "all_reduce")
    zero = (DATA / "all_reduce_perf_1node.txt").read_text().replace("     float     sum      -1    22.00", "     float     sum      -1     0.00", 1)
    with pytest.raises(ColossimError, match=r"ar\.txt:\d+:\d+: time: expected microseconds > 0, got '0\.00'"):
        parse_nccl_tests(zero, "ar.txt", "all_reduce")
    # a file under the wrong flag: the reduction column says which test wrote it
    with pytest.raises(ColossimError, match=r"a2a\.txt:\d+:\d+: redop 'none': not an all_reduce_perf output"):
        parse_nccl_tests((DATA / "alltoall_perf_1node.txt").read_text(), "a2a.txt", "all_reduce")
    with pytest.raises(ColossimError, match=r"ar\.txt:\d+:\d+: redop 'sum': not an alltoall_perf output"):
        parse_nccl_tests((DATA / "all_reduce_perf_1node.txt").read_text(), "ar.txt", "alltoall")
    with pytest.raises(ColossimError, match=r"g\.csv:3:12: tflops: expected a number, got 'fast'"):
        parse_gemm_csv("m,n,k,dtype,tflops\n1,2,3,bf16,4\n1,2,3,bf16,fast\n", "g.csv")
    with pytest.raises(ColossimError, match=r"g\.csv:2:7: dtype"):
        parse_gemm_csv("m,n,k,dtype,tflops\n1,2,3,int4,4\n", "g.csv")
    with pytest.raises(ColossimError, match=r"g\.csv:1:1: expected the header"):
        parse_gemm_csv("a,b\n", "g.csv")


def test_out_of_bounds_profiles_are_refused_not_clamped() -> None:
    with pytest.raises(ColossimError, match="scaleup_busbw_fraction: 1.2 is not allowed"):
        check_profile({"scaleup_busbw_fraction": 1.2}, "p")
    with pytest.raises(ColossimError, match="scaleout_latency_s"):
        check_profile({"scaleout_latency_s": -1e-6}, "p")
    with pytest.raises(ColossimError, match="gemm_max_fraction.bf16"):
        check_profile({"gemm_max_fraction": {"bf16": 1.5}}, "p")
    with pytest.raises(ColossimError, match="did you mean 'hbm_fraction'"):
        check_profile({"hbm_fractoin": 0.8}, "p")


def _estimate(cluster_extra: dict):
    from colossim.perf.estimate import estimate

    sc = load_scenario({"model": "llama3-8b", "cluster": {"gpu": "h100", "num_gpus": 64, **cluster_extra},
                        "training": {"seq_len": 4096, "global_batch_size": 64}, "parallel": {"tp": 8, "dp": 8}})
    return estimate(sc)


def test_a_scenario_uses_the_profile(tmp_path, capsys) -> None:
    out = tmp_path / "prof.yaml"
    with pytest.raises(SystemExit) as exc:
        main(["calibrate", "--gpu", "h100", "--gemm", str(DATA / "gemm_sweep_h100_sample.csv"),
              "--all-reduce", str(DATA / "all_reduce_perf_1node.txt"), "-o", str(out)])
    assert exc.value.code == 0 and out.is_file()
    base = _estimate({})
    slow = tmp_path / "slow.yaml"
    slow.write_text(out.read_text().replace("scaleup_busbw_fraction: 0.8", "scaleup_busbw_fraction: 0.2"))
    assert _estimate({"efficiency_profile": str(slow)}).breakdown_s["tp_exposed"] > base.breakdown_s["tp_exposed"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("base: hopper\nhbm_fraction: 1.3\n")
    with pytest.raises(ColossimError, match="hbm_fraction"):
        _estimate({"efficiency_profile": str(bad)})
    with pytest.raises(SystemExit) as exc:
        main(["calibrate", "--gpu", "h100", "--gemm", str(tmp_path / "nope.csv")])
    assert exc.value.code == 2


@pytest.mark.parametrize("args, words", [
    # -o a folder: the fit ran, then an IsADirectoryError traceback; now refused before the work
    (lambda t: ["-o", str(t / "prof.yaml")], "--output: '{t}/prof.yaml' is a folder"),
    (lambda t: ["-o", str(t / "profile.txt")], "give a .yaml, .yml file"),
    (lambda t: ["--all-reduce", str(t)], "--all-reduce: {t} is a folder"),  # was 'file not found'
])
def test_output_and_input_paths_are_checked_before_the_fit(tmp_path, capsys, args, words) -> None:
    (tmp_path / "prof.yaml").mkdir()
    with pytest.raises(SystemExit) as exc:
        main(["calibrate", "--gpu", "h100", "--gemm", str(DATA / "gemm_sweep_h100_sample.csv"), *args(tmp_path)])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.startswith("error: ") and words.format(t=tmp_path) in err, err
    assert [p.name for p in tmp_path.iterdir()] == ["prof.yaml"]  # nothing written


def test_the_gpu_script_runs_on_cpu(tmp_path) -> None:
    out = tmp_path / "sweep.csv"
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu" / "gemm_sweep.py"), "--device", "cpu",
                        "--tiny", "--iters", "2", "-o", str(out)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    sweep = parse_gemm_csv(out.read_text(), str(out))
    assert len(sweep.m) == 8 and (sweep.flops_s > 0).all()


def test_an_empty_profile_path_is_refused_not_ignored() -> None:
    # cluster.efficiency_profile: '' ran with the catalog profile, as if no path were given
    from colossim.scenario import load_scenario

    with pytest.raises(ColossimError, match="cluster.efficiency_profile"):
        load_scenario({"model": "llama3-8b", "cluster": {"gpu": "h100-sxm", "num_gpus": 8, "efficiency_profile": ""},
                       "training": {"seq_len": 2048, "global_batch_size": 8}})
