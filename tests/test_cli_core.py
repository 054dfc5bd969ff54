"""The command line: estimate, validate, catalog, and clean failures (exit 2, no traceback)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from colossim.cli import main

REQUIRED_JSON = {"step_time_s", "tokens_per_s", "mfu", "hfu", "model_tflops_per_gpu", "memory_per_gpu_gb",
                 "fits_in_memory", "time_to_train_days", "breakdown_s", "memory_breakdown_gb"}
BREAKDOWN = {"compute_forward", "compute_backward", "compute_recompute", "tp_exposed", "pp_bubble", "pp_p2p",
             "dp_exposed", "ep_all_to_all", "cp_exposed", "optimizer"}
MEMORY = {"weights", "gradients", "optimizer_states", "activations", "buffers", "fragmentation"}


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "colossim", *args], capture_output=True, text=True, timeout=120)


def test_estimate_json(flagship_path, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["estimate", str(flagship_path), "--json"])
    assert exc.value.code == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= REQUIRED_JSON
    assert set(out["breakdown_s"]) == BREAKDOWN and set(out["memory_breakdown_gb"]) == MEMORY
    assert 0 < out["mfu"] < 1 and out["time_to_train_days"] > 0
    assert sum(out["breakdown_s"].values()) == pytest.approx(out["step_time_s"])


def test_estimate_report(flagship_path, capsys) -> None:
    with pytest.raises(SystemExit):
        main(["estimate", str(flagship_path)])
    text = capsys.readouterr().out
    for word in ("step time", "MFU", "tokens/s", "memory per GPU", "pp bubble", "time to train"):
        assert word in text


def test_estimate_without_total_tokens_and_not_fitting(tmp_path, capsys) -> None:
    p = tmp_path / "big.yaml"
    p.write_text("model: llama3-405b\ncluster: {gpu: a100-40gb, num_gpus: 64}\n"
                 "training: {seq_len: 8192, global_batch_size: 64, zero_stage: 0}\nparallel: {tp: 8, pp: 1}\n")
    with pytest.raises(SystemExit) as exc:
        main(["estimate", str(p), "--json"])
    assert exc.value.code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["time_to_train_days"] is None and out["fits_in_memory"] is False
    with pytest.raises(SystemExit):
        main(["estimate", str(p)])
    assert "DOES NOT FIT" in capsys.readouterr().out


def test_validate_json(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["validate", "--json", "--case", "bloom_176b"])
    assert exc.value.code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["cases"] == 1 and out["rows"][0]["measured_iter_s"] == 105.22


def test_catalog_commands(capsys) -> None:
    for args in (["catalog"], ["catalog", "gpus"], ["catalog", "models", "--json"], ["catalog", "show", "grok-1"]):
        with pytest.raises(SystemExit) as exc:
            main(args)
        assert exc.value.code == 0
    assert "grok" in capsys.readouterr().out.lower()


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("model: grok1\ncluster: colossus-100k\ntraining: {seq_len: 8192, global_batch_size: 8}\n", "did you mean 'grok-1'"),
        ("model: grok-1\ncluster: colossus-100k\ntraining: {seq_len: 8192, global_batch_size: 8}\nparallel: {tp: 5}\n",
         "parallel.tp"),
        ("model: [", "invalid YAML"),
        # an empty file is an empty document, not the text "None"
        ("", "got an empty document"),
        ("# nothing but a comment\n", "got an empty document"),
        ("base: {model: llama3-8b}\ngrid: {cluster.num_gpus: [8, 16]}\n", "run it with `colossim sweep FILE`"),
    ],
)
def test_bad_scenarios_exit_2_without_traceback(tmp_path, content, needle) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text(content)
    r = run_cli("estimate", str(p))
    assert r.returncode == 2
    assert needle in r.stderr and "Traceback" not in r.stderr and r.stderr.startswith("error: ")


def test_an_empty_scenario_reads_the_same_in_search(tmp_path) -> None:
    p = tmp_path / "empty.yaml"
    p.write_text("")
    r = run_cli("search", str(p))
    assert r.returncode == 2 and "got an empty document" in r.stderr and "Traceback" not in r.stderr


def test_missing_file_and_unknown_case() -> None:
    r = run_cli("estimate", "nope.yaml")
    assert r.returncode == 2 and "not found" in r.stderr
    r = run_cli("validate", "--case", "bloom")
    assert r.returncode == 2 and "did you mean 'bloom_176b'" in r.stderr
    r = run_cli("catalog", "show", "h100-sxn")
    assert r.returncode == 2 and "did you mean" in r.stderr
