"""The project path: the package's own training call, :func:`fundamentalml.training.train`, on a registry budget.

``train`` is what ``get_run`` (and so the CLI and every chapter) calls: it seeds, builds the model and its
DataModule from the registry entry, and runs :func:`~fundamentalml.training.fit` with the divergence and signal
guard. Its wall time is ``fit``'s clock (the dataset is read before the clock starts). An extra callback notes
when the training epoch starts and ends, so that ``fit``'s fixed cost per call can be told apart.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from pytorch_lightning.callbacks import Callback

from fundamentalml.profiles import Budget
from fundamentalml.registry import ModelSpec
from fundamentalml.training import Trained, train

from .flops import sync


class EpochClock(Callback):
    """Notes when the (single) training epoch starts and ends.

    ``fit``'s wall time minus the epoch's is its fixed cost per call (Trainer set-up, ``on_fit_start``, epoch-end
    bookkeeping, teardown), which a short run cannot amortise. Only two once-an-epoch hooks do anything.
    """

    def __init__(self) -> None:
        self.start = self.end = float("nan")

    def on_train_epoch_start(self, trainer, pl_module) -> None:  # noqa: D102
        self.start = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:  # noqa: D102
        sync(pl_module.device)
        self.end = time.perf_counter()

    @property
    def seconds(self) -> float:
        """The epoch's wall time."""
        return self.end - self.start


@dataclass
class ProjectRun:
    """One timed project-path run: ``fit``'s wall time, its epoch's, and what ``train`` returned."""

    seconds: float
    epoch_seconds: float
    trained: Trained


def run_project(
    spec: ModelSpec, budget: Budget, *, data_dir: Any = None, seed: int = 0, trainer_kwargs: dict[str, Any] | None = None
) -> ProjectRun:
    """Train ``spec``'s model for ``budget`` through the package's run path; return the times."""
    clock = EpochClock()
    kwargs = dict(trainer_kwargs or {})
    kwargs["callbacks"] = [*kwargs.get("callbacks", []), clock]
    trained = train(
        spec, budget, profile="custom", data_dir=data_dir, seed=seed, progress_bar=True, print_epochs=True,
        trainer_kwargs=kwargs,
    )
    return ProjectRun(float(trained.meta["train_time_s"]), clock.seconds, trained)
