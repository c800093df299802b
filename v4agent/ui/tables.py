"""Tables of figures and ids that stay readable in a narrow terminal.

rich narrows the columns that may wrap and, when that is not enough, cuts every column evenly, ending cells in
an ellipsis, or crops a column that may not wrap without one. A cut dollar figure or session id is worse than
a taller table, so here figures, then ids and names, stay on one line while the table still fits, and any cell
that cannot fit folds onto the next line.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich import box
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.table import Column, Table

__all__ = ["report_table"]

_GAP = 2  # between two columns: the box's divider (a space) and the cell's left padding
_NARROWEST = 4  # what a wrapping text column needs to stay legible


class _ReportTable(Table):
    """Figures, then ``whole`` columns, stay on one line as far as the width allows; the rest fold."""

    def __init__(self, title: str | None, numeric: frozenset[str], whole: frozenset[str]) -> None:
        # A rule under the header, no edges; a column is one divider and one space from the next.
        super().__init__(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False,
                         padding=(0, 0, 0, 1), pad_edge=False)
        self._numeric = numeric
        self._whole = whole

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        # rich crops a no_wrap column that does not fit, silently, so a column is kept on one line only
        # when it fits with every other column at its narrowest.
        widths = {str(c.header): _natural_width(console, options, c) for c in self.columns}
        figures_fit = self._fits(widths, self._numeric, options.max_width)
        names_fit = figures_fit and self._fits(widths, self._numeric | self._whole, options.max_width)
        for column in self.columns:
            if column.header in self._numeric:
                column.no_wrap = figures_fit
            elif column.header in self._whole:
                column.no_wrap = names_fit
        yield from super().__rich_console__(console, options)

    def _fits(self, widths: dict[str, int], kept: frozenset[str], max_width: int) -> bool:
        needed = sum(width if name in kept else min(width, _NARROWEST) for name, width in widths.items())
        return needed + _GAP * (len(widths) - 1) <= max_width


def _natural_width(console: Console, options: ConsoleOptions, column: Column) -> int:
    cells = [column.header, *column.cells]
    return max(Measurement.get(console, options, cell).maximum for cell in cells)


def report_table(title: str | None, columns: Iterable[str], *, numeric: Iterable[str] = (),
                 whole: Iterable[str] = ()) -> Table:
    """A light-ruled table. ``numeric`` columns are right-aligned; they stay on one line, and after them the
    ``whole`` ones (ids, URLs, model names), as far as the width allows; the other text columns wrap first."""
    right = frozenset(numeric)
    table = _ReportTable(title, right, frozenset(whole))
    for name in columns:
        table.add_column(name, justify="right" if name in right else "left", overflow="fold")
    return table
