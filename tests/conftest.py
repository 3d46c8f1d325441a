"""Shared test set-up: never touch the network or the user's cache; find the course data if it is there."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--all", action="store_true", default=False, dest="run_all",
                     help="also run the slow, book and browser tests (what CI runs); plain `pytest` runs the fast suite")


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("run_all"):
        config.option.markexpr = ""  # pyproject's addopts leave the slow and book tests out; --all puts them back
    os.environ["FUNDAMENTALML_OFFLINE"] = "1"  # tests must never wait on a download
    if not os.environ.get("FUNDAMENTALML_DATA") and SHARED_DATA.is_dir():
        os.environ["FUNDAMENTALML_DATA"] = str(SHARED_DATA)
    os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep checkpoints and downloads of every test out of the user's cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "xdg-cache"))
    monkeypatch.delenv("FUNDAMENTALML_CHECKPOINTS", raising=False)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The folder with the real MNIST; tests that need it are skipped when it is absent."""
    path = Path(os.environ.get("FUNDAMENTALML_DATA", SHARED_DATA))
    if not (path / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file():
        pytest.skip(f"the real MNIST is not in {path}; set FUNDAMENTALML_DATA")
    return path


@pytest.fixture
def empty_data_dir(tmp_path: Path) -> Path:
    """A data folder with nothing in it: loaders must fall back (MNIST) or explain (CIFAR-10)."""
    folder = tmp_path / "empty-data"
    folder.mkdir()
    return folder
