"""Tests of the exercise graders: references get full marks, untouched stubs get 0, every plausible wrong
solution in ``grader_mutants.py`` is rejected and every correct alternative there accepted, and a learner file
that hangs, exits, crashes, swallows the time limit or changes torch's global settings costs only its own
points: every other chapter is still scored. Also: the exercises run in order of rising difficulty, their hints
come in tiers (``--hint-level``), and the book's exercises page, ``exercises/README.md`` and the stubs state the
same numbers, difficulties and points as the graders.

Each test grades modules in a fresh ``python -m pytest exercises`` process, exactly as a learner would, and
reads the scores from ``--score-json``.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import grader_mutants  # tests/, on the path as for every test module here
import pytest

from fundamentalml.exercises import _grading as GRADING

pytestmark = pytest.mark.slow  # subprocesses importing torch: minutes; plain `pytest` leaves it out, `pytest --all` (CI) runs it

REPO = Path(__file__).resolve().parents[1]
MUTANTS_FILE = Path(grader_mutants.__file__)
EXERCISES = GRADING.EXERCISES  # in order of rising difficulty
MUTANTS: dict[str, list[str]] = grader_mutants.MUTANTS
ALTERNATIVES: dict[str, list[str]] = grader_mutants.ALTERNATIVES
HINTS: dict[str, str] = grader_mutants.HINTS
REFERENCES: dict[str, dict[str, str]] = GRADING.REFERENCES

# Which exercise (the key of its ``exercise`` marker) grades each function.
EXERCISE_OF = {f: e.key for e in EXERCISES for f in e.functions}

# The time limit for the runs that test it: short, and still far above what any correct check needs.
LIMIT = "2"

# Points per chapter, as the book's exercises page and exercises/README.md state them.
CHAPTER_POINTS = {"vae": 42, "dcgan": 38, "conditional": 37}


def _mutant_sets() -> list[dict[str, str]]:
    """Group the wrong versions into runs: at most one wrong function per exercise in each run, so each
    rejection can be pinned on one wrong function, and the other exercises must keep full marks."""
    per_exercise: dict[str, list[tuple[str, str]]] = {}
    for function, wrongs in MUTANTS.items():
        per_exercise.setdefault(EXERCISE_OF[function], []).extend((function, w) for w in wrongs)
    n_sets = max(len(v) for v in per_exercise.values())
    return [dict(pairs[i] for pairs in per_exercise.values() if i < len(pairs)) for i in range(n_sets)]


def _alternative_sets() -> list[dict[str, str]]:
    """Runs of correct alternatives: every function swapped at once (the i-th alternative, or the last)."""
    n_sets = max(len(v) for v in ALTERNATIVES.values())
    return [{f: alts[min(i, len(alts) - 1)] for f, alts in ALTERNATIVES.items() if alts} for i in range(n_sets)]


MUTANT_SETS = _mutant_sets()
ALTERNATIVE_SETS = _alternative_sets()


def _write_module(folder: Path, swaps: dict[str, str], inline: str = "", name: str = "graded") -> Path:
    """A module holding every reference function except ``swaps`` (function -> name of a version in
    ``grader_mutants.py``), then ``inline`` source that may redefine more of them, as a learner's file would."""
    lines = [
        "import importlib.util, sys",
        f"_spec = importlib.util.spec_from_file_location('grader_mutants', {str(MUTANTS_FILE)!r})",
        "_versions = importlib.util.module_from_spec(_spec)",
        "_spec.loader.exec_module(_versions)",
    ]
    for chapter in REFERENCES.values():
        for function, target in chapter.items():
            if function in swaps:
                lines.append(f"{function} = _versions.{swaps[function]}")
            else:
                module, attr = target.split(":")
                lines.append(f"from {module} import {attr} as {function}")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.py"
    path.write_text("\n".join(lines) + "\n" + inline)
    return path


