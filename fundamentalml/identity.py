"""Names, places and identities: the environment variables, the package's folders, and the hashes that say
whether the code or the data behind a result has changed.

One module for the run path (:mod:`fundamentalml.runs`), the shipping code (:mod:`fundamentalml.shipping`), the
data loaders (:mod:`fundamentalml.data`) and the book's build extensions (``book/_ext/fml_book.py``,
``book/_ext/fml_live.py``), so that all of them answer "has it changed?" the same way.

It imports only the standard library: neither torch nor any other module of the package (the package's
``__init__`` is lazy), so the book's build process can use it and stay quick (a test checks this).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import os
from pathlib import Path
from typing import Iterable

# ------------------------------------------------------------------------------------------ environment variables
# Every FUNDAMENTALML_* variable is named here, and only here (a test reads the syntax trees to make sure).

DATA_ENV = "FUNDAMENTALML_DATA"  # the folder holding the datasets
OFFLINE_ENV = "FUNDAMENTALML_OFFLINE"  # "1": never try a download
PROFILE_ENV = "FUNDAMENTALML_PROFILE"  # the profile runs use when none is given (the book: what chapters show)
WEIGHTS_ENV = "FUNDAMENTALML_WEIGHTS"  # another folder of shipped-format weights (a teacher's own set)
CHECKPOINTS_ENV = "FUNDAMENTALML_CHECKPOINTS"  # where runs without --out are kept
DEBUG_ENV = "FUNDAMENTALML_DEBUG"  # "1": the command line shows tracebacks
HINT_LEVEL_ENV = "FUNDAMENTALML_HINT_LEVEL"  # the graders' default --hint-level
SCORE_HISTORY_ENV = "FUNDAMENTALML_SCORE_HISTORY"  # "0": graded runs are not added to the learner's history
GRADER_NO_ALARM_ENV = "FUNDAMENTALML_GRADER_NO_ALARM"  # "1": the graders' tests pretend SIGALRM is missing
LAUNCH_REF_ENV = "FUNDAMENTALML_LAUNCH_REF"  # the commit the book's launch links open (set by the Pages workflow)
CACHE_ENV = "XDG_CACHE_HOME"  # not ours, but where the per-user cache lives

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})


def env_flag(name: str) -> bool:
    """``True`` when the environment variable ``name`` is set to 1, true, yes or on (any case)."""
    return os.environ.get(name, "").strip().lower() in TRUE_WORDS


# ------------------------------------------------------------------------------------------ places

PACKAGE_DIR = Path(__file__).resolve().parent
WEIGHTS_DIR = PACKAGE_DIR / "weights"  # the shipped weights
MANIFEST_NAME = "manifest.json"  # their manifest, in the weights folder


def user_cache_dir() -> Path:
    """The package's per-user cache folder: ``$XDG_CACHE_HOME/fundamentalml`` or ``~/.cache/fundamentalml``."""
    cache = os.environ.get(CACHE_ENV, "").strip() or str(Path.home() / ".cache")
    return Path(cache).expanduser() / "fundamentalml"


def checkpoint_dir() -> Path:
    """Where runs without ``out`` are kept: ``$FUNDAMENTALML_CHECKPOINTS``, else the user cache's ``checkpoints``."""
    from_env = os.environ.get(CHECKPOINTS_ENV, "").strip()
    return Path(from_env).expanduser() if from_env else user_cache_dir() / "checkpoints"


def data_root(data_dir: str | os.PathLike | None = None) -> Path:
    """Where the datasets are looked for: ``data_dir``, else ``$FUNDAMENTALML_DATA``, else the user cache.

    (:func:`fundamentalml.data.resolve_data_dir` adds the checks that need a clear error.)"""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    from_env = os.environ.get(DATA_ENV, "").strip()
    return Path(from_env).expanduser() if from_env else user_cache_dir()


def offline_requested() -> bool:
    """``True`` when ``$FUNDAMENTALML_OFFLINE`` asks never to try a download."""
    return env_flag(OFFLINE_ENV)


# ------------------------------------------------------------------------------------------ profiles

PROFILES = ("smoke", "cpu", "full")  # what each means: fundamentalml/profiles.py
SHIPPED = "shipped"  # not a training profile: the course's trained weights


def check_run_profile(profile: str) -> str:
    """``profile`` if it is ``"shipped"`` or a training profile; else a ``ValueError`` naming the choices."""
    if profile == SHIPPED or profile in PROFILES:
        return profile
    raise ValueError(f"Unknown profile {profile!r}: use {SHIPPED!r} (the course's trained weights) or one of "
                     f"{', '.join(PROFILES)} (train here; pass profile=... or set ${PROFILE_ENV}).")


