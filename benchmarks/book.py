"""``--book``: time a cold and a cached ``jupyter-book build .``, and count from its log what it executed.

Both builds run in a temporary copy of the repository (made by the tests' own copier,
``tests/helpers.py:copy_repository``), so the checkout's ``_build`` is untouched; the copy's package is the
one the kernels import (``PYTHONPATH``).
"""

from __future__ import annotations

import contextlib
import datetime
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from fundamentalml.identity import CACHE_ENV, CHECKPOINTS_ENV, PROFILE_ENV, SHIPPED

REPO = Path(__file__).resolve().parents[1]

# Log lines of myst-nb's cache executor (myst_nb/core/execute/cache.py) and the book's own report line
# (book/_ext/fml_book.py, REPORT_PREFIX).
_EXECUTING = re.compile(r"Executing notebook using (?:local|temporary) CWD")
_EXECUTED = re.compile(r"Executed notebook in ([\d.]+) seconds")
_FROM_CACHE = re.compile(r"Using cached notebook: ID=")
_FAILED = re.compile(r"Executing notebook failed")
_BOOK_REPORT = re.compile(r"fundamentalml-book: (\d+) notebook\(s\) executed")
# Sphinx's "updating environment: [reason] N added, N changed, N removed" (sphinx/builders/__init__.py).
_SOURCES = re.compile(r"(\d+) added, (\d+) changed, (\d+) removed")


def parse_book_output(output: str) -> dict[str, Any]:
    """Count the notebooks a ``jupyter-book build`` executed, served from the cache, or failed to execute."""
    report = _BOOK_REPORT.search(output)
    sources = _SOURCES.search(output)
    return {
        # pages Sphinx read again; an unchanged page is not read, so myst-nb neither executes nor looks it up
        "sources_read": int(sources.group(1)) + int(sources.group(2)) if sources else None,
        "executed": len(_EXECUTING.findall(output)),
        "execution_seconds": sum(float(s) for s in _EXECUTED.findall(output)),
        "from_cache": len(_FROM_CACHE.findall(output)),
        "failed": len(_FAILED.findall(output)),
        "executed_per_book_report": int(report.group(1)) if report else None,
    }


def copy_repository(src: Path, dest: Path) -> Path:
    """The tests' copier (``tests/helpers.py``), loaded by path: ``tests`` is no package, and one copy is enough."""
    path = REPO / "tests" / "helpers.py"
    spec = importlib.util.spec_from_file_location("_fundamentalml_test_helpers", path)
    helpers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(helpers)
    return helpers.copy_repository(src, dest)


def build_book(root: Path, env: dict[str, str], timeout: float) -> dict[str, Any]:
    """Run ``jupyter-book build .`` in ``root``; return its wall time, exit status and the log's counts."""
    jb = Path(sys.executable).parent / "jupyter-book"
    cmd = [str(jb) if jb.exists() else "jupyter-book", "build", "."]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
        output, code = proc.stdout + proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as exc:
        output, code = f"{exc.stdout or ''}{exc.stderr or ''}\nTIMED OUT after {timeout:.0f} s", -1
    except OSError as exc:
        output, code = f"could not run {cmd[0]}: {exc}", -1
    elapsed = time.perf_counter() - start
    result = {"wall_s": elapsed, "returncode": code, **parse_book_output(output)}
    last = root / "_build" / ".fundamentalml" / "last-build.json"
    if last.is_file():
        with contextlib.suppress(ValueError, OSError):
            result["book_report"] = json.loads(last.read_text())
        last.unlink()  # so that the rebuild's report is its own
    if code != 0:
        result["output_tail"] = output[-3000:]
    return result


def run_book(profile: str = SHIPPED, timeout: float = 3600.0) -> dict[str, Any]:
    """Time a cold build (fresh execution and checkpoint caches) and a cached rebuild of a copy of the repository.

    ``profile``: ``"shipped"`` (a reader's build: the chapters show the shipped models, ``FUNDAMENTALML_PROFILE``
    unset) or a training profile the chapters train at instead.
    """
    from .flops import machine_info

    with tempfile.TemporaryDirectory(prefix="fml-bench-book-") as tmp:
        root = copy_repository(REPO, Path(tmp) / "checkout")
        env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", CHECKPOINTS_ENV, PROFILE_ENV)}
        if profile != SHIPPED:
            env[PROFILE_ENV] = profile
        env.update({
            "PYTHONPATH": str(root),
            CACHE_ENV: str(Path(tmp) / "xdg-cache"),  # no trained checkpoints from earlier runs
            "PYTHONDONTWRITEBYTECODE": "1",
        })
        print(f"--- cold build ({profile} profile) in {root} ---", file=sys.stderr, flush=True)
        cold = build_book(root, env, timeout)
        print(f"--- cached rebuild: {cold['wall_s']:.1f} s cold ---", file=sys.stderr, flush=True)
        cached = build_book(root, env, timeout) if cold["returncode"] == 0 else None
    return {
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
        "profile": profile,
        "machine": machine_info(),
        "cold": cold,
        "cached": cached,
    }
