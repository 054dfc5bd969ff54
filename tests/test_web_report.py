"""`colossim report`: one self-contained HTML file (or Markdown + PNGs) with the same sections,
figures and tables as the dashboard."""

from __future__ import annotations

import importlib.util
import re

import pytest
import yaml

from colossim.cli import main
from colossim.report import figures

SMALL = {"name": "small dense", "model": "llama3-8b", "cluster": {"gpu": "h100-sxm", "num_gpus": 64},
         "training": {"seq_len": 4096, "global_batch_size": 64, "total_tokens": 1e11},
         "parallel": {"tp": 2, "pp": 2, "dp": 16}}
EXTERNAL = re.compile(r"""(src|href)\s*=\s*["']?(https?:)?//""", re.I)
needs_mpl = pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None, reason="matplotlib not installed")
needs_plotly = pytest.mark.skipif(importlib.util.find_spec("plotly") is None, reason="plotly not installed")


@pytest.fixture
def small_path(tmp_path):
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(SMALL))
    return path


def run(argv, capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


@needs_plotly
def test_html_report_is_self_contained(flagship_path, tmp_path, capsys) -> None:
    out = tmp_path / "r.html"
    code, stdout, _ = run(["report", str(flagship_path), "-o", str(out)], capsys)
    assert code == 0 and str(out) in stdout
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and "Plotly.newPlot" in page and "plotly.js v" in page
    assert not EXTERNAL.search(page.replace(page[page.index("<script>"):page.rindex("</script>")], ""))
    for title in ("Step estimate", "Scaling", "Memory per GPU", "Step time breakdown", "model: grok-1"):
        assert title in page


@needs_mpl
def test_svg_report_is_small_and_static(small_path, tmp_path, capsys) -> None:
    out = tmp_path / "r.html"
    code, _, _ = run(["report", str(small_path), "-o", str(out), "--charts", "svg", "--search", "--top", "3"], capsys)
    page = out.read_text()
    assert code == 0 and "<script" not in page and page.count("<svg") >= 4 and not EXTERNAL.search(page)
    assert "Best plans" in page and out.stat().st_size < 2_000_000


@needs_mpl
def test_markdown_report_with_pngs(small_path, tmp_path, capsys) -> None:
    out = tmp_path / "docs" / "r.md"
    code, stdout, _ = run(["report", str(small_path), "-o", str(out)], capsys)
    assert code == 0 and "PNG" in stdout
    text = out.read_text()
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(images) >= 4 and "| step time |" in text and "```yaml" in text
    for name in images:
        assert (out.parent / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_default_output_name(small_path, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, _ = run(["report", str(small_path), "--no-scaling", "--charts", "svg" if importlib.util.find_spec(
        "plotly") is None else "plotly"], capsys)
    assert code == 0 and (tmp_path / "small-report.html").is_file()


@pytest.mark.parametrize(("argv", "words"), [
    (["--format", "pdf"], "--format: 'pdf' is not allowed"),
    (["-o", "r.txt"], "--output"),
    (["-o", "r.md", "--format", "html"], "does not match"),
    (["--charts", "png"], "--charts: 'png' is not allowed"),
    (["--top", "0"], "--top"),
])
def test_bad_flags_exit_2(small_path, tmp_path, capsys, argv, words) -> None:
    code, _, err = run(["report", str(small_path), *argv], capsys)
    assert code == 2 and words in err and "Traceback" not in err


def test_bad_scenario_exits_2(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**SMALL, "model": "llama3-8x"}))
    code, _, err = run(["report", str(bad), "-o", str(tmp_path / "r.html")], capsys)
    assert code == 2 and "did you mean 'llama3-8b'" in err
    code, _, err = run(["report", str(tmp_path / "missing.yaml")], capsys)
    assert code == 2 and "not found" in err


def test_failed_part_is_listed_not_fatal(tmp_path, capsys) -> None:
    if importlib.util.find_spec("colossim.energy.cost") is None:
        pytest.skip("colossim.energy is not installed")
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({**SMALL, "cost": {"electricity": "nowhere"}}))
    out = tmp_path / "r.html"
    code, _, err = run(["report", str(path), "-o", str(out), "--charts", "svg", "--no-scaling"], capsys)
    assert code == 0 and "not included" in err and "Not included" in out.read_text()


@needs_mpl
def test_every_figure_draws() -> None:
    from colossim.report import mpl

    rows = [{"case": "a", "run": "r1", "measured_iter_s": 1.0, "predicted_iter_s": 1.1},
            {"case": "b", "run": "r2", "measured_iter_s": 2.0, "predicted_iter_s": 1.9}]
    figs = [figures.validation_scatter(rows), figures.bars("b", "t", {"x": 1.0, "y": 2.0}, "units"),
            figures.line("l", "t", [1, 2, 4], {"goodput": [0.9, 0.8, 0.7]}, "GPUs", "goodput", x_log=True)]
    for fig in figs:
        assert mpl.draw(fig, "png")[:4] == b"\x89PNG" and b"<svg" in mpl.draw(fig, "svg")
