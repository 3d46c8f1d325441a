"""Turns ``pytest exercises`` into a grader: options, points, a time limit per check, short messages, scores.

* ``pytest exercises`` grades your code in ``exercises/<chapter>.py``.
* ``pytest exercises --solutions`` grades the package's reference solutions instead (CI expects full marks).
* ``--implementation PATH_OR_MODULE`` grades another module for every chapter, and
  ``--implementation CHAPTER=PATH_OR_MODULE`` for one chapter (the graders' own tests use this).
* ``--exercise-timeout SECONDS`` is the time limit of one check (default 10; 0 turns it off).
* ``--score-json PATH`` also writes the scores as JSON.

Each check is a test function with a ``points(n)`` marker inside a class marked ``exercise(key, title)``.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest
import torch

from exercises._grading import (
    REFERENCES,
    ExerciseFailure,
    ExerciseTimeout,
    Implementation,
    default_source,
)

DEFAULT_TIMEOUT_S = 10.0


@dataclass
class CheckResult:
    """One graded check: its points, and whether it passed."""

    nodeid: str
    description: str
    points: int
    passed: bool | None = None  # None: not run (yet)


@dataclass
class ExerciseScore:
    """The checks of one exercise, in collection order."""

    key: str
    title: str
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def score(self) -> int:
        return sum(c.points for c in self.checks if c.passed)

    @property
    def total(self) -> int:
        return sum(c.points for c in self.checks)


SCORES_KEY = pytest.StashKey[dict[str, ExerciseScore]]()
RESULTS_KEY = pytest.StashKey[dict[str, CheckResult]]()
IMPLS_KEY = pytest.StashKey[dict[str, Implementation]]()


# ------------------------------------------------------------------------------------------ options


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("exercises", "grading the course exercises")
    group.addoption("--solutions", action="store_true", default=False,
                    help="grade the package's reference solutions instead of exercises/<chapter>.py")
    group.addoption("--implementation", action="append", default=[], metavar="[CHAPTER=]PATH_OR_MODULE",
                    help="grade this module (a .py path or a dotted name), for all chapters or for CHAPTER")
    group.addoption("--exercise-timeout", type=float, default=DEFAULT_TIMEOUT_S, metavar="SECONDS",
                    help=f"time limit of one check in seconds (default {DEFAULT_TIMEOUT_S:g}; 0: none)")
    group.addoption("--score-json", default=None, metavar="PATH", help="also write the scores to this JSON file")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "exercise(key, title): the exercise a class of checks grades")
    config.addinivalue_line("markers", "points(n): what a graded check is worth")
    config.stash[SCORES_KEY] = {}
    config.stash[RESULTS_KEY] = {}
    config.stash[IMPLS_KEY] = _implementations(config)


def _implementations(config: pytest.Config) -> dict[str, Implementation]:
    """Which module each chapter's checks grade, from ``--solutions`` and ``--implementation``."""
    sources = {chapter: default_source(chapter) for chapter in REFERENCES}
    if config.getoption("solutions"):
        sources = {chapter: "solutions" for chapter in REFERENCES}
    for spec in config.getoption("implementation"):
        chapter, sep, target = spec.partition("=")
        if not sep:
            sources = {c: spec for c in REFERENCES}
        elif chapter in REFERENCES:
            sources[chapter] = target
        else:
            raise pytest.UsageError(f"--implementation: unknown chapter {chapter!r}; use one of {sorted(REFERENCES)}")
    return {chapter: Implementation(chapter, source) for chapter, source in sources.items()}


# ------------------------------------------------------------------------------------------ fixtures


@pytest.fixture
def impl(request: pytest.FixtureRequest) -> Implementation:
    """The functions under grading for this test module's chapter (its ``CHAPTER``)."""
    return request.config.stash[IMPLS_KEY][request.module.CHAPTER]