def book_profile() -> str:
    """What a chapter shows: ``$FUNDAMENTALML_PROFILE`` when set (train at that profile), else ``"shipped"``.

    The chapters call it (through ``fundamentalml.runs``) and the book's build keys its cache on it, so both
    read the same answer. An unknown value is a ``ValueError`` naming the choices.
    """
    value = os.environ.get(PROFILE_ENV, "").strip()
    return check_run_profile(value) if value else SHIPPED


# ------------------------------------------------------------------------------------------ datasets: where they are read
# The layouts the loaders in fundamentalml/data.py read, in their order of preference; data.py uses these very
# names, so the book's view of the data (dataset_identity) cannot drift from what the loaders read.

KNOWN_DATASETS = ("mnist", "fashion-mnist", "cifar10")
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
MNIST_FOLDERS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}


def mnist_raw_dir(root: Path, dataset: str) -> Path:
    """The folder of torchvision's raw IDX files of ``dataset`` (``"mnist"`` or ``"fashion-mnist"``) under ``root``."""
    return Path(root) / MNIST_FOLDERS[dataset] / "raw"


def cifar10_candidates(root: Path, split: str) -> list[Path]:
    """Where a CIFAR-10 ``split`` is looked for under ``root``, in order: the course's ``cifar10/{split}.npz``,
    then torchvision's ``cifar-10-batches-py`` batches (all of them together)."""
    batches = ["test_batch"] if split == "test" else [f"data_batch_{i}" for i in range(1, 6)]
    return [Path(root) / "cifar10" / f"{split}.npz"] + [Path(root) / "cifar-10-batches-py" / b for b in batches]


# ------------------------------------------------------------------------------------------ data identity


