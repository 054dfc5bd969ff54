"""The input gate (colossim.gate): YAML, trees, types, bounds, budgets and output paths;
arbitrary text and trees only ever raise ColossimError."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from colossim import gate
from colossim.errors import ColossimError
from colossim.scenario import load_scenario

FAST = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))


@FAST
@given(text=st.text(max_size=400))
def test_any_text_parses_or_is_one_clear_error(text: str) -> None:
    start = time.monotonic()
    try:
        gate.parse_yaml(text)
    except ColossimError as exc:
        assert "\n" not in str(exc)
    assert time.monotonic() - start < 2.0


TREES = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5)),
                     lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=3), kids, max_size=4),
                     max_leaves=40)


@FAST
@given(tree=TREES)
def test_any_tree_is_accepted_or_refused_cleanly(tree: object) -> None:
    try:
        gate.check_tree(tree)
    except ColossimError as exc:
        assert exc.field


def test_yaml_12_floats_and_duplicates() -> None:
    assert gate.parse_yaml("a: 1e-300\nb: 2E9\nc: 1_000\nd: x1e5\n") == {"a": 1e-300, "b": 2e9, "c": 1000, "d": "x1e5"}
    with pytest.raises(ColossimError, match="d: inf is not allowed; must be a finite number"):
        gate.parse_yaml("d: .inf\n")
    with pytest.raises(ColossimError, match="duplicate key 'a' at line 2"):
        gate.parse_yaml("a: 1\na: 2\n")
    with pytest.raises(ColossimError, match="duplicate key"):
        gate.parse_yaml("x: {b: 1, b: 1}\n")
    assert gate.parse_yaml("base: &b {x: 1}\nother:\n  <<: *b\n  x: 2\n") == {"base": {"x": 1}, "other": {"x": 2}}


def test_bombs_and_depth_are_refused_fast() -> None:
    bomb = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{c}: &{c} [{','.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True))
    start = time.monotonic()
    with pytest.raises(ColossimError, match="too large once YAML aliases are expanded"):
        gate.parse_yaml(bomb)
    with pytest.raises(ColossimError, match="aliases"):
        gate.parse_yaml("a: &a 1\nb: [" + ", ".join(["*a"] * 1000) + "]\n")
    with pytest.raises(ColossimError, match="nested more than"):
        gate.parse_yaml("[" * 10_000 + "]" * 10_000)
    with pytest.raises(ColossimError, match="nested more than"):
        gate.check_tree(_deep(100))
    assert time.monotonic() - start < 2.0


def _deep(n: int) -> object:
    node: object = 1
    for _ in range(n):
        node = [node]
    return node


def test_files(tmp_path: Path) -> None:
    p = tmp_path / "s.yaml"
    p.write_bytes(b"\xff\xfe" + "model: x".encode("utf-16-le"))
    with pytest.raises(ColossimError, match="not UTF-8 text \\(it looks like UTF-16\\)"):
        gate.read_text(p)
    p.write_bytes(b"a: 1\n" * (gate.MAX_FILE_BYTES // 4))
    with pytest.raises(ColossimError, match="more than a scenario file may be"):
        gate.read_text(p)
    p.write_text("\ufeffa: 1\n", encoding="utf-8")
    assert gate.load_yaml_file(p) == {"a": 1}
    with pytest.raises(ColossimError, match="file not found"):
        gate.read_text(tmp_path / "missing.yaml")


def test_types_and_bounds_name_the_field(small_dense: dict) -> None:
    with pytest.raises(ColossimError, match=r"^parallel\.tp: true is not allowed"):
        load_scenario({**small_dense, "parallel": {"tp": True}})
    with pytest.raises(ColossimError, match=r"^training\.global_batch_size: false"):
        load_scenario({**small_dense, "training": {"seq_len": 4096, "global_batch_size": False}})
    load_scenario({**small_dense, "training": {**small_dense["training"], "dropout": True}})  # a real boolean
    cluster = {"gpu": "h100-sxm", "num_gpus": 64}
    for field, value, words in (("nic_gbps_per_gpu", 1e-300, "NIC Gb/s per GPU"),
                                ("scaleup_gbps_per_gpu", 1e9, "NVLink GB/s per GPU"),
                                ("fabric", {"oversubscription": [5000.0]}, "down:up ratio")):
        with pytest.raises(ColossimError, match=words) as err:
            load_scenario({**small_dense, "cluster": {**cluster, field: value}})
        assert err.value.field.startswith(f"cluster.{field}")
    with pytest.raises(ColossimError, match="must be a finite number"):
        load_scenario({**small_dense, "training": {**small_dense["training"], "total_tokens": math.inf}})


def test_flags_share_the_field_bounds() -> None:
    assert gate.check_field("training.total_tokens", 1e12, "--total-tokens") == 1e12
    with pytest.raises(ColossimError, match=r"^--total-tokens: inf is not allowed; must be a finite number"):
        gate.check_field("training.total_tokens", math.inf, "--total-tokens")
    with pytest.raises(ColossimError, match=r"^--fix zero: 9 is not allowed; ZeRO stage: 0 to 3"):
        gate.check_dimension("zero", 9, "--fix zero")


def test_budgets_and_outputs(tmp_path: Path) -> None:
    with pytest.raises(ColossimError, match="more than colossim runs in one go"):
        gate.check_budget("it", 1e12, 10, field="x", unit="flows", fix="smaller")
    with pytest.raises(ColossimError, match="unbounded"):
        gate.check_budget("it", math.inf, 10, field="x", unit="s", fix="smaller")
    with pytest.raises(ColossimError, match="GiB of memory"):
        gate.check_allocation("the pool", 1e12, field="spares.repair_h")
    assert gate.check_output(tmp_path / "new" / "r.html", "--output") == tmp_path / "new" / "r.html"
    for bad, words in ((Path("/proc/x/r.html"), "cannot be written"), (tmp_path, "is a folder"),
                       (tmp_path / "r.txt", "give a .csv file")):
        with pytest.raises(ColossimError, match=words):
            gate.check_output(bad, "--output", (".csv",) if bad.suffix == ".txt" else None)


def test_monte_carlo_and_flow_budgets(flagship_path: Path) -> None:
    from colossim.reliability import analysis
    from colossim.reliability.config import reliability_config

    sc = load_scenario(flagship_path)
    cfg = reliability_config(None, {"failure_classes.gpu.rate_per_unit_day": ("--rate gpu", 50.0)})
    start = time.monotonic()
    with pytest.raises(ColossimError, match="the Monte Carlo"):
        analysis.analyze(sc, cfg)
    assert time.monotonic() - start < 5.0
