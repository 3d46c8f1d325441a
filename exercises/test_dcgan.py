"""The graded checks of ``dcgan.py``. They ship with the package (``fundamentalml/exercises/checks/test_dcgan.py``),
so that a notebook can run them too (``fundamentalml.exercises.grade``); this file brings them in, so that
``python -m pytest exercises/test_dcgan.py`` grades ``dcgan.py`` here."""

from fundamentalml.exercises.checks.test_dcgan import *  # noqa: F401,F403  (CHAPTER and the Test classes)
