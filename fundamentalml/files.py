"""Writing files safely and locking a run's folder: helpers every layer may use (the per-user cache folder and
file hashes live in :mod:`fundamentalml.identity`; they are re-exported here).

Every file the package writes (checkpoints, metrics, pictures, manifests) goes through :func:`atomic_write`,
so a crash, a signal or a full disk never leaves a half-written file or destroys the previous one.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Mapping

from .identity import DATA_ENV
from .identity import sha256_file, user_cache_dir  # noqa: F401 -- re-exported: helpers every layer may use

TMP_SUFFIX = ".tmp"
STALE_TMP_S = 3600.0  # a temporary file older than this was left by a killed write


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


# ------------------------------------------------------------------------------------------ locks


class FolderInUseError(ValueError):
    """Another live process holds the lock of a run's output (two runs into one ``--out`` at once)."""


def _lock_holder(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text() or "{}")
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _pid_alive(pid: Any) -> bool:
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


def acquire_lock(path: str | os.PathLike, what: str) -> Path:
    """Create the lock file ``path`` holding this process's pid, host and command, or refuse.

    A lock left by a process that is no longer running (a kill -9, a power cut) is taken over, with a note on
    stderr. A lock of a live process, or of another machine (whose processes cannot be seen), raises
    :class:`FolderInUseError` naming the holder.
    """
    import socket
    import sys

    path = Path(path)
    me = {"pid": os.getpid(), "host": socket.gethostname(), "command": " ".join(sys.argv), "since": time.time()}
    for _ in range(5):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _lock_holder(path)
            same_host = holder.get("host") in (None, me["host"])
            if not holder:  # being written right now, or emptied: look again shortly
                if time.time() - _mtime(path) < 5:
                    time.sleep(0.2)
                    continue
            elif not same_host or _pid_alive(holder.get("pid")):
                since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(holder.get("since", 0) or 0)))
                raise FolderInUseError(
                    f"{what} is in use: process {holder.get('pid')} on {holder.get('host')} ({holder.get('command') or '?'}) "
                    f"has been writing it since {since}. Wait for that run to finish, or choose another --out. "
                    f"(If no such run is going on, delete {path}.)"
                ) from None
            # The holder is dead: move its lock aside atomically (only one taker wins), then try again.
            stale = path.with_name(f"{path.name}.stale-{os.getpid()}")
            try:
                os.replace(path, stale)
            except FileNotFoundError:
                continue
            with contextlib.suppress(OSError):
                os.unlink(stale)
            print(f"note: {path} was left by process {holder.get('pid') or '?'}, which is no longer running; "
                  f"taking it over.", file=sys.stderr)
            continue
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(me))
        return path
    raise FolderInUseError(f"{what}: could not take the lock {path}; another run keeps taking it. Try again.")


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def release_lock(path: str | os.PathLike) -> None:
    """Remove the lock file ``path`` if this process holds it."""
    path = Path(path)
    if _lock_holder(path).get("pid") == os.getpid():
        with contextlib.suppress(OSError):
            path.unlink()


# ------------------------------------------------------------------------------------------ portable paths

_OUT_DIR = re.compile(r"(--out[ =])(?:/[^\s/]+)*/(?:runs[-_])?([^\s/]+)")
_DATA_DIR = re.compile(r"(?:/[^\s/()'\"]+)+?/(MNIST|FashionMNIST|cifar10|cifar-10-batches-py)(?=[/\s)]|$)")
_DATA_ROOT = re.compile(r"(--data[_-]dir[ =])/[^\s]*")  # a data folder given whole on a command line
_WEIGHTS_DIR = re.compile(r"(--weights[_-]dir[ =])(?:/[^\s/]+)*/([^\s/]+)")  # a weights folder: its name alone


def portable(value: Any) -> Any:
    """``value`` (a manifest, an entry, a string) with the making machine's paths replaced by portable ones: an
    absolute ``--out`` folder by ``runs/NAME``, a dataset folder by ``$FUNDAMENTALML_DATA/...`` (a ``--data_dir``
    by ``$FUNDAMENTALML_DATA``), a ``--weights_dir`` by its folder's name.

    ``fundamentalml.cards.machine_paths`` of the result lists what is left (an absolute path of another kind)."""
    if isinstance(value, Mapping):
        return {key: portable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [portable(item) for item in value]
    if isinstance(value, str):
        value = _WEIGHTS_DIR.sub(r"\1\2", _DATA_ROOT.sub(rf"\1${DATA_ENV}", _OUT_DIR.sub(r"\1runs/\2", value)))
        return _DATA_DIR.sub(lambda m: f"${DATA_ENV}/" + m.group(1), value)
    return value