@pytest.fixture(autouse=True)
def _seeded() -> Iterator[None]:
    """Every check starts from its own fixed seed, so a run is repeatable and checks do not depend on order."""
    state = torch.random.get_rng_state()
    torch.manual_seed(1234)
    yield
    torch.random.set_rng_state(state)


# ------------------------------------------------------------------------------------------ bookkeeping

CHAPTER_ORDER = list(REFERENCES)  # the book's order: vae, dcgan, conditional


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run (and report) the chapters in the book's order rather than alphabetically."""
    def rank(item: pytest.Item) -> int:
        chapter = getattr(getattr(item, "module", None), "CHAPTER", None)
        return CHAPTER_ORDER.index(chapter) if chapter in CHAPTER_ORDER else len(CHAPTER_ORDER)

    items.sort(key=rank)  # stable: keeps the order inside each file



def pytest_collection_finish(session: pytest.Session) -> None:
    """Register every selected check under its exercise, so checks that never ran still count as 0."""
    scores, results = session.config.stash[SCORES_KEY], session.config.stash[RESULTS_KEY]
    chapters = {getattr(item.module, "CHAPTER", None) for item in session.items if hasattr(item, "module")}
    for chapter, impl in session.config.stash[IMPLS_KEY].items():
        if chapter in chapters:
            impl.preload()
    for item in session.items:
        marker = item.get_closest_marker("exercise")
        if marker is None:
            continue
        key, title = marker.args[0], marker.args[1] if len(marker.args) > 1 else marker.args[0]
        points = item.get_closest_marker("points")
        doc = (getattr(item, "obj", None).__doc__ or item.name).strip().splitlines()[0]
        result = CheckResult(item.nodeid, doc, int(points.args[0]) if points else 1)
        scores.setdefault(key, ExerciseScore(key, title)).checks.append(result)
        results[item.nodeid] = result


# ------------------------------------------------------------------------------------------ time limit


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Stop a check whose learner code runs past ``--exercise-timeout`` (SIGALRM: Linux and macOS)."""
    limit = float(item.config.getoption("exercise_timeout") or 0)
    if limit <= 0 or not hasattr(signal, "SIGALRM") or threading.current_thread() is not threading.main_thread():
        return (yield)

    def on_alarm(signum: int, frame: Any) -> None:
        raise ExerciseTimeout(f"stopped after {limit:g} s")

    # pytest-timeout may have its own (longer) alarm running: put it back afterwards.
    previous_handler = signal.signal(signal.SIGALRM, on_alarm)
    previous_delay, _ = signal.setitimer(signal.ITIMER_REAL, limit)
    start = time.monotonic()
    try:
        return (yield)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_handler)
        if previous_delay > 0:
            signal.setitimer(signal.ITIMER_REAL, max(previous_delay - (time.monotonic() - start), 1e-3))


# ------------------------------------------------------------------------------------------ messages


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    """Replace pytest's traceback by a short message for the learner (``--tb=long`` keeps the traceback)."""
    report: pytest.TestReport = yield
    result = item.config.stash[RESULTS_KEY].get(item.nodeid)
    if result is not None:  # a check passes only if its set-up, body and tear-down all pass
        if report.failed or report.skipped:
            result.passed = False
        elif report.when == "call" and result.passed is None:
            result.passed = True
    if (report.failed and call.excinfo is not None and item.get_closest_marker("exercise") is not None
            and item.config.getoption("tbstyle") in ("auto", "short")):
        report.longrepr = _learner_message(item, call.excinfo)
    return report


