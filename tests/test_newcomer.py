"""A newcomer's first hour (issue 12): one install, defaults a demanding user would choose,
one goodput, output that fits the terminal, and the conveniences peers have."""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import pytest
import yaml

from colossim.cli import main
from colossim.cli.common import check_output_path, require
from colossim.errors import ColossimError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SMALL_NO_PLAN = ("name: small, no plan\nmodel: llama3-8b\ncluster: {gpu: h100-sxm, num_gpus: 64}\n"
                 "training: {seq_len: 4096, global_batch_size: 64, total_tokens: 1.0e11}\n")


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(args)
    out, err = capsys.readouterr()
    return int(exc.value.code or 0), out, err


# ---- one install: checks before the work ------------------------------------------------


def test_output_paths_are_checked_before_the_work(tmp_path) -> None:
    assert check_output_path(tmp_path / "new" / "x.csv", (".csv",)) == tmp_path / "new" / "x.csv"
    with pytest.raises(ColossimError, match=r"--plot: .*x\.jpg' is not allowed; give a \.png file"):
        check_output_path(tmp_path / "x.jpg", (".png",), "--plot")
    (tmp_path / "d.csv").mkdir()
    with pytest.raises(ColossimError, match="is a folder"):
        check_output_path(tmp_path / "d.csv", (".csv",))
    (tmp_path / "file").write_text("x")
    with pytest.raises(ColossimError, match="is not a folder"):
        check_output_path(tmp_path / "file" / "x.csv", (".csv",))


def test_a_bad_output_stops_the_sweep_before_it_runs(capsys) -> None:
    start = time.perf_counter()
    code, _, err = run_cli(["sweep", str(EXAMPLES / "sweep-colossus-scaling.yaml"), "-o", "out.xlsx"], capsys)
    assert code == 2 and "use" not in err.lower() or "is not allowed" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert time.perf_counter() - start < 5  # no scenario was searched


def test_a_missing_optional_part_is_one_line() -> None:
    with pytest.raises(ColossimError, match=r"--executor ray needs no_such_pkg_xyz, which is not installed: "
                                            r"pip install 'colossim\[ray\]'"):
        require("no_such_pkg_xyz", "--executor ray", "ray")


def test_core_dependencies_cover_the_tour() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    core = text.split("dependencies = [", 1)[1].split("]", 1)[0]
    for pkg in ("scipy", "matplotlib", "pyarrow", "jinja2"):
        assert pkg in core


# ---- defaults ---------------------------------------------------------------------------


def test_no_parallel_section_means_the_searchs_best_plan(tmp_path, capsys) -> None:
    from colossim.api import load_scenario
    from colossim.search import search

    path = tmp_path / "s.yaml"
    path.write_text(SMALL_NO_PLAN)
    sc = load_scenario(path)
    assert sc.plan_source == "search"
    best = search(load_scenario(path, plan="as-given"), top=1).top[0]
    assert {k: sc.parallel.model_dump()[k] for k in ("tp", "pp", "dp", "cp")} == \
        {k: best.plan[k] for k in ("tp", "pp", "dp", "cp")}
    code, out, err = run_cli(["estimate", str(path)], capsys)
    assert code == 0 and "search's best plan" in err and "the search's best" in out
    code, out, _ = run_cli(["estimate", str(path), "--json"], capsys)
    d = json.loads(out)
    assert d["fits_in_memory"] and any("no parallel section" in n for n in d["notes"])
    assert load_scenario(path, plan="as-given").plan_source == "given"


def test_no_spare_left_and_low_ettr_is_the_first_line(tmp_path, capsys) -> None:
    path = tmp_path / "full.yaml"
    path.write_text("model: llama3-405b\ncluster: {gpu: h100-sxm, num_gpus: 16384}\n"
                    "training: {seq_len: 8192, global_batch_size: 2048, total_tokens: 15.6e12}\n"
                    "parallel: {tp: 8, pp: 16, dp: 128}\n")
    code, out, _ = run_cli(["reliability", str(path), "-n", "20"], capsys)
    assert code == 0
    first = out.splitlines()[0]
    assert first.startswith("warning: ETTR 0.0") and "no hot spare" in first
    assert "when_exhausted: shrink" in out
    code, out, _ = run_cli(["reliability", str(path), "-n", "20", "--when-exhausted", "shrink"], capsys)
    assert not out.startswith("warning")


# ---- one goodput ------------------------------------------------------------------------


