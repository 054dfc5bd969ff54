"""Terminal tables fit their width without cutting a number or a word (report/layout.py)."""

from __future__ import annotations

from rich.console import Console

from colossim.report.text import table


def _render(t, width: int) -> list[str]:
    con = Console(width=width, record=True, highlight=False, color_system=None)
    con.print(t)
    return con.export_text().splitlines()


def _wide_table(keep_last: bool = False):
    t = table("plans")
    t.add_column("name", no_wrap=True)  # a name a user types next: whole (as the catalog listings)
    t.add_column("plan", keep=True)
    for col in ("tokens/s", "GPUs", "memory", "dominant overhead"):
        t.add_column(col, justify="right" if col != "dominant overhead" else "left", keep=keep_last and col == "GPUs")
    t.add_row("llama3-405b", "tp8 pp16 dp128 cp1 ep1 vpp8 mbs1 selective zero1 sp", "74,094,663", "98,304",
              "72.3 GB", "ep all to all")
    t.add_row("llama3-70b", "tp2 pp4 dp64", "1,155,174", "1,024", "61.0 GB", "tp exposed")
    return t


def test_numbers_and_words_are_never_cut() -> None:
    for width in (40, 60, 80, 120):
        lines = _render(_wide_table(), width)
        text = "\n".join(lines)
        assert max(len(line) for line in lines) <= width
        assert "\u2026" not in text
        assert "llama3-405b" in text and "llama3-70b" in text  # the first column: whole names
        for number in ("74,094,663", "1,155,174"):  # a kept number column, whole
            assert number in text


def test_columns_that_do_not_fit_are_named_rightmost_first() -> None:
    lines = _render(_wide_table(), 60)
    note = [line for line in lines if line.startswith("left out at 60 columns:")]
    assert note, lines
    assert "dominant overhead" in "\n".join(lines[lines.index(note[0]):])
    header = "\n".join(lines[:4])
    assert "plan" in header and "tokens/s" in header


def test_a_kept_column_stays_and_wide_terminals_show_everything() -> None:
    narrow = "\n".join(_render(_wide_table(keep_last=True), 60))
    assert "98,304" in narrow  # GPUs kept although memory, to its right, is left out
    wide = "\n".join(_render(_wide_table(), 200))
    assert "left out" not in wide and "ep all to all" in wide


def test_kept_columns_fold_their_text_rather_than_go() -> None:
    t = table()
    t.add_column("case")
    t.add_column("error", justify="right", keep=True)
    t.add_row("megatron_core_h100_readme_2024", "+39.9%")
    lines = _render(t, 24)
    text = "\n".join(lines)
    assert "+39.9%" in text and "left out" not in text
    assert "".join(line.split("\u2502")[1].strip() for line in lines if "\u2502" in line).startswith("megatron_core")
