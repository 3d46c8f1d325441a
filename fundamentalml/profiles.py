"""Training budgets: the one table that says how long every model trains under each profile.

Three profiles:

* ``smoke`` -- seconds. For tests and CI: proves the code runs, not that it learns much.
* ``cpu``   -- a few minutes per model on a 2-core laptop, with results worth looking at.
* ``full``  -- the seed's settings (batch 128, the papers' learning rates, 10 VAE epochs, 25 DCGAN epochs).

The default is ``full`` when a GPU is present and ``cpu`` otherwise; the environment variable
``FUNDAMENTALML_PROFILE`` overrides that, and an explicit ``profile=`` argument overrides both.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace

import torch

PROFILE_ENV = "FUNDAMENTALML_PROFILE"
PROFILES = ("smoke", "cpu", "full")
MODEL_NAMES = ("vae-mlp", "vae-cnn", "dcgan", "cvae", "cgan", "classifier")


@dataclass(frozen=True)
class Budget:
    """How one model trains under one profile.

    Attributes:
        epochs: passes over the (possibly limited) training set.
        batch_size: images per optimisation step.
        train_size: number of training images used, or ``None`` for the whole training split.
        lr: Adam learning rate.
        precision: Lightning precision string; ``"32-true"`` keeps the seed's numbers,
            ``"bf16-mixed"`` is faster on CPUs with AMX / AVX-512 BF16 and on recent GPUs.
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


# The one table. Rows are models, columns are profiles.
BUDGETS: dict[str, dict[str, Budget]] = {
    "vae-mlp": {
        "smoke": Budget(epochs=1, batch_size=128, train_size=2048, lr=1e-3, eval_size=1000),
        "cpu": Budget(epochs=5, batch_size=128, train_size=None, lr=1e-3),
        "full": Budget(epochs=10, batch_size=128, train_size=None, lr=1e-3),
    },
    "vae-cnn": {
        "smoke": Budget(epochs=1, batch_size=128, train_size=2048, lr=1e-3, eval_size=1000),
        "cpu": Budget(epochs=5, batch_size=128, train_size=None, lr=1e-3),
        "full": Budget(epochs=10, batch_size=128, train_size=None, lr=1e-3),
    },
    "dcgan": {
        "smoke": Budget(epochs=1, batch_size=64, train_size=512, lr=2e-4, eval_size=512),
        # Batch 64 on a CPU: twice the generator updates for the same arithmetic, which matters most early on.
        "cpu": Budget(epochs=2, batch_size=64, train_size=12800, lr=2e-4, eval_size=2000),
        "full": Budget(epochs=25, batch_size=128, train_size=None, lr=2e-4),
    },
    "cvae": {
        "smoke": Budget(epochs=1, batch_size=128, train_size=2048, lr=1e-3, eval_size=1000),
        "cpu": Budget(epochs=5, batch_size=128, train_size=None, lr=1e-3),
        "full": Budget(epochs=10, batch_size=128, train_size=None, lr=1e-3),
    },
    "cgan": {
        "smoke": Budget(epochs=1, batch_size=64, train_size=1024, lr=2e-4, eval_size=1000),
        "cpu": Budget(epochs=3, batch_size=128, train_size=None, lr=2e-4),
        "full": Budget(epochs=20, batch_size=128, train_size=None, lr=2e-4),
    },
    "classifier": {
        "smoke": Budget(epochs=1, batch_size=128, train_size=2048, lr=1e-3, eval_size=1000),
        "cpu": Budget(epochs=3, batch_size=128, train_size=None, lr=1e-3),
        "full": Budget(epochs=5, batch_size=128, train_size=None, lr=1e-3),
    },
}


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


def check_model_name(model: str) -> str:
    """Return ``model`` if it is a known model name; otherwise raise a ``ValueError`` listing them."""
    if model not in BUDGETS:
        raise ValueError(f"Unknown model {model!r}. Choose one of {', '.join(MODEL_NAMES)}.")
    return model


def get_budget(model: str, profile: str | None = None, **overrides) -> Budget:
    """Return the budget of ``model`` under ``profile`` (default: :func:`default_profile`).

    Keyword ``overrides`` replace single fields, e.g. ``get_budget("vae-mlp", "cpu", epochs=2)``.
    """
    check_model_name(model)
    profile = check_profile(profile) if profile is not None else default_profile()
    budget = BUDGETS[model][profile]
    unknown = set(overrides) - set(budget.to_dict())
    if unknown:
        raise ValueError(f"Unknown budget field(s) {sorted(unknown)}; known: {sorted(budget.to_dict())}.")
    return replace(budget, **overrides) if overrides else budget


def budget_table() -> str:
    """Return the budget table as Markdown: one row per model and profile."""
    lines = [
        "| model | profile | epochs | batch | training images | lr | precision |",
        "|---|---|---|---|---|---|---|",
    ]
    for model, by_profile in BUDGETS.items():
        for profile, b in by_profile.items():
            size = "all" if b.train_size is None else f"{b.train_size:,}"
            lines.append(
                f"| {model} | {profile} | {b.epochs} | {b.batch_size} | {size} | {b.lr:g} | {b.precision} |"
            )
    return "\n".join(lines)
