"""fundamentalml.identity: the one torch-free home of the environment names, the package's paths, and the code
and data identities that the run path, the shipping code and the book's build extensions share."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fundamentalml import identity

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "fundamentalml"
EXT = REPO / "book" / "_ext"


def test_importing_it_imports_no_torch_and_no_other_module_of_the_package() -> None:
    script = ("import json, sys; import fundamentalml.identity; "
              "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'fundamentalml', 'numpy'))))")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == ["fundamentalml", "fundamentalml.identity"]


def _environment_names(path: Path) -> list[tuple[int, str]]:
    """String constants (docstrings aside) that are a FUNDAMENTALML_* variable's name, with their lines."""
    tree = ast.parse(path.read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
            and node.value.startswith("FUNDAMENTALML_")]


def test_environment_variables_are_named_only_in_the_identity_module() -> None:
    sources = sorted(PACKAGE.rglob("*.py")) + sorted(EXT.glob("*.py"))
    found = {f"{p.relative_to(REPO)}:{line}": name for p in sources if p != PACKAGE / "identity.py"
             for line, name in _environment_names(p)}
    assert found == {}, f"name these through fundamentalml.identity: {found}"
    # the scan does see them where they are defined
    names = dict(_environment_names(PACKAGE / "identity.py"))
    assert {"FUNDAMENTALML_DATA", "FUNDAMENTALML_OFFLINE", "FUNDAMENTALML_PROFILE"} <= set(names.values())


def test_the_extensions_and_the_package_share_one_identity() -> None:
    sys.path.insert(0, str(EXT))
    try:
        import fml_book
        import fml_live
    finally:
        sys.path.remove(str(EXT))
    from fundamentalml import data, files, profiles, runs, shipping

    assert fml_book.identity is identity and fml_live.identity is identity
    assert runs.book_profile is identity.book_profile
    assert files.sha256_file is identity.sha256_file and files.user_cache_dir is identity.user_cache_dir
    assert data.cifar10_candidates is identity.cifar10_candidates and data.MNIST_FILES is identity.MNIST_FILES
    assert profiles.PROFILES is identity.PROFILES
    assert shipping.WEIGHTS_DIR == runs.WEIGHTS_DIR == identity.WEIGHTS_DIR == PACKAGE / "weights"


def test_paths_follow_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FUNDAMENTALML_DATA", raising=False)
    monkeypatch.delenv("FUNDAMENTALML_CHECKPOINTS", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert identity.data_root() == identity.user_cache_dir() == tmp_path / "xdg" / "fundamentalml"
    assert identity.checkpoint_dir() == tmp_path / "xdg" / "fundamentalml" / "checkpoints"
    monkeypatch.setenv("FUNDAMENTALML_CHECKPOINTS", str(tmp_path / "ck"))
    monkeypatch.setenv("FUNDAMENTALML_DATA", str(tmp_path / "d"))
    assert identity.checkpoint_dir() == tmp_path / "ck"
    assert identity.data_root() == tmp_path / "d" and identity.data_root(tmp_path / "x") == tmp_path / "x"
    from fundamentalml.data import resolve_data_dir

    assert resolve_data_dir() == identity.data_root()


# --------------------------------------------------------------------------------------------- code identity


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    """The package's Python sources, copied (the weights left out: they are no code)."""
    return Path(shutil.copytree(PACKAGE, tmp_path / "fundamentalml",
                                ignore=shutil.ignore_patterns("weights", "__pycache__", "*.pyc")))


def _metrics_module(root: Path) -> Path:
    """The file that defines the metrics' Fréchet distance (metrics.py, or a module of a metrics package)."""
    candidates = [root / "metrics.py", *sorted((root / "metrics").glob("*.py"))]
    return next(p for p in candidates if p.is_file() and "def frechet_distance(" in p.read_text())


def test_run_fingerprint_covers_metrics_models_training_and_data_but_not_the_cli() -> None:
    modules = identity.run_code_modules()
    for needed in ("runs.py", "training.py", "data.py", "registry.py", "profiles.py", "checkpoints.py",
                   "models/vae.py", "models/dcgan.py", "identity.py",
                   _metrics_module(PACKAGE).relative_to(PACKAGE).as_posix()):
        assert needed in modules, needed
    for not_needed in ("cli.py", "__main__.py", "shipping.py", "plots.py", "widgets.py", "reports.py"):
        assert not_needed not in modules, not_needed


def test_run_fingerprint_changes_with_a_metric_and_not_with_prose(package_copy: Path) -> None:
    before = identity.code_fingerprint(folder=package_copy)
    assert identity.code_fingerprint(folder=package_copy) == before
    metrics = _metrics_module(package_copy)
    text = metrics.read_text()
    assert text.startswith('"""')
    metrics.write_text('"""(An edited docstring.) ' + text[3:] + "\n# a comment\n")
    assert identity.code_fingerprint(folder=package_copy) == before
    metrics.write_text(text.replace("def frechet_distance(", "def _probe():\n    return 1\n\n\ndef frechet_distance(", 1))
    changed = identity.code_fingerprint(folder=package_copy)
    assert changed != before
    cli = package_copy / "cli.py"
    cli.write_text(cli.read_text() + "\n\ndef _not_a_run():\n    return 2\n")
    assert identity.code_fingerprint(folder=package_copy) == changed


def test_a_run_key_follows_the_code_fingerprint(monkeypatch: pytest.MonkeyPatch) -> None:
    from fundamentalml import runs

    args = ("vae-mlp", "smoke", {"epochs": 1}, 0, "data", "mnist", {})
    key = runs.run_key(*args)
    assert runs.run_key(*args) == key
    monkeypatch.setattr(runs, "code_fingerprint", lambda: "another code")
    assert runs.run_key(*args) != key


# --------------------------------------------------------------------------------------------- data identity


def _real_data() -> Path:
    root = os.environ.get("FUNDAMENTALML_DATA", "")
    if not root or not (Path(root) / "MNIST" / "raw").is_dir():
        pytest.skip("needs the datasets: set FUNDAMENTALML_DATA")
    return Path(root)


def test_the_book_sees_exactly_the_files_the_loaders_read() -> None:
    """The book's data identity (no loading) names, per split, the very files the package's loaders read."""
    root = _real_data()
    from fundamentalml.data import load_cifar10, load_mnist

    seen = identity.dataset_identity("mnist", root)
    for split in ("train", "test"):
        read = load_mnist(split, root, download=False)
        assert not read.is_fallback
        assert f"{split}: files {identity.files_id(read.files)}" in seen
    if (root / "cifar10" / "test.npz").is_file():
        read = load_cifar10("test", root, download=False)
        assert f"test: npz {identity.files_id(read.files)}" in identity.dataset_identity("cifar10", root)


def test_shipping_records_the_data_by_name_size_and_sha256(tmp_path: Path) -> None:
    from fundamentalml.shipping import data_identity

    a, b = tmp_path / "train.bin", tmp_path / "test.bin"
    a.write_bytes(b"train bytes")
    b.write_bytes(b"test")

    class _Set:
        name, source, files = "mnist", "files", [b]

    recorded = data_identity(_Set(), [a, a])
    assert recorded["files"] == identity.file_records([a, b]) == {
        "test.bin": {"bytes": 4, "sha256": identity.sha256_file(b)},
        "train.bin": {"bytes": 11, "sha256": identity.sha256_file(a)},
    }
