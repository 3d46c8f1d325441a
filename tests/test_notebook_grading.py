"""Tests of the exercises inside the chapters: ``fundamentalml.exercises.grade`` (the notebook's checker) gives the
scores of ``python -m pytest exercises`` for the same code, stops a hanging function without stopping its
caller, and refuses what it cannot grade with a clear error; the score history and ``python -m fundamentalml
scores``; the chapters' generated exercise cells (``book/_ext/fml_book.py sync``), and a real Jupyter kernel
running a chapter twin's exercise cells.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as functional

from fundamentalml.exercises import grade
from fundamentalml.exercises import history
from fundamentalml.exercises._grading import EXERCISES, HINT_LEVEL_ENV
from fundamentalml.exercises.notebook import STUB_IMPORTS, GradingError, learner_module

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "book" / "_ext"))
import fml_book  # noqa: E402

WRONG_KL = '''
def kl_divergence(mu, logvar):
    """Forgets the 1/2."""
    return (mu.pow(2) + logvar.exp() - logvar - 1).sum(dim=-1)
'''
RIGHT_KL = '''
def kl_divergence(mu, logvar):
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(dim=-1)
'''


@pytest.fixture(autouse=True)
def _plain_hints(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(HINT_LEVEL_ENV, raising=False)


def _pytest_score(tmp_path: Path, chapter: str, source: str, key: str) -> dict[str, Any]:
    """The score ``python -m pytest exercises --implementation CHAPTER=FILE --exercise KEY`` gives ``source``."""
    module = tmp_path / f"learner_{chapter}.py"
    module.write_text(STUB_IMPORTS + "\n" + textwrap.dedent(source))
    scores = tmp_path / "scores.json"
    env = {k: v for k, v in os.environ.items() if k not in ("CI", HINT_LEVEL_ENV)}
    proc = subprocess.run([sys.executable, "-m", "pytest", "exercises", "-p", "no:cacheprovider", "-q",
                           f"--implementation={chapter}={module}", "--exercise", key, "--score-json", str(scores)],
                          cwd=REPO, capture_output=True, text=True, timeout=600, env=env)
    assert scores.is_file(), proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(scores.read_text())["exercises"][key]


# ------------------------------------------------------------------------------------------ grade = pytest


@pytest.mark.slow
def test_grade_gives_the_scores_of_pytest_exercises(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A wrong and a right kl_divergence: grade's score, checks and messages are those of pytest exercises; both
    runs land in the score history, from where they ran."""
    wrong = grade("vae.kl_divergence", WRONG_KL)
    report = capsys.readouterr().out
    expected = _pytest_score(tmp_path, "vae", WRONG_KL, "vae.kl_divergence")
    assert (wrong.score, wrong.total) == (expected["score"], expected["total"])
    assert 0 < wrong.score < wrong.total
    assert [(c.check, c.points, c.passed) for c in wrong.checks] == [
        (c["check"], c["points"], c["passed"]) for c in expected["checks"]]
    assert "[6. kl_divergence (VAE, **)] check failed:" in report and "expected:" in report and "hint:" in report
    assert "call grade(..., hint_level=2) again for a more specific hint" in report
    assert "stuck? grade(..., hint_level=2) adds a more specific hint to each failure" in report
    assert f"{wrong.score} / {wrong.total}" in report and "TOTAL:" in report
    assert "platform linux" not in report and "rootdir" not in report and "passed in" not in report
    assert "fundamentalml-grade-" not in report  # the temporary module is "your code"

    right = grade("vae.kl_divergence", RIGHT_KL, hint_level=3, quiet=True)
    assert right.passed and right.score == right.total == wrong.total
    assert repr(right) == f"<6. kl_divergence (VAE, **): {right.total} / {right.total} points>"

    records = history.read_history()
    assert [(r["exercise"], r["score"], r["origin"]) for r in records[-3:]] == [
        ("vae.kl_divergence", wrong.score, "notebook"), ("vae.kl_divergence", wrong.score, "pytest"),
        ("vae.kl_divergence", right.score, "notebook")]


