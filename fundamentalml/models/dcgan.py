"""DCGAN (Radford, Metz & Chintala, 2015) for 32x32 RGB images, and the GAN training step it shares.

The rules that made GANs trainable with convolutions, each visible below: strided convolutions instead of
pooling; transposed convolutions in the generator; batch norm in both networks (except the generator's
output and the discriminator's input); ReLU in the generator with tanh at the output; LeakyReLU(0.2) in the
discriminator; weights drawn from N(0, 0.02); Adam with lr 2e-4 and beta1 = 0.5.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .base import HistoryModule, check_count, check_images, check_latents, check_positive, evaluating
from .latent import interpolate_latents
from .vae import make_adam

N_SNAPSHOT = 16  # images kept from the fixed latent batch after every epoch


# ------------------------------------------------------------------------------------------ pieces


def init_dcgan_weights(module: nn.Module) -> None:
    """DCGAN initialisation, for ``model.apply``: conv weights ~ N(0, 0.02); batch-norm scale ~ N(1, 0.02), shift 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm2d, nn.BatchNorm1d)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """The discriminator's binary cross-entropy: real images labelled 1, generated ones 0 (each a batch mean).

    Works on logits (the discriminator has no final sigmoid) for numerical stability.
    """
    real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real + fake


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss, ``-log D(G(z))`` averaged over the batch.

    Minimising ``log(1 - D(G(z)))`` (the minimax form) gives vanishing gradients exactly when the generator is
    bad and the discriminator confident; asking D to call the fakes real gives strong gradients there.
    """
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def generator_block(in_channels: int, out_channels: int, batch_norm: bool = True) -> nn.Sequential:
    """Transposed conv (4x4, stride 2, padding 1) + batch norm + ReLU: doubles height and width."""
    layers: list[nn.Module] = [nn.ConvTranspose2d(in_channels, out_channels, 4, 2, 1, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_channels))
    layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def discriminator_block(in_channels: int, out_channels: int, batch_norm: bool = True) -> nn.Sequential:
    """Strided conv (4x4, stride 2, padding 1) + batch norm + LeakyReLU(0.2): halves height and width."""
    layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, 4, 2, 1, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_channels))
    layers.append(nn.LeakyReLU(0.2, inplace=True))
    return nn.Sequential(*layers)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Map tanh outputs in [-1, 1] to uint8 pixels."""
    return ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu()


# ------------------------------------------------------------------------------------------ shared GAN training


