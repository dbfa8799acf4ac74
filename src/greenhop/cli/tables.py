"""Wide tables that keep every cell whole on a narrow terminal.

A summary with a dozen metric columns does not fit 80 columns; rich would then
cut every cell, policy names included (``forecast-feasibil…``). :func:`print_fitted`
instead splits the metric columns over as many tables as needed, each led by the
name column, so names and numbers always print whole.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape
from rich.table import Table

_BORDER = 1  # the table's left border [characters]
_PER_COLUMN = 3  # padding on both sides plus the border after [characters]


def column_groups(key_width: int, widths: Sequence[int], room: int) -> list[list[int]]:
    """Indices of ``widths`` packed in order into groups that fit ``room`` characters
    next to a key column ``key_width`` wide (a column too wide for any group stands
    alone)."""
    groups: list[list[int]] = []
    used = room  # start a new group at the first column
    base = _BORDER + key_width + _PER_COLUMN
    for i, w in enumerate(widths):
        if groups and used + w + _PER_COLUMN <= room:
            groups[-1].append(i)
            used += w + _PER_COLUMN
        else:
            groups.append([i])
            used = base + w + _PER_COLUMN
    return groups


def print_fitted(console: Console, *, title: str, key: str, columns: Sequence[str],
                 rows: Sequence[tuple[str, Sequence[str]]], title_style: str = "bold") -> None:
    """Print ``rows`` (a name and one cell per column) as one table, or, when it is wider
    than ``console``, as several tables that each repeat the ``key`` column. The title
    is plain text (``[kW]`` stays as written)."""
    key_width = max([cell_len(key), *(cell_len(name) for name, _ in rows)])
    widths = [max([cell_len(label), *(cell_len(cells[i]) for _, cells in rows)])
              for i, label in enumerate(columns)]
    groups = column_groups(key_width, widths, console.width)
    for n, group in enumerate(groups):
        text = title if n == 0 else "continued"  # a long title is not worth repeating
        if len(groups) > 1:
            text += f" ({n + 1}/{len(groups)})"
        table = Table(title=escape(text), title_style=title_style)
        table.add_column(key, no_wrap=True)
        for i in group:
            table.add_column(columns[i], justify="right", no_wrap=True)
        for name, cells in rows:
            table.add_row(name, *(cells[i] for i in group))
        console.print(table)
