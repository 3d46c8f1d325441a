"""Runs the checks in a second process, so that a learner's file that hangs, exits or crashes Python costs its
own points and no other chapter's.

The ``pytest exercises`` process the learner starts (the *parent*) never imports learner code. It starts a
*worker*, ``python -m pytest <the selected checks> --exercise-worker EVENTS``, which imports the graded files
one chapter after the other and runs the checks as an ordinary pytest run would, appending one JSON line per
event to the file EVENTS: ``ready``, then ``importing`` and ``imported`` (or ``import_failed``) for each
chapter, then ``start`` and ``result`` for each check. The parent reports every check from those lines, and
it alone keeps the wall-clock limits, which work on every platform because they end a process from outside:

* importing a graded file: the time limit of a check plus :func:`grace` (on Linux and macOS the worker's own
  SIGALRM stops the import at the limit and says where it was; on Windows only the parent can stop it);
* each check: the same, counted from the worker's ``start`` line, so a ``while True`` whose bare ``except:``
  swallows the worker's own alarm is ended too;
* starting Python and torch: :data:`STARTUP_LIMIT_S`, generous, as a guard only.

When the parent ends a worker, or a worker ends by itself (``os._exit``, a crash of Python), the check or the
chapter import it was running fails, and a new worker runs the checks that are left, without that chapter
when it was its import that failed. Every chapter gets its score whatever one file does. A worker whose parent
disappears ends itself: it watches its standard input, a pipe only the parent holds.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

STARTUP_LIMIT_S = 300.0  # Python + torch + pytest, on a slow, cold machine
POLL_S = 0.02

# The worker's entry point. It imports the slow modules named on its command line first (torch, the package's
# references), so that it can be started before the parent knows what to run; then it reads its pytest arguments,
# one JSON line, from standard input. It then moves that pipe off standard input (so that input() in learner code
# sees an empty stdin), ends at once when the pipe closes (the parent is gone), and runs pytest.
_LAUNCHER = """\
import json, os, sys, threading
for _name in sys.argv[1:]:
    try:
        __import__(_name)
    except Exception:
        pass
_line = b""
while not _line.endswith(b"\\n"):
    _chunk = os.read(0, 65536)
    if not _chunk:
        os._exit(0)
    _line += _chunk
_args = json.loads(_line)
_pipe = os.dup(0)
_null = os.open(os.devnull, os.O_RDONLY)
os.dup2(_null, 0)
os.close(_null)
def _watch():
    try:
        while os.read(_pipe, 1024):
            pass
    except OSError:
        pass
    os._exit(70)
