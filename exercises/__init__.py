"""Exercises of the FundamentalML course: complete the functions in ``vae.py``, ``dcgan.py`` and
``conditional.py``, then run ``pytest exercises`` to have them graded (see ``README.md``)."""
