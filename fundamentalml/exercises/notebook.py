"""Grading an exercise from a notebook: :func:`grade` runs the same checks as ``python -m pytest exercises``, on
the functions a learner wrote in cells, in a separate process.

``grade(lerp)`` writes the source of ``lerp`` (what ``inspect.getsource`` finds, which works for functions
defined in notebook cells; a string of source works too) into a temporary module, after the import lines of
the chapter's exercise file and whatever the function needs from the notebook (the modules it uses, the other
functions of the notebook it calls, simple constants). It then runs ``python -m pytest`` on the package's
checks of that one exercise, with ``--implementation CHAPTER=module.py``: the worker process, the time limit
of each check and the hints are those of ``pytest exercises``. A loop that never ends is stopped there, never
in the kernel. The report is pytest's, without its header; the result is a :class:`GradeResult`.
"""

from __future__ import annotations

import ast
import builtins
import dis
import importlib
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._grading import (CHECKS_DIR, DEFAULT_TIMEOUT_S, EXERCISES, HINT_LEVEL_ENV, MAX_HINT_LEVEL, Exercise,
                       exercise_of)
from ._workers import STARTUP_LIMIT_S, end_process, grace, start_process

# The import lines every learner module starts with: those of the exercise files (``exercises/<chapter>.py`` in
# a clone, which the package does not ship), all chapters' together. tests/test_notebook_grading.py checks that
# every import line of those files is here.
STUB_IMPORTS = "\n".join([
    "from __future__ import annotations",
    "import math",
    "import torch",
    "import torch.nn.functional as F",
    "from torch import nn",
])

_SIMPLE = (int, float, complex, str, bytes, bool, type(None))


class GradingError(ValueError):
    """``grade`` was called with something it cannot grade; the message says what to pass instead."""


@dataclass
class CheckOutcome:
    """One check of the exercise: what it tests, its points, and whether it passed."""

    check: str
    points: int
    passed: bool


@dataclass
class GradeResult:
    """What :func:`grade` found: the exercise, its score out of its total, each check, and the report printed."""

    exercise: str
    title: str
    score: int
    total: int
    checks: list[CheckOutcome] = field(default_factory=list)
    report: str = ""
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        """Full marks."""
        return self.total > 0 and self.score == self.total

    def __repr__(self) -> str:  # the cell's value, after the report: one line
        return f"<{self.title}: {self.score} / {self.total} points>"


# ------------------------------------------------------------------------------------------ what to grade


def _exercise_for(key: str | None, names: list[str]) -> Exercise:
    """The exercise ``key`` names (a catalogue key such as ``vae.lerp``, or one of its function names), or the
    one whose functions the given names are."""
    if key is not None:
        ex = exercise_of(key) or next((e for e in EXERCISES if key in e.functions), None)
        if ex is None:
            raise GradingError(f"grade: no exercise {key!r}; the exercises are "
                               f"{', '.join(e.key for e in EXERCISES)}")
        return ex
    matches = [e for e in EXERCISES if set(names) & set(e.functions)]
    if len(matches) == 1:
        return matches[0]
    if not names:
        raise GradingError("grade: pass the function you wrote, e.g. grade(lerp)")
    raise GradingError(f"grade: no exercise asks for {', '.join(map(repr, names))}; keep the name of the exercise's "
                       f"function (e.g. def lerp(...)) or name the exercise: grade('vae.lerp', my_lerp). The "
                       f"exercises are {', '.join(e.key for e in EXERCISES)}")


def _source_of(obj: Any) -> tuple[str, str]:
    """The name and source code of a function or class the learner defined (in a cell or a file)."""
    what = getattr(obj, "__name__", None) or type(obj).__name__
    if isinstance(obj, (types.BuiltinFunctionType, types.BuiltinMethodType)) or not (
            inspect.isfunction(obj) or inspect.isclass(obj)):
        raise GradingError(f"grade: {what!r} ({type(obj).__name__}) is not a function or class written in Python: "
                           f"pass the function you defined with def (or its source code as a string)")
    if obj.__name__ == "<lambda>":
        raise GradingError("grade: a lambda has no name the checks can call: write it as def NAME(...): return ...")
    try:
        source = inspect.getsource(obj)
    except (OSError, TypeError) as exc:
        source = _class_source(obj) if inspect.isclass(obj) else None
        if source is None:
            raise GradingError(f"grade: the source of {what!r} cannot be found ({exc}); run its cell again, or pass "
                               f"its source code as a string") from None
    return obj.__name__, textwrap.dedent(source)


