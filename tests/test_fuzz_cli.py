"""Fuzz of every subcommand, in process (``colossim.cli.main``): generated scenarios and flag
values, valid, at the edge and malformed. Whatever comes in, a command exits 0 with output,
or exits 2 with exactly one line ``error: ...``: never a traceback, never a hang, never a
runaway allocation. Small example counts keep it to well under a minute; longer runs:
``HYPOTHESIS_PROFILE=long`` (benchmarks/)."""

from __future__ import annotations

import contextlib
import io
import os
import resource
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from colossim.cli import main
from fuzz_strategies import BASE, NUMBERS, VALUES, scenarios

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
EXAMPLES_N = int(os.environ.get("COLOSSIM_FUZZ_EXAMPLES", "12"))
FUZZ = settings(max_examples=EXAMPLES_N, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))
TIME_LIMIT_S = 20.0
MEMORY_LIMIT_KB = 6 << 20  # peak RSS of the test process (ru_maxrss, kB)


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    start = time.monotonic()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(argv)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    elapsed = time.monotonic() - start
    assert elapsed < TIME_LIMIT_S, f"{argv} took {elapsed:.1f} s"
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < MEMORY_LIMIT_KB, f"{argv}: memory"
    return code, out.getvalue(), err.getvalue()


def check(argv: list[str]) -> tuple[int, str, str]:
    """Exit 0 with output, or exit 2 with one error line, nothing else."""
    code, out, err = run_cli(argv)
    assert "Traceback" not in err and "Traceback" not in out, (argv, err[-2000:])
    if code == 2:
        lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith(("report:", "search:", "sweep"))]
        assert len(lines) == 1 and lines[0].startswith(("error: ", "Usage:", "Try ")) or \
            any(ln.startswith("Error:") or ln.startswith("╭") for ln in err.splitlines()), (argv, err)
        if lines and lines[0].startswith("error: "):
            assert len(lines) == 1, (argv, err)
    else:
        assert code == 0, (argv, code, err[-2000:])
        assert out.strip(), (argv, "no output")
    return code, out, err


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _file(workdir: Path, text: str | bytes, name: str = "s.yaml") -> str:
    p = workdir / name
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text, encoding="utf-8")
    return str(p)


COMMANDS = {"estimate": [], "power": [], "cost": [], "reliability": ["-n", "10"], "search": ["--no-progress"],
            "network": ["--size", "1MiB"]}


@FUZZ
@given(text=scenarios(), command=st.sampled_from(sorted(COMMANDS)))
def test_scenarios(workdir: Path, text: str, command: str) -> None:
    check([command, _file(workdir, text), *COMMANDS[command], "--json"])


@FUZZ
@given(text=scenarios())
def test_reports(workdir: Path, text: str) -> None:
    check(["report", _file(workdir, text), "-o", str(workdir / "r.md"), "--no-scaling"])


@st.composite
def sweeps(draw: Any) -> str:
    grid = draw(st.dictionaries(st.sampled_from(["cluster.num_gpus", "cluster.gpu", "model", "training.seq_len",
                                                 "cluster.num_gpu", "clustr.gpu", "cluster.fabric.tiers",
                                                 "cluster.fabric.bogus", "model.moe.top_k"]),
                                st.lists(VALUES, min_size=0, max_size=2), min_size=1, max_size=2))
    search = draw(st.sampled_from([{}, {"objective": "throughput"}, {"objective": "thruput"}, {"fix": {"zero": 9}},
                                   {"max": {"tp": 2}}, {"objective": "gpus"}, {"deadline_days": float("inf")}]))
    return yaml.safe_dump({"name": "fuzz", "base": BASE, "grid": grid, "search": search, "output": "fuzz.csv"})


@FUZZ
@given(text=sweeps())
def test_sweeps(workdir: Path, text: str) -> None:
    check(["sweep", _file(workdir, text, "sweep.yaml"), "--workers", "1", "--json"])


@FUZZ
@given(name=st.one_of(st.sampled_from(["h100-sxm", "llama3-8b", "colossus-100k", "qm9700", "h100"]), st.text(max_size=20)),
       case=st.one_of(st.none(), st.text(max_size=20)))
def test_catalog_and_validate(name: str, case: str | None) -> None:
    check(["catalog", "show", name, "--json"])
    if case is not None:
        check(["validate", "--case", case, "--json"])


@FUZZ
@given(data=st.binary(max_size=300))
def test_bytes(workdir: Path, data: bytes) -> None:
    check(["estimate", _file(workdir, data)])


