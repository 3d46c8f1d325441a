"""The one table formatter (fundamentalml.tables) and the tables laid out with it."""

from __future__ import annotations

import numpy as np
import pytest

from fundamentalml import reports, tables


def test_markdown_table_lays_out_header_rule_and_rows():
    text = tables.markdown_table(["metric", "A", "B"], [["loss", 1.5, "-"], ["n", 3, 4]], "lrr")
    assert text.splitlines() == ["| metric | A | B |", "|---|---:|---:|", "| loss | 1.5 | - |", "| n | 3 | 4 |"]
    assert tables.markdown_table(["a", "b"], []).splitlines() == ["| a | b |", "|---|---|"]  # default: all left


def test_a_cell_cannot_break_the_table():
    text = tables.markdown_table(["x"], [["a | b"], ["two\nlines"]])
    assert text.splitlines()[2:] == ["| a \\| b |", "| two lines |"]


@pytest.mark.parametrize("header, rows, align, match", [
    ([], [], None, "at least one column"),
    (["a", "b"], [[1]], None, "row 0 has 1 cells for 2 columns"),
    (["a", "b"], [], "l", "for each of the 2 columns"),
    (["a"], [], "c", "for each of the 1 columns"),
])
def test_markdown_table_refuses_what_would_not_be_a_table(header, rows, align, match):
    with pytest.raises(ValueError, match=match):
        tables.markdown_table(header, rows, align)


def test_text_table_pads_each_column_to_its_width():
    text = tables.text_table(["model", "img/s"], [["vae", "1,234"], ["a-longer-name", "5"]], (8, 7))
    assert text.splitlines() == ["model     img/s", "-" * 15, "vae       1,234", "a-longer-name      5"]
    assert tables.text_row(["a", "b", "c"], (3, 3, 3), "rlr") == "  ab    c"
    with pytest.raises(ValueError, match="2 cells for 3 columns"):
        tables.text_row(["a", "b"], (3, 3, 3))


def test_the_reports_tables_go_through_it():
    per_class = {"cVAE": {"accuracy": np.linspace(0, 1, 10)}, "cGAN": {"accuracy": np.ones(10)}}
    comparison = reports.ConditionalComparison({}, per_class, {}, {}, np.ones(10), 0.99)
    lines = comparison.per_class_table("accuracy").splitlines()
    assert lines[:3] == ["| digit | cVAE | cGAN |", "|---|---:|---:|", "| 0 | 0.000 | 1.000 |"] and len(lines) == 12
    lines = reports.table({"A": {"neg_elbo": 100.0}, "B": {"neg_elbo": 99.5}}).splitlines()
    assert lines == ["| metric | A | B |", "|---|---:|---:|", "| test -ELBO (nats/image, grey-level BCE) | 100.00 | 99.50 |"]
