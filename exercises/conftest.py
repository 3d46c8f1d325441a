"""Loads the grader of ``pytest exercises``: the pytest plugin that ships with the package
(:mod:`fundamentalml.exercises.plugin`: options, points, hints, time limits, scores), grading the files of this
folder. The checks themselves ship with the package too (``fundamentalml/exercises/checks/``); the
``test_<chapter>.py`` files here only bring them in, so that ``pytest exercises/test_vae.py`` still works."""

from pathlib import Path

from fundamentalml.exercises.plugin import *  # noqa: F401,F403  (pytest finds the hooks and fixtures by name)
from fundamentalml.exercises.plugin import _fresh_state  # noqa: F401  (an autouse fixture: * leaves it out)

LEARNER_FOLDER = Path(__file__).resolve().parent  # the plugin grades exercises/<chapter>.py by default
