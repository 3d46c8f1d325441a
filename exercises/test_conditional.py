"""The graded checks of ``conditional.py``. They ship with the package (``fundamentalml/exercises/checks/test_conditional.py``),
so that a notebook can run them too (``fundamentalml.exercises.grade``); this file brings them in, so that
``python -m pytest exercises/test_conditional.py`` grades ``conditional.py`` here."""

from fundamentalml.exercises.checks.test_conditional import *  # noqa: F401,F403  (CHAPTER and the Test classes)