HALF = 0.5  # a constant of the "notebook" (this module) that the function below reads


def _scale() -> float:
    return HALF


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """A learner's answer that calls a helper of theirs and uses a module under another name."""
    return functional.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits)) * (2 * _scale())


def test_what_a_function_needs_travels_with_it() -> None:
    """The module grade writes: the stub's imports, then the modules (under the learner's names), helper
    functions and simple constants the function reads, then the function."""
    ex, source, skipped = learner_module(generator_loss)
    assert ex.key == "dcgan.generator_loss" and skipped == []
    assert source.startswith(STUB_IMPORTS)
    assert "import torch.nn.functional as functional" in source and "HALF = 0.5" in source
    assert "def _scale() -> float:" in source and source.rstrip().endswith("(2 * _scale())")
    namespace: dict[str, Any] = {}
    exec(compile(source, "graded.py", "exec"), namespace)  # noqa: S102 - it runs on its own
    logits = torch.randn(5)
    torch.testing.assert_close(namespace["generator_loss"](logits), generator_loss(logits))


@pytest.mark.slow  # one grading run: 8 to 40 s, with the load
def test_grade_of_functions_defined_in_code(capsys: pytest.CaptureFixture[str]) -> None:
    """Functions (not strings), and the two-function exercise takes both."""
    def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
        return (size + 2 * padding - kernel) // stride + 1

    def conv_transpose_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0,
                                   output_padding: int = 0) -> int:
        return (size - 1) * stride - 2 * padding + kernel + output_padding

    result = grade(conv_output_size, conv_transpose_output_size)
    assert result.exercise == "vae.conv_sizes" and result.passed, result.report


@pytest.mark.slow
def test_a_hanging_function_is_stopped_and_the_caller_carries_on(capsys: pytest.CaptureFixture[str]) -> None:
    """A loop that never ends (also one that swallows the time limit with a bare except) costs its checks, within
    the time limit (plus the grace the worker gets), and grade returns to its caller."""
    source = '''
def lerp(z_a, z_b, steps):
    while True:
        try:
            pass
        except:  # noqa: E722 - swallows the grader's time limit too
            pass
'''
    start = time.monotonic()
    result = grade("vae.lerp", source, timeout=1)
    seconds = time.monotonic() - start
    assert result.score == 0 and result.total == 4
    assert "still running" in result.report  # stopped by its alarm, or ended from outside when it swallowed it
    # 3 checks of 1 s + 2 s grace each, plus starting Python and torch (twice: the worker is replaced)
    assert seconds < 90, seconds


