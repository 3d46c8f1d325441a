"""Profiles and budgets: what ``smoke``, ``cpu`` and ``full`` mean (each model's budgets live in its registry entry).

Three profiles:

* ``smoke`` -- seconds. For tests and CI: proves the code runs, not that it learns much.
* ``cpu``   -- a few minutes per model on a 2-core laptop, with results worth looking at.
* ``full``  -- the seed's settings (batch 128, the papers' learning rates, 10 VAE epochs, 25 DCGAN epochs).

The default is ``full`` when a GPU is present and ``cpu`` otherwise; the environment variable
``FUNDAMENTALML_PROFILE`` overrides that, and an explicit ``profile=`` argument overrides both.
"""

from __future__ import annotations

import contextlib
import os
import platform
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

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
            picks bf16-mixed where the hardware has fast bf16 and fp32 elsewhere (see :func:`resolve_precision`).
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


def resolve_precision(spec: Any, budget: Budget, precision: str | None, accelerator: str = "auto") -> Budget:
    """The budget with a concrete precision: an explicit ``precision`` wins; ``"auto"`` means bf16-mixed where the
    hardware has fast bf16 (AVX-512 BF16 or AMX on a CPU, bf16 on a GPU), fp32 elsewhere. (``spec``, the
    registry entry, is not read: precision depends on the hardware, not on the model.)"""

    wanted = precision or budget.precision
    if wanted == "auto":
        wanted = "bf16-mixed" if fast_bf16(accelerator) else "32-true"
    if wanted in ("16-mixed", "16-true") and not torch.cuda.is_available():
        raise ValueError(f"precision {wanted!r} needs a GPU (Lightning runs it as bf16 on a CPU, and the run would be "
                         f"recorded wrongly); use bf16-mixed or 32-true.")
    return replace(budget, precision=wanted)


def cpu_flags() -> tuple[str, set[str]]:
    """CPU model name and flag set from ``/proc/cpuinfo`` (the platform's name and no flags without it)."""
    model, flags = platform.processor() or platform.machine(), set()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "model name" and value.strip():
                model = value.strip()
            elif key == "flags" and not flags:
                flags = set(value.split())
    return model, flags


def fast_bf16(accelerator: str = "auto") -> bool:
    """``True`` where bf16 is faster than fp32: a GPU with bf16, or a CPU with AVX-512 BF16 or AMX."""
    if accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    return bool({"avx512_bf16", "amx_bf16"} & cpu_flags()[1])
