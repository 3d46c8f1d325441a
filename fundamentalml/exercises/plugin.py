"""Turns ``pytest exercises`` into a grader: options, points, a time limit per check, short messages, scores.

This pytest plugin ships with the package, beside the checks (``checks/test_<chapter>.py``). Two thin files load it:
the repository's ``exercises/conftest.py`` (the learner's ``pytest exercises``, whose ``LEARNER_FOLDER`` says where
the learner's files are) and ``checks/conftest.py`` (the package's checks run on their own, as
:func:`fundamentalml.exercises.grade` runs them from a notebook, always with ``--implementation``).

* ``pytest exercises`` grades your code in ``exercises/<chapter>.py``.
* ``pytest exercises --solutions`` grades the package's reference solutions instead (CI expects full marks).
* ``--implementation PATH_OR_MODULE`` grades another module for every chapter, and
  ``--implementation CHAPTER=PATH_OR_MODULE`` for one chapter (the graders' own tests use this).
* ``--exercise-timeout SECONDS`` is the time limit of one check, and of importing a graded file (default 10;
  0 turns it off).
* ``--exercise-in-process`` grades in this very process, as ``--pdb`` needs; then nothing ends code that
  catches the time limit (or any loop, on Windows), and ``os._exit`` ends the whole run.
* ``--score-json PATH`` also writes the scores as JSON.
* ``--hint-level N`` (1 to 3; default 1, or ``FUNDAMENTALML_HINT_LEVEL``): how much a failure gives away, from
  the nudge and the check's own hint (1) to the formula (3); see ``Exercise`` in ``_grading.py``.

* ``--exercise KEY`` grades only the exercise ``KEY`` (``vae.lerp``; see ``EXERCISES``).

Each check is a test function with a ``points(n)`` marker inside a class marked ``exercise(key)``; ``EXERCISES``
in ``_grading.py`` gives each key its number, its difficulty and its hints, and the order the checks run in.

Otherwise this process (the *parent*) imports no learner code: ``_workers.py`` runs the selected checks in a
*worker*, a second pytest run of this same conftest with the internal option ``--exercise-worker``, and the
parent reports what the worker saw. See ``_workers.py`` for the time limits and what happens when a worker
hangs or ends.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Iterator

import pytest

from fundamentalml.exercises._grading import (
    ASK_FOR_HINTS,
    DEFAULT_TIMEOUT_S,
    EXERCISES,
    HINT_LEVEL_ENV,
    MAX_HINT_LEVEL,
    REFERENCES,
    TOP_LEVEL_HINT,
    ExerciseFailure,
    ExerciseTimeout,
    Implementation,
    alarm_available,
    default_source,
    display_path,
    exercise_of,
    fresh_torch_state,
    hint_lines,
    is_path,
    location_in,
    message,
    preload_references,
    reads_stdin,
    time_limit,
    torch_state,
)
from fundamentalml.exercises._workers import Outcome, WorkerPool
from fundamentalml.exercises.history import append_records, make_record

# The global torch settings every check starts from: those of a fresh process, before any learner code ran.
BASELINE_STATE = torch_state()


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
    level: int  # difficulty, 1 to 3
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def score(self) -> int:
        return sum(c.points for c in self.checks if c.passed)

    @property
    def total(self) -> int:
        return sum(c.points for c in self.checks)


class WorkerFailure(Exception):
    """A check failed in a worker (or the worker failed it): ``text`` is the message to show as it is."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


SCORES_KEY = pytest.StashKey[dict[str, ExerciseScore]]()
RESULTS_KEY = pytest.StashKey[dict[str, CheckResult]]()
IMPLS_KEY = pytest.StashKey[dict[str, Implementation]]()
MODE_KEY = pytest.StashKey[str]()  # "parent", "worker" or "in-process"
POOL_KEY = pytest.StashKey[WorkerPool]()
EVENTS_KEY = pytest.StashKey[IO[str]]()
CHAPTERS_KEY = pytest.StashKey[list[str]]()  # chapters with selected checks, in the book's order
REPORTED_KEY = pytest.StashKey[set[str]]()  # chapters whose import failure has been shown
SECTIONS_KEY = pytest.StashKey[list[tuple[str, str]]]()  # a worker's captured output for one check
COUNTS_KEY = pytest.StashKey[dict[str, int]]()  # exercise -> its checks collected, before -k / -m deselected any