def grade(folder: Path, *args: str, target: str = "exercises", env: dict[str, str] | None = None,
          ) -> tuple[int, dict[str, Any], str]:
    """Run ``python -m pytest <target> *args`` in a fresh process: exit code, scores, terminal output."""
    folder.mkdir(parents=True, exist_ok=True)
    scores_path = folder / "scores.json"
    # The learner's terminal, not ours: no hint level of ours, and no CI marker (on CI pytest repeats every
    # failure message whole in its short summary, which would double what these tests count).
    base = {k: v for k, v in os.environ.items() if k not in (GRADING.HINT_LEVEL_ENV, "CI", "BUILD_NUMBER")}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", target, "-p", "no:cacheprovider", "--score-json", str(scores_path), *args],
        cwd=REPO, capture_output=True, text=True, timeout=600, env={**base, **(env or {})},
    )
    output = proc.stdout + proc.stderr
    assert scores_path.is_file(), f"the grader wrote no scores (exit {proc.returncode}):\n{output[-4000:]}"
    assert "INTERNALERROR" not in output, output[-4000:]
    return proc.returncode, json.loads(scores_path.read_text()), output


def _grade_files(folder: Path, *args: str, env: dict[str, str] | None = None,
                 **files: tuple[str, str]) -> tuple[dict[str, Any], str]:
    """Grade one file per chapter (``chapter=(name, source added after the references)``) with the short time
    limit: the scores and output of a run that must fail."""
    paths = {chapter: _write_module(folder, {}, inline=source, name=name) for chapter, (name, source) in files.items()}
    returncode, scores, output = grade(folder, *[f"--implementation={c}={p}" for c, p in paths.items()],
                                       "--exercise-timeout", LIMIT, *args, env=env)
    assert returncode != 0, output[-4000:]
    return scores, output


def _score(scores: dict[str, Any], prefix: str) -> tuple[int, int]:
    """Points and total of the exercises whose key starts with ``prefix`` (a chapter or one exercise)."""
    chosen = [ex for key, ex in scores["exercises"].items() if key.startswith(prefix)]
    return sum(ex["score"] for ex in chosen), sum(ex["total"] for ex in chosen)


def _n_checks(scores: dict[str, Any], prefix: str) -> int:
    """How many checks the exercises whose key starts with ``prefix`` have."""
    return sum(len(ex["checks"]) for key, ex in scores["exercises"].items() if key.startswith(prefix))


def _full_marks_except(scores: dict[str, Any], *prefixes: str) -> list[str]:
    """The exercises outside ``prefixes`` that lost points."""
    return [k for k, ex in scores["exercises"].items()
            if not k.startswith(prefixes) and ex["score"] != ex["total"]]


@pytest.fixture(scope="module")
def solutions(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict[str, Any], str]:
    return grade(tmp_path_factory.mktemp("solutions"), "--solutions")


def test_exercises_per_chapter(solutions: tuple[int, dict[str, Any], str]) -> None:
    """At least four exercises per chapter, every function of the references graded."""
    _, scores, _ = solutions
    for chapter in REFERENCES:
        keys = [k for k in scores["exercises"] if k.startswith(chapter + ".")]
        assert len(keys) >= 4, f"chapter {chapter} has only {keys}"
    assert set(EXERCISE_OF.values()) == set(scores["exercises"])


def test_solutions_get_full_marks(solutions: tuple[int, dict[str, Any], str]) -> None:
    returncode, scores, output = solutions
    assert returncode == 0, output[-4000:]
    assert scores["total"] > 0 and scores["score"] == scores["total"], output[-4000:]
    assert f"TOTAL: {scores['total']} / {scores['total']} points" in output
    assert scores["graded"] == ["package reference solutions"]
    assert "stuck?" not in output
    assert {chapter: _score(scores, chapter + ".")[1] for chapter in REFERENCES} == CHAPTER_POINTS


def test_exercises_run_in_order_of_rising_difficulty(solutions: tuple[int, dict[str, Any], str]) -> None:
    """The scores list the exercises in the catalogue's order, numbered 1, 2, ... with non-decreasing difficulty,
    and inside every chapter the difficulty rises too."""
    _, scores, output = solutions
    assert list(scores["exercises"]) == [e.key for e in EXERCISES]
    levels = [ex["level"] for ex in scores["exercises"].values()]
    assert levels == sorted(levels) and set(levels) == {1, 2, 3}
    for number, (key, ex) in enumerate(scores["exercises"].items(), start=1):
        assert ex["title"].startswith(f"{number}. ") and ex["title"].endswith(f", {'*' * ex['level']})"), ex["title"]
    shown = [output.find(f"PASS  {e.title} ") for e in EXERCISES]
    assert -1 not in shown and shown == sorted(shown), [e.title for e, at in zip(EXERCISES, shown) if at < 0]


