"""The course's exercises, graded: the checks, their grader, and a checker for notebooks.

* ``checks/test_<chapter>.py``: the graded checks of each chapter's exercises (one source for every way of
  running them);
* :mod:`~fundamentalml.exercises.plugin`: the pytest plugin that turns them into a grader (points, hints, a time
  limit per check, scores), loaded by ``exercises/conftest.py`` in a clone (``python -m pytest exercises``) and
  by ``checks/conftest.py``;
* :func:`grade` (``notebook.py``): the checks of one exercise, run from a notebook on functions written
  in cells; ``history.py``: the score history behind ``python -m fundamentalml scores``;
* ``_grading.py``: the catalogue of exercises (``EXERCISES``), the references, and the helpers the checks use;
  ``_workers.py``: the second process the learner's code runs in.
"""

from __future__ import annotations

from typing import Any

__all__ = ["grade"]


def __getattr__(name: str) -> Any:
    """``grade`` is imported on first use (it needs torch; ``history``, behind ``python -m fundamentalml scores``,
    does not)."""
    if name == "grade":
        from .notebook import grade

        return grade
    raise AttributeError(f"module 'fundamentalml.exercises' has no attribute {name!r}")
