"""The one table formatter: every Markdown table a page, the command line or a model card prints is laid out by
:func:`markdown_table`, so they all read alike (:func:`fundamentalml.reports.table` adds the metrics' labels and
number formats on top of it); the benchmark's terminal tables, fixed-width text, by :func:`text_table`.
No torch here: the command line and the book's build list their tables without importing it.
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


def text_row(cells: Sequence[Any], widths: Sequence[int], align: str | None = None) -> str:
    """One line of a fixed-width text table (what a terminal prints): each cell as text, padded to its column's
    width, left (``"l"``) or right (``"r"``) aligned; by default the first column left and the rest right."""
    if len(cells) != len(widths):
        raise ValueError(f"{len(cells)} cells for {len(widths)} columns: {list(cells)!r}.")
    align = align or "l" + "r" * (len(widths) - 1)
    if len(align) != len(widths) or set(align) - set(RULES):
        raise ValueError(f"align must give 'l' or 'r' for each of the {len(widths)} columns, got {align!r}.")
    return "".join(str(c).ljust(w) if a == "l" else str(c).rjust(w) for c, w, a in zip(cells, widths, align))


def text_table(header: Sequence[Any], rows: Iterable[Sequence[Any]], widths: Sequence[int], align: str | None = None) -> str:
    """A fixed-width text table: the header, a rule of dashes as long as it, and one :func:`text_row` per row."""
    head = text_row(header, widths, align)
    return "\n".join([head, "-" * len(head), *(text_row(row, widths, align) for row in rows)])