def gan_update(
    generator: Callable[[torch.Tensor], torch.Tensor],
    discriminator: Callable[[torch.Tensor], torch.Tensor],
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    real: torch.Tensor,
    z: torch.Tensor,
    objective: Callable[[torch.Tensor], torch.Tensor] = generator_loss,
    backward: Callable[[torch.Tensor], None] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One alternating GAN update: a step of the discriminator, then a step of the generator.

    The discriminator learns to call ``real`` real (label 1) and the generator's images of ``z`` fake (label 0);
    the fakes are detached there, so its loss stops at them and never reaches the generator. Then the
    generator, through the updated discriminator, learns to have its images called real (``objective``: the
    non-saturating :func:`generator_loss`). Each optimiser clears its own gradients, and steps on its own loss.

    Args:
        generator: latents ``(B, latent_dim)`` -> images; discriminator: images -> logits, one per image.
        opt_g, opt_d: the optimisers of the generator's and of the discriminator's parameters.
        real: a batch of real images; z: the latents of the generated batch.
        objective: the generator's loss from the discriminator's logits on its images.
        backward: how to backpropagate a loss (Lightning's ``manual_backward``; plain ``Tensor.backward``).

    Returns:
        ``(d_loss, g_loss)``, detached scalars.
    """
    backward = backward or torch.Tensor.backward
    fake = generator(z)

    # 1. The discriminator: real images labelled 1, generated ones 0; detached, the fakes end D's graph.
    d_loss = discriminator_loss(discriminator(real), discriminator(fake.detach()))
    opt_d.zero_grad(set_to_none=True)
    backward(d_loss)
    opt_d.step()

    # 2. The generator: its images through the updated discriminator, which it wants to call them real.
    g_loss = objective(discriminator(fake))
    opt_g.zero_grad(set_to_none=True)  # G's gradients of the previous update: gone
    backward(g_loss)
    opt_g.step()
    return d_loss.detach(), g_loss.detach()


class GAN(HistoryModule):
    """Alternating GAN updates with manual optimisation, shared by :class:`DCGAN` and the conditional GAN.

    Subclasses build ``self.generator`` and ``self.discriminator`` and implement :meth:`generate_from` and
    :meth:`discriminate`. Each step trains D on a real and a generated batch, then G with the non-saturating
    loss. Per step it records both losses (for loss curves); the run path's divergence guard stops training
    the moment one is not finite.
    """

    automatic_optimization = False
    latent_dim: int
    image_shape: tuple[int, int, int]

    def _init_gan(self, latent_dim: int, lr: float, beta1: float, n_fixed: int) -> None:
        latent_dim = check_count(latent_dim, "latent_dim")
        lr = check_positive(lr, "lr")
        if not 0 <= check_positive(beta1, "beta1", allow_zero=True) < 1:
            raise ValueError(f"beta1 must be in [0, 1), got {beta1}.")
        self.latent_dim, self.lr, self.beta1 = latent_dim, lr, float(beta1)
        # A fixed latent batch, drawn from its own seed, so samples across epochs (and runs) are comparable.
        self.register_buffer("fixed_noise", torch.randn(n_fixed, latent_dim, generator=torch.Generator().manual_seed(1234)))
        self.snapshots: list[torch.Tensor] = []

    # ---- subclass interface
    def generate_from(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:  # pragma: no cover
        """Generator output in [-1, 1] for latents ``z`` (and labels, for conditional models)."""
        raise NotImplementedError

    def to_output(self, generated: torch.Tensor) -> torch.Tensor:
        """What the public methods return for the generator's output: its tanh range [-1, 1] mapped to the
        [0, 1] of every model's images (the 2-D warm-up's points stay as they are)."""
        return (generated + 1) / 2

    @evaluating
    def sample(self, n: int, seed: int | None = None) -> torch.Tensor:
        """``n`` samples of the generator from fresh noise (images in [0, 1], like every model's samples;
        points for the 2-D toy GAN); ``seed`` makes them repeatable."""
        n = check_count(n)
        gen = torch.Generator(device=self.device).manual_seed(seed) if seed is not None else None
        return self.to_output(self.generate_from(torch.randn(n, self.latent_dim, generator=gen, device=self.device)))

    def discriminate(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:  # pragma: no cover
        """Discriminator logits, shape ``(B,)``."""
        raise NotImplementedError

    def fixed_labels(self) -> torch.Tensor | None:
        """Labels that go with ``fixed_noise`` (``None`` for unconditional models)."""
        return None

    def generator_objective(self, fake_logits: torch.Tensor) -> torch.Tensor:
        """The generator's loss from the discriminator's logits on its batch: :func:`generator_loss` (non-saturating).

        A subclass may choose another (the 2-D warm-up's :class:`~fundamentalml.models.ring_gan.RingGAN` offers the
        saturating minimax form).
        """
        return generator_loss(fake_logits)

    # ---- training
    def make_optimizers(self, total_steps: int | None = None) -> list[torch.optim.Optimizer]:
        """Two Adams, lr 2e-4, betas (0.5, 0.999) as in the paper: generator first, discriminator second."""
        betas = (self.beta1, 0.999)
        return [make_adam(self.generator.parameters(), self.lr, betas), make_adam(self.discriminator.parameters(), self.lr, betas)]

    def update_batch(
        self,
        batch: tuple[torch.Tensor, torch.Tensor],
        opt_g: torch.optim.Optimizer,
        opt_d: torch.optim.Optimizer,
        backward: Callable[[torch.Tensor], None] | None = None,
    ) -> dict[str, torch.Tensor]:
        """One GAN update on a batch (:func:`gan_update`): D on a real and a generated batch, then G with
        :meth:`generator_objective`.

        The one per-batch step of a GAN: ``training_step`` calls it with Lightning's ``manual_backward``, the
        benchmark's bare loop with plain ``Tensor.backward`` (the default). Returns the losses and the
        discriminator's accuracies and mean probabilities (detached).
        """
        real, labels = batch
        labels = labels if self.fixed_labels() is not None else None
        z = torch.randn(real.shape[0], self.latent_dim, device=real.device)
        logits: list[torch.Tensor] = []  # what D said of the real batch, then of the generated one (for accuracies)

        def discriminate(x: torch.Tensor) -> torch.Tensor:
            out = self.discriminate(x, labels)
            logits.append(out.detach())
            return out

        loss_d, loss_g = gan_update(lambda codes: self.generate_from(codes, labels), discriminate, opt_g, opt_d, real, z,
                                    objective=self.generator_objective, backward=backward)
        real_logits, fake_logits = logits[0], logits[1]
        with torch.no_grad():
            return {
                "loss": (loss_d + loss_g).detach(),  # what the divergence guard watches
                "d_loss": loss_d.detach(), "g_loss": loss_g.detach(),
                "d_real_acc": (real_logits > 0).float().mean(), "d_fake_acc": (fake_logits < 0).float().mean(),
                "d_real_prob": torch.sigmoid(real_logits).mean(), "d_fake_prob": torch.sigmoid(fake_logits).mean(),
            }

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> dict[str, torch.Tensor]:  # noqa: D102
        opt_g, opt_d = self.optimizers()
        out = self.update_batch(batch, opt_g, opt_d, self.manual_backward)
        self.record_step(d_loss=out["d_loss"], g_loss=out["g_loss"])
        self.accumulate("train", batch[0].shape[0], **{k: v for k, v in out.items() if k != "loss"})
        return out

    def on_fit_start(self) -> None:  # noqa: D102
        super().on_fit_start()
        if not self.snapshots:
            self.snapshots.append(self._snapshot())  # epoch 0: what the untrained generator makes

    def on_train_epoch_end(self) -> None:  # noqa: D102
        super().on_train_epoch_end()
        self.snapshots.append(self._snapshot())

    @evaluating
    def _snapshot(self) -> torch.Tensor:
        labels = self.fixed_labels()
        images = self.generate_from(self.fixed_noise[:N_SNAPSHOT], None if labels is None else labels[:N_SNAPSHOT])
        return to_uint8(images)

    def extra_state_for_checkpoint(self) -> dict[str, Any]:
        """The sample snapshots of every epoch, as one uint8 tensor."""
        return {"snapshots": torch.stack(self.snapshots) if self.snapshots else torch.empty(0, dtype=torch.uint8)}

    def restore_extra(self, extra: dict[str, Any]) -> None:
        """Restore the sample snapshots."""
        snaps = extra.get("snapshots")
        self.snapshots = list(snaps) if snaps is not None and len(snaps) else []

    # ---- what chapters call
    def _check_latent(self, z: torch.Tensor) -> torch.Tensor:
        return check_latents(z, self.latent_dim).to(self.device, torch.float32)


class DCGAN(GAN):
    """DCGAN for ``image_channels`` x 32 x 32 images: it trains on [-1, 1] (tanh), its public methods speak [0, 1].

    Generator: z (100) -> 4x4x256 -> 8x8x128 -> 16x16x64 -> 32x32x3, tanh.
    Discriminator: 32x32x3 -> 16x16x64 -> 8x8x128 -> 4x4x256 -> 1 logit.

    Args:
        latent_dim: size of z (paper: 100).
        ngf, ndf: base widths of generator and discriminator (64).
        image_channels: 3 for CIFAR-10.
        lr, beta1: Adam settings (paper: 2e-4, 0.5).
        batch_norm: the DCGAN rule; switch it off to see training fail.
        n_fixed: size of the fixed latent batch.
    """

    def __init__(
        self,
        latent_dim: int = 100,
        ngf: int = 64,
        ndf: int = 64,
        image_channels: int = 3,
        lr: float = 2e-4,
        beta1: float = 0.5,
        batch_norm: bool = True,
        n_fixed: int = 64,
    ) -> None:
        super().__init__()
        self._init_gan(latent_dim, lr, beta1, n_fixed)
        for value, what in ((ngf, "ngf"), (ndf, "ndf"), (image_channels, "image_channels"), (n_fixed, "n_fixed")):
            check_count(value, what)
        self.save_hyperparameters()
        self.image_shape = (image_channels, 32, 32)
        first: list[nn.Module] = [nn.ConvTranspose2d(latent_dim, ngf * 4, 4, 1, 0, bias=not batch_norm)]
        if batch_norm:
            first.append(nn.BatchNorm2d(ngf * 4))
        self.generator = nn.Sequential(
            nn.Unflatten(1, (latent_dim, 1, 1)),
            *first,
            nn.ReLU(inplace=True),  # 4x4
            generator_block(ngf * 4, ngf * 2, batch_norm),  # 8x8
            generator_block(ngf * 2, ngf, batch_norm),  # 16x16
            nn.ConvTranspose2d(ngf, image_channels, 4, 2, 1),  # 32x32
            nn.Tanh(),
        )
        self.discriminator = nn.Sequential(
            nn.Conv2d(image_channels, ndf, 4, 2, 1),  # 16x16, no batch norm on the input layer
            nn.LeakyReLU(0.2, inplace=True),
            discriminator_block(ndf, ndf * 2, batch_norm),  # 8x8
            discriminator_block(ndf * 2, ndf * 4, batch_norm),  # 4x4
            nn.Conv2d(ndf * 4, 1, 4, 1, 0),  # 1x1 logit
            nn.Flatten(0),
        )
        self.apply(init_dcgan_weights)
        # Channels-last (NHWC) weights: oneDNN's convolutions are faster in that layout on a CPU (a bf16 DCGAN
        # step about 1.1-1.2x, measured by the layouts benchmark), as are a GPU's tensor cores. Same convolutions,
        # same math.
        self.to(memory_format=torch.channels_last)

    def generate_from(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Images in [-1, 1], ``(B, C, 32, 32)``, for latents ``(B, latent_dim)``."""
        return self.generator(z)

    def discriminate(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``(B,)`` that ``x`` is real."""
        return self.discriminator(x.contiguous(memory_format=torch.channels_last))

    def live_inputs(self, n: int = 1) -> dict[str, torch.Tensor]:
        """Example inputs of :meth:`live_decode` for ``n`` images, by name: ``{"z": (n, latent_dim)}``."""
        return {"z": torch.zeros(check_count(n, "n"), self.latent_dim)}

    def live_decode(self, z: torch.Tensor) -> torch.Tensor:
        """The generator alone, as the book's live panels run it: images in [0, 1], ``(B, C, 32, 32)``."""
        return self.to_output(self.generate_from(self._check_latent(z)))

    @evaluating
    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] for given latents ``(B, latent_dim)`` (shape-checked)."""
        return self.to_output(self.generate_from(self._check_latent(z)))

    @evaluating
    def interpolate(self, z_a: torch.Tensor, z_b: torch.Tensor, steps: int = 10, method: str = "slerp") -> torch.Tensor:
        """Images in [0, 1] along the path between two latents (each ``(latent_dim,)``): ``(steps, C, 32, 32)``."""
        za = self._check_latent(z_a.reshape(1, -1))[0]
        zb = self._check_latent(z_b.reshape(1, -1))[0]
        return self.generate(interpolate_latents(za, zb, steps, method))

    @evaluating
    def discriminator_scores(self, x: torch.Tensor) -> torch.Tensor:
        """Probabilities ``D(x)`` for images in [0, 1], as ``sample`` and ``generate`` return them (shape-checked)."""
        x = check_images(x, self.image_shape).to(self.device) * 2 - 1  # the discriminator sees the tanh range
        return torch.sigmoid(self.discriminate(x))