# ------------------------------------------------------------------------------------------ options


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("exercises", "grading the course exercises")
    group.addoption("--solutions", action="store_true", default=False,
                    help="grade the package's reference solutions instead of exercises/<chapter>.py")
    group.addoption("--implementation", action="append", default=[], metavar="[CHAPTER=]PATH_OR_MODULE",
                    help="grade this module (a .py path or a dotted name), for all chapters or for CHAPTER")
    group.addoption("--exercise-timeout", type=float, default=DEFAULT_TIMEOUT_S, metavar="SECONDS",
                    help=f"time limit of one check, and of importing a graded file, in seconds "
                         f"(default {DEFAULT_TIMEOUT_S:g}; 0: none)")
    group.addoption("--exercise-in-process", action="store_true", default=False,
                    help="grade in this process (for --pdb), not in a worker process: then nothing ends code "
                         "that catches the time limit (or any loop, on Windows), and os._exit ends the whole run")
    group.addoption("--score-json", default=None, metavar="PATH", help="also write the scores to this JSON file")
    group.addoption("--hint-level", type=int, default=os.environ.get(HINT_LEVEL_ENV) or 1, metavar="N",
                    help=f"how much a failed check gives away: 1 a nudge (default), 2 a more specific hint, "
                         f"{MAX_HINT_LEVEL} the formula (default from ${HINT_LEVEL_ENV})")
    group.addoption("--exercise", action="append", default=[], metavar="KEY",
                    help="grade only this exercise (its key, e.g. vae.lerp; may be repeated)")
    group.addoption("--exercise-worker", default=None, help=argparse.SUPPRESS)  # internal: see _workers.py
    # internal: who runs the checks ("notebook": grade()), for how hints are asked for and the score history
    group.addoption("--exercise-frontend", default="pytest", choices=sorted(ASK_FOR_HINTS), help=argparse.SUPPRESS)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "exercise(key): the exercise a class of checks grades (see EXERCISES)")
    config.addinivalue_line("markers", "points(n): what a graded check is worth")
    level = config.getoption("hint_level")
    if not isinstance(level, int) or not 1 <= level <= MAX_HINT_LEVEL:
        raise pytest.UsageError(f"--hint-level (or ${HINT_LEVEL_ENV}) must be 1, 2 or {MAX_HINT_LEVEL}, got {level!r}")
    config.stash[SCORES_KEY] = {}
    config.stash[RESULTS_KEY] = {}
    config.stash[IMPLS_KEY] = _implementations(config)
    config.stash[REPORTED_KEY] = set()
    config.stash[CHAPTERS_KEY] = []
    events = config.getoption("exercise_worker")
    if events:
        config.stash[MODE_KEY] = "worker"
        config.stash[EVENTS_KEY] = open(events, "a", encoding="utf-8")  # noqa: SIM115 - closed at unconfigure
        config.pluginmanager.register(WorkerReporter(config), "exercise-worker-reporter")
        _event(config, "ready", alarm=alarm_available())
    elif config.getoption("exercise_in_process"):
        config.stash[MODE_KEY] = "in-process"
    else:
        config.stash[MODE_KEY] = "parent"
        if not (config.option.collectonly or getattr(config.option, "help", False)
                or getattr(config.option, "version", False)):
            # Started now, the worker loads torch while this process collects the checks.
            config.stash[POOL_KEY] = WorkerPool(
                limit=_limit(config), rootdir=config.rootpath,
                inifile=config.inipath, invocation_dir=config.invocation_params.dir,
                tbstyle=config.getoption("tbstyle"), capture=config.getoption("capture") != "no",
                extra_args=["--hint-level", str(config.getoption("hint_level")),
                            "--exercise-frontend", config.getoption("exercise_frontend")],
                preload=["torch", *dict.fromkeys(e.module for e in EXERCISES)],
            )


def pytest_unconfigure(config: pytest.Config) -> None:
    pool = config.stash.get(POOL_KEY, None)
    if pool is not None:
        pool.close()
    events = config.stash.get(EVENTS_KEY, None)
    if events is not None:
        events.close()


def _limit(config: pytest.Config) -> float:
    """``--exercise-timeout`` in seconds (0: none)."""
    return float(config.getoption("exercise_timeout") or 0)


