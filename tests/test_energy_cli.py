"""`colossim power` and `colossim cost`: JSON keys, the seed-claim check, plots, bad input (exit 2)."""

from __future__ import annotations

import json

import pytest

from colossim.cli import main

POWER_KEYS = {"it_power_mw", "facility_power_mw", "max_gpus_in_budget", "it_power_avg_mw", "facility_power_avg_mw",
              "it_power_nameplate_mw", "facility_power_nameplate_mw", "components_mw", "swing", "battery", "budget"}
COST_KEYS = {"energy_mwh", "cost_usd", "co2_tonnes", "gpu_hours", "electricity_usd", "capex_usd",
             "cost_per_million_tokens_usd", "it_power_mw", "facility_power_mw"}


def run(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out, out.err


def test_power_json_checks_the_seed_claim_in_one_command(flagship_path, capsys) -> None:
    code, out, _ = run(capsys, "power", str(flagship_path), "--budget-mw", "35", "--json")
    assert code == 0
    d = json.loads(out)
    assert set(d) >= POWER_KEYS
    assert d["budget"]["fits"] is False
    assert d["facility_power_mw"] > 100
    assert 0 < d["max_gpus_in_budget"] < 100_000


def test_power_report_and_plot(flagship_path, tmp_path, capsys) -> None:
    png = tmp_path / "power.png"
    code, out, _ = run(capsys, "power", str(flagship_path), "--budget-mw", "35", "--plot", str(png))
    assert code == 0
    for words in ("facility", "129 MW", "DOES NOT FIT", "35 MW feeds at most", "swing", "battery", "switch optics"):
        assert words in out
    assert png.stat().st_size > 10_000


def test_power_options_from_the_scenario_and_flags(flagship_path, tmp_path, capsys) -> None:
    sc = tmp_path / "s.yaml"
    sc.write_text(flagship_path.read_text() + "power: {pue: air, budget_mw: 200}\n")
    d = json.loads(run(capsys, "power", str(sc), "--json")[1])
    assert d["pue"] == pytest.approx(1.56) and d["budget"]["budget_mw"] == 200 and d["budget"]["fits"]
    d = json.loads(run(capsys, "power", str(sc), "--pue", "1.1", "--budget-mw", "35", "--json")[1])
    assert d["pue"] == pytest.approx(1.1) and d["budget"]["budget_mw"] == 35


def test_cost_json(flagship_path, capsys) -> None:
    code, out, _ = run(capsys, "cost", str(flagship_path), "--electricity", "tennessee", "--grid", "tva", "--json")
    assert code == 0
    d = json.loads(out)
    assert set(d) >= COST_KEYS
    assert d["price_preset"] == "tennessee" and d["grid_preset"] == "tva"
    assert d["cost_usd"] > d["electricity_usd"] > 0 and d["co2_tonnes"] > 0


def test_cost_report_text(flagship_path, capsys) -> None:
    code, out, _ = run(capsys, "cost", str(flagship_path), "--usd-per-kwh", "0.05", "--g-co2-per-kwh", "500")
    assert code == 0
    for words in ("GPU-hours", "energy", "electricity", "emissions", "capital", "per million tokens"):
        assert words in out


@pytest.mark.parametrize(("args", "message"), [
    (["power", "--budget-mw", "-5"], "--budget-mw: -5.0 is not allowed"),
    (["power", "--budget-mw", "0"], "--budget-mw: 0.0 is not allowed"),
    (["power", "--pue", "0.9"], "--pue: 0.9 is not allowed; PUE is facility power / IT power, at least 1.0"),
    (["power", "--pue", "liqid"], "did you mean 'liquid'"),
    (["power", "--basis", "max"], "--basis: 'max' is not allowed"),
    (["power", "--plot", "out.txt"], "--plot: 'out.txt' is not allowed"),
    (["cost", "--electricity", "tenessee"], "did you mean 'tennessee'"),
    (["cost", "--grid", "mars"], "--grid: 'mars' is not allowed; unknown grid carbon preset"),
    (["cost", "--usd-per-kwh", "-1"], "--usd-per-kwh: -1.0 is not allowed"),
    (["cost", "--gpu-hours", "0"], "--gpu-hours: 0.0 is not allowed"),
    (["cost", "--goodput", "1.5"], "--goodput: 1.5 is not allowed"),
])
def test_bad_input_is_a_clear_message_and_exit_2(flagship_path, capsys, args, message) -> None:
    code, out, err = run(capsys, args[0], str(flagship_path), *args[1:])
    assert code == 2
    assert message in err and "Traceback" not in err
    assert out == ""


def test_bad_scenario_sections_exit_2(flagship_path, tmp_path, capsys) -> None:
    sc = tmp_path / "s.yaml"
    sc.write_text(flagship_path.read_text() + "power: {pue: 0.95}\ncost: {grid: nowhere}\n")
    code, _, err = run(capsys, "power", str(sc))
    assert code == 2 and "power.pue: 0.95 is not allowed" in err
    sc.write_text(flagship_path.read_text() + "cost: {grid: nowhere}\n")
    code, _, err = run(capsys, "cost", str(sc))
    assert code == 2 and "cost.grid: 'nowhere' is not allowed" in err


def test_a_small_cluster_reads_in_kw(flagship_path, capsys) -> None:
    """64 GPUs draw ~130 kW: the report says so, not '0.1 MW' and '0.0 MW swing'."""
    code, out, _ = run(capsys, "power", str(flagship_path.parent / "llama3-8b-64.yaml"))
    assert code == 0
    assert " kW " in out and "0.0 MW" not in out and "0.1 " not in out.split("per server")[0]
    assert " mWh" not in out  # a milli-watt-hour reads as MWh at a glance


def test_the_run_line_says_the_token_count_as_a_reader_does(flagship_path, capsys) -> None:
    code, out, _ = run(capsys, "cost", str(flagship_path))
    assert code == 0 and "15.00T tokens at" in out and "15,000,000,000,000" not in out
    code, out, _ = run(capsys, "cost", str(flagship_path), "--json")
    assert json.loads(out)["tokens_per_s"] > 7e7