def test_cost_and_estimate_take_the_reliability_models_ettr(capsys, flagship_path) -> None:
    _, out, _ = run_cli(["reliability", str(flagship_path), "--json"], capsys)
    rel = json.loads(out)
    _, out, _ = run_cli(["cost", str(flagship_path), "--json"], capsys)
    cost = json.loads(out)
    _, out, _ = run_cli(["estimate", str(flagship_path), "--json"], capsys)
    est = json.loads(out)
    assert cost["goodput"] == pytest.approx(rel["ettr"]["mean"])
    assert "reliability model's ETTR" in cost["goodput_source"]
    assert est["time_to_train"]["goodput"]["value"] == pytest.approx(rel["ettr"]["mean"])
    assert est["time_to_train"]["days"] == pytest.approx(cost["run_days"], rel=1e-9)
    assert est["time_to_train"]["days"] == pytest.approx(
        est["time_to_train_days"] / rel["ettr"]["mean"])


def test_an_explicit_goodput_wins_and_is_named(capsys, tmp_path, flagship_path) -> None:
    raw = yaml.safe_load(flagship_path.read_text())
    raw["training"]["goodput"] = 0.9
    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump(raw))
    _, out, _ = run_cli(["cost", str(path), "--json"], capsys)
    assert json.loads(out)["goodput"] == 0.9 and json.loads(out)["goodput_source"] == "training.goodput"
    _, out, _ = run_cli(["cost", str(path), "--json", "--goodput", "0.8"], capsys)
    assert json.loads(out)["goodput"] == 0.8 and "--goodput" in json.loads(out)["goodput_source"]


def test_dashboard_presets_are_the_example_files() -> None:
    from colossim.web.presets import listing

    presets = {p["id"]: p for p in listing()}
    assert {"llama3-8b-64", "grok1-colossus-100k"} <= set(presets)
    for key, p in presets.items():
        assert p["yaml"] == (EXAMPLES / f"{key}.yaml").read_text()
    from colossim.scenario import load_scenario

    assert load_scenario(presets["grok1-colossus-100k"]["scenario"]).training.total_tokens == 15.0e12
    assert "sweep-colossus-scaling" not in presets


# ---- terminal output --------------------------------------------------------------------