def _implementations(config: pytest.Config) -> dict[str, Implementation]:
    """Which module each chapter's checks grade, from ``--solutions`` and ``--implementation``."""
    folder = _learner_folder(config)
    sources = {chapter: default_source(chapter, folder) if folder is not None else "" for chapter in REFERENCES}
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
    for chapter, source in sources.items():  # a path means the same in a worker, whatever its folder
        if source and source != "solutions" and is_path(source):
            sources[chapter] = str(Path(source).resolve())
    return {chapter: Implementation(chapter, source) for chapter, source in sources.items()}


def _learner_folder(config: pytest.Config) -> Path | None:
    """The folder of the learner's files: the ``LEARNER_FOLDER`` of the conftest that loaded this plugin
    (``exercises/conftest.py`` in a clone), or None when the package's checks run on their own."""
    for plugin in config.pluginmanager.get_plugins():
        folder = getattr(plugin, "LEARNER_FOLDER", None)
        if folder is not None:
            return Path(folder)
    return None


def _event(config: pytest.Config, kind: str, **fields: Any) -> None:
    """Tell the parent what this worker is doing (one JSON line; see _workers.py)."""
    stream = config.stash[EVENTS_KEY]
    stream.write(json.dumps({"event": kind, "time": time.time(), **fields}) + "\n")
    stream.flush()


# ------------------------------------------------------------------------------------------ fixtures


@pytest.fixture
def impl(request: pytest.FixtureRequest) -> Implementation:
    """The functions under grading for this test module's chapter (its ``CHAPTER``)."""
    return request.config.stash[IMPLS_KEY][request.module.CHAPTER]


@pytest.fixture(autouse=True)
def _fresh_state() -> Iterator[None]:
    """Every check starts from the same global torch settings (default dtype, grad mode, determinism, ...) and
    its own fixed seed, and puts back what it found: checks do not depend on order, nor on each other's code."""
    with fresh_torch_state(BASELINE_STATE, seed=1234):
        yield


# ------------------------------------------------------------------------------------------ bookkeeping

CHAPTER_ORDER = list(REFERENCES)  # the book's order: vae, dcgan, conditional
EXERCISE_ORDER = {e.key: i for i, e in enumerate(EXERCISES)}  # rising difficulty


def _chapter(item: pytest.Item) -> str | None:
    chapter = getattr(getattr(item, "module", None), "CHAPTER", None)
    return chapter if chapter in REFERENCES else None