def _stubs(chapter: str) -> list[ast.FunctionDef | ast.ClassDef]:
    """The stubs of ``exercises/<chapter>.py``, in file order (a build-it exercise may be a class)."""
    tree = ast.parse((REPO / "exercises" / f"{chapter}.py").read_text())
    return [node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))]


def _stub_nudges() -> dict[str, str]:
    """Function -> the message of its stub's ``raise NotImplementedError(...)`` (read, not run)."""
    nudges = {}
    for node in (node for chapter in REFERENCES for node in _stubs(chapter)):
        raises = [n for n in ast.walk(node) if isinstance(n, ast.Raise) and isinstance(n.exc, ast.Call)]
        assert len(raises) == 1, node.name
        nudges[node.name] = ast.literal_eval(raises[0].exc.args[0])
    return nudges


def test_hints_go_from_a_nudge_to_the_formula() -> None:
    """Every exercise has three tiers of hints: the stub's nudge names no torch function and writes no code,
    tier 2 (the steps) and tier 3 (the formula or key line) say more, and each says something new."""
    nudges = _stub_nudges()
    for ex in EXERCISES:
        tier2, tier3 = ex.hints
        assert tier2 and tier3 and tier2 != tier3, ex.key
        for function in ex.functions:
            nudge = nudges[function]
            assert not re.search(r"\b(torch|F|nn)\.|\breturn\b| = ", nudge), f"{function}: no code in a nudge: {nudge!r}"
            assert nudge not in (tier2, tier3) and tier3 not in nudge, function
    assert GRADING.hint_lines("vae.lerp", 1) == "    more: run again with --hint-level 2 for a more specific hint"
    assert GRADING.hint_lines("vae.lerp", 3).splitlines() == [f"  hint 2: {EXERCISES[0].hints[0]}",
                                                              f"  hint 3: {EXERCISES[0].hints[1]}"]
    # The stubs are written in the order of their numbers, and say them with their difficulty.
    for chapter in REFERENCES:
        numbers = []
        for node in _stubs(chapter):
            ex = next(e for e in EXERCISES if node.name in e.functions)
            doc = ast.get_docstring(node) or ""
            assert re.match(rf"Exercise {ex.number}[ab]? \({re.escape(ex.stars)}\)\. ", doc), (node.name, doc[:40])
            numbers.append(ex.number)
        assert numbers == sorted(numbers), chapter


def test_book_and_readme_state_the_graders_order_and_points(solutions: tuple[int, dict[str, Any], str]) -> None:
    """book/exercises.md and exercises/README.md list every exercise with the number, chapter, difficulty and
    points the graders give it, in the same order, and the same chapter and overall totals."""
    _, scores, _ = solutions
    points = {key: ex["total"] for key, ex in scores["exercises"].items()}
    chapter_name = {"vae": "VAE", "dcgan": "DCGAN", "conditional": "conditional"}
    expected = [(e.number, chapter_name[e.chapter], "★" * e.level, points[e.key]) for e in EXERCISES]
    book = (REPO / "book" / "exercises.md").read_text()
    found = [(int(n), chapter, stars, int(pts)) for n, chapter, stars, pts in
             re.findall(r"^```\{exercise\} (\d+)\. .+ — (VAE|DCGAN|conditional), (★+), (\d+) points$", book, re.M)]
    assert found == expected
    assert book.count(":nonumber:") == len(EXERCISES)  # the numbers are ours, not Sphinx's
    tables = re.findall(r"^\| (\d+) \| \{ref\}`[^`]+` \| (★+) \| (\d+) \|$", book, re.M)
    assert sorted((int(n), s, int(p)) for n, s, p in tables) == [(n, s, p) for n, _, s, p in expected]
    total = scores["total"]
    assert f"({total} points in all)" in book and f"The {len(EXERCISES)} exercises" in book
    for chapter, chapter_total in CHAPTER_POINTS.items():
        assert f"checks `exercises/test_{chapter}.py`, {chapter_total} points." in book
    readme = (REPO / "exercises" / "README.md").read_text()
    rows = [(int(n), chapter, stars, int(pts)) for n, chapter, stars, pts in
            re.findall(r"^\| (\d+) \| `.+` \| (VAE|DCGAN|conditional) \| (★+) \| (\d+) \|$", readme, re.M)]
    assert rows == expected
    assert f"| **{total}** |" in readme and f"/ {total} points (1 of {len(EXERCISES)} exercises complete)" in readme
    assert "(" + ", ".join(f"{chapter_name[c]} {p}" for c, p in CHAPTER_POINTS.items()) + ")" in readme


