"""The bare loop: a model trained by a plain ``for`` loop over its public per-batch API, no Lightning.

A GAN (``isinstance(model, GAN)``) steps with ``model.update_batch(batch, opt_g, opt_d)``; every other model
with ``model.batch_loss(batch)["loss"]``, ``backward`` and its optimiser. The optimisers (and schedule) are
``model.make_optimizers(total_steps)``, what ``configure_optimizers`` returns in a Lightning run. So the only
difference from the project path is Lightning and the model's per-epoch bookkeeping.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any, Callable, Iterable, Iterator

import torch

from fundamentalml.models import GAN
from fundamentalml.training import flush_denormals, no_gpu_probing

from .flops import sync

Batch = tuple[torch.Tensor, torch.Tensor]


def unpack_optimizers(optimizers: Any) -> tuple[torch.optim.Optimizer, Any, str]:
    """``(optimizer, scheduler or None, interval)`` from one optimiser or a ``{"optimizer", "lr_scheduler"}`` dict."""
    if isinstance(optimizers, dict):
        schedule = optimizers.get("lr_scheduler")
        if isinstance(schedule, dict):
            return optimizers["optimizer"], schedule["scheduler"], schedule.get("interval", "epoch")
        return optimizers["optimizer"], schedule, "epoch"
    return optimizers, None, "epoch"


def bare_step(model: torch.nn.Module, total_steps: int, precision: str = "32-true") -> Callable[[Batch], dict[str, torch.Tensor]]:
    """Return ``step(batch)``: one optimisation step of ``model`` without Lightning; it returns the model's losses.

    Call it after ``model.to(device)``: the optimisers are made here, on the parameters' device (fused Adam).
    A per-step schedule (the classifier's one-cycle) steps every batch, as Lightning steps it.
    ``precision="bf16-mixed"`` runs each step in its own bf16 autocast block with autocast's weight cache off,
    exactly as Lightning's plugin runs each ``training_step``. With the cache on, a GAN's generator update would
    run through the bf16 copies of the discriminator's weights made before that same step's discriminator
    update: stale weights, a different computation from the project's (and fewer casts, so a flattering time).
    """
    if precision not in ("32-true", "bf16-mixed"):
        raise ValueError(f"the bare loop runs at 32-true or bf16-mixed, not {precision!r}.")
    device = next(model.parameters()).device.type
    mixed = ((lambda: torch.autocast(device, dtype=torch.bfloat16, cache_enabled=False)) if precision == "bf16-mixed"
             else contextlib.nullcontext)
    optimizers = model.make_optimizers(total_steps=total_steps)
    if isinstance(model, GAN):
        opt_g, opt_d = optimizers

        def gan_step(batch: Batch) -> dict[str, torch.Tensor]:
            with mixed():
                return model.update_batch(batch, opt_g, opt_d)

        return gan_step

    opt, scheduler, interval = unpack_optimizers(optimizers)
    per_step = scheduler if scheduler is not None and interval == "step" else None

    def step(batch: Batch) -> dict[str, torch.Tensor]:
        with mixed():
            losses = model.batch_loss(batch)
            opt.zero_grad(set_to_none=True)
            losses["loss"].backward()
            opt.step()
        if per_step is not None:
            per_step.step()
        return losses

    return step


def batches(loader: Iterable, limit: int, device: torch.device | str) -> Iterator[Batch]:
    """The first ``limit`` batches of ``loader``, moved to ``device``."""
    for i, (x, y) in enumerate(loader):
        if i >= limit:
            return
        yield x.to(device, non_blocking=True), torch.as_tensor(y).to(device, non_blocking=True)


def run_bare(model: torch.nn.Module, loader: Iterable, steps: int, device: torch.device | str) -> tuple[float, int]:
    """Train ``model`` for up to ``steps`` batches of ``loader``; return ``(seconds, images)``.

    The clock covers what ``fit``'s covers for the same work: making the optimisers, the loader's iterator and
    every step, inside :func:`fundamentalml.training.flush_denormals` and
    :func:`~fundamentalml.training.no_gpu_probing` as ``fit`` runs.
    """
    model.to(device).train()
    images = 0
    with flush_denormals(), no_gpu_probing():
        start = time.perf_counter()
        step = bare_step(model, total_steps=steps)
        for batch in batches(loader, steps, device):
            step(batch)
            images += batch[0].shape[0]
        sync(device)
        elapsed = time.perf_counter() - start
    return elapsed, images
