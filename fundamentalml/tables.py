"""The one Markdown table formatter: every table a page, the command line or a model card prints is laid out by
:func:`markdown_table`, so they all read alike. (:func:`fundamentalml.reports.table` adds the metrics' labels and
number formats on top of it.) No torch here: the command line lists its tables without importing it.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

RULES = {"l": "---", "r": "---:"}


def cell(value: Any) -> str:
    """``value`` as the text of one cell: ``str(value)`` with ``|`` escaped (it would end the cell) and line
    breaks turned into spaces (they would end the row)."""
    return " ".join(str(value).replace("|", "\\|").splitlines())


def markdown_table(header: Sequence[Any], rows: Iterable[Sequence[Any]], align: str | None = None) -> str:
    """A Markdown table: a header line, the rule, and one line per row.

    Args:
        header: the column headers.
        rows: the rows, each with one value per column (turned into text by :func:`cell`).
        align: one letter per column, ``"l"`` (left) or ``"r"`` (right, for numbers); default all left.

    Raises:
        ValueError: no columns, a row of another width than the header, or an ``align`` that does not fit.
    """
    header = [cell(h) for h in header]
    if not header:
        raise ValueError("a table needs at least one column.")
    align = align or "l" * len(header)
    if len(align) != len(header) or set(align) - set(RULES):
        raise ValueError(f"align must give 'l' or 'r' for each of the {len(header)} columns, got {align!r}.")
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(RULES[a] for a in align) + "|"]
    for i, row in enumerate(rows):
        row = list(row)
        if len(row) != len(header):
            raise ValueError(f"row {i} has {len(row)} cells for {len(header)} columns: {row!r}.")
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines)
