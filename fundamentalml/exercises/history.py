"""The learner's score history: every graded run appends one line per exercise to a JSON-lines file in the user
cache (``$XDG_CACHE_HOME/fundamentalml/scores.jsonl``), and ``python -m fundamentalml scores`` sums it up.

Both ways of grading write it: ``python -m pytest exercises`` in a clone, and
:func:`fundamentalml.exercises.grade` in a notebook. Runs of the reference solutions (``--solutions``) are not
the learner's and are not recorded. This module needs only the standard library (the command stays fast).
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from ..files import user_cache_dir
from ..identity import SCORE_HISTORY_ENV

HISTORY_FILE = "scores.jsonl"
HISTORY_ENV = SCORE_HISTORY_ENV  # "0": record nothing (the book build sets it for its grade cell)


def history_path() -> Path:
    """Where the score history lives: ``scores.jsonl`` in the package's per-user cache (``$XDG_CACHE_HOME``)."""
    return user_cache_dir() / HISTORY_FILE


def make_record(key: str, title: str, score: int, total: int, origin: str, graded: str,
                when: float | None = None) -> dict[str, Any]:
    """One line of the history: when, which exercise, the points, and where the grading ran (``pytest`` or
    ``notebook``) on what (a file, or the notebook's functions)."""
    when = time.time() if when is None else when
    return {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when)), "exercise": key, "title": title,
            "score": int(score), "total": int(total), "origin": origin, "graded": graded}


def append_records(records: Iterable[dict[str, Any]], path: Path | None = None) -> Path | None:
    """Append ``records`` to the history, one JSON line each, in one ``write`` to a file opened for appending
    (two runs at once interleave whole lines, never parts of them). A history that cannot be written costs a
    warning, never the grading: the function returns None then, as it does when ``$FUNDAMENTALML_SCORE_HISTORY``
    is ``0``."""
    if os.environ.get(HISTORY_ENV, "").strip() == "0":
        return None
    path = history_path() if path is None else Path(path)
    data = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records).encode()
    if not data:
        return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            if os.fstat(fd).st_size and not _ends_with_newline(fd):
                data = b"\n" + data  # a line cut short by a killed write stays on its own (and is skipped)
            os.write(fd, data)
        finally:
            os.close(fd)
    except OSError as exc:
        warnings.warn(f"the score history {path} could not be written ({exc}); the scores above still count",
                      RuntimeWarning, stacklevel=2)
        return None
    return path


def _ends_with_newline(fd: int) -> bool:
    size = os.fstat(fd).st_size
    return os.pread(fd, 1, size - 1) == b"\n" if size else True


def read_history(path: Path | None = None) -> list[dict[str, Any]]:
    """The records of the history, oldest first; a line that is not a valid record (a half-written line, an
    edit by hand) is skipped with a warning that names it. No file: no records."""
    path = history_path() if path is None else Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not (isinstance(record, dict) and isinstance(record.get("exercise"), str)
                    and isinstance(record.get("score"), int) and isinstance(record.get("total"), int)):
                raise ValueError("not a score record")
        except ValueError as exc:
            warnings.warn(f"{path} line {number} skipped: {exc}: {line[:80]!r}", RuntimeWarning, stacklevel=2)
            continue
        records.append(record)
    return records


@dataclass
class ExerciseHistory:
    """What the history says about one exercise."""

    key: str
    title: str
    attempts: int
    best: int
    last: int
    total: int
    last_time: str
    last_origin: str


def summarize(records: Iterable[dict[str, Any]]) -> list[ExerciseHistory]:
    """Per exercise: attempts, best and last score, in the catalogue's order (the number its title starts with;
    others after, by key)."""
    by_key: dict[str, ExerciseHistory] = {}
    for r in records:
        h = by_key.get(r["exercise"])
        if h is None:
            by_key[r["exercise"]] = ExerciseHistory(r["exercise"], str(r.get("title", r["exercise"])), 1, r["score"],
                                                    r["score"], r["total"], str(r.get("time", "")),
                                                    str(r.get("origin", "")))
            continue
        h.attempts += 1
        h.best = max(h.best, r["score"])
        h.last, h.total, h.last_time, h.last_origin = r["score"], r["total"], str(r.get("time", "")), str(r.get("origin", ""))
        h.title = str(r.get("title", h.title))
    def number(h: ExerciseHistory) -> tuple[int, str]:
        head = h.title.split(".", 1)[0]
        return (int(head) if head.isdigit() else 10**6), h.key

    return sorted(by_key.values(), key=number)


def format_summary(rows: list[ExerciseHistory], path: Path) -> str:
    """The table ``python -m fundamentalml scores`` prints."""
    if not rows:
        return (f"No graded runs yet ({path} does not hold any). Grade an exercise with `python -m pytest exercises` "
                f"in a clone, or with grade(...) in a chapter's exercise cells.")
    width = max(len(r.title) for r in rows)
    lines = [f"score history: {path}", f"        {'exercise':<{width}}  attempts   best   last   last graded"]
    for r in rows:
        mark = "PASS" if r.best == r.total else ("part" if r.best else "FAIL")  # by the best score
        when = r.last_time.replace("T", " ").replace("Z", " UTC")
        lines.append(f"  {mark}  {r.title:<{width}}  {r.attempts:>8}  {r.best:>3}/{r.total:<2} {r.last:>3}/{r.total:<2}  "
                     f"{when} ({r.last_origin})")
    done = sum(r.best == r.total for r in rows)
    lines.append(f"  {done} of {len(rows)} exercises tried have had full marks; best points "
                 f"{sum(r.best for r in rows)} / {sum(r.total for r in rows)}")
    return "\n".join(lines)


def print_summary(path: Path | None = None) -> None:
    """Print the score history per exercise (attempts, best, last): ``python -m fundamentalml scores``."""
    path = history_path() if path is None else Path(path)
    print(format_summary(summarize(read_history(path)), path), file=sys.stdout)
