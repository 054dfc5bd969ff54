"""Tables that fit the terminal without cutting a number or a word.

Rich, left to lay out a table wider than the terminal, shrinks every column and cuts what no
longer fits: "74,094…" for 74,094,663, "llama3…" for two different models, "switch_cab" over
"le". A cut number reads as another number, so :class:`FittedTable` lays itself out at render
time instead:

- a right-justified column (a number, a quantity with its unit) keeps its longest cell whole;
- a text column wraps at its spaces (a word longer than ``FOLD_AT`` folds, nothing is dropped);
- headers wrap at their spaces;
- where that is still too wide, in this order until it fits: the text of the columns that may
  be left out folds down to ``FOLD_FLOOR`` characters (rightmost first); those columns are left
  out, rightmost first (never the first column, nor one added with ``keep=True``), and a line
  under the table names them; the kept columns' text folds.

What is left widens the text columns up to their longest cell, numbers first.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Column, Table
from rich.text import Text

FOLD_AT = 24  # a longer word (a URL, a path) folds rather than widening its column past this
FOLD_FLOOR = 8  # the narrowest a text column folds to before a column is left out


def _plain(cell: Any) -> str | None:
    if isinstance(cell, Text):
        return cell.plain
    if isinstance(cell, str):
        return Text.from_markup(cell).plain
    return None  # another renderable: rich measures it


def _widths(column: Column) -> tuple[int, int, bool, int]:
    """(narrowest with whole words, natural, whole, the header's longest word) content width
    of one column, its header included."""
    lines = [line for cell in column._cells if (p := _plain(cell)) is not None for line in p.split("\n")]
    whole = column.no_wrap or column.justify == "right"
    natural = max((len(s) for s in lines), default=1)
    narrowest = natural if whole else min(max((len(w) for s in lines for w in s.split()), default=1), FOLD_AT)
    header = _plain(column.header) or ""
    head_word = max((len(w) for w in header.split()), default=0)
    return max(narrowest, head_word, 1), max(natural, len(header), 1), whole, head_word


class FittedTable(Table):
    """A :class:`rich.table.Table` that fits its columns to the width it is printed at."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._kept: set[int] = {0}

    def add_column(self, *args: Any, keep: bool = False, **kwargs: Any) -> None:
        """``keep``: never left out (the first column never is)."""
        if keep:
            self._kept.add(len(self.columns))
        super().add_column(*args, **kwargs)

    def _overhead(self, shown: list[int]) -> int:
        pads = 0
        for k in range(len(shown)):
            _, right, _, left = self.padding
            if not self.pad_edge:
                left = 0 if k == 0 else left
                right = 0 if k == len(shown) - 1 else right
            pads += left + right
        borders = ((2 if self.show_edge else 0) + len(shown) - 1) if self.box else 0
        return pads + borders

    def layout(self, max_width: int) -> tuple[list[int], dict[int, int]]:
        """The columns shown and each one's width at ``max_width``."""
        measured = [_widths(c) for c in self.columns]
        width = {i: m[0] for i, m in enumerate(measured)}
        shown = list(range(len(self.columns)))

        def over() -> bool:
            return sum(width[i] for i in shown) + self._overhead(shown) > max_width

        def fold(columns: list[int]) -> None:  # rightmost first, until it fits
            for i in reversed(columns):
                if not over():
                    return
                if not measured[i][2]:
                    width[i] = min(width[i], max(FOLD_FLOOR, measured[i][3]))

        # what gives first: the words of columns that may go, then those columns, then the
        # words of the columns kept
        fold([i for i in shown if i not in self._kept])
        while over() and (droppable := [i for i in shown if i not in self._kept]):
            shown.remove(droppable[-1])
        fold([i for i in shown if i in self._kept])
        spare = max_width - sum(width[i] for i in shown) - self._overhead(shown)
        # what is left goes first to folded words, then to headers on one line (numbers' are
        # short), then to text up to its longest cell
        for target in (lambda i: measured[i][0], lambda i: measured[i][1]):
            grow = sorted((i for i in shown if target(i) > width[i]), key=lambda i: not measured[i][2])
            for k, i in enumerate(grow):
                add = max(0, min(target(i) - width[i], spare // (len(grow) - k)))
                width[i] += add
                spare -= add
        return shown, width

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if not self.columns:
            yield from super().__rich_console__(console, options)
            return
        max_width = self.width if self.width is not None else options.max_width
        shown, width = self.layout(max_width)
        fitted = copy.copy(self)
        # a whole column is as wide as its longest cell, so it may wrap (its header, at spaces)
        fitted.columns = [dataclasses.replace(self.columns[i], width=width[i], _index=k, no_wrap=False,
                                              overflow="fold") for k, i in enumerate(shown)]
        if fitted.min_width is not None:
            fitted.min_width = min(fitted.min_width, max_width)
        yield from Table.__rich_console__(fitted, console, options)
        left = [_plain(self.columns[i].header) or f"column {i + 1}" for i in range(len(self.columns)) if i not in shown]
        if left:
            yield Text(f"left out at {max_width} columns: {', '.join(left)} (a wider terminal or COLUMNS "
                       f"shows {'it' if len(left) == 1 else 'them'}; --json has every field)")
