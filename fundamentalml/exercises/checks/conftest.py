"""Loads the grader (:mod:`fundamentalml.exercises.plugin`) when the package's checks run on their own, as
:func:`fundamentalml.exercises.grade` runs them: say what to grade with ``--implementation CHAPTER=FILE.py``
(or ``--solutions``)."""

from fundamentalml.exercises.plugin import *  # noqa: F401,F403  (pytest finds the hooks and fixtures by name)
from fundamentalml.exercises.plugin import _fresh_state  # noqa: F401  (an autouse fixture: * leaves it out)
