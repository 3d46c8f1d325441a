"""A plain PyTorch training loop beside the package's Lightning path, step for step.

The VAE chapter shows :func:`plain_training_loop` (about fifteen lines: batch, loss, ``zero_grad``, ``backward``,
``step``) and runs it against :func:`run_path_losses`, the package's own training call (``training.train``, which
the CLI and the book use), for the same model, seed, batches and number of steps. The two loss curves agree:
Lightning adds checkpoints, logging, devices and the divergence and signal guard, not a different optimisation.
"""

from __future__ import annotations

import os
from typing import Any, Iterable

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback

from . import registry
from .models.vae import VAE
from .profiles import Budget


def vae_step(model: VAE, x: torch.Tensor, optimizer: torch.optim.Optimizer) -> torch.Tensor:
    """One optimisation step of a VAE on a batch of images ``x``; return the batch's loss (detached).

    The loss is the model's ``batch_loss``: encode, reparameterise, decode, and the -ELBO (binary
    cross-entropy summed over each image's pixels, plus the KL to the prior, both averaged over the batch).
    Then the three lines of every PyTorch step: forget the old gradients, backpropagate, update.
    """
    loss = model.batch_loss((x,))["loss"]  # the -ELBO of this batch, in nats per image
    optimizer.zero_grad()  # forget the previous step's gradients (they would add up)
    loss.backward()  # d loss / d every weight, through the reparameterisation trick
    optimizer.step()  # one update of every parameter the optimiser holds
    return loss.detach()


def plain_training_loop(model: VAE, batches: Iterable[Any], steps: int) -> list[float]:
    """Train ``model`` for ``steps`` optimisation steps with a bare PyTorch loop; return each step's loss.

    The same pieces the Lightning path uses: the model's one per-batch loss (``batch_loss``, in :func:`vae_step`)
    and its optimiser (``make_optimizers``, Adam at the seed's learning rate). ``batches`` is re-read from the
    start when it runs out, as a new epoch would.
    """
    optimizer = model.make_optimizers()
    model.train()
    losses: list[float] = []
    iterator = iter(batches)
    while len(losses) < steps:
        try:
            batch = next(iterator)
        except StopIteration:  # end of an epoch: start another pass over the data
            iterator = iter(batches)
            continue
        losses.append(vae_step(model, batch[0], optimizer).item())  # loss, zero_grad, backward, step
    model.eval()
    return losses


class StepLosses(Callback):
    """Keeps the loss of every training step of a Lightning run (``losses``), for comparing with a plain loop.

    It reads one number per step (a device sync): for short comparisons, not for timed runs.
    """

    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:  # noqa: D102
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        self.losses.append(float(loss))


def _short_budget(name: str, steps: int) -> tuple[registry.ModelSpec, Budget]:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}.")
    spec = registry.get(name)
    # In fp32 whatever the machine: the plain loop has no autocast, and the two paths are compared number for number.
    return spec, spec.budget("full", precision="32-true")


def plain_losses(name: str, steps: int = 200, seed: int = 0,
                 data_dir: str | os.PathLike | None = None) -> list[float]:
    """Seed, build the model and data of registry entry ``name`` (its ``full`` budget: the seed's batch size and
    optimiser) exactly as the run path does, and train them with :func:`plain_training_loop`."""
    spec, budget = _short_budget(name, steps)
    pl.seed_everything(seed, verbose=False)
    model = spec.build(budget)
    datamodule = spec.datamodule(budget, data_dir)
    datamodule.prepare_data()
    datamodule.setup("fit")
    return plain_training_loop(model, datamodule.train_dataloader(), steps)


def run_path_losses(name: str, steps: int = 200, seed: int = 0,
                    data_dir: str | os.PathLike | None = None) -> list[float]:
    """The package's own training call (``training.train``, as the CLI and the book run it) for ``steps`` steps
    of registry entry ``name`` at its ``full`` budget, validation off; return each step's training loss."""
    from .training import train  # the run path's Trainer, divergence and signal guard

    spec, budget = _short_budget(name, steps)
    recorder = StepLosses()
    train(spec, budget, profile="custom", seed=seed, data_dir=data_dir, progress_bar=False, print_epochs=False,
          trainer_kwargs={"callbacks": [recorder], "max_steps": steps, "limit_val_batches": 0})
    return recorder.losses


def curves_agree(a: list[float], b: list[float], rtol: float = 1e-4) -> float:
    """The largest relative difference between two loss curves of equal length (raises if the lengths differ)."""
    if len(a) != len(b) or not a:
        raise ValueError(f"the curves must be non-empty and of equal length, got {len(a)} and {len(b)} steps.")
    ta, tb = torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)
    return float(((ta - tb).abs() / tb.abs().clamp_min(1e-12)).max())
