"""Profiles and budgets: what ``smoke``, ``cpu`` and ``full`` mean (each model's budgets live in its registry entry).

Three profiles:

* ``smoke`` -- seconds. For tests and CI: proves the code runs, not that it learns much.
* ``cpu``   -- a few minutes per model on a 2-core laptop, with results worth looking at.
* ``full``  -- the seed's settings (batch 128, the papers' learning rates, 10 VAE epochs, 25 DCGAN epochs).

The default is ``full`` when a GPU is present and ``cpu`` otherwise; the environment variable
``FUNDAMENTALML_PROFILE`` overrides that, and an explicit ``profile=`` argument overrides both.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import torch

from .identity import PROFILE_ENV, PROFILES  # the names live in the torch-free identity module


@dataclass(frozen=True)
class Budget:
    """How one model trains under one profile.

    Attributes:
        epochs: passes over the (possibly limited) training set.
        batch_size: images per optimisation step.
        train_size: number of training images used, or ``None`` for the whole training split.
        lr: Adam learning rate.
        precision: Lightning precision string; ``"32-true"`` keeps the seed's numbers,
            ``"bf16-mixed"`` is faster on CPUs with AMX / AVX-512 BF16 and on recent GPUs, and ``"auto"``
            picks bf16-mixed where the hardware has fast bf16 and fp32 elsewhere (see ``runs.resolve_precision``).
        eval_size: number of test images used by evaluation, or ``None`` for the whole test split.
    """

    epochs: int
    batch_size: int
    train_size: int | None
    lr: float
    precision: str = "32-true"
    eval_size: int | None = None

    def to_dict(self) -> dict:
        """Return the budget as a plain dict (for JSON and checkpoints)."""
        return asdict(self)


def default_profile() -> str:
    """Return the profile used when none is given: ``$FUNDAMENTALML_PROFILE``, else ``full`` on a GPU, else ``cpu``."""
    from_env = os.environ.get(PROFILE_ENV, "").strip()
    if from_env:
        return check_profile(from_env)
    return "full" if torch.cuda.is_available() else "cpu"


def check_profile(profile: str) -> str:
    """Return ``profile`` if it is known; otherwise raise a ``ValueError`` that lists the known ones."""
    if profile not in PROFILES:
        raise ValueError(
            f"Unknown profile {profile!r}. Choose one of {', '.join(PROFILES)} "
            f"(pass profile=... or set {PROFILE_ENV})."
        )
    return profile