FLAGS: dict[str, list[str]] = {
    "power": ["--budget-mw", "--pue", "--ramp-mw-per-min", "--checkpoint-stall-s", "--restart-s"],
    "cost": ["--usd-per-kwh", "--g-co2-per-kwh", "--total-tokens", "--gpu-hours", "--goodput", "--gpu-price-usd",
             "--pue"],
    "reliability": ["--replications", "--seed", "--interval", "--rate-scale", "--save-tbps", "--load-tbps", "--spares",
                    "--run-days", "--repair-h", "--rate", "--sizes"],
    "search": ["--top", "--deadline-days", "--total-tokens", "--max-tp", "--max-pp", "--fix", "--max", "--min"],
    "network": ["--size", "--flows-per-pair", "--seed"],
    "buildout": ["--day", "--power-mw-per-month", "--target-tokens", "--every"],
}


@st.composite
def flag_values(draw: Any) -> tuple[str, list[str]]:
    command = draw(st.sampled_from(sorted(FLAGS)))
    argv: list[str] = []
    for flag in draw(st.lists(st.sampled_from(FLAGS[command]), min_size=1, max_size=2, unique=True)):
        value = draw(NUMBERS)
        if flag in ("--fix", "--max", "--min"):
            value = f"{draw(st.sampled_from(['tp', 'pp', 'zero', 'sp', 'recompute', 'mbs', 'bogus']))}={value}"
        elif flag == "--rate":
            value = f"{draw(st.sampled_from(['gpu', 'bogus']))}={value}"
        argv += [flag, value]
    return command, argv


@FUZZ
@given(case=flag_values())
def test_flags(workdir: Path, case: tuple[str, list[str]]) -> None:
    command, argv = case
    scenario = _file(workdir, yaml.safe_dump(BASE), "base.yaml")
    if command == "buildout":
        scenario = str(EXAMPLES / "colossus-buildout-200k.yaml")
    extra = {"reliability": ["-n", "20"], "search": ["--no-progress"], "network": ["--group", "dp"]}.get(command, [])
    if command == "reliability" and "--sizes" in argv:
        extra.append("--sweep-gpus")
    check([command, scenario, *extra, *argv, "--json"])


def test_issue_cases(workdir: Path) -> None:
    """The inputs of issue 13, each: exit 2 and one line naming the field."""
    base = yaml.safe_dump(BASE)
    laughs = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefg", "bcdefgh", strict=True))
    files = {
        "latin1": "name: café\n".encode("latin-1") + base.encode(),
        "utf16": base.encode("utf-16"),
        "deep": "name: " + "[" * 2000 + "]" * 2000 + "\n" + base,
        "laughs": "description: [" + laughs.replace("\n", ", ").replace(": &", ": &") + "]\n" + base,
        "dup": base + "model: llama3-70b\n",
        "tptrue": base.replace("tp: 2", "tp: true"),
        "nic": base.replace("num_gpus: 64", "num_gpus: 64\n  nic_gbps_per_gpu: 1e-300"),
        "typo": base + "reliabilty: {}\n",
        "search": base + "search: {objectiv: cost}\n",
    }
    expect = {"latin1": "not UTF-8", "utf16": "UTF-16", "deep": "nested", "laughs": "", "dup": "duplicate key 'model'",
              "tptrue": "parallel.tp: true", "nic": "cluster.nic_gbps_per_gpu: 1e-300",
              "typo": "did you mean 'reliability'", "search": "did you mean 'objective'"}
    for name, text in files.items():
        code, _, err = check(["estimate", _file(workdir, text, f"{name}.yaml")])
        assert code == 2 and expect[name] in err, (name, err)
    scenario = _file(workdir, base, "base.yaml")
    for argv, words in ((["power", scenario, "--budget-mw", "inf"], "--budget-mw: inf"),
                        (["power", scenario, "--pue", "1e308"], "--pue"),
                        (["cost", scenario, "--total-tokens", "inf"], "--total-tokens: inf"),
                        (["search", scenario, "--fix", "zero=9"], "--fix zero: 9"),
                        (["reliability", scenario, "--rate", "gpu=1e9"], "--rate gpu"),
                        (["reliability", scenario, "--rate", "gpu=inf"], "--rate gpu: inf"),
                        (["reliability", scenario, "--save-tbps", "inf"], "--save-tbps: inf"),
                        (["reliability", scenario, "--run-days", "1e308"], "--run-days"),
                        (["reliability", scenario, "--repair-h", "inf"], "--repair-h: inf"),
                        (["reliability", str(EXAMPLES / "llama3-405b-16k-reliability.yaml"), "--rate", "gpu=50"],
                         "the Monte Carlo"),
                        (["report", scenario, "-o", "/proc/x/r.html"], "--output"),
                        (["network", scenario, "--plot", "/proc/x/p.png"], "--plot"),
                        (["serve", "--host", "999.1.1.1"], "--host: '999.1.1.1'"),
                        (["serve", "--port", "0"], "--port"),
                        (["sweep", scenario, "--workers", "0"], "--workers"),
                        (["estimate", str(workdir)], "is a folder")):
        code, _, err = check(argv)
        assert code == 2 and words in err, (argv, err)