def test_frechet_reference_matches_scipy() -> None:
    """The reference Fréchet distance against scipy.linalg.sqrtm of the product: full, diagonal, singular and
    float32 covariances; identical Gaussians at 0."""
    import numpy as np
    import scipy.linalg
    import torch

    from fundamentalml.metrics import gaussian_frechet_distance

    def by_scipy(mu1, s1, mu2, s2):
        mu1, s1, mu2, s2 = (np.asarray(t, dtype=np.float64) for t in (mu1, s1, mu2, s2))
        root = scipy.linalg.sqrtm(s1 @ s2)
        return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * np.real(root)))

    gen = torch.Generator().manual_seed(0)

    def gaussian(d, n):
        x = torch.randn(n, d, dtype=torch.float64, generator=gen) @ torch.randn(d, d, dtype=torch.float64, generator=gen)
        return x.mean(0), torch.cov(x.T).reshape(d, d)

    cases = [(*gaussian(d, n), *gaussian(d, n)) for d, n in ((1, 5), (3, 9), (16, 48), (10, 4))]
    a, b = torch.rand(6, dtype=torch.float64, generator=gen), torch.rand(6, dtype=torch.float64, generator=gen)
    cases.append((torch.zeros(6), torch.diag(a), torch.ones(6), torch.diag(b)))
    cases.append(tuple(t.float() for t in cases[2]))
    for mu1, s1, mu2, s2 in cases:
        want = by_scipy(mu1, s1, mu2, s2)
        scale = float(s1.double().trace() + s2.double().trace())
        assert abs(gaussian_frechet_distance(mu1, s1, mu2, s2) - want) <= 1e-6 * abs(want) + 1e-7 * scale
    mu, s, _, _ = cases[2]
    assert abs(gaussian_frechet_distance(mu, s, mu, s)) < 1e-9 * float(s.trace())
    assert isinstance(gaussian_frechet_distance(mu, s, mu, s), float)


def test_untouched_stubs_get_zero(tmp_path: Path) -> None:
    returncode, scores, output = grade(tmp_path)
    assert returncode != 0
    assert scores["score"] == 0
    assert all(ex["score"] == 0 for ex in scores["exercises"].values())
    assert f"TOTAL: 0 / {scores['total']} points" in output
    # Readable messages: expected / got / hint, the stub's own hint (the nudge), no raw traceback.
    assert "[2. reparameterize (VAE, *)] check failed" in output
    assert "expected: your implementation of `reparameterize`" in output
    assert f"hint: {_stub_nudges()['reparameterize']}" in output
    assert "Traceback" not in output and "raise NotImplementedError" not in output
    assert scores["graded"] == [str(REPO / "exercises" / f"{chapter}.py") for chapter in REFERENCES]
    # Hint level 1: the nudge only, and how to see more; no tier 2 or 3.
    assert "more: run again with --hint-level 2 for a more specific hint" in output
    assert "hint 2:" not in output and "hint 3:" not in output
    assert not [e.key for e in EXERCISES if e.hints[0] in output or e.hints[1] in output]
    assert "stuck? --hint-level 2 adds a more specific hint to each failure (3: the formula)" in output