@pytest.mark.parametrize("args", [
    ["estimate", "examples/grok1-colossus-100k.yaml"],
    ["estimate", "examples/grok1-colossus-100k.yaml", "--network", "flow"],
    ["search", "examples/llama3-8b-64.yaml", "--no-progress"],
    ["reliability", "examples/llama3-405b-16k-reliability.yaml", "-n", "50"],
    ["reliability", "examples/grok1-colossus-100k.yaml", "-n", "20", "--sweep-gpus", "--sizes", "1024,131072"],
    ["validate"],
    ["validate", "--cross-validate"],
    ["reliability", "examples/colossus-200k-reliability.yaml", "-n", "20", "--target-ettr", "0.9"],
    ["buildout", "examples/colossus-buildout.yaml"],
    ["catalog", "show", "grok-1"],
    ["catalog", "stacks"],
    ["search", "examples/llama3-8b-64.yaml", "--no-progress", "--objective", "cost"],
    ["power", "examples/grok1-colossus-100k.yaml", "--budget-mw", "35"],
    ["cost", "examples/grok1-colossus-100k.yaml"],
    ["network", "examples/grok1-colossus-100k.yaml", "--fail", "spine:3"],
])
def test_every_line_fits_80_columns(args, capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.chdir(ROOT)
    code, out, _ = run_cli(args, capsys)
    assert code == 0
    long = [line for line in out.splitlines() if len(line) > 80]
    assert not long, long
    assert not re.search(r"\de[+-]\d", out) and "0.0 us" not in out  # no 1.5e+13 (nor "compile+Float8")
    cut = [line for line in out.splitlines() if "\u2026" in line]  # a cell rich had to shorten
    assert not cut, cut


def test_columns_is_honoured(capsys, monkeypatch, flagship_path) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    _, out, _ = run_cli(["estimate", str(flagship_path)], capsys)
    assert max(len(line) for line in out.splitlines()) > 100  # the cluster line, unwrapped


def test_one_formatter_with_units() -> None:
    from colossim.report.present import fmt_field, fmt_num, fmt_quantity, fmt_time

    assert fmt_quantity(2147308885.33, "B", binary=True) == "2.00 GiB"
    assert fmt_quantity(46.2e9, "B/s") == "46.2 GB/s"
    assert fmt_quantity(0, "s") == "0 s" and fmt_time(0.0) == "0 s"
    assert fmt_quantity(999.96, "W") == "1.00 kW"
    assert fmt_num({"num_experts": 8, "top_k": 2}) == "num_experts: 8, top_k: 2"
    assert fmt_num(1.5e13) == "15,000,000,000,000" and fmt_num(True) == "yes"
    assert fmt_num(1978.9) == "1,979" and fmt_num(3353.3) == "3,353" and fmt_num(989.4) == "989.4"
    assert fmt_field("bytes", 402653184.0) == "384 MiB" and fmt_field("utilization", 0.5) == "50.0%"


@pytest.mark.parametrize("kind", ["gpus", "models", "clusters", "switches", "stacks"])
def test_catalog_listings_fit_80_columns_and_cut_no_number(kind, capsys, monkeypatch) -> None:
    """At 80 columns every listing fits, no cell ends in an ellipsis (a cut '17…' reads as 17),
    and the columns left out are named, not dropped silently."""
    from colossim.catalog.views import summaries

    monkeypatch.setenv("COLUMNS", "80")
    _, out, _ = run_cli(["catalog", kind], capsys)
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80 and "…" not in out
    body = out.split("left out at")[0]
    for row in summaries(kind):
        assert row["name"] in body
    shown = lines[1].count("┳") + 1
    if shown < len(summaries(kind)[0]):
        assert "left out at 80 columns:" in out and "--json" in out


def test_catalog_shows_no_python_reprs(capsys) -> None:
    _, out, _ = run_cli(["catalog", "show", "grok-1"], capsys)
    assert "{'" not in out and "True" not in out


def test_flow_estimate_shows_both_models_side_by_side(capsys, flagship_path) -> None:
    _, out, _ = run_cli(["estimate", str(flagship_path), "--network", "flow", "--json"], capsys)
    flow = json.loads(out)["collectives"]
    assert flow["model"].startswith("flow simulation") and flow["rows"]
    assert all(r["analytic_s"] > 0 and r["simulated_s"] > 0 for r in flow["rows"])
    _, out, _ = run_cli(["estimate", str(flagship_path), "--network", "flow"], capsys)
    assert "analytic" in out and "simulated" in out and "with the simulated collectives (this estimate)" in out
    _, out, _ = run_cli(["estimate", str(flagship_path)], capsys)
    assert "collectives: analytic" in out


# ---- conveniences -----------------------------------------------------------------------


def test_version_and_completion(capsys) -> None:
    from colossim import __version__

    code, out, _ = run_cli(["--version"], capsys)
    assert code == 0 and out.strip() == f"colossim {__version__}"
    _, out, _ = run_cli(["--help"], capsys)
    assert "--install-completion" in out


def test_to_frame(monkeypatch) -> None:
    pd = pytest.importorskip("pandas")
    from colossim.api import estimate, scenario, to_frame
    from colossim.search import search

    sc = scenario("llama3-8b", {"gpu": "h100-sxm", "num_gpus": 64}, {"seq_len": 4096, "global_batch_size": 64},
                  {"tp": 2, "pp": 2})
    one = to_frame(estimate(sc))
    assert isinstance(one, pd.DataFrame) and one.loc[0, "plan.tp"] == 2
    ranked = to_frame(search(sc, top=3))
    assert list(ranked["rank"]) == [1, 2, 3] and "step_time_s" in ranked
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ColossimError, match="to_frame needs pandas"):
        to_frame(estimate(sc))


def test_html_report_comes_from_a_template() -> None:
    from colossim.report.html import _environment

    template = _environment().get_template("report.html.j2")
    assert template.render  # the packaged template loads
    assert (ROOT / "src/colossim/report/templates/report.html.j2").is_file()


def test_cost_and_estimate_warn_first_when_no_spare_is_left(tmp_path, capsys) -> None:
    path = tmp_path / "full.yaml"
    path.write_text("model: llama3-405b\ncluster: {gpu: h100-sxm, num_gpus: 16384, fabric: {tiers: 3}}\n"
                    "training: {seq_len: 8192, global_batch_size: 2048, total_tokens: 15.6e12}\n"
                    "parallel: {tp: 8, pp: 16, dp: 128}\nreliability: {replications: 20}\n")
    for command in ("cost", "estimate"):
        code, out, _ = run_cli([command, str(path)], capsys)
        assert code == 0 and out.startswith("warning: ETTR 0.0"), out[:200]