def _learner_message(item: pytest.Item, excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    marker = item.get_closest_marker("exercise")
    title = marker.args[1] if marker and len(marker.args) > 1 else item.name
    points = item.get_closest_marker("points")
    doc = (getattr(item, "obj", None).__doc__ or item.name).strip().splitlines()[0]
    n = int(points.args[0]) if points else 1
    head = f"[{title}] check failed: {doc} ({n} point{'s' if n != 1 else ''})"
    err = excinfo.value
    impl: Implementation | None = item.config.stash[IMPLS_KEY].get(getattr(item.module, "CHAPTER", ""))
    where = _learner_frame(excinfo, impl)
    if isinstance(err, ExerciseFailure):
        body = str(err)
    elif isinstance(err, NotImplementedError):
        func = excinfo.traceback[-1].name
        body = (f"expected: your implementation of `{func}`\n"
                f"     got: NotImplementedError (the exercise is not done yet)\n"
                f"    hint: {err or 'replace the raise with your code'}")
    elif isinstance(err, ExerciseTimeout):
        body = (f"expected: the check to finish within {item.config.getoption('exercise_timeout'):g} s\n"
                f"     got: still running, {err}{' ' + where if where else ''}\n"
                "    hint: look for a loop that never ends, or a tensor far larger than the docstring's shapes.")
    elif where:
        body = (f"expected: your code to run without an error\n"
                f"     got: {type(err).__name__}: {err}\n"
                f"          {where}\n"
                "    hint: compare the shapes you use with the docstring's; print them if unsure.")
    else:
        body = (f"expected: a result of the type and shape the docstring describes\n"
                f"     got: something the check could not use: {type(err).__name__}: {err}\n"
                "    hint: read the docstring again: what should the function return?")
    return f"{head}\n{body}"


def _learner_frame(excinfo: pytest.ExceptionInfo[BaseException], impl: Implementation | None) -> str:
    """``at vae.py line 12: <code>`` for the deepest frame inside the graded module, or ``""``."""
    target = impl.file if impl is not None else None
    if not target:
        return ""
    target_path = Path(target).resolve()
    for entry in reversed(excinfo.traceback):
        if Path(str(entry.path)).resolve() == target_path:
            try:
                line = str(entry.statement).strip()
            except Exception:  # source not available
                line = ""
            return f"at {target_path.name} line {entry.lineno + 1}" + (f": {line}" if line else "")
    return ""


# ------------------------------------------------------------------------------------------ scores


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> Iterator[None]:
    """Print the per-exercise scores and the total last, after pytest's own summaries; optionally as JSON."""
    result = yield  # the outermost wrapper: pytest's failure list is printed by now
    _print_scores(terminalreporter, config)
    return result


def _print_scores(terminalreporter: Any, config: pytest.Config) -> None:
    scores = config.stash[SCORES_KEY]
    if not scores:
        return
    tr = terminalreporter
    sources = {impl.describe() for impl in config.stash[IMPLS_KEY].values()}
    tr.write_sep("=", "exercise scores")
    tr.write_line(f"graded: {', '.join(sorted(sources))}")
    width = max(len(s.title) for s in scores.values())
    for ex in scores.values():
        mark = "PASS" if ex.score == ex.total else ("part" if ex.score else "FAIL")
        tr.write_line(f"  {mark}  {ex.title:<{width}}  {ex.score:>3} / {ex.total:<3}",
                      green=mark == "PASS", red=mark == "FAIL", yellow=mark == "part")
        for c in ex.checks if 0 < ex.score < ex.total else ():  # a 0 is explained in the failures above
            if not c.passed:
                tr.write_line(f"          - missed ({c.points} pt): {c.description}")
    score = sum(ex.score for ex in scores.values())
    total = sum(ex.total for ex in scores.values())
    tr.write_line(f"  TOTAL: {score} / {total} points"
                  f" ({sum(ex.score == ex.total for ex in scores.values())} of {len(scores)} exercises complete)",
                  bold=True)
    path = config.getoption("score_json")
    if path:
        payload = {
            "score": score,
            "total": total,
            "graded": sorted(sources),
            "exercises": {
                ex.key: {
                    "title": ex.title,
                    "score": ex.score,
                    "total": ex.total,
                    "checks": [{"check": c.description, "points": c.points, "passed": bool(c.passed)} for c in ex.checks],
                }
                for ex in scores.values()
            },
        }
        Path(path).write_text(json.dumps(payload, indent=2))
