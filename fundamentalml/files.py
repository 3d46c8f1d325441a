"""Writing files safely, and where the per-user cache lives: helpers every layer may use.

Every file the package writes (checkpoints, metrics, pictures, manifests) goes through :func:`atomic_write`,
so a crash, a signal or a full disk never leaves a half-written file or destroys the previous one.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

TMP_SUFFIX = ".tmp"
STALE_TMP_S = 3600.0  # a temporary file older than this was left by a killed write
CACHE_ENV = "XDG_CACHE_HOME"


def user_cache_dir() -> Path:
    """The package's per-user cache folder: ``$XDG_CACHE_HOME/fundamentalml`` or ``~/.cache/fundamentalml``."""
    cache = os.environ.get(CACHE_ENV, "").strip() or str(Path.home() / ".cache")
    return Path(cache).expanduser() / "fundamentalml"


def atomic_write(path: str | os.PathLike, write: Callable[[Any], None]) -> Path:
    """Write through ``write(binary_file)`` to a temporary file beside ``path``, fsync it, then rename it into place.

    A crash, a signal or a full disk midway leaves the old file (if any) untouched and no half-written file
    behind. A full disk is reported as such, with the folder's name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes files private; our outputs are ordinary files
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if _is_disk_full(exc):
            raise OSError(errno.ENOSPC, f"No space left on the disk holding {path.parent}: {path.name} was not written "
                          f"(any earlier {path.name} is untouched). Free some space and run again.") from exc
        raise
    return path


def _is_disk_full(exc: BaseException) -> bool:
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            return True
        if "No space left" in str(exc) or "unexpected pos" in str(exc):  # torch.save reports ENOSPC this way
            return True
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return False


def clean_stale_tmp(folder: str | os.PathLike, older_than_s: float = STALE_TMP_S) -> list[Path]:
    """Delete temporary files that killed writes left in ``folder`` (older than ``older_than_s``); return them."""
    folder = Path(folder)
    removed = []
    if not folder.is_dir():
        return removed
    now = time.time()
    for tmp in folder.glob(f".*{TMP_SUFFIX}"):
        with contextlib.suppress(OSError):
            if now - tmp.stat().st_mtime > older_than_s:
                tmp.unlink()
                removed.append(tmp)
    return removed


def save_json(obj: Any, path: str | os.PathLike) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    return atomic_write(path, lambda f: f.write(json.dumps(obj, indent=2, sort_keys=True, default=_json_default).encode()))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")


def sha256_file(path: str | os.PathLike) -> str:
    """The hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