def _class_source(cls: type) -> str | None:
    """The source of a class defined in a notebook cell, which ``inspect.getsource`` cannot find before Python
    3.13 (``__main__`` has no file): the ``class`` statement, in the cell one of its methods comes from."""
    import linecache

    for value in vars(cls).values():
        fn = getattr(value, "__func__", value)
        if not inspect.isfunction(fn):
            continue
        lines = linecache.getlines(fn.__code__.co_filename)
        if not lines:
            continue
        try:
            tree = ast.parse("".join(lines))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if (isinstance(node, ast.ClassDef) and node.name == cls.__name__
                    and node.lineno <= fn.__code__.co_firstlineno <= (node.end_lineno or node.lineno)):
                start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                return "".join(lines[start - 1:node.end_lineno])
    return None


def _defined_names(source: str) -> list[str] | None:
    """The names a piece of source defines at its top level (None: it does not parse; the grader then reports
    the syntax error, as for a file that does not import)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    names = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names += [t.id for t in targets if isinstance(t, ast.Name)]
    return names


def _globals_used(obj: Any) -> set[str]:
    """The global names a function (or a class's methods) reads."""
    codes: list[types.CodeType] = []
    if inspect.isfunction(obj):
        codes.append(obj.__code__)
    elif inspect.isclass(obj):
        for value in vars(obj).values():
            fn = getattr(value, "__func__", value)
            if inspect.isfunction(fn):
                codes.append(fn.__code__)
    names: set[str] = set()
    while codes:
        code = codes.pop()
        for ins in dis.get_instructions(code):
            if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME") and isinstance(ins.argval, str):
                names.add(ins.argval)
        codes += [c for c in code.co_consts if isinstance(c, types.CodeType)]
    return names


def _needed(objs: list[Any], defined: set[str]) -> tuple[list[str], list[str]]:
    """What the learner's functions read from the notebook, as lines of code: imports of modules, the source of
    the notebook's own functions and classes they call (and what those need), simple constants. Also the names
    that cannot be carried over (say, a tensor), for a note."""
    lines: list[str] = []
    skipped: list[str] = []
    seen = set(defined)
    queue = list(objs)
    while queue:
        obj = queue.pop(0)
        namespace = getattr(obj, "__globals__", None)
        if namespace is None and inspect.isclass(obj):
            namespace = vars(sys.modules.get(obj.__module__, types.ModuleType("_")))
        for name in sorted(_globals_used(obj)):
            if name in seen or namespace is None or name not in namespace or (
                    hasattr(builtins, name) and namespace[name] is getattr(builtins, name)):
                continue
            seen.add(name)
            value = namespace[name]
            if isinstance(value, types.ModuleType):
                target = value.__name__
                lines.append(f"import {target}" if target == name else f"import {target} as {name}")
            elif (inspect.isfunction(value) or inspect.isclass(value)) and value.__module__ == getattr(obj, "__module__", None):
                try:
                    _, source = _source_of(value)
                except GradingError:
                    skipped.append(name)
                    continue
                lines.append(source)
                queue.append(value)
            elif (inspect.isfunction(value) or inspect.isclass(value) or callable(value)) and _importable(value):
                lines.append(f"from {value.__module__} import {value.__qualname__} as {name}")
            elif isinstance(value, _SIMPLE) or (isinstance(value, tuple) and all(isinstance(v, _SIMPLE) for v in value)):
                lines.append(f"{name} = {value!r}")
            else:
                skipped.append(name)
    return lines, skipped


def _importable(value: Any) -> bool:
    """Whether ``from value.__module__ import value.__qualname__`` gives this very object back."""
    module, qualname = getattr(value, "__module__", None), getattr(value, "__qualname__", "")
    if not module or module == "__main__" or not qualname or "." in qualname or "<" in qualname:
        return False
    try:
        return getattr(importlib.import_module(module), qualname) is value
    except Exception:  # noqa: BLE001
        return False


def learner_module(*items: Any) -> tuple[Exercise, str, list[str]]:
    """The exercise that ``grade(*items)`` grades, the source of the module it grades, and the notes on names
    that could not be carried over (see :func:`grade`)."""
    key: str | None = None
    rest = list(items)
    if rest and isinstance(rest[0], str) and re.fullmatch(r"[A-Za-z_][\w.]*", rest[0].strip()):
        key = rest.pop(0).strip()
    if not rest:
        raise GradingError("grade: pass the function you wrote, e.g. grade(lerp) (or grade('vae.lerp', lerp))")
    pieces: list[tuple[str | None, str]] = []  # (name of the passed function, or None for a source string; source)
    objs: list[Any] = []
    for item in rest:
        if isinstance(item, str):
            if not item.strip():
                raise GradingError("grade: an empty string is no source code")
            pieces.append((None, textwrap.dedent(item)))
        else:
            name, source = _source_of(item)
            pieces.append((name, source))
            objs.append(item)
    parsed = [[name] if name else _defined_names(source) for name, source in pieces]
    defined = [n for names in parsed for n in names or ()]
    ex = _exercise_for(key, defined)
    aliases: list[str] = []
    missing = [f for f in ex.functions if f not in defined]
    if missing and None not in parsed:  # (source that does not parse: its syntax error is the report)
        spare = [n for n in defined if n not in ex.functions]
        if len(missing) == 1 and len(ex.functions) == 1 and len(spare) == 1:
            aliases.append(f"{missing[0]} = {spare[0]}")  # grade('vae.lerp', my_lerp)
        else:
            needs = " and ".join(ex.functions)
            raise GradingError(f"grade: exercise {ex.key} needs {needs}; {', '.join(missing)} "
                               f"{'is' if len(missing) == 1 else 'are'} missing: pass "
                               f"{'all of them' if len(ex.functions) > 1 else 'it'}, e.g. "
                               f"grade({', '.join(ex.functions)}) (an unfinished one as its stub)")
    lines, skipped = _needed(objs, set(defined))
    parts = [STUB_IMPORTS, "", "# what your functions use from the notebook", *lines, "",
             "# your code", *[source for _, source in pieces], *aliases]
    return ex, "\n".join(parts) + "\n", skipped


# ------------------------------------------------------------------------------------------ running the checks


def _report(output: str, module_path: Path) -> str:
    """The learner's part of pytest's output: the failures (with what the code printed) and the scores, with the
    temporary module's name replaced by "your code"."""
    keep: list[str] = []
    section: str | None = None
    for line in output.splitlines():
        heading = re.fullmatch(r"=+ (.+?) =+", line.strip())
        if heading:
            section = heading.group(1)
            continue
        if section in ("FAILURES", "ERRORS"):
            if re.fullmatch(r"_{3,} .+ _{3,}", line.strip()):  # pytest's name of the check: the message has it
                if keep:
                    keep.append("")
                continue
            keep.append(line.rstrip())
        elif section == "exercise scores" and not re.fullmatch(r"\d+ \w+.* in [\d.]+s.*", line.strip()):
            if line.startswith("graded: "):
                keep += ["", "exercise score:"] if keep else ["exercise score:"]
                continue
            keep.append(line.rstrip())
    text = "\n".join(keep).strip("\n")
    for shown in (module_path, module_path.name):
        text = text.replace(f"run `python {shown}` to see it in full", "run your cell to see it in full")
    return text.replace(str(module_path), "your code").replace(module_path.name, "your code")


def grade(*items: Any, hint_level: int | None = None, timeout: float = DEFAULT_TIMEOUT_S,
          quiet: bool = False) -> GradeResult:
    """Grade one exercise from a notebook: the same checks, hints and points as ``python -m pytest exercises``.

    Call it after the cell that defines your function: ``grade(lerp)``. For the exercise of two functions pass
    both, ``grade(conv_output_size, conv_transpose_output_size)``; helpers of your own that they call are found
    by themselves (or pass them too). ``grade("vae.lerp", my_lerp)`` names the exercise when your function has
    another name; a string of source code may stand for a function.

    Your code runs in a separate process (a ``python -m pytest`` on the package's checks), so a loop that never
    ends is stopped after ``timeout`` seconds per check and the notebook carries on. The run is added to your
    score history (``python -m fundamentalml scores``).

    Args:
        items: an exercise key or function name (optional, first), then the functions (or classes, or source
            strings) to grade.
        hint_level: 1 (a nudge, the default or ``$FUNDAMENTALML_HINT_LEVEL``), 2 (a more specific hint) or 3
            (the formula).
        timeout: the time limit of each check, in seconds (0: none).
        quiet: do not print the report (it is in the result's ``report``).

    Returns:
        A :class:`GradeResult`: ``score``, ``total``, ``checks`` (each with its points and whether it passed).

    Raises:
        GradingError: the arguments name no exercise, or lack a function it needs, or are not functions
            written in Python (a lambda, a builtin).
    """
    start = time.monotonic()
    level = hint_level if hint_level is not None else int(os.environ.get(HINT_LEVEL_ENV) or 1)
    if not isinstance(level, int) or isinstance(level, bool) or not 1 <= level <= MAX_HINT_LEVEL:
        raise GradingError(f"grade: hint_level must be 1, 2 or {MAX_HINT_LEVEL}, got {hint_level!r}")
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout < 0:
        raise GradingError(f"grade: timeout must be a number of seconds (0: no limit), got {timeout!r}")
    ex, source, skipped = learner_module(*items)
    folder = Path(tempfile.mkdtemp(prefix="fundamentalml-grade-"))
    try:
        module_path = folder / f"notebook_{ex.chapter}.py"
        module_path.write_text(source, encoding="utf-8")
        ini = folder / "pytest.ini"
        ini.write_text("[pytest]\nfilterwarnings =\n    ignore::DeprecationWarning\n", encoding="utf-8")
        scores_path = folder / "scores.json"
        cmd = [sys.executable, "-m", "pytest", str(CHECKS_DIR / f"test_{ex.chapter}.py"), "--exercise", ex.key,
               "--implementation", f"{ex.chapter}={module_path}", "--rootdir", str(CHECKS_DIR), "-c", str(ini),
               "-p", "no:cacheprovider", "-q", "--color=no", "--score-json", str(scores_path),
               "--hint-level", str(level), "--exercise-timeout", repr(float(timeout)),
               "--exercise-frontend", "notebook"]
        proc = start_process(cmd, cwd=folder, env={"PYTHONIOENCODING": "utf-8"}, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, encoding="utf-8",
                             errors="replace")
        # A guard only: the checks' own limits end a hanging check long before this.
        limit = None if timeout <= 0 else STARTUP_LIMIT_S + 30 * (timeout + grace(timeout))
        try:
            output, _ = proc.communicate(timeout=limit)
        except BaseException:  # the guard, or the learner interrupting the kernel: end the grading process
            end_process(proc)
            raise
        finally:
            end_process(proc)
        if not scores_path.is_file():
            raise RuntimeError(f"grade: the checks did not run (exit code {proc.returncode}); their output:\n"
                               f"{output[-4000:]}")
        scores = json.loads(scores_path.read_text(encoding="utf-8"))
        report = _report(output, module_path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if skipped:
        report += (f"\nnote: {', '.join(skipped)} {'is' if len(skipped) == 1 else 'are'} used by your code but "
                   f"could not be passed to the grader (not a function, module or simple constant): define "
                   f"{'it' if len(skipped) == 1 else 'them'} inside your function.")
    entry = scores["exercises"].get(ex.key, {"title": ex.title, "score": 0, "total": 0, "checks": []})
    result = GradeResult(ex.key, entry["title"], entry["score"], entry["total"],
                         [CheckOutcome(c["check"], c["points"], c["passed"]) for c in entry["checks"]], report,
                         time.monotonic() - start)
    if not quiet:
        print(report)
    return result


__all__ = ["CheckOutcome", "GradeResult", "GradingError", "grade", "learner_module"]
