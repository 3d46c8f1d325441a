"""Tests of the exercise graders: references get full marks, untouched stubs get 0, every plausible wrong
solution in ``grader_mutants.py`` is rejected, and a hanging or crashing function fails only its own exercise.

Each test grades a module in a fresh ``python -m pytest exercises`` process, exactly as a learner would, and
reads the scores from ``--score-json``.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
MUTANTS_FILE = Path(__file__).with_name("grader_mutants.py")


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GRADING = _load(REPO / "exercises" / "_grading.py", "_exercises_grading_for_tests")
MUTANTS: dict[str, list[str]] = _load(MUTANTS_FILE, "_grader_mutants_for_tests").MUTANTS
REFERENCES: dict[str, dict[str, str]] = GRADING.REFERENCES

# Which exercise (the key of its ``exercise`` marker) grades each function.
EXERCISE_OF = {
    **{name: f"vae.{name}" for name in ("reparameterize", "kl_divergence", "vae_loss", "lerp", "slerp")},
    "conv_output_size": "vae.conv_sizes",
    "conv_transpose_output_size": "vae.conv_sizes",
    **{name: f"dcgan.{name}" for name in REFERENCES["dcgan"]},
    **{name: f"conditional.{name}" for name in REFERENCES["conditional"]},
}


def _mutant_sets() -> list[dict[str, str]]:
    """Group the wrong versions into runs: at most one wrong function per exercise in each run, so each
    rejection can be pinned on one wrong function, and the other exercises must keep full marks."""
    per_exercise: dict[str, list[tuple[str, str]]] = {}
    for function, wrongs in MUTANTS.items():
        per_exercise.setdefault(EXERCISE_OF[function], []).extend((function, w) for w in wrongs)
    n_sets = max(len(v) for v in per_exercise.values())
    return [dict(pairs[i] for pairs in per_exercise.values() if i < len(pairs)) for i in range(n_sets)]


MUTANT_SETS = _mutant_sets()


def _write_module(folder: Path, swaps: dict[str, str], inline: str = "") -> Path:
    """A module holding every reference function except ``swaps`` (function -> wrong version's name), then
    ``inline`` source that may redefine more of them, as a learner's file would."""
    lines = [
        "import importlib.util, sys",
        f"_spec = importlib.util.spec_from_file_location('grader_mutants', {str(MUTANTS_FILE)!r})",
        "_wrong = importlib.util.module_from_spec(_spec)",
        "_spec.loader.exec_module(_wrong)",
    ]
    for chapter in REFERENCES.values():
        for function, target in chapter.items():
            if function in swaps:
                lines.append(f"{function} = _wrong.{swaps[function]}")
            else:
                module, attr = target.split(":")
                lines.append(f"from {module} import {attr} as {function}")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "graded.py"
    path.write_text("\n".join(lines) + "\n" + inline)
    return path


def grade(folder: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    """Run ``python -m pytest exercises *args`` in a fresh process: exit code, scores, terminal output."""
    folder.mkdir(parents=True, exist_ok=True)
    scores_path = folder / "scores.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "exercises", "-p", "no:cacheprovider", "--score-json", str(scores_path), *args],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    output = proc.stdout + proc.stderr
    assert scores_path.is_file(), f"the grader wrote no scores (exit {proc.returncode}):\n{output[-4000:]}"
    return proc.returncode, json.loads(scores_path.read_text()), output


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


def test_untouched_stubs_get_zero(tmp_path: Path) -> None:
    returncode, scores, output = grade(tmp_path)
    assert returncode != 0
    assert scores["score"] == 0
    assert all(ex["score"] == 0 for ex in scores["exercises"].values())
    assert f"TOTAL: 0 / {scores['total']} points" in output
    # Readable messages: expected / got / hint, the stub's own hint, no raw traceback.
    assert "expected: your implementation of `reparameterize`" in output
    assert "hint: draw eps with torch.randn_like(mu)" in output
    assert "Traceback" not in output and "raise NotImplementedError" not in output


@pytest.mark.parametrize("index", range(len(MUTANT_SETS)), ids=lambda i: f"set{i}")
def test_every_wrong_implementation_is_rejected(index: int, tmp_path: Path) -> None:
    swaps = MUTANT_SETS[index]
    returncode, scores, output = grade(tmp_path, "--implementation", str(_write_module(tmp_path, swaps)))
    assert returncode != 0
    wrong_exercises = {EXERCISE_OF[f] for f in swaps}
    accepted = [f"{w} ({EXERCISE_OF[f]}: {scores['exercises'][EXERCISE_OF[f]]['score']}/"
                f"{scores['exercises'][EXERCISE_OF[f]]['total']})"
                for f, w in swaps.items()
                if scores["exercises"][EXERCISE_OF[f]]["score"] >= scores["exercises"][EXERCISE_OF[f]]["total"]]
    assert not accepted, f"wrong implementations that got full marks: {accepted}"
    # The exercises left at their reference must keep full marks: a wrong function fails only its own checks.
    collateral = [k for k, ex in scores["exercises"].items() if k not in wrong_exercises and ex["score"] != ex["total"]]
    assert not collateral, f"correct exercises lost points: {collateral}\n{output[-4000:]}"
    assert "expected:" in output and "hint:" in output


def test_every_exercise_has_a_wrong_implementation() -> None:
    covered = {EXERCISE_OF[f] for f, wrongs in MUTANTS.items() if wrongs}
    assert covered == set(EXERCISE_OF.values())


HANG_AND_CRASH = """

def lerp(z_a, z_b, steps):
    while True:  # a loop that never ends
        pass


def generator_loss(fake_logits):
    import torch
    return (fake_logits @ torch.ones(3, 3)).mean()  # shapes do not match
"""


def test_hanging_and_crashing_functions_fail_alone(tmp_path: Path) -> None:
    """A function that never returns is stopped by the time limit; one that crashes fails only its checks;
    the messages point at the learner's line."""
    module = _write_module(tmp_path, {}, inline=HANG_AND_CRASH)
    returncode, scores, output = grade(tmp_path, "--implementation", str(module), "--exercise-timeout", "1")
    assert returncode != 0
    exercises = scores["exercises"]
    assert exercises["vae.lerp"]["score"] == 0 and exercises["dcgan.generator_loss"]["score"] == 0
    others = [k for k, ex in exercises.items() if k not in ("vae.lerp", "dcgan.generator_loss") and ex["score"] != ex["total"]]
    assert not others, f"exercises that lost points: {others}\n{output[-4000:]}"
    assert "expected: the check to finish within 1 s" in output
    assert "at graded.py line" in output and "while True" in output
    assert "RuntimeError" in output and "shapes do not match" in output