def sha256_file(path: str | os.PathLike) -> str:
    """The hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def files_id(files: Iterable[str | os.PathLike]) -> str:
    """A short hash of which files these are and whether they changed: each one's resolved path, size and mtime.

    Cheap (no file is read), so the run path keys every run on it and the book's build every chapter.
    """
    h = hashlib.sha256()
    for f in files:
        f = Path(f)
        st = f.stat()
        h.update(f"{f.resolve()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def file_records(files: Iterable[str | os.PathLike]) -> dict[str, dict[str, int | str]]:
    """``{file name: {"bytes": size, "sha256": digest}}`` of each file (sorted, duplicates once): what a shipped
    model records of the data it saw, comparable on any machine (no paths, no mtimes)."""
    return {p.name: {"bytes": p.stat().st_size, "sha256": sha256_file(p)} for p in sorted({Path(f) for f in files})}


def _absent() -> str:
    return "absent (offline: fallback)" if offline_requested() else "absent (download, else fallback)"


def _mnist_split(root: Path, dataset: str, split: str) -> str:
    raw = mnist_raw_dir(root, dataset)
    every = [raw / f for pair in MNIST_FILES.values() for f in pair]
    present = [f for f in every if f.is_file()]
    if len(present) == len(every):
        return "files " + files_id(raw / f for f in MNIST_FILES[split])
    if present:
        return "incomplete: " + ", ".join(f.name for f in every if f not in present)
    return _absent()


def _cifar10_split(root: Path, split: str) -> str:
    npz, *batches = cifar10_candidates(root, split)
    if npz.is_file():
        return "npz " + files_id([npz])
    if all(p.is_file() for p in batches):
        return "batches " + files_id(batches)
    # The DCGAN's data module falls back to MNIST digits (after trying a download unless offline).
    return _absent() + "; digits " + _mnist_split(root, "mnist", split)


def dataset_identity(name: str, data_dir: str | os.PathLike | None = None) -> str:
    """Which files dataset ``name`` would be read from (:func:`files_id` of them per split), or that it is
    absent (and what happens then), seen without loading anything."""
    root = data_root(data_dir)
    if name in MNIST_FOLDERS:
        splits = {s: _mnist_split(root, name, s) for s in ("train", "test")}
    elif name == "cifar10":
        splits = {s: _cifar10_split(root, s) for s in ("train", "test")}
    else:
        raise ValueError(f"Unknown dataset {name!r}; known: {', '.join(KNOWN_DATASETS)}.")
    if len(set(splits.values())) == 1 and not splits["train"].startswith(("files", "npz", "batches")):
        return splits["train"]
    return "; ".join(f"{s}: {v}" for s, v in splits.items())


# ------------------------------------------------------------------------------------------ code identity
# A module is hashed as its syntax tree without docstrings (comments and line numbers are not in the tree), so
# editing prose changes no identity and retrains or re-executes nothing.

# The modules a run's result (its weights and the metrics stored with them) comes from: these and every package
# module they import, anywhere in them (see code_fingerprint).
RUN_CODE_ROOTS = ("runs.py",)


def parse_module(path: Path) -> ast.Module | None:
    """The syntax tree of a Python file, or ``None`` when it does not parse."""
    try:
        return ast.parse(path.read_bytes(), filename=str(path))
    except (SyntaxError, ValueError):
        return None


def normalised_source(path: Path, tree: ast.Module | None = None) -> bytes:
    """What a module does, without its docstrings and comments: the dump of its syntax tree.

    Line numbers are not part of the dump, so moving code down by a comment line changes nothing either.
    A file that does not parse is taken byte for byte. ``tree``: the module already parsed (changed in place).
    """
    if tree is None:
        tree = parse_module(path)
    if tree is None:
        return b"unparsed\0" + path.read_bytes()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                del body[0]
    return ast.dump(tree).encode()


def imported_files(tree: ast.Module, rel: str, files: set[str]) -> set[str]:
    """The package files (paths relative to the package folder, from ``files``) that the imports of module
    ``rel`` name, anywhere in it (also inside functions): ``from .x import y``, ``from . import x``,
    ``import fundamentalml.x``."""
    package = rel.split("/")[:-1]  # the module's package, as path parts below the package folder

    def candidates(parts: list[str]) -> list[str]:
        stem = "/".join(parts)
        return [p for p in (f"{stem}.py", f"{stem}/__init__.py" if stem else "__init__.py") if p in files]

    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "fundamentalml":
                    found.update(candidates(parts[1:]))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else list(package)
            elif (node.module or "").split(".")[0] == "fundamentalml":
                base = []
            else:
                continue
            parts = base + ([p for p in (node.module or "").split(".") if p] if node.level else node.module.split(".")[1:])
            found.update(candidates(parts))
            for alias in node.names:  # ``from . import cli`` names a module
                found.update(candidates(parts + [alias.name]))
    return found


def package_files(folder: Path = PACKAGE_DIR) -> dict[str, Path]:
    """Every file of the package folder (relative path -> path), bytecode caches left out."""
    return {
        p.relative_to(folder).as_posix(): p
        for p in sorted(Path(folder).rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo")
    }


@functools.lru_cache(maxsize=512)
def _module_facts(path: str, mtime_ns: int, size: int, files: frozenset[str], rel: str) -> tuple[bytes, frozenset[str]]:
    """(normalised source, imported package files) of one module; cached while the file is unchanged."""
    tree = parse_module(Path(path))
    imports = frozenset(imported_files(tree, rel, set(files))) if tree is not None else frozenset()
    return normalised_source(Path(path), tree), imports


def module_facts(folder: Path = PACKAGE_DIR) -> dict[str, tuple[bytes, frozenset[str]]]:
    """``{relative path: (normalised source, imported package files)}`` of every module of the package."""
    files = package_files(folder)
    names = frozenset(files)
    out = {}
    for rel, path in files.items():
        if rel.endswith(".py"):
            st = path.stat()
            out[rel] = _module_facts(str(path), st.st_mtime_ns, st.st_size, names, rel)
    return out


def import_closure(roots: Iterable[str], imports: dict[str, frozenset[str] | set[str]]) -> set[str]:
    """``roots`` and every module they import, directly or through others, with the ``__init__.py`` of each
    package on the way (a package's ``__init__`` runs whenever one of its modules is imported)."""
    kept: set[str] = set()
    todo = [r for r in roots if r in imports]
    while todo:
        rel = todo.pop()
        if rel in kept:
            continue
        kept.add(rel)
        parts = rel.split("/")
        inits = ["/".join(parts[:i] + ["__init__.py"]) for i in range(len(parts))]
        todo += [m for m in (*imports.get(rel, ()), *inits) if m in imports and m not in kept]
    return kept


def code_fingerprint(roots: Iterable[str] = RUN_CODE_ROOTS, folder: Path = PACKAGE_DIR) -> str:
    """A short hash of the code behind a result: the modules ``roots`` and every package module they import.

    With the default roots (``runs.py``), what a cached run holds, its weights and the metrics stored with
    them, comes from: the run path (``runs.py``), training (``training.py``), the models (``models/``), the
    data (``data.py``), the registry with its budgets and evaluations (``registry.py``, ``profiles.py``), the
    metrics (``metrics``, stored with every run, so a change to them must not serve stale numbers),
    checkpoints, files and this module. The command line, shipping, reports, plots and widgets are not
    imported by them and are left out. The set is found, not listed: a module the run path starts to import
    joins it.
    :func:`run_code_modules` lists the files. Editing any of them changes every run's key, so a cached run is
    never served by code that would not produce it; docstrings and comments do not count.
    """
    facts = module_facts(Path(folder))
    h = hashlib.sha256()
    for rel in sorted(import_closure(roots, {m: f[1] for m, f in facts.items()})):
        h.update(rel.encode() + b"\0" + hashlib.sha256(facts[rel][0]).digest())
    return h.hexdigest()[:16]


def run_code_modules(folder: Path = PACKAGE_DIR) -> list[str]:
    """The package modules :func:`code_fingerprint` hashes for a run (relative paths, sorted)."""
    facts = module_facts(Path(folder))
    return sorted(import_closure(RUN_CODE_ROOTS, {m: f[1] for m, f in facts.items()}))
