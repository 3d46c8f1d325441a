"""Helpers shared by the tests (and by the benchmark's book timing, ``benchmarks/book.py``, which loads this file)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def copy_repository(src: Path, dest: Path) -> Path:
    """Copy the checkout's tracked and untracked (not ignored) files to ``dest``: no ``_build``, no caches.

    Without git (or outside a work tree), everything except the usual build, cache and virtualenv folders.
    """
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=src, capture_output=True, check=True
        ).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):
        ignore = shutil.ignore_patterns(".venv", "_build", ".git", "__pycache__", ".pytest_cache", "runs", "*.egg-info")
        shutil.copytree(src, dest, ignore=ignore, dirs_exist_ok=True)
        return dest
    for rel in filter(None, listed):
        path = src / rel
        if path.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest / rel)
    return dest
