"""The graded checks of ``vae.py``. They ship with the package (``fundamentalml/exercises/checks/test_vae.py``),
so that a notebook can run them too (``fundamentalml.exercises.grade``); this file brings them in, so that
``python -m pytest exercises/test_vae.py`` grades ``vae.py`` here."""

from fundamentalml.exercises.checks.test_vae import *  # noqa: F401,F403  (CHAPTER and the Test classes)
