"""Manifest writes by the shipping code: no path of the making machine, and nothing another ship wrote is lost."""

from __future__ import annotations

import json
from pathlib import Path

from fundamentalml.cards import machine_paths
from fundamentalml.files import portable, save_json
from fundamentalml.shipping import _record_entry


def test_a_recorded_entry_is_portable_and_keeps_what_is_on_disk(tmp_path: Path) -> None:
    save_json({"format": 1, "models": {"a": {"file": "a.pt", "sha256": "0" * 64, "metrics": {}}}}, tmp_path / "manifest.json")
    entry = {"file": "b.pt", "sha256": "1" * 64, "metrics": {},
             "command": "python -m fundamentalml train b --profile full --out /home/someone/runs-quiet",
             "data": "mnist test split (/home/someone/shared/data/MNIST/raw)"}
    written = _record_entry(tmp_path, "b", entry)
    on_disk = json.loads((tmp_path / "manifest.json").read_text())
    assert on_disk == written
    assert set(on_disk["models"]) == {"a", "b"}  # a ship of "a" since "b" started is kept
    assert on_disk["models"]["b"]["command"].endswith("--out runs/quiet")
    assert "$FUNDAMENTALML_DATA/MNIST" in on_disk["models"]["b"]["data"]
    assert machine_paths(on_disk) == []
    assert machine_paths({"models": {"b": entry}}) != []  # the check itself can fail


def test_portable_leaves_other_values_alone() -> None:
    value = {"n": 3, "x": [1.5, None, "relative/path"], "s": "--out runs/cpu"}
    assert portable(value) == value