def test_graded_lists_only_the_chapters_that_ran(tmp_path: Path) -> None:
    """One exercise of one chapter; the hint level from the environment variable (2: tier 2, not 3)."""
    _, scores, output = grade(tmp_path, "-k", "TestLerp", target="exercises/test_vae.py",
                              env={GRADING.HINT_LEVEL_ENV: "2"})
    assert scores["graded"] == [str(REPO / "exercises" / "vae.py")]
    assert "dcgan.py" not in output and "conditional.py" not in output
    assert set(scores["exercises"]) == {"vae.lerp"}
    lerp = EXERCISES[0]
    n_checks = len(scores["exercises"]["vae.lerp"]["checks"])
    assert output.count(f"  hint 2: {lerp.hints[0]}") == n_checks, output[-4000:]
    assert lerp.hints[1] not in output and "hint 3:" not in output
    assert output.count("more: run again with --hint-level 3 for the formula") == n_checks


def test_hint_level_three_gives_the_formula(tmp_path: Path) -> None:
    """--hint-level 3 adds tiers 2 and 3 to every failure of the exercise (and overrides the environment);
    a level outside 1..3 is refused."""
    _, scores, output = grade(tmp_path, "-k", "TestGaussianFrechetDistance", "--hint-level", "3",
                              target="exercises/test_dcgan.py", env={GRADING.HINT_LEVEL_ENV: "1"})
    frechet = next(e for e in EXERCISES if e.key == "dcgan.gaussian_frechet_distance")
    n_checks = len(scores["exercises"][frechet.key]["checks"])
    assert output.count(f"  hint 2: {frechet.hints[0]}") == n_checks, output[-4000:]
    assert output.count(f"  hint 3: {frechet.hints[1]}") == n_checks
    assert "more: run again" not in output and "stuck?" not in output
    proc = subprocess.run([sys.executable, "-m", "pytest", "exercises", "-p", "no:cacheprovider", "--hint-level", "4"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 4 and "--hint-level" in proc.stdout + proc.stderr


@pytest.mark.parametrize("index", range(len(MUTANT_SETS)), ids=lambda i: f"set{i}")
def test_every_wrong_implementation_is_rejected(index: int, tmp_path: Path) -> None:
    swaps = MUTANT_SETS[index]
    returncode, scores, output = grade(tmp_path, "--implementation", str(_write_module(tmp_path, swaps)))
    assert returncode != 0
    points = {f"{w} ({EXERCISE_OF[f]})": _score(scores, EXERCISE_OF[f]) for f, w in swaps.items()}
    accepted = [f"{w}: {score}/{total}" for w, (score, total) in points.items() if score == total]
    assert not accepted, f"wrong implementations that got full marks: {accepted}"
    # The exercises left at their reference must keep full marks: a wrong function fails only its own checks.
    collateral = _full_marks_except(scores, *{EXERCISE_OF[f] for f in swaps})
    assert not collateral, f"correct exercises lost points: {collateral}\n{output[-4000:]}"
    assert "expected:" in output and "hint:" in output
    # The hint says what is wrong, for the mistakes the old graders missed.
    missing = [f"{w}: {HINTS[w]!r}" for w in swaps.values() if w in HINTS and HINTS[w] not in output]
    assert not missing, f"failure messages without their hint: {missing}\n{output[-6000:]}"


@pytest.mark.parametrize("index", range(len(ALTERNATIVE_SETS)), ids=lambda i: f"set{i}")
def test_every_correct_alternative_gets_full_marks(index: int, tmp_path: Path) -> None:
    """Correct solutions written differently from the references (other functions, loops, in-place operations
    on their own tensors, float64 inside) lose no point."""
    swaps = ALTERNATIVE_SETS[index]
    returncode, scores, output = grade(tmp_path, "--implementation", str(_write_module(tmp_path, swaps)))
    lost = {k: f"{ex['score']}/{ex['total']}" for k, ex in scores["exercises"].items() if ex["score"] != ex["total"]}
    assert not lost, f"correct alternatives {sorted(swaps.values())} lost points: {lost}\n{output[-6000:]}"
    assert returncode == 0


def test_every_exercise_has_a_wrong_implementation_and_a_correct_alternative() -> None:
    assert {EXERCISE_OF[f] for f, wrongs in MUTANTS.items() if wrongs} == set(EXERCISE_OF.values())
    assert {f for f, alts in ALTERNATIVES.items() if alts} == set(EXERCISE_OF)
    assert set(HINTS) <= {w for wrongs in MUTANTS.values() for w in wrongs}


# ------------------------------------------------------------------------------------------ broken files

HANG_AND_CRASH = """

def lerp(z_a, z_b, steps):
    while True:  # a loop that never ends
        pass


def generator_loss(fake_logits):
    import torch
    return (fake_logits @ torch.ones(3, 3)).mean()  # shapes do not match


def kl_divergence(mu, logvar):  # right values, in float64 whatever the inputs
    return -0.5 * (1 + logvar.double() - mu.double() ** 2 - logvar.double().exp()).sum(-1)
"""

HANGS_AT_IMPORT = """
while True:  # left over from an experiment
    pass
"""


def test_hanging_and_crashing_functions_fail_alone(tmp_path: Path) -> None:
    """A function that never returns is stopped by the time limit; one that crashes fails only its checks;
    a file that hangs when imported fails its chapter, with one message; the messages point at the learner's
    line; a KL in the wrong dtype loses the dtype point only, with the dtype's hint."""
    scores, output = _grade_files(tmp_path, vae=("graded", HANG_AND_CRASH), dcgan=("graded", HANG_AND_CRASH),
                                  conditional=("hangs_at_import", HANGS_AT_IMPORT))
    exercises = scores["exercises"]
    assert exercises["vae.lerp"]["score"] == 0 and exercises["dcgan.generator_loss"]["score"] == 0
    assert _score(scores, "conditional.") == (0, CHAPTER_POINTS["conditional"])
    assert _score(scores, "vae.kl_divergence") == (5, 6)
    others = _full_marks_except(scores, "vae.lerp", "vae.kl_divergence", "dcgan.generator_loss", "conditional.")
    assert not others, f"exercises that lost points: {others}\n{output[-4000:]}"
    assert f"expected: the check to finish within {LIMIT} s" in output
    assert "at graded.py line" in output and "while True" in output
    assert "RuntimeError" in output and "shapes do not match" in output
    assert "expected: KL for torch.float32 inputs of dtype float32" in output
    assert "it then keeps their dtype" in output and "sum over the latent dimension only" not in output
    # The file that hangs when imported: stopped at the limit, where it was, once for the whole chapter.
    assert output.count(f"hangs_at_import.py to import within {LIMIT} s") == 1, output[-6000:]
    assert "at hangs_at_import.py line" in output
    assert f"none of its {_n_checks(scores, 'conditional.')} checks ran" in output


STATE_AT_IMPORT = """
import torch
torch.set_default_dtype(torch.float64)
torch.set_grad_enabled(False)
torch.use_deterministic_algorithms(True)
torch.autograd.set_detect_anomaly(True)
"""

STATE_IN_A_FUNCTION = STATE_AT_IMPORT + """
_one_hot_maps = one_hot_maps


def one_hot_maps(labels, num_classes=10, height=28, width=28):
    torch.set_default_dtype(torch.float64)
    torch.set_grad_enabled(False)
    return _one_hot_maps(labels, num_classes, height, width)
"""


def test_files_that_do_not_import_cost_only_their_chapter(tmp_path: Path) -> None:
    """input() or SystemExit at the top of a file: that chapter gets 0 with one message, the others are scored;
    a file that changes torch's global settings, at import and in a function, costs no check anything."""
    scores, output = _grade_files(tmp_path, vae=("asks", "\nname = input('your name? ')\n"),
                                  dcgan=("exits", "\nraise SystemExit('done')\n"),
                                  conditional=("settings", STATE_IN_A_FUNCTION))
    assert _score(scores, "vae.") == (0, CHAPTER_POINTS["vae"]) and _score(scores, "dcgan.") == (0, CHAPTER_POINTS["dcgan"])
    assert _score(scores, "conditional.") == (CHAPTER_POINTS["conditional"],) * 2, output[-6000:]
    assert output.count("asks.py to import\n") == 1 and "got: input() at asks.py line" in output
    assert output.count("exits.py to import\n") == 1 and "got: SystemExit('done') at exits.py line" in output
    n_vae, n_dcgan, n_conditional = (_n_checks(scores, chapter) for chapter in ("vae.", "dcgan.", "conditional."))
    # One failure per broken chapter, the rest of its checks skipped: not one message per check.
    summary = f"2 failed, {n_conditional} passed, {n_vae + n_dcgan - 2} skipped"
    assert summary in output, output[-2000:]


def test_in_process_grading_keeps_chapters_apart(tmp_path: Path) -> None:
    """--exercise-in-process (for --pdb): a syntax error fails its chapter with one message, and settings
    changed by another chapter's file leak into no check."""
    scores, output = _grade_files(tmp_path, "--exercise-in-process", vae=("settings", STATE_AT_IMPORT),
                                  dcgan=("broken", "\ndef half_written(:\n    pass\n"),
                                  conditional=("settings", STATE_AT_IMPORT))
    assert _score(scores, "dcgan.") == (0, CHAPTER_POINTS["dcgan"])
    assert not _full_marks_except(scores, "dcgan."), output[-6000:]
    assert output.count("SyntaxError") == 1, output[-6000:]
    assert "def half_written(:" in output


SWALLOWS_AT_IMPORT = """
import time
while True:
    try:
        time.sleep(100)
    except BaseException:  # swallows the time limit too
        pass
"""

SWALLOWS_AND_EXITS = """
import os
import time
import torch


def generator_loss(fake_logits):
    while True:  # retry until the loss is finite: never, for a logit of -200
        try:
            loss = -torch.log(torch.sigmoid(fake_logits)).mean()
            if torch.isfinite(loss):
                return loss
            time.sleep(0.01)
        except:  # noqa: E722 - the mistake under test: it swallows the time limit too
            pass


_one_hot_maps = one_hot_maps


def one_hot_maps(labels, num_classes=10, height=28, width=28):
    if len(labels) == 1:
        os._exit(3)  # ends the process that runs the checks
    return _one_hot_maps(labels, num_classes, height, width)
"""


def test_code_the_time_limit_cannot_stop_is_ended_from_outside(tmp_path: Path) -> None:
    """A bare except that swallows the time limit, at import or in a function, and os._exit in a function: the
    grader ends the process, fails that chapter or check, and grades the rest in a new one."""
    scores, output = _grade_files(tmp_path, vae=("swallows", SWALLOWS_AT_IMPORT), dcgan=("graded", SWALLOWS_AND_EXITS),
                                  conditional=("graded", SWALLOWS_AND_EXITS))
    assert _score(scores, "vae.") == (0, CHAPTER_POINTS["vae"])
    assert _score(scores, "dcgan.generator_loss") == (4, 5) and _score(scores, "conditional.one_hot_maps") == (4, 5)
    others = _full_marks_except(scores, "vae.", "dcgan.generator_loss", "conditional.one_hot_maps")
    assert not others, f"exercises that lost points: {others}\n{output[-6000:]}"
    assert output.count("swallows.py to import within") == 1
    assert "the time limit did not stop it, so the grader ended it" in output
    assert "the time limit did not stop your code, so the grader ended it" in output
    assert "a bare `except:`" in output
    assert "the process running the checks ended during this check (exit code 3)" in output


HANGS_ON_NON_FINITE = """
import torch


def generator_loss(fake_logits):
    loss = -torch.log(torch.sigmoid(fake_logits)).mean()
    while not torch.isfinite(loss):  # waits for a loss that never comes
        pass
    return loss
"""


def test_time_limit_without_sigalrm(tmp_path: Path) -> None:
    """Where SIGALRM does not exist (Windows), the grader's wall-clock limit alone stops a file that hangs when
    imported and a function that hangs (simulated here with FUNDAMENTALML_GRADER_NO_ALARM=1)."""
    scores, output = _grade_files(tmp_path, env={"FUNDAMENTALML_GRADER_NO_ALARM": "1"},
                                  vae=("hangs_at_import", HANGS_AT_IMPORT), dcgan=("graded", HANGS_ON_NON_FINITE),
                                  conditional=("graded", HANGS_ON_NON_FINITE))
    assert _score(scores, "vae.") == (0, CHAPTER_POINTS["vae"]) and _score(scores, "dcgan.generator_loss") == (4, 5)
    others = _full_marks_except(scores, "vae.", "dcgan.generator_loss")
    assert not others, f"exercises that lost points: {others}\n{output[-6000:]}"
    assert output.count("hangs_at_import.py to import within") == 1
    assert output.count("on this system it cannot show where your code was") == 2, output[-6000:]