@pytest.mark.parametrize("args, message", [
    ((lambda z_a, z_b, steps: z_a,), "a lambda has no name"),
    ((len,), "is not a function or class written in Python"),
    (("vae.nothing", RIGHT_KL), "no exercise 'vae.nothing'"),
    ((RIGHT_KL.replace("kl_divergence", "my_kl"),), "no exercise asks for 'my_kl'"),
    (("vae.conv_sizes", "def conv_output_size(size, kernel, stride=1, padding=0):\n    return 1\n"),
     "needs conv_output_size and conv_transpose_output_size; conv_transpose_output_size is missing"),
    ((), "pass the function you wrote"),
    ((torch.lerp,), "is not a function or class written in Python"),
])
def test_grade_refuses_what_it_cannot_grade(args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(GradingError, match=message.replace("(", r"\(").replace(")", r"\)")):
        grade(*args)


def test_grade_checks_its_options() -> None:
    with pytest.raises(GradingError, match="hint_level must be 1, 2 or 3"):
        grade(RIGHT_KL, hint_level=4)
    with pytest.raises(GradingError, match="timeout must be a number"):
        grade(RIGHT_KL, timeout=-1)


def test_source_that_does_not_parse_goes_to_the_grader() -> None:
    """A syntax error is the grader's to report (as for a file that does not import), not a missing function."""
    ex, source, _ = learner_module("vae.lerp", "def lerp(z_a, z_b, steps):\n    return z_a +* z_b\n")
    assert ex.key == "vae.lerp" and "return z_a +* z_b" in source


def test_an_exercise_named_by_its_key_may_have_another_name() -> None:
    ex, source, _ = learner_module("vae.kl_divergence", RIGHT_KL.replace("def kl_divergence", "def my_kl"))
    assert ex.key == "vae.kl_divergence" and source.rstrip().endswith("kl_divergence = my_kl")


def test_stub_imports_are_the_exercise_files_own() -> None:
    """grade's module starts with the import lines of the files exercises/<chapter>.py (which the package does
    not ship): every one of them is there."""
    for chapter in ("vae", "dcgan", "conditional"):
        tree = ast.parse((REPO / "exercises" / f"{chapter}.py").read_text())
        imports = [ast.unparse(n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        assert set(imports) <= set(STUB_IMPORTS.splitlines()), chapter


def test_a_class_defined_in_a_cell_is_found(tmp_path: Path) -> None:
    """inspect.getsource cannot find a class of __main__ (a notebook's) before Python 3.13; grade can."""
    import linecache

    cell = "import torch\n\nclass Decoder(torch.nn.Module):\n    def forward(self, z):\n        return z * 2\n"
    filename = "<ipython-input-7-cell>"
    linecache.cache[filename] = (len(cell), None, cell.splitlines(True), filename)
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec(compile(cell, filename, "exec"), namespace)  # noqa: S102 - as a kernel runs a cell
    from fundamentalml.exercises.notebook import _source_of

    assert _source_of(namespace["Decoder"]) == ("Decoder", cell.split("\n\n", 1)[1])


# ------------------------------------------------------------------------------------------ score history


def test_score_history_appends_skips_bad_lines_and_sums_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = history.history_path()
    assert path == tmp_path / "cache" / "fundamentalml" / "scores.jsonl"
    assert history.read_history() == []
    history.append_records([history.make_record("vae.lerp", "1. lerp (VAE, *)", 1, 4, "pytest", "exercises/vae.py")])
    with open(path, "a") as f:
        f.write('{"exercise": "vae.lerp", "score": 4, "tot')  # a write cut short
    history.append_records([history.make_record("vae.lerp", "1. lerp (VAE, *)", 4, 4, "notebook", "notebook"),
                            history.make_record("vae.slerp", "14. slerp (VAE, ***)", 2, 6, "notebook", "notebook")])
    history.append_records([history.make_record("vae.lerp", "1. lerp (VAE, *)", 3, 4, "pytest", "exercises/vae.py")])
    path.write_text(path.read_text() + "not json\n")
    with pytest.warns(RuntimeWarning) as caught:
        records = history.read_history()
    assert [str(w.message).split(" skipped")[0].rsplit(" line ", 1)[-1] for w in caught] == ["2", "6"]  # the cut line, "not json"
    assert [(r["exercise"], r["score"]) for r in records] == [("vae.lerp", 1), ("vae.lerp", 4), ("vae.slerp", 2),
                                                              ("vae.lerp", 3)]
    rows = {r.key: r for r in history.summarize(records)}
    assert (rows["vae.lerp"].attempts, rows["vae.lerp"].best, rows["vae.lerp"].last) == (3, 4, 3)
    assert [r.key for r in history.summarize(records)] == ["vae.lerp", "vae.slerp"]  # the catalogue's order

    from fundamentalml.cli import main

    with pytest.warns(RuntimeWarning):
        main(["scores"])
    out = capsys.readouterr().out
    assert str(path) in out
    lerp_line = next(line for line in out.splitlines() if "1. lerp" in line)
    assert lerp_line.split()[5:8] == ["3", "4/4", "3/4"], lerp_line


def test_score_history_that_cannot_be_written_costs_a_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # a file where the cache folder should be
    with pytest.warns(RuntimeWarning, match="could not be written"):
        assert history.append_records([history.make_record("vae.lerp", "t", 1, 4, "pytest", "x")]) is None


def test_no_score_history_when_switched_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The book build's grade cell is no learner's attempt: FUNDAMENTALML_SCORE_HISTORY=0 (set by the book's
    extension for its kernels) records nothing."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv(history.HISTORY_ENV, "0")
    assert history.append_records([history.make_record("vae.lerp", "t", 1, 4, "notebook", "notebook")]) is None
    assert not history.history_path().exists()
    monkeypatch.delenv(history.HISTORY_ENV)
    fml_book._no_score_history(None, None)
    assert os.environ.pop(history.HISTORY_ENV) == "0" and fml_book.SCORE_HISTORY_ENV == history.HISTORY_ENV


def test_empty_history_says_how_to_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    history.print_summary()
    assert "No graded runs yet" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------ the chapters' cells


def _stub_sources(chapter: str) -> dict[str, str]:
    text = (REPO / "exercises" / f"{chapter}.py").read_text()
    return {n.name: ast.get_source_segment(text, n) for n in ast.parse(text).body
            if isinstance(n, (ast.FunctionDef, ast.ClassDef))}


@pytest.mark.parametrize("chapter", ["vae", "dcgan", "conditional"])
def test_chapters_end_with_their_exercises_as_cells(chapter: str) -> None:
    """The chapter and its twin end with the stubs of exercises/<chapter>.py, exactly, in the grader's order,
    each followed by its grade cell; the book build runs only the course's first exercise's grade cell."""
    stubs = _stub_sources(chapter)
    keys = [e for e in EXERCISES if e.chapter == chapter]
    for path in (REPO / "book" / f"{chapter}.md", REPO / "book" / f"{chapter}.ipynb"):
        cells = fml_book.notebook_cells(path)
        begin = next(i for i, (kind, src, _) in enumerate(cells)
                     if kind == "markdown" and fml_book.EXERCISES_BEGIN.format(chapter=chapter) in src)
        code = [(src, tags) for kind, src, tags in cells[begin:] if kind == "code"]
        assert code[0][0].startswith("from fundamentalml.exercises import grade")
        pairs = code[1:]
        assert len(pairs) == 2 * len(keys), path
        for i, ex in enumerate(keys):
            (stub, stub_tags), (grader, grade_tags) = pairs[2 * i], pairs[2 * i + 1]
            assert stub == "\n\n\n".join(stubs[f] for f in ex.functions) and stub_tags == ()
            assert grader == f"grade({', '.join(ex.functions)})"
            assert grade_tags == (() if ex.number == 1 else ("skip-execution",)), (path, grader, grade_tags)
        assert "## Exercises" in cells[begin][1] or "## Exercises" in cells[begin - 1][1]


def test_sync_rewrites_drifted_exercise_cells_and_check_sees_them(tmp_path: Path) -> None:
    """A changed stub: check reports the chapter, sync rewrites its cells; a chapter without the markers is an
    error that says what is missing."""
    root = tmp_path / "repo"
    (root / "exercises").mkdir(parents=True)
    (root / "fundamentalml" / "exercises").mkdir(parents=True)
    shutil.copy(REPO / fml_book.EXERCISE_CATALOGUE, root / fml_book.EXERCISE_CATALOGUE)
    stub = (REPO / "exercises" / "vae.py").read_text()
    (root / "exercises" / "vae.py").write_text(stub.replace("Linear interpolation:", "Linear interpolation (changed):"))
    md = root / "vae.md"
    original = (REPO / "book" / "vae.md").read_text()
    md.write_text(original)
    assert fml_book.synced_exercise_cells(md, original, root, write=False) == [
        "vae.md: exercise cells differ from exercises/vae.py"]
    assert md.read_text() == original
    assert fml_book.synced_exercise_cells(md, original, root, write=True)
    assert "Linear interpolation (changed):" in md.read_text()
    assert fml_book.synced_exercise_cells(md, md.read_text(), root, write=False) == []
    outside = md.read_text().split(fml_book.EXERCISES_END)[0].split("<!-- fundamentalml exercises")[0]
    assert original.startswith(outside)  # nothing outside the markers changed
    with pytest.raises(ValueError, match="no generated exercise cells"):
        fml_book.synced_exercises("# A chapter\n", "vae", root)
    assert fml_book.synced_exercises("# A chapter\n", "intro", root) == "# A chapter\n"  # no exercises/intro.py


# ------------------------------------------------------------------------------------------ a real kernel


@pytest.mark.slow
def test_a_chapter_twins_exercise_cells_in_a_kernel(tmp_path: Path) -> None:
    """Start a Jupyter kernel, run the VAE twin's exercise cells with a wrong, a right and a hanging lerp in
    place of the stub, and read the scores the grade cell prints; the kernel carries on after the hang."""
    from jupyter_client.manager import start_new_kernel

    cells = [c for c in json.loads((REPO / "book" / "vae.ipynb").read_text())["cells"]]
    begin = next(i for i, c in enumerate(cells) if c["cell_type"] == "markdown"
                 and fml_book.EXERCISES_BEGIN.format(chapter="vae") in "".join(c["source"]))
    code = ["".join(c["source"]) for c in cells[begin:] if c["cell_type"] == "code"]
    setup, stub, grade_cell = code[0], code[1], code[2]
    assert stub.startswith("def lerp(") and grade_cell == "grade(lerp)"
    wrong = stub.split("    raise NotImplementedError")[0] + "    return torch.stack([z_a, z_b])\n"
    right = stub.split("    raise NotImplementedError")[0] + (
        "    t = torch.linspace(0, 1, steps, dtype=z_a.dtype)[:, None]\n    return (1 - t) * z_a + t * z_b\n")

    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    env.pop(HINT_LEVEL_ENV, None)
    km, kc = start_new_kernel(kernel_name="python3", env=env, cwd=str(tmp_path))
    try:
        def run(source: str) -> str:
            out: list[str] = []

            def hook(msg: dict[str, Any]) -> None:
                content = msg["content"]
                if msg["msg_type"] == "stream":
                    out.append(content["text"])
                elif msg["msg_type"] in ("execute_result", "display_data"):
                    out.append(content["data"].get("text/plain", ""))
                elif msg["msg_type"] == "error":
                    out.append("\n".join(content["traceback"]))

            reply = kc.execute_interactive(source, output_hook=hook, timeout=300)
            assert reply["content"]["status"] == "ok", "".join(out)
            return "".join(out)

        run(setup)
        run(wrong)
        first = run(grade_cell)
        assert "[1. lerp (VAE, *)] check failed" in first and "TOTAL: 0 / 4 points" in first, first
        run(right)
        second = run(grade_cell)
        assert "TOTAL: 4 / 4 points" in second and "<1. lerp (VAE, *): 4 / 4 points>" in second, second
        run(stub.split("    raise NotImplementedError")[0] + "    while True:\n        pass\n")
        start = time.monotonic()
        hung = run(grade_cell.replace(")", ", timeout=1)"))
        assert "TOTAL: 0 / 4 points" in hung and "stopped after 1 s" in hung, hung
        assert time.monotonic() - start < 120
        assert run("1 + 1").strip() == "2"  # the kernel is alive and well
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    records = [json.loads(line) for line in (tmp_path / "cache" / "fundamentalml" / "scores.jsonl").read_text().splitlines()]
    assert [(r["exercise"], r["score"], r["origin"]) for r in records] == [
        ("vae.lerp", 0, "notebook"), ("vae.lerp", 4, "notebook"), ("vae.lerp", 0, "notebook")]
