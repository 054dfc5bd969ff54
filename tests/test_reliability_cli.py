"""`colossim reliability`: JSON, report, sweep, plots, and clean failures (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from colossim.cli import main

SCENARIO = {
    "name": "Llama 3 405B on 16,384 H100",
    "model": "llama3-405b", "cluster": "llama3-24k",
    "training": {"seq_len": 8192, "global_batch_size": 2048},
    "parallel": {"tp": 8, "pp": 16, "dp": 128},
    "reliability": {"run_days": 5, "replications": 40},
}
PERCENTILES = {"mean", "p10", "p50", "p90"}


@pytest.fixture
def scenario_file(tmp_path: Path) -> Path:
    path = tmp_path / "llama3.yaml"
    path.write_text(yaml.safe_dump(SCENARIO), encoding="utf-8")
    return path


def run(args: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(args)
    captured = capsys.readouterr()
    return int(exc.value.code or 0), captured.out, captured.err


def test_json(scenario_file: Path, capsys) -> None:
    code, out, _ = run(["reliability", str(scenario_file), "--json", "--seed", "3", "-n", "30"], capsys)
    assert code == 0
    d = json.loads(out)
    for key in ("interruptions_per_day", "job_mttf_h", "ettr", "days_to_train", "goodput"):
        assert set(d[key]) >= PERCENTILES, key
    assert d["seed"] == 3 and d["replications"] == 30
    assert d["checkpoint_interval_min"] > 0
    assert d["interruptions_per_day"]["expected"] == pytest.approx(419 / 54, rel=1e-3)
    assert {"total", "by_cause", "by_kind"} <= set(d["lost_gpu_hours"])
    assert {"gpu", "hbm", "software", "checkpoint", "stragglers"} <= set(d["lost_gpu_hours"]["by_cause"])
    assert all(r["source"] for r in d["rates"])


def test_report(scenario_file: Path, capsys) -> None:
    code, out, _ = run(["reliability", str(scenario_file)], capsys)
    assert code == 0
    for words in ("ETTR", "days to train", "interruptions/day", "job MTTF", "lost GPU-hours", "checkpoint",
                  "recovery", "P90"):
        assert words in out, words


def test_flags_override_the_section(scenario_file: Path, capsys) -> None:
    code, out, _ = run(["reliability", str(scenario_file), "--json", "--interval", "30", "--mode", "async",
                        "--rate", "gpu=0", "--recovery", "megascale", "--spares", "10",
                        "--when-exhausted", "shrink", "--failure-preset", "llama3"], capsys)
    assert code == 0
    d = json.loads(out)
    assert d["checkpoint_interval_min"] == pytest.approx(30.0)
    assert d["checkpoint"]["mode"] == "async" and d["recovery"]["preset"] == "megascale"
    assert d["spares"] == {**d["spares"], "servers": 10, "when_exhausted": "shrink"}
    assert next(r for r in d["rates"] if r["class"] == "gpu")["job_rate_per_day"] == 0.0


def test_interval_policies(scenario_file: Path, capsys) -> None:
    minutes = {}
    for policy in ("young", "daly", "simulate"):
        code, out, _ = run(["reliability", str(scenario_file), "--json", "--interval", policy, "-n", "10"], capsys)
        assert code == 0
        d = json.loads(out)
        assert d["checkpoint"]["policy"] == policy
        minutes[policy] = d["checkpoint_interval_min"]
    assert minutes["simulate"] == pytest.approx(minutes["daly"], rel=0.2)
    assert minutes["young"] == pytest.approx(minutes["daly"], rel=0.05)


def test_events_engine(scenario_file: Path, capsys) -> None:
    code, out, _ = run(["reliability", str(scenario_file), "--json", "--engine", "events", "-n", "3"], capsys)
    assert code == 0 and json.loads(out)["engine"] == "events"


def test_sweep_json(scenario_file: Path, capsys) -> None:
    code, out, _ = run(["reliability", str(scenario_file), "--sweep-gpus", "--sizes", "1024,16384,131072",
                        "-n", "20", "--json"], capsys)
    assert code == 0
    d = json.loads(out)
    sizes = d["sizes"]
    assert [s["gpus"] for s in sizes] == [1024, 16384, 131072]
    assert sizes[0]["ettr"]["mean"] > sizes[1]["ettr"]["mean"] > sizes[2]["ettr"]["mean"]
    assert sizes[0]["checkpoint_interval_min"] > sizes[2]["checkpoint_interval_min"]
    assert d["seed"] == 0


def test_sweep_report_and_plot(scenario_file: Path, tmp_path: Path, capsys) -> None:
    png = tmp_path / "sweep.png"
    code, out, _ = run(["reliability", str(scenario_file), "--sweep-gpus", "--sizes", "1024,65536", "-n", "10",
                        "--plot", str(png)], capsys)
    assert code == 0 and "ETTR" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_timeline_plot(scenario_file: Path, tmp_path: Path, capsys) -> None:
    png = tmp_path / "timeline.png"
    code, _, _ = run(["reliability", str(scenario_file), "-n", "5", "--run-days", "1", "--plot", str(png)], capsys)
    assert code == 0
    assert png.stat().st_size > 10_000


@pytest.mark.parametrize(("args", "words"), [
    (["--replications", "-5"], "--replications: -5 is not allowed"),
    (["--replications", "0"], "--replications: 0 is not allowed"),
    (["--rate", "gpu=-1"], "--rate gpu: -1.0 is not allowed"),
    (["--rate", "gpu"], "--rate: 'gpu' is not allowed"),
    (["--interval", "-3"], "--interval: '-3' is not allowed"),
    (["--run-days", "-1"], "--run-days: -1.0 is not allowed"),
    (["--spares", "999999"], "at most 1,024 can be hot spares"),
    (["--spares", "-2"], "--spares: -2 is not allowed"),
    (["--rate-scale", "-1"], "--rate-scale: -1.0 is not allowed"),
    (["--failure-preset", "lama3"], "did you mean 'llama3'"),
    (["--engine", "simpy"], "--engine: 'simpy' is not allowed"),
    (["--sizes", "0,1024", "--sweep-gpus"], "--sizes"),
    (["--sizes", "1024"], "only meaningful with --sweep-gpus"),
    (["--plot", "out.pdf"], "--plot"),
    (["--mode", "lazy"], "--mode: 'lazy' is not allowed"),
])
def test_bad_flags_exit_2(scenario_file: Path, capsys, args: list[str], words: str) -> None:
    code, out, err = run(["reliability", str(scenario_file), *args], capsys)
    assert code == 2, err
    assert words in err and "Traceback" not in err
    assert err.startswith("error: ")


@pytest.mark.parametrize(("section", "words"), [
    ({"checkpoint": {"interval": -10}}, "reliability.checkpoint.interval"),
    ({"failure_classes": {"hbm": {"rate_per_unit_day": -0.1}}}, "reliability.failure_classes.hbm.rate_per_unit_day"),
    ({"replications": -1}, "reliability.replications"),
    ({"spares": {"servers": 100000}}, "reliability.spares.servers"),
    ({"checkpoint": {"intervall": 5}}, "did you mean 'interval'"),
])
def test_bad_section_exit_2(tmp_path: Path, capsys, section: dict, words: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**SCENARIO, "reliability": {**SCENARIO["reliability"], **section}}))
    code, _, err = run(["reliability", str(path), "--json"], capsys)
    assert code == 2 and words in err, err


def test_missing_scenario_exit_2(capsys) -> None:
    code, _, err = run(["reliability", "nope.yaml"], capsys)
    assert code == 2 and "not found" in err


def test_documented_example_runs(capsys) -> None:
    example = Path(__file__).resolve().parents[1] / "examples" / "llama3-405b-16k-reliability.yaml"
    code, out, _ = run(["reliability", str(example), "--json", "-n", "40"], capsys)
    assert code == 0
    d = json.loads(out)
    assert d["interruptions_per_day"]["mean"] == pytest.approx(7.76, abs=0.3)
    assert d["ettr"]["mean"] > 0.90


def test_per_run_and_repair_flags(scenario_file: Path, capsys) -> None:
    code, out, _ = run(["reliability", str(scenario_file), "--json", "-n", "4", "--per-run", "--repair-h", "2"],
                       capsys)
    assert code == 0
    d = json.loads(out)
    assert len(d["runs"]["ettr"]) == 4 and len(d["runs"]["days_to_train"]) == 4
    assert all(r["repair_h"] == 2 for r in d["rates"] if r["takes_server"])