threading.Thread(target=_watch, daemon=True).start()
import pytest
sys.exit(pytest.main(_args))
"""


def grace(limit: float) -> float:
    """How long past the time limit the parent waits before it ends a worker from outside."""
    return max(2.0, 0.5 * limit)


@dataclass
class Outcome:
    """What became of one check.

    ``kind`` is ``passed``, ``failed`` or ``skipped`` (reported by the worker, ``text`` its message or reason),
    ``import_failed`` (``text`` the message), ``timeout`` (ended after ``seconds`` from outside; ``alarm``: whether
    the worker's own time limit was there and failed), ``died`` (the worker ended during the check, with
    ``returncode``) or ``broken`` (the grader itself could not run it; ``text`` says why).
    """

    kind: str
    text: str = ""
    sections: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    returncode: int | None = None
    alarm: bool = True


@dataclass
class _Process:
    """A started launcher: a Python process importing torch, then waiting for its pytest arguments."""

    proc: subprocess.Popen[bytes]
    log_path: Path | None


@dataclass
class _Worker:
    proc: subprocess.Popen[bytes]
    events: IO[bytes]
    log_path: Path | None
    launched: float
    phase: str = "starting"  # starting, ready, importing, running
    since: float = 0.0  # when the current phase (or check) began
    chapter: str | None = None  # the chapter being imported
    current: str | None = None  # the check running now
    alarm: bool = True
    _partial: bytes = b""

    def read_events(self) -> list[dict[str, Any]]:
        data = self._partial + self.events.read()
        lines = data.split(b"\n")
        self._partial = lines.pop()
        out = []
        for line in lines:
            if line.strip():
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue
        return out


class WorkerPool:
    """The worker of one ``pytest exercises`` run (one at a time, started again when needed), and the outcome of
    every check it ran.

    The first worker process is started with the pool, while the parent still collects the checks; after a
    worker had to be replaced, a spare one is kept ready, so that a file that hangs again and again does not
    also wait for torch to load each time.

    Args:
        limit: the time limit of one check in seconds (0: none at all).
        rootdir, inifile, invocation_dir: the parent's, so that node ids and imports mean the same.
        tbstyle: the parent's ``--tb``.
        capture: ``False`` when the parent runs with ``-s`` (learner prints then reach the terminal).
        preload: modules a worker imports before it is needed (torch, the references).
        extra_args: more of the parent's options for every worker (``--hint-level``).
    """

    def __init__(self, *, limit: float, rootdir: Path, inifile: Path | None, invocation_dir: Path, tbstyle: str,
                 capture: bool, preload: list[str], extra_args: list[str] | None = None) -> None:
        self.chapter_of: dict[str, str] = {}
        self.pending: list[str] = []  # node ids without an outcome yet, in order
        self.sources: dict[str, str] = {}
        self.limit = limit
        self.rootdir = rootdir
        self.inifile = inifile
        self.invocation_dir = invocation_dir
        self.tbstyle = tbstyle
        self.capture = capture
        self.preload = preload
        self.extra_args = list(extra_args or [])
        self.results: dict[str, Outcome] = {}
        self.worker: _Worker | None = None
        self.stalls = 0  # workers in a row that ended without reporting anything
        self.replaced = 0  # workers ended by the parent, or that ended by themselves, with work left
        self.tmp = Path(tempfile.mkdtemp(prefix="fundamentalml-grading-"))
        self._count = 0
        self.spare: _Process | None = self._spawn()

    def plan(self, plan: dict[str, str], sources: dict[str, str]) -> None:
        """The checks to run (node id -> chapter, in order) and what each chapter grades."""
        for nodeid, chapter in plan.items():
            self._add(nodeid, chapter)
        self.sources.update(sources)

    def _add(self, nodeid: str, chapter: str) -> None:
        if nodeid not in self.chapter_of:
            self.chapter_of[nodeid] = chapter
            self.pending.append(nodeid)

    # ---------------------------------------------------------------------------------------- public

    def outcome(self, nodeid: str, chapter: str) -> Outcome:
        """Wait for the outcome of check ``nodeid``, keeping the worker's limits meanwhile."""
        self._add(nodeid, chapter)  # not in the plan: run it too
        while nodeid not in self.results:
            if self.worker is None:
                self._start()
            self._pump()
            if nodeid not in self.results:
                time.sleep(POLL_S)
        return self.results[nodeid]

    def close(self) -> None:
        """End the worker (and the spare) and remove the event files."""
        if self.worker is not None:
            self._stop()
        if self.spare is not None:
            end_process(self.spare.proc)
            self.spare = None
        shutil.rmtree(self.tmp, ignore_errors=True)

    # ---------------------------------------------------------------------------------------- the worker

    def _spawn(self) -> _Process:
        """Start a launcher: it imports torch and the references, then waits for :meth:`_start`'s arguments."""
        self._count += 1
        log_path: Path | None = None
        out: Any = None
        if self.capture:
            log_path = self.tmp / f"worker-{self._count}.log"
            out = open(log_path, "wb")  # noqa: SIM115 - handed to the child
        try:
            proc = start_process([sys.executable, "-c", _LAUNCHER, *self.preload], cwd=self.invocation_dir,
                                 stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT if out is not None else None)
        finally:
            if out is not None:
                out.close()
        return _Process(proc, log_path)

    def _start(self) -> None:
        """Give the spare launcher (or a new one) the checks left to run: it becomes the worker."""
        launcher = self.spare if self.spare is not None and self.spare.proc.poll() is None else self._spawn()
        self.spare = None
        events_path = self.tmp / f"events-{self._count}-{len(self.results)}.jsonl"
        events_path.write_bytes(b"")
        targets, chapters = [], []
        for nodeid in self.pending:
            path, sep, rest = nodeid.partition("::")
            targets.append(str(self.rootdir / path) + sep + rest)
            if self.chapter_of[nodeid] not in chapters:
                chapters.append(self.chapter_of[nodeid])
        args = [*targets, "--rootdir", str(self.rootdir), "-p", "no:cacheprovider", "-q", "--color=no",
                f"--tb={self.tbstyle}", "--exercise-worker", str(events_path), "--exercise-timeout", repr(self.limit),
                *self.extra_args]
        for chapter in chapters:
            args += ["--implementation", f"{chapter}={self.sources[chapter]}"]
        if self.inifile is not None:
            args += ["-c", str(self.inifile)]
        if not self.capture:
            args.append("-s")
        assert launcher.proc.stdin is not None
        try:
            launcher.proc.stdin.write((json.dumps(args) + "\n").encode())
            launcher.proc.stdin.flush()
        except OSError:
            pass  # it ended already: seen as a worker that ended before it started
        now = time.time()  # a spare may have waited long: its start-up limit counts from now
        self.worker = _Worker(launcher.proc, open(events_path, "rb"), launcher.log_path, now, since=now)  # noqa: SIM115
        if self.replaced and self.spare is None:
            self.spare = self._spawn()  # the file broke a worker before: have the next one ready

    def _stop(self) -> None:
        """End the worker (if it still runs) and forget it."""
        worker, self.worker = self.worker, None
        if worker is None:
            return
        end_process(worker.proc)
        try:
            worker.events.close()
        except OSError:
            pass

    def _log_tail(self, worker: _Worker, limit: int = 3000) -> str:
        if worker.log_path is None or not worker.log_path.is_file():
            return "(its output went to the terminal)"
        text = worker.log_path.read_text(errors="replace").strip()
        return text[-limit:] if text else "(no output)"

    # ---------------------------------------------------------------------------------------- events

    def _pump(self) -> None:
        worker = self.worker
        if worker is None:
            return
        exited = worker.proc.poll() is not None  # before reading: every line it wrote is in the file by now
        for event in worker.read_events():
            self._handle(worker, event)
        if exited:
            self._on_exit(worker)
        elif not self.pending:
            self._stop()  # nothing left to run (and a learner's thread may keep it alive)
        else:
            self._keep_limits(worker)

    def _handle(self, worker: _Worker, event: dict[str, Any]) -> None:
        kind, when = event.get("event"), float(event.get("time", time.time()))
        if kind == "ready":
            worker.phase, worker.alarm = "ready", bool(event.get("alarm", True))
        elif kind == "importing":
            worker.phase, worker.since, worker.chapter = "importing", when, str(event["chapter"])
        elif kind == "imported":
            worker.phase, worker.since, worker.chapter = "running", when, None
        elif kind == "import_failed":
            self._chapter_fails(str(event["chapter"]), Outcome("import_failed", str(event.get("message", ""))))
            worker.phase, worker.since, worker.chapter = "running", when, None
        elif kind == "start":
            worker.current, worker.since = str(event["nodeid"]), when
        elif kind == "result":
            sections = [(str(t), str(c)) for t, c in event.get("sections", [])]
            self._record(str(event["nodeid"]), Outcome(str(event["outcome"]), str(event.get("text", "")), sections))
            worker.current, worker.since = None, when
            self.stalls = 0

    def _record(self, nodeid: str, outcome: Outcome) -> None:
        self.results.setdefault(nodeid, outcome)
        if nodeid in self.pending:
            self.pending.remove(nodeid)

    def _chapter_fails(self, chapter: str, outcome: Outcome) -> None:
        for nodeid in [n for n in self.pending if self.chapter_of[n] == chapter]:
            self._record(nodeid, outcome)
        self.stalls = 0

    def _all_fail(self, outcome: Outcome) -> None:
        for nodeid in list(self.pending):
            self._record(nodeid, outcome)

    def _on_exit(self, worker: _Worker) -> None:
        code = worker.proc.returncode
        self._stop()
        if not self.pending:
            return
        self.replaced += 1  # the next worker comes from a spare from now on
        if worker.phase in ("starting", "ready"):
            self._all_fail(Outcome(
                "broken", f"the process that runs the checks ended before it imported the graded files "
                          f"(exit code {code}); its output:\n{self._log_tail(worker)}", returncode=code))
        elif worker.phase == "importing" and worker.chapter is not None:
            self._chapter_fails(worker.chapter, Outcome("import_failed", "", returncode=code))
        elif worker.current is not None:
            self._record(worker.current, Outcome("died", returncode=code, text=self._log_tail(worker)))
            self.stalls = 0
        else:
            self._stalled(worker, code)

    def _stalled(self, worker: _Worker, code: int | None) -> None:
        """The worker ended (or stopped) between checks: try once more, then fail what is left."""
        self.stalls += 1
        if self.stalls > 1:
            self._all_fail(Outcome(
                "broken", f"the process that runs the checks ended (exit code {code}) without running them; "
                          f"its output:\n{self._log_tail(worker)}", returncode=code))

    def _keep_limits(self, worker: _Worker) -> None:
        if self.limit <= 0:
            return
        now = time.time()
        busy = worker.phase == "importing" or (worker.phase == "running" and worker.current is not None)
        if busy and self.spare is None and now - worker.since > self.limit:
            self.spare = self._spawn()  # past the limit: have a replacement load torch during the grace period
        if worker.phase in ("starting", "ready"):
            if now - worker.launched > STARTUP_LIMIT_S:
                self._stop()
                self._all_fail(Outcome(
                    "broken", f"the process that runs the checks did not start within {STARTUP_LIMIT_S:g} s; "
                              f"its output:\n{self._log_tail(worker)}"))
        elif now - worker.since > self.limit + grace(self.limit):
            self._stop()
            self.replaced += 1
            if worker.phase == "importing" and worker.chapter is not None:
                self._chapter_fails(worker.chapter, Outcome("import_failed", "", seconds=now - worker.since,
                                                            alarm=worker.alarm))
            elif worker.current is not None:
                self._record(worker.current, Outcome("timeout", seconds=now - worker.since, alarm=worker.alarm))
            else:
                self._stalled(worker, None)


def start_process(cmd: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
    """Start a grading process in a session of its own (Ctrl-C reaches the parent, which ends it with
    :func:`end_process`), without the parent's ``PYTEST_ADDOPTS`` and ``PYTEST_PLUGINS``: the parent's options
    reached it already, and ``-x`` or ``-n`` must not reach a worker."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS")}
    if os.name == "posix":
        kwargs["start_new_session"] = True
    else:
        kwargs["creationflags"] = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)
    return subprocess.Popen(cmd, env={**env, **kwargs.pop("env", {})}, **kwargs)


def end_process(proc: subprocess.Popen[Any]) -> None:
    """End a grading process (and, on POSIX, the processes the learner's code started)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL) if os.name == "posix" else proc.kill()  # its own session
        except OSError:
            proc.kill()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    try:
        if proc.stdin is not None:
            proc.stdin.close()
    except OSError:
        pass
