"""Sweeps: tidy rows, same results on local processes and on Ray, clear errors."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest
import yaml

from colossim.errors import ColossimError
from colossim.search.sweep import load_sweep, points, run_sweep, scenario_for

SWEEP = {
    "name": "tiny",
    "base": {"model": "llama3-8b", "cluster": {"gpu": "h100-sxm", "num_gpus": 64},
             "training": {"seq_len": 4096, "global_batch_size": 128}},
    "grid": {"cluster.num_gpus": [32, 64], "cluster.gpu": ["h100-sxm", "a100-80gb"]},
    "search": {"objective": "throughput", "max": {"pp": 4}},
    "output": "tiny.csv",
    "plot": "tiny.png",
}


@pytest.fixture
def sweep_file(tmp_path):
    p = tmp_path / "sweep.yaml"
    p.write_text(yaml.safe_dump(SWEEP))
    return p


def test_points_and_overrides(sweep_file) -> None:
    spec = load_sweep(sweep_file)
    pts = points(spec)
    assert len(pts) == 4 and pts[0] == {"cluster.num_gpus": 32, "cluster.gpu": "h100-sxm"}
    sc = scenario_for({"model": "grok-1", "cluster": "colossus-100k", "training": {}}, {"cluster.num_gpus": 8192})
    assert sc["cluster"] == {"preset": "colossus-100k", "num_gpus": 8192}


def test_local_and_ray_agree(sweep_file) -> None:
    pytest.importorskip("ray")
    spec = load_sweep(sweep_file)
    local = run_sweep(spec, executor="local", workers=2)
    remote = run_sweep(spec, executor="ray")
    assert local == remote
    assert all(r["status"] == "ok" for r in local)
    assert local[1]["tokens_per_s"] > local[0]["tokens_per_s"]  # 64 GPUs beat 32


def test_cli_writes_csv_and_plot(sweep_file) -> None:
    r = subprocess.run([sys.executable, "-m", "colossim", "sweep", str(sweep_file), "--workers", "1", "--json"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    with open(out["output"]) as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4 and {"tokens_per_s", "mfu", "plan_tp", "cluster.num_gpus"} <= set(rows[0])
    assert (sweep_file.parent / "tiny.png").stat().st_size > 1000


def test_bad_sweeps(tmp_path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump({**SWEEP, "grid": {"clustr.num_gpus": [8]}}))
    with pytest.raises(ColossimError, match="must start with model, cluster or training"):
        load_sweep(p)
    p.write_text(yaml.safe_dump({**SWEEP, "gird": {}}))
    with pytest.raises(ColossimError, match="did you mean 'grid'"):
        load_sweep(p)
    # a grid value that fails in every point is refused before any point runs (issue 13)
    p.write_text(yaml.safe_dump({**SWEEP, "grid": {"model": ["llama3-8b", "no-such-model"]}}))
    with pytest.raises(ColossimError, match=r"sweep.grid.model: 'no-such-model' fails in every point.*unknown model"):
        load_sweep(p)
    p.write_text(yaml.safe_dump({**SWEEP, "grid": {"cluster.num_gpu": [8]}}))
    with pytest.raises(ColossimError, match="did you mean 'num_gpus'"):
        load_sweep(p)
    p.write_text(yaml.safe_dump({**SWEEP, "search": {"objective": "thruput"}}))
    with pytest.raises(ColossimError, match="sweep.search.objective.*did you mean 'throughput'"):
        load_sweep(p)
    # a point failing only in combination is a row with its error
    combo = {**SWEEP, "grid": {"cluster.num_gpus": [8, 64], "cluster.gpus_per_node": [8, 16]}}
    p.write_text(yaml.safe_dump(combo))
    rows = run_sweep(load_sweep(p), workers=1)
    status = {(r["cluster.num_gpus"], r["cluster.gpus_per_node"]): r["status"] for r in rows}
    assert status[(8, 16)].startswith("error: cluster") and status[(64, 16)] == "ok"
    r = subprocess.run([sys.executable, "-m", "colossim", "sweep", str(p), "--executor", "slurm"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "did you mean" in r.stderr or "allowed: local, ray" in r.stderr


def test_report_fits_80_columns_and_names_every_scenario(capsys, monkeypatch) -> None:
    """The sweep table at 80 columns: no number or model name cut; a failed scenario's status
    stays in view, and with every scenario ok the status column is the first left out."""
    from colossim.report.search_text import print_sweep

    monkeypatch.setenv("COLUMNS", "80")
    ok = {"status": "ok", "plan_tp": 8, "plan_pp": 16, "plan_dp": 1024, "plan_cp": 1, "plan_ep": 1,
          "plan_micro_batch_size": 1, "plan_recompute": "selective", "plan_zero_stage": 1, "gpus_used": 131072,
          "tokens_per_s": 123456789.0, "mfu": 0.412}
    rows = [{"cluster.num_gpus": 131072, "model": m, "cluster.gpu": "h100-sxm", **ok} for m in ("llama3-405b", "llama3-70b")]
    print_sweep(rows, ["cluster.num_gpus", "model", "cluster.gpu"], "out.csv", None)
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 80 and "\u2026" not in out
    assert "llama3-405b" in out and "llama3-70b" in out and "123,456,789" in out and "131,072" in out
    assert "left out at 80 columns: status" in out
    rows[1] = {**rows[1], "status": "does not fit in memory"}
    print_sweep(rows, ["cluster.num_gpus", "model", "cluster.gpu"], "out.csv", None)
    out = capsys.readouterr().out
    header = "\n".join(out.splitlines()[:5])
    assert "status" in header and "memory" in out and "left out at 80 columns: GPUs used" in out
