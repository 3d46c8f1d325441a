"""The book's chapter fingerprints (book/_ext/fml_book.py): they follow what chapters execute and nothing else,
and computing them reads files only (no torch; of the package only its torch-free ``identity`` module), so a
cached rebuild stays quick.

No book build here: the functions are called directly (the build itself is tested in test_book.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXT = REPO / "book" / "_ext"
sys.path.insert(0, str(EXT))
import fml_book  # noqa: E402

from fundamentalml import identity  # noqa: E402


# --------------------------------------------------------------------------------------------- package source

CORE = '''\
"""Core module: its docstring."""

import math

from .models import vae


def area(r):
    """Area of a circle."""
    # pi r squared
    return math.pi * r * r


class Shape:
    """A shape."""

    sides = 0
'''


@pytest.fixture
def pkg(tmp_path: Path) -> Path:
    """A small package laid out like fundamentalml: modules chapters run, plus the CLI."""
    root = tmp_path / "fundamentalml"
    (root / "models").mkdir(parents=True)
    files = {
        "__init__.py": '"""The package."""\n',
        "__main__.py": "from .cli import main\n\nmain()\n",
        "cli.py": "from . import shipping\n\n\ndef main():\n    return shipping.ship()\n",
        "shipping.py": "from .core import area\n\n\ndef ship():\n    return area(0)\n",
        "core.py": CORE,
        "models/__init__.py": "from .vae import VAE\n",
        "models/vae.py": "class VAE:\n    latent = 2\n",
    }
    for rel, text in files.items():
        (root / rel).write_text(text)
    return root


# What the chapters of the small package import (the modules they name are always hashed).
CHAPTERS = ["from fundamentalml.core import area\nfrom fundamentalml.models import VAE\n"]


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_a_function_body_changes_the_fingerprint(pkg: Path) -> None:
    before = fml_book.package_hash(pkg)
    edit(pkg / "core.py", "return math.pi * r * r", "return math.pi * r ** 2")
    assert fml_book.package_hash(pkg) != before
    before = fml_book.package_hash(pkg)
    edit(pkg / "models" / "vae.py", "latent = 2", "latent = 3")
    assert fml_book.package_hash(pkg) != before


def test_docstrings_comments_and_blank_lines_do_not(pkg: Path) -> None:
    before = fml_book.package_hash(pkg)
    edit(pkg / "core.py", '"""Area of a circle."""', '"""Area of a circle of radius ``r``.\n\n    More words.\n    """')
    edit(pkg / "core.py", "# pi r squared", "# the classic formula\n    # on two lines")
    edit(pkg / "core.py", '"""Core module: its docstring."""', '"""Core module, reworded."""  # and a comment')
    edit(pkg / "core.py", '    """A shape."""\n', '    """A shape (any)."""\n\n')
    edit(pkg / "__init__.py", '"""The package."""', '"""The package, described at length."""\n\n# a comment\n')
    assert fml_book.package_hash(pkg) == before
    # A string that is not a docstring is code.
    edit(pkg / "core.py", "    sides = 0", '    sides = 0\n    name = "shape"')
    assert fml_book.package_hash(pkg) != before


def test_removing_a_docstring_only_function_body_is_still_code(pkg: Path) -> None:
    # Stripping docstrings must not make two different functions look alike.
    (pkg / "extra.py").write_text('def f():\n    """Doc."""\n')
    one = fml_book.package_hash(pkg)
    (pkg / "extra.py").write_text('def f():\n    """Doc."""\n    return None\n')
    assert fml_book.package_hash(pkg) != one


def test_modules_chapters_never_run_are_left_out(pkg: Path) -> None:
    before = fml_book.package_hash(pkg, CHAPTERS)
    edit(pkg / "cli.py", "return shipping.ship()", "return shipping.ship() + 1")
    edit(pkg / "__main__.py", "main()", "raise SystemExit(main())")
    edit(pkg / "shipping.py", "area(0)", "area(3)")  # only the command line imports it
    assert fml_book.package_hash(pkg, CHAPTERS) == before
    assert set(fml_book.package_parts(pkg, CHAPTERS)) == {"__init__.py", "core.py", "models/__init__.py", "models/vae.py"}
    # without the chapters' text only the entry points are left out: any other module may be imported
    assert set(fml_book.package_parts(pkg)) == {"__init__.py", "core.py", "shipping.py", "models/__init__.py", "models/vae.py"}
    # a module nothing imports may still be what a chapter imports: it stays
    (pkg / "widgets.py").write_text("def show():\n    return 1\n")
    assert "widgets.py" in fml_book.package_parts(pkg, CHAPTERS)
    # a package's __init__ runs with any of its modules, whoever imports it
    (pkg / "tools").mkdir()
    (pkg / "tools" / "__init__.py").write_text("X = 1\n")
    (pkg / "tools" / "deep.py").write_text("Y = 2\n")
    edit(pkg / "cli.py", "from . import shipping\n", "from . import shipping\nfrom .tools import deep\n")
    kept = set(fml_book.package_parts(pkg, CHAPTERS))
    assert "tools/__init__.py" in kept and "tools/deep.py" not in kept


def test_a_left_out_module_comes_back_when_a_chapter_or_a_hashed_module_uses_it(pkg: Path) -> None:
    def kept(*texts: str) -> set[str]:
        return set(fml_book.package_parts(pkg, CHAPTERS + list(texts)))

    # named by a chapter
    assert "cli.py" in kept("from fundamentalml.cli import main\nmain()")
    assert "cli.py" in kept("from fundamentalml import cli, core")
    assert {"cli.py", "__main__.py", "shipping.py"} <= kept("!python -m fundamentalml train vae-mlp")
    assert "cli.py" in kept("!fundamentalml train vae-mlp")
    assert "shipping.py" in kept("from fundamentalml.shipping import ship")
    # imported by a module that is hashed (absolute, relative, inside a function), with what it imports
    (pkg / "models" / "vae.py").write_text("from fundamentalml.shipping import ship\n")
    assert "shipping.py" in kept() and "cli.py" not in kept()
    (pkg / "models" / "vae.py").write_text("from ..shipping import ship\n")
    assert "shipping.py" in kept() and "cli.py" not in kept()
    (pkg / "models" / "vae.py").write_text("class VAE:\n    latent = 2\n")
    edit(pkg / "core.py", "import math\n", "import math\n\n\ndef helper():\n    from . import cli\n    return cli\n")
    assert {"cli.py", "shipping.py"} <= kept()


def test_weights_are_hashed_by_content_and_may_be_absent(pkg: Path) -> None:
    assert not (pkg / "weights").exists()
    none = fml_book.package_hash(pkg)
    weights = pkg / "weights"
    weights.mkdir()
    assert fml_book.package_hash(pkg) == none  # an empty folder is no file
    (weights / "manifest.json").write_text(json.dumps({"vae-mlp": {"file": "vae-mlp.pt"}}))
    with_manifest = fml_book.package_hash(pkg)
    assert with_manifest != none
    (weights / "vae-mlp.pt").write_bytes(b"\x80\x02weights-v1")
    v1 = fml_book.package_hash(pkg)
    assert v1 != with_manifest
    (weights / "vae-mlp.pt").write_bytes(b"\x80\x02weights-v2")
    v2 = fml_book.package_hash(pkg)
    assert v2 != v1
    os.utime(weights / "vae-mlp.pt", (1, 1))  # content, not mtime
    assert fml_book.package_hash(pkg) == v2
    # a .py in weights/ is data too: its docstring counts
    (weights / "notes.py").write_text('"""v1"""\n')
    v3 = fml_book.package_hash(pkg)
    (weights / "notes.py").write_text('"""v2"""\n')
    assert fml_book.package_hash(pkg) != v3
    shutil.rmtree(weights)
    assert fml_book.package_hash(pkg) == none


def test_bytecode_caches_are_ignored(pkg: Path) -> None:
    before = fml_book.package_hash(pkg)
    (pkg / "__pycache__").mkdir()
    (pkg / "__pycache__" / "core.cpython-311.pyc").write_bytes(b"bytecode")
    (pkg / "models" / "stale.pyc").write_bytes(b"bytecode")
    assert fml_book.package_hash(pkg) == before


def test_the_real_package_parses_and_leaves_out_cli_and_main() -> None:
    folder = REPO / "fundamentalml"
    chapters = [md.read_text() for md in fml_book.chapter_files(REPO)]
    parts = fml_book.package_parts(folder, chapters)
    assert "cli.py" not in parts and "__main__.py" not in parts
    assert {"data.py", "training.py", "models/vae.py"} <= set(parts)
    assert not any(data.startswith(b"unparsed\0") for data in parts.values())


# --------------------------------------------------------------------------------------------- data identity


def _mnist(root: Path, folder: str = "MNIST", names: tuple[str, ...] | None = None) -> None:
    raw = root / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name in names or [f for pair in identity.MNIST_FILES.values() for f in pair]:
        (raw / name).write_bytes(b"idx" + name.encode())


def test_data_identity_follows_the_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("FUNDAMENTALML_DATA", str(data))
    monkeypatch.setenv("FUNDAMENTALML_OFFLINE", "1")
    assert identity.dataset_identity("mnist") == "absent (offline: fallback)"
    monkeypatch.delenv("FUNDAMENTALML_OFFLINE")
    assert identity.dataset_identity("mnist") == "absent (download, else fallback)"

    _mnist(data, names=("train-images-idx3-ubyte",))
    assert identity.dataset_identity("mnist").startswith("incomplete")
    _mnist(data)
    full = identity.dataset_identity("mnist")
    assert full.startswith("train: files ") and "test: files " in full
    assert identity.dataset_identity("mnist") == full
    os.utime(data / "MNIST" / "raw" / "t10k-images-idx3-ubyte", (1, 1))
    touched = identity.dataset_identity("mnist")
    assert touched != full and touched.split(";")[0] == full.split(";")[0]  # only the test split moved
    # .gz downloads beside the files are not read by the loader
    (data / "MNIST" / "raw" / "train-images-idx3-ubyte.gz").write_bytes(b"gz")
    assert identity.dataset_identity("mnist") == touched
    assert identity.dataset_identity("fashion-mnist").startswith("absent")

    # CIFAR-10: the npz copy first, then torchvision's batches, else the DCGAN's digits
    cifar = identity.dataset_identity("cifar10")
    assert cifar.startswith("train: absent") and "; digits files " in cifar
    batches = data / "cifar-10-batches-py"
    batches.mkdir()
    for name in ["test_batch"] + [f"data_batch_{i}" for i in range(1, 6)]:
        (batches / name).write_bytes(name.encode())
    assert identity.dataset_identity("cifar10").startswith("train: batches ")
    (data / "cifar10").mkdir()
    (data / "cifar10" / "train.npz").write_bytes(b"npz")
    mixed = identity.dataset_identity("cifar10")
    assert mixed.startswith("train: npz ") and "test: batches " in mixed
    with pytest.raises(ValueError):
        identity.dataset_identity("imagenet")


def test_data_folder_is_found_like_the_package_finds_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUNDAMENTALML_DATA", str(tmp_path / "d"))
    assert identity.data_root() == tmp_path / "d"
    monkeypatch.delenv("FUNDAMENTALML_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert identity.data_root() == tmp_path / "xdg" / "fundamentalml"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert identity.data_root() == Path.home() / ".cache" / "fundamentalml"


# --------------------------------------------------------------------------------------------- profile


def test_profile_is_the_one_the_chapters_show(monkeypatch: pytest.MonkeyPatch) -> None:
    """The build keys its cache on the profile the chapters' own ``book_profile()`` returns: one function."""
    from fundamentalml import runs

    assert runs.book_profile is identity.book_profile
    monkeypatch.setenv("FUNDAMENTALML_PROFILE", "smoke")
    assert identity.book_profile() == "smoke"
    monkeypatch.setenv("FUNDAMENTALML_PROFILE", "turbo")
    with pytest.raises(ValueError, match="turbo"):
        identity.book_profile()
    monkeypatch.delenv("FUNDAMENTALML_PROFILE")
    assert identity.book_profile() == "shipped"
    assert {fp["profile"] for fp in fml_book.chapter_fingerprints(fml_book.chapter_files(REPO), REPO).values()} == {"shipped"}