def _exercise_key(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("exercise")
    return str(marker.args[0]) if marker is not None and marker.args else None


@pytest.hookimpl(tryfirst=True)  # before -k and -m deselect: counts every check of each exercise
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep only the exercises of ``--exercise``; run (and report) them in order of rising difficulty
    (``EXERCISES``), whatever their file."""
    keys = [key for key in map(_exercise_key, items) if key is not None]
    unknown = sorted({key for key in [*keys, *config.getoption("exercise")] if key not in EXERCISE_ORDER})
    if unknown:
        raise pytest.UsageError(f"unknown exercise {', '.join(map(repr, unknown))} (--exercise, or a check's exercise "
                                f"marker); the exercises of EXERCISES in _grading.py are {', '.join(EXERCISE_ORDER)}")
    config.stash[COUNTS_KEY] = Counter(keys)
    chosen = config.getoption("exercise")
    deselected = [item for item in items if chosen and _exercise_key(item) not in chosen]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if item not in deselected]
    items.sort(key=lambda item: EXERCISE_ORDER.get(_exercise_key(item) or "", len(EXERCISE_ORDER)))  # stable


def pytest_collection_finish(session: pytest.Session) -> None:
    """Register every selected check under its exercise, so checks that never ran still count as 0; in a worker
    (or with --exercise-in-process), import the graded code now, once, within the time limit."""
    config = session.config
    scores, results = config.stash[SCORES_KEY], config.stash[RESULTS_KEY]
    chapters = [c for c in CHAPTER_ORDER if any(_chapter(item) == c for item in session.items)]
    config.stash[CHAPTERS_KEY] = chapters
    unset = [c for c in chapters if not config.stash[IMPLS_KEY][c].source]
    if unset:  # the package's checks, run on their own: nothing says what to grade
        raise pytest.UsageError(f"nothing to grade for {', '.join(unset)}: give --solutions, or --implementation "
                                f"CHAPTER=FILE.py for each chapter (or run `pytest exercises` in a clone)")
    for item in session.items:
        ex = exercise_of(_exercise_key(item) or "")
        if ex is not None:
            results[item.nodeid] = CheckResult(item.nodeid, _doc(item), _points(item))
            scores.setdefault(ex.key, ExerciseScore(ex.key, ex.title, ex.level)).checks.append(results[item.nodeid])
    mode = config.stash[MODE_KEY]
    if mode == "parent" or config.option.collectonly:
        return
    limit = _limit(config)
    preload_references(chapters)  # what the checks compare against: not part of a learner's import time
    for chapter in chapters:
        impl = config.stash[IMPLS_KEY][chapter]
        if mode == "worker":
            _event(config, "importing", chapter=chapter)
        error = impl.preload(limit)
        if mode == "worker":
            if error is None:
                _event(config, "imported", chapter=chapter)
            else:  # the parent fails the chapter's checks; this worker runs the others only
                _event(config, "import_failed", chapter=chapter, message=error)
                session.items[:] = [item for item in session.items if _chapter(item) != chapter]


def _doc(item: pytest.Item) -> str:
    return (getattr(item, "obj", None).__doc__ or item.name).strip().splitlines()[0]


# ------------------------------------------------------------------------------------------ running a check


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """In the parent, a check's outcome comes from the worker; a chapter whose file did not import fails its first
    check with the reason and skips the others (in the parent, and with --exercise-in-process)."""
    config = pyfuncitem.config
    mode, chapter = config.stash[MODE_KEY], _chapter(pyfuncitem)
    if chapter is None or mode == "worker":
        return None
    if mode == "in-process":
        error = config.stash[IMPLS_KEY][chapter].import_error
        if error is not None:
            _import_failed(pyfuncitem, chapter, error)
        return None
    outcome = _pool(pyfuncitem.session).outcome(pyfuncitem.nodeid, chapter)
    pyfuncitem.stash[SECTIONS_KEY] = outcome.sections
    if outcome.kind == "passed":
        return True
    if outcome.kind == "skipped":
        pytest.skip(outcome.text or "skipped")
    if outcome.kind == "failed":
        raise WorkerFailure(outcome.text)
    if outcome.kind == "import_failed":
        _import_failed(pyfuncitem, chapter, outcome.text or _import_ended(config, chapter, outcome))
    raise WorkerFailure(_outside_message(pyfuncitem, outcome))


def _pool(session: pytest.Session) -> WorkerPool:
    """The worker pool, told which checks to run when first asked."""
    config = session.config
    pool = config.stash[POOL_KEY]
    if not pool.chapter_of:
        plan = {item.nodeid: chapter for item in session.items if (chapter := _chapter(item)) is not None}
        impls = config.stash[IMPLS_KEY]
        pool.plan(plan, {c: impls[c].source for c in set(plan.values())})
    return pool


def _import_failed(item: pytest.Item, chapter: str, message: str) -> None:
    """Fail the first check of a chapter whose file did not import, with the reason; skip the others."""
    config = item.config
    reported = config.stash[REPORTED_KEY]
    source = display_path(config.stash[IMPLS_KEY][chapter].source)
    if chapter in reported:
        pytest.skip(f"not run: {source} could not be imported (see the first failure of this chapter)")
    reported.add(chapter)
    checks = [r for r in config.stash[RESULTS_KEY].values() if r.nodeid.startswith(item.nodeid.split("::")[0] + "::")]
    points = sum(r.points for r in checks)
    raise WorkerFailure(f"[{source}] could not be imported: none of its {len(checks)} checks ran "
                        f"(0 of {points} points; the others are marked skipped)\n{message}")


def _import_ended(config: pytest.Config, chapter: str, outcome: Outcome) -> str:
    """The message for an import that the parent had to end, or during which the worker ended."""
    source = display_path(config.stash[IMPLS_KEY][chapter].source)
    limit = _limit(config)
    if outcome.returncode is None:  # ended from outside, after the time limit
        why = ("the time limit did not stop it, so the grader ended it (a bare `except:` catches the time limit too)"
               if outcome.alarm else "so the grader ended it (on this system it cannot show where your code was)")
        return message(f"{source} to import within {limit:g} s", f"still running after {outcome.seconds:.0f} s; {why}",
                       f"{TOP_LEVEL_HINT}; look for a loop that never ends.")
    return message(f"{source} to import", f"the process ended while importing it ({_exit_code(outcome.returncode)})",
                   f"{TOP_LEVEL_HINT}; os._exit() and crashes of Python (or of torch) end the whole process.")


def _exit_code(code: int | None) -> str:
    if code is not None and code < 0:
        return f"killed by signal {-code}{': out of memory?' if code == -9 else ''}"
    return f"exit code {code}"


def _outside_message(item: pytest.Item, outcome: Outcome) -> str:
    """The message for a check the parent failed itself: its worker ran too long, ended, or could not run."""
    head = _head(item)
    limit = _limit(item.config)
    if outcome.kind == "timeout":
        if outcome.alarm:
            got = (f"still running after {outcome.seconds:.0f} s: the time limit did not stop your code, so the "
                   f"grader ended it")
            hint = ("a bare `except:` (or `except BaseException:`) also catches the grader's time limit: catch "
                    "`Exception`, or better the error you expect; and look for a loop that never ends.")
        else:
            got = (f"still running after {outcome.seconds:.0f} s, so the grader ended it (on this system it cannot "
                   f"show where your code was)")
            hint = "look for a loop that never ends, or a tensor far larger than the docstring's shapes."
        return f"{head}\n" + message(f"the check to finish within {limit:g} s", got, hint)
    if outcome.kind == "died":
        return f"{head}\n" + message(
            "your code to return (or raise an error)",
            f"the process running the checks ended during this check ({_exit_code(outcome.returncode)})",
            "os._exit() and crashes of Python (or of torch) end the whole process: the other checks of this chapter "
            "ran in a new one.")
    return f"{head}\n" + message("the grader to run this check", outcome.text,
                                  "this is not your code's fault: run the command again, and report it if it persists.")


# ------------------------------------------------------------------------------------------ time limit


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Stop a check whose learner code runs past ``--exercise-timeout`` (SIGALRM: Linux and macOS; the parent
    ends the worker from outside where that fails, or on Windows)."""
    limit = _limit(item.config)
    if item.config.stash[MODE_KEY] == "parent" and _chapter(item) is not None:
        return (yield)  # the worker runs it, under its own limit
    with time_limit(limit):
        return (yield)


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
    if report.when == "call":
        report.sections.extend(item.stash.get(SECTIONS_KEY, []))
    if report.failed and call.excinfo is not None and isinstance(call.excinfo.value, WorkerFailure):
        report.longrepr = call.excinfo.value.text
    elif (report.failed and call.excinfo is not None and item.get_closest_marker("exercise") is not None
            and item.config.getoption("tbstyle") in ("auto", "short")):
        report.longrepr = _learner_message(item, call.excinfo)
    return report


def _points(item: pytest.Item) -> int:
    marker = item.get_closest_marker("points")
    return int(marker.args[0]) if marker else 1


def _head(item: pytest.Item) -> str:
    ex = exercise_of(_exercise_key(item) or "")
    n = _points(item)
    return f"[{ex.title if ex else item.name}] check failed: {_doc(item)} ({n} point{'s' if n != 1 else ''})"


def _learner_message(item: pytest.Item, excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    head = _head(item)
    err = excinfo.value
    impl: Implementation | None = item.config.stash[IMPLS_KEY].get(_chapter(item) or "")
    where = location_in(impl.file if impl is not None else None, excinfo.tb)
    at = f" {where}" if where else ""
    hint = getattr(err, "grader_hint", None)
    if isinstance(err, ExerciseFailure):
        body = str(err)
    elif isinstance(err, NotImplementedError):
        body = message(f"your implementation of `{excinfo.traceback[-1].name}`",
                       "NotImplementedError (the exercise is not done yet)", str(err) or "replace the raise with your code")
    elif isinstance(err, ExerciseTimeout):
        body = message(f"the check to finish within {_limit(item.config):g} s", f"still running, {err}{at}",
                       "look for a loop that never ends, or a tensor far larger than the docstring's shapes.")
    elif isinstance(err, SystemExit):
        body = message("your function to return its result", f"SystemExit({err.code!r}){at}",
                       "exit(), quit() and sys.exit() end the whole program: return the result (or raise an error).")
    elif reads_stdin(err):
        body = message("your function to run without asking for input", f"input(){at}: nobody types while grading",
                       "remove it; print() is fine (pytest shows what a failed check printed).")
    elif where or hint:
        body = message("your code to run without an error", f"{type(err).__name__}: {err}" + (
            f"\n          {where}" if where else ""),
                       hint or "compare the shapes you use with the docstring's; print them if unsure.")
    else:
        body = message("a result of the type and shape the docstring describes",
                       f"something the check could not use: {type(err).__name__}: {err}",
                       "read the docstring again: what should the function return?")
    if not isinstance(err, (ExerciseTimeout, SystemExit)) and not reads_stdin(err):
        more = hint_lines(_exercise_key(item) or "", int(item.config.getoption("hint_level")),
                          item.config.getoption("exercise_frontend"))
        if more:  # the higher tiers of the exercise's hints (or how to see them)
            body = f"{body}\n{more}"
    return f"{head}\n{body}"


# ------------------------------------------------------------------------------------------ worker reports


class WorkerReporter:
    """In a worker: tells the parent when each check starts and how it ended (registered by pytest_configure)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.reports: dict[str, list[pytest.TestReport]] = {}

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        self.reports[nodeid] = []
        _event(self.config, "start", nodeid=nodeid)  # the parent's time limit counts from here

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.reports.setdefault(report.nodeid, []).append(report)

    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        reports = self.reports.pop(nodeid, [])
        outcome, text = "passed", ""
        for report in reports:
            if report.failed or report.skipped:
                outcome, text = ("failed" if report.failed else "skipped"), _longrepr_text(report)
                break
        sections = [list(s) for r in reports if r.when == "call" or r.failed for s in r.sections]
        _event(self.config, "result", nodeid=nodeid, outcome=outcome, text=text, sections=sections)


def _longrepr_text(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # a skip: (path, line, reason)
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


# ------------------------------------------------------------------------------------------ scores


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> Iterator[None]:
    """Print the per-exercise scores and the total last, after pytest's own summaries; optionally as JSON."""
    result = yield  # the outermost wrapper: pytest's failure list is printed by now
    if config.stash[MODE_KEY] != "worker":
        _print_scores(terminalreporter, config)
    return result


def _print_scores(terminalreporter: Any, config: pytest.Config) -> None:
    scores = config.stash[SCORES_KEY]
    if not scores:
        return
    tr = terminalreporter
    impls = config.stash[IMPLS_KEY]
    sources = list(dict.fromkeys(impls[c].describe() for c in config.stash[CHAPTERS_KEY]))  # chapters that ran
    tr.write_sep("=", "exercise scores")
    tr.write_line(f"graded: {', '.join(sources)}")
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
    level = int(config.getoption("hint_level"))
    if score < total and level < MAX_HINT_LEVEL:
        ask = ASK_FOR_HINTS[config.getoption("exercise_frontend")].format(level=level + 1)
        tr.write_line(f"  stuck? {ask.removeprefix('run again with ').removeprefix('call ').removesuffix(' again')} adds "
                      f"{'a more specific hint' if level < 2 else 'the formula'} to each failure"
                      f"{' (3: the formula)' if level < 2 else ''}")
    _record_history(config, scores)
    path = config.getoption("score_json")
    if path:
        payload = {
            "score": score,
            "total": total,
            "graded": sources,
            "exercises": {
                ex.key: {
                    "title": ex.title,
                    "level": ex.level,
                    "score": ex.score,
                    "total": ex.total,
                    "checks": [{"check": c.description, "points": c.points, "passed": bool(c.passed)} for c in ex.checks],
                }
                for ex in scores.values()
            },
        }
        Path(path).write_text(json.dumps(payload, indent=2))


def _record_history(config: pytest.Config, scores: dict[str, ExerciseScore]) -> None:
    """Append this run's score of each exercise to the learner's score history (``history.py``); runs of the
    reference solutions are not the learner's, and exercises of which ``-k`` left out checks are not whole
    attempts: neither is recorded."""
    impls = config.stash[IMPLS_KEY]
    counts = config.stash.get(COUNTS_KEY, {})
    origin = config.getoption("exercise_frontend")
    records = []
    for ex in scores.values():
        chapter = ex.key.split(".")[0]
        impl = impls.get(chapter)
        if impl is None or impl.source == "solutions" or len(ex.checks) < counts.get(ex.key, 0):
            continue
        graded = "notebook" if origin == "notebook" else impl.describe()
        records.append(make_record(ex.key, ex.title, ex.score, ex.total, origin, graded))
    append_records(records)
