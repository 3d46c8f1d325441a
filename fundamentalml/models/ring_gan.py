"""A GAN in two dimensions, for the warm-up of the GAN chapter: MLPs on a ring of Gaussians, trained in seconds.

The generator maps a few noise dimensions to a point in the plane, the discriminator a point to a logit. The
per-batch step is the one every GAN of the course uses (:meth:`~fundamentalml.models.dcgan.GAN.update_batch`);
only the generator's objective is a choice here, so the two forms of the generator loss can be compared:

* ``"saturating"``: minimise ``log(1 - D(G(z)))`` (the minimax game as written);
* ``"non-saturating"``: minimise ``-log D(G(z))`` (what Goodfellow et al. train with, and the course's default).

With ``a`` the discriminator's logit and ``D = sigmoid(a)``, their derivatives with respect to ``a`` are
``-sigmoid(a)`` and ``-(1 - sigmoid(a))``: :func:`generator_loss_grad`.
"""

from __future__ import annotations

import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..data import sample_ring
from .base import check_count, check_positive, evaluating, make_activation
from .dcgan import GAN, generator_loss
from .vae import make_adam

GENERATOR_LOSSES = ("saturating", "non-saturating")


def saturating_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """The minimax generator loss ``log(1 - D(G(z)))``, averaged over the batch (to be minimised).

    On logits ``a``: ``log(1 - sigmoid(a)) = -softplus(a)``, which stays finite for any ``a``.
    """
    return -F.softplus(fake_logits).mean()


def generator_loss_grad(logits: torch.Tensor, loss: str) -> torch.Tensor:
    """The derivative of one sample's generator loss with respect to the discriminator's logit ``a``, elementwise.

    ``"saturating"``: ``d/da log(1 - sigmoid(a)) = -sigmoid(a)`` (vanishes as ``a -> -inf``, where D rejects
    the sample confidently); ``"non-saturating"``: ``d/da -log sigmoid(a) = -(1 - sigmoid(a))`` (about -1 there).
    """
    check_generator_loss(loss)
    logits = torch.as_tensor(logits)
    if not logits.is_floating_point():
        logits = logits.double()
    return -torch.sigmoid(logits) if loss == "saturating" else -torch.sigmoid(-logits)


def check_generator_loss(loss: str) -> str:
    """``loss`` if it names a generator loss (:data:`GENERATOR_LOSSES`), else a ``ValueError`` listing them."""
    if loss not in GENERATOR_LOSSES:
        raise ValueError(f"Unknown generator loss {loss!r}; choose one of {', '.join(map(repr, GENERATOR_LOSSES))}.")
    return loss


def _mlp(sizes: list[int], activation: str) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(make_activation(activation))
    return nn.Sequential(*layers)