def test_fingerprints_change_with_profile_and_data_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chapters = fml_book.chapter_files(REPO)
    monkeypatch.setenv("FUNDAMENTALML_DATA", str(tmp_path / "nothing"))
    monkeypatch.setenv("FUNDAMENTALML_PROFILE", "smoke")
    smoke = fml_book.chapter_fingerprints(chapters, REPO)
    assert fml_book.chapter_fingerprints(chapters, REPO) == smoke
    monkeypatch.setenv("FUNDAMENTALML_PROFILE", "cpu")
    cpu = fml_book.chapter_fingerprints(chapters, REPO)
    assert all(cpu[k]["fingerprint"] != smoke[k]["fingerprint"] for k in smoke)
    _mnist(tmp_path / "nothing")
    with_data = fml_book.chapter_fingerprints(chapters, REPO)
    assert all(with_data[k]["fingerprint"] != cpu[k]["fingerprint"] for k in cpu)


# --------------------------------------------------------------------------------------------- cache side file


def test_the_cache_key_follows_package_profile_and_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chapters = fml_book.chapter_files(REPO)
    monkeypatch.setenv("FUNDAMENTALML_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("FUNDAMENTALML_PROFILE", "smoke")
    smoke = fml_book.cache_key(fml_book.chapter_fingerprints(chapters, REPO))
    assert fml_book.CACHE_KEY_RE.fullmatch(smoke)
    assert fml_book.cache_key(fml_book.chapter_fingerprints(chapters, REPO)) == smoke
    monkeypatch.setenv("FUNDAMENTALML_PROFILE", "cpu")
    cpu = fml_book.cache_key(fml_book.chapter_fingerprints(chapters, REPO))
    _mnist(tmp_path / "data")
    assert len({smoke, cpu, fml_book.cache_key(fml_book.chapter_fingerprints(chapters, REPO))}) == 3


def test_a_build_that_downloaded_its_data_keeps_its_outputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Chapters that downloaded their data while executing must not execute again on the next build."""
    chapters = fml_book.chapter_files(REPO)
    data, base = tmp_path / "data", tmp_path / "cache"
    monkeypatch.setenv("FUNDAMENTALML_DATA", str(data))
    monkeypatch.setenv("FUNDAMENTALML_PROFILE", "smoke")
    before = fml_book.chapter_fingerprints(chapters, REPO)
    key = fml_book.cache_key(before)
    folder, reset = fml_book.prepare_cache(base, key, print)
    assert folder == base / key and not reset
    folder.mkdir(parents=True)
    (folder / "executed").mkdir()  # stands for the outputs the build wrote
    _mnist(data)  # what a download during execution leaves behind
    new_key = fml_book.cache_key(before)  # the build's end: the same chapters, the data now there
    assert new_key != key and fml_book.rekey_cache(base, key, new_key)
    assert fml_book.cache_key(fml_book.chapter_fingerprints(chapters, REPO)) == new_key  # what the next build uses
    assert (base / new_key / "executed").is_dir() and not (base / key).exists()
    assert not fml_book.rekey_cache(base, new_key, new_key)


def test_the_cache_key_does_not_depend_on_the_chapters_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUNDAMENTALML_PROFILE", "smoke")
    chapters = fml_book.chapter_files(REPO)
    assert len(chapters) > 1
    one = fml_book.chapter_fingerprints(chapters[:1], REPO)
    assert fml_book.cache_key(one) == fml_book.cache_key(fml_book.chapter_fingerprints(chapters, REPO))


def test_the_cache_keeps_only_the_current_keys_folder(tmp_path: Path) -> None:
    base, key = tmp_path / "cache", "fedcba9876543210"
    for old in ("0123456789abcdef", "executed", key):
        (base / old).mkdir(parents=True)
    (base / "global.db").write_bytes(b"the cache before keyed folders")
    (base / "notes.txt").write_text("not the cache's")
    folder, reset = fml_book.prepare_cache(base, key, print)
    assert (folder, reset) == (base / key, False)
    assert sorted(p.name for p in base.iterdir()) == sorted([key, "notes.txt"])
    (folder / "global.db").write_bytes(b"garbage")
    messages: list[str] = []
    assert fml_book.prepare_cache(base, key, messages.append) == (folder, True)
    assert not folder.exists() and "cannot be trusted" in messages[0]


# --------------------------------------------------------------------------------------------- no heavy imports


def test_the_build_hooks_import_neither_torch_nor_the_package(tmp_path: Path) -> None:
    """What the extension runs before a build (fingerprints, cache check, launch table) in a fresh interpreter.

    Of the package only its torch-free modules load: ``identity`` (paths, names, identities) and ``tables`` (the one
    table formatter, which lays out the launch table).
    """
    script = textwrap.dedent(
        f"""
        import json, sys, time
        sys.path.insert(0, {str(EXT)!r})
        from pathlib import Path
        started = time.perf_counter()
        import fml_book
        root = Path({str(REPO)!r})
        fps = fml_book.chapter_fingerprints(fml_book.chapter_files(root), root)
        fml_book.prepare_cache(Path({str(tmp_path / 'cache')!r}), fml_book.cache_key(fps), print)
        fml_book.launch_table(root, "https://github.com/o/n", "main")
        print(json.dumps({{
            "seconds": time.perf_counter() - started,
            "heavy": sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "fundamentalml", "torchvision", "pytorch_lightning", "numpy")
                            and m not in ("fundamentalml", "fundamentalml.identity", "fundamentalml.tables")),
            "chapters": len(fps),
        }}))
        """
    )
    for profile in ("smoke", None):  # None: the shipped weights
        env = {k: v for k, v in os.environ.items() if k != "FUNDAMENTALML_PROFILE"}
        if profile:
            env["FUNDAMENTALML_PROFILE"] = profile
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode == 0, proc.stderr
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        assert result["heavy"] == [], result
        assert result["chapters"] >= 1
        assert result["seconds"] < 5, result  # reading and hashing files: well under a second on 2 cores