class RingGAN(GAN):
    """A GAN on points in the plane: MLP generator (noise -> 2-D) and MLP discriminator (2-D -> logit).

    Args:
        latent_dim: noise dimensions fed to the generator.
        hidden_dim: width of every hidden layer, in both networks.
        n_hidden: hidden layers per network.
        generator_loss: ``"non-saturating"`` (``-log D(G(z))``) or ``"saturating"`` (``log(1 - D(G(z)))``).
        lr, beta1: Adam settings for both players (the generator's learning rate, when ``lr_d`` is given).
        lr_d: the discriminator's learning rate (default ``lr``); a faster discriminator wins early.
        n_fixed: size of the fixed noise batch (what :meth:`record_trace` keeps).
    """

    def __init__(
        self,
        latent_dim: int = 2,
        hidden_dim: int = 128,
        n_hidden: int = 2,
        generator_loss: str = "non-saturating",
        lr: float = 1e-3,
        beta1: float = 0.5,
        n_fixed: int = 1000,
        lr_d: float | None = None,
    ) -> None:
        super().__init__()
        self._init_gan(latent_dim, lr, beta1, n_fixed)
        self.lr_d = check_positive(lr_d, "lr_d") if lr_d is not None else self.lr
        hidden_dim, n_hidden = check_count(hidden_dim, "hidden_dim"), check_count(n_hidden, "n_hidden")
        self.generator_loss_kind = check_generator_loss(generator_loss)
        self.save_hyperparameters()
        self.generator = _mlp([latent_dim, *[hidden_dim] * n_hidden, 2], "relu")
        disc = _mlp([2, *[hidden_dim] * n_hidden, 1], "relu")
        for i, layer in enumerate(disc):  # LeakyReLU(0.2) in D, as in DCGAN
            if isinstance(layer, nn.ReLU):
                disc[i] = nn.LeakyReLU(0.2)
        self.discriminator = nn.Sequential(*disc, nn.Flatten(0))
        self.trace: dict[str, list[Any]] = {"step": [], "points": [], "fake_logits": []}

    def make_optimizers(self, total_steps: int | None = None) -> list[torch.optim.Optimizer]:
        """Two Adams with betas ``(beta1, 0.999)``: the generator's at ``lr`` first, the discriminator's at ``lr_d``."""
        betas = (self.beta1, 0.999)
        return [make_adam(self.generator.parameters(), self.lr, betas), make_adam(self.discriminator.parameters(), self.lr_d, betas)]

    def generate_from(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Points ``(B, 2)`` for noise ``(B, latent_dim)``."""
        return self.generator(z)

    def to_output(self, generated: torch.Tensor) -> torch.Tensor:
        """Points, as the generator makes them (no tanh, so no image range to map): what ``sample`` returns."""
        return generated

    def discriminate(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``(B,)`` that the points ``x`` ``(B, 2)`` are real."""
        return self.discriminator(x)

    def generator_objective(self, fake_logits: torch.Tensor) -> torch.Tensor:
        """The chosen generator loss (``generator_loss`` argument) on the discriminator's logits."""
        if self.generator_loss_kind == "saturating":
            return saturating_generator_loss(fake_logits)
        return generator_loss(fake_logits)

    @evaluating
    def _snapshot(self) -> torch.Tensor:
        """The fixed noise batch's points (the image GANs keep uint8 pictures here)."""
        return self.generate_from(self.fixed_noise).cpu()

    @evaluating
    def logits(self, points: torch.Tensor) -> torch.Tensor:
        """The discriminator's logits for points ``(B, 2)``."""
        if not isinstance(points, torch.Tensor) or points.ndim != 2 or points.shape[1] != 2:
            got = tuple(points.shape) if isinstance(points, torch.Tensor) else type(points).__name__
            raise ValueError(f"points must have shape (B, 2), got {got}.")
        return self.discriminate(points.to(self.device, torch.float32))

    @evaluating
    def record_trace(self, step: int) -> None:
        """Keep, for step ``step``, the fixed batch's points and the discriminator's logits on them."""
        points = self.generate_from(self.fixed_noise)
        self.trace["step"].append(int(step))
        self.trace["points"].append(points.cpu())
        self.trace["fake_logits"].append(self.discriminate(points).cpu())

    def extra_state_for_checkpoint(self) -> dict[str, Any]:
        """The trace (steps, points and logits of the fixed batch) besides the snapshots."""
        extra = super().extra_state_for_checkpoint()
        if self.trace["step"]:
            extra["trace"] = {"step": torch.tensor(self.trace["step"]), "points": torch.stack(self.trace["points"]),
                              "fake_logits": torch.stack(self.trace["fake_logits"])}
        return extra

    def restore_extra(self, extra: dict[str, Any]) -> None:
        """Restore the snapshots and the trace."""
        super().restore_extra(extra)
        trace = extra.get("trace")
        if trace:
            self.trace = {"step": [int(s) for s in trace["step"]], "points": list(trace["points"]),
                          "fake_logits": list(trace["fake_logits"])}


def train_ring_gan(
    steps: int = 2000,
    batch_size: int = 256,
    seed: int = 0,
    n_modes: int = 8,
    radius: float = 2.0,
    std: float = 0.02,
    trace_every: int = 50,
    **model_kwargs: Any,
) -> RingGAN:
    """Build a :class:`RingGAN` and train it for ``steps`` updates on fresh batches from a ring of Gaussians.

    Everything random (initial weights, data, noise) follows ``seed``, so the same call gives the same model;
    torch's global random state is left as it was. Every ``trace_every`` steps (and at step 0 and the last)
    the model records its fixed batch and the discriminator's logits on it (:meth:`RingGAN.record_trace`);
    ``model.step_history`` keeps both losses of every step, and ``model.history["time_s"]`` the training time.

    A plain loop over the shared per-batch step rather than a Lightning Trainer, on purpose: here a step
    takes about a millisecond, and the Trainer's set-up and per-step hooks would cost more than the training.
    (The model is a LightningModule all the same; ``pl.Trainer.fit`` trains it with the same ``update_batch``.)

    Args:
        steps, batch_size: number of updates and points per batch (real and generated alike).
        seed: seed of the run.
        n_modes, radius, std: the ring (see :func:`fundamentalml.data.sample_ring`).
        trace_every: steps between two records of the fixed batch.
        model_kwargs: :class:`RingGAN` arguments (``generator_loss``, ``lr``, ``hidden_dim``...).
    """
    steps, batch_size = check_count(steps, "steps"), check_count(batch_size, "batch_size")
    trace_every = check_count(trace_every, "trace_every")
    check_positive(std, "std")
    threads = torch.get_num_threads()
    # One thread: with 128-wide layers a second thread costs more in synchronisation than it saves (measured
    # 5 ms a step on one thread against 40 ms on two busy cores).
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = RingGAN(**model_kwargs)
            opt_g, opt_d = model.make_optimizers()
            data_seed = seed * 1_000_003
            model.train()
            start = time.perf_counter()
            for step in range(steps):
                if step % trace_every == 0:
                    model.record_trace(step)
                real, modes = sample_ring(batch_size, n_modes, radius, std, seed=data_seed + step)
                out = model.update_batch((real, modes), opt_g, opt_d)
                model.record_step(d_loss=out["d_loss"], g_loss=out["g_loss"])
            model.record_trace(steps)
            elapsed = time.perf_counter() - start
    finally:
        torch.set_num_threads(threads)
    model._flush_steps()
    model.history = {"epoch": [1.0], "time_s": [elapsed]}
    return model.eval()
