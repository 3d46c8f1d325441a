"""Conditional generative models of MNIST digits: a conditional VAE (Sohn et al., 2015) and a conditional
DCGAN-style GAN (Mirza & Osindero, 2014). Both see the class label on both sides:

* cVAE: encoder q(z | x, y) and decoder p(x | z, y) each get the one-hot label concatenated to their input;
* cGAN: generator G(z, y) gets the one-hot label next to z; discriminator D(x, y) gets it as ten constant
  image planes ("one-hot maps") stacked onto the image.

Both expose ``generate(class_label, n)`` and ``interpolate_classes(start_class, end_class, steps)``.
"""

from __future__ import annotations

import numbers
from typing import Any, Sequence

import torch
from torch import nn

from .base import check_count, check_images, evaluating
from .dcgan import GAN, discriminator_block, init_dcgan_weights
from .vae import IMAGE_SHAPE, VAE, _mlp, reparameterize, vae_loss

NUM_CLASSES = 10


# ------------------------------------------------------------------------------------------ conditioning


def check_class_labels(class_label, num_classes: int = NUM_CLASSES) -> torch.Tensor:
    """Return ``class_label`` (an int, a sequence of ints or an integer tensor) as an int64 tensor ``(K,)``.

    Raises:
        TypeError: a label is not an integer (floats, strings and bools are refused rather than guessed).
        ValueError: a label is outside ``0 .. num_classes - 1``, or the sequence is empty.
    """
    if type(class_label).__module__ == "numpy" and hasattr(class_label, "dtype"):  # an array or a numpy scalar
        import numpy as np

        if not np.issubdtype(class_label.dtype, np.integer):
            raise TypeError(f"class labels must be integers 0..{num_classes - 1}, got a numpy {class_label.dtype} array.")
        class_label = torch.as_tensor(np.asarray(class_label, dtype=np.int64))
    if isinstance(class_label, torch.Tensor):
        if class_label.dtype.is_floating_point or class_label.dtype == torch.bool:
            raise TypeError(f"class labels must be integers 0..{num_classes - 1}, got a {class_label.dtype} tensor.")
        labels = class_label.reshape(-1).long()
    else:
        items = [class_label] if not isinstance(class_label, (list, tuple, range)) else list(class_label)
        for item in items:
            if isinstance(item, bool) or not isinstance(item, numbers.Integral):
                raise TypeError(
                    f"class labels must be integers 0..{num_classes - 1}, got {item!r} ({type(item).__name__})."
                )
        labels = torch.tensor([int(i) for i in items], dtype=torch.long)
    if labels.numel() == 0:
        raise ValueError("no class label given: pass an int or a non-empty sequence of ints.")
    bad = labels[(labels < 0) | (labels >= num_classes)]
    if bad.numel():
        raise ValueError(f"class label {bad[0].item()} is out of range: digits are 0..{num_classes - 1}.")
    return labels


def _check_num_classes(num_classes: Any) -> int:
    """A conditional model needs at least two classes to choose between."""
    if check_count(num_classes, "num_classes") < 2:
        raise ValueError(f"num_classes must be at least 2 (a label must choose between classes), got {num_classes}.")
    return int(num_classes)


def one_hot_maps(labels: torch.Tensor, num_classes: int = NUM_CLASSES, height: int = 28, width: int = 28) -> torch.Tensor:
    """One constant plane per class: ``(B, num_classes, H, W)`` with plane ``y`` all ones for label ``y``."""
    one_hot = nn.functional.one_hot(labels.long(), num_classes).float()
    return one_hot[:, :, None, None].expand(-1, -1, height, width)


def concat_condition(x: torch.Tensor, labels: torch.Tensor, num_classes: int = NUM_CLASSES) -> torch.Tensor:
    """Attach the label to ``x``: one-hot maps along channels for images ``(B, C, H, W)``, a one-hot vector
    for flat inputs ``(B, D)``. ``labels`` may also be soft label vectors ``(B, num_classes)``."""
    soft = labels.float() if labels.ndim == 2 else nn.functional.one_hot(labels.long(), num_classes).float()
    soft = soft.to(x.device, x.dtype)
    if x.ndim == 4:
        return torch.cat([x, soft[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])], dim=1)
    if x.ndim == 2:
        return torch.cat([x, soft], dim=1)
    raise ValueError(f"concat_condition takes (B, C, H, W) images or (B, D) vectors, got {tuple(x.shape)}.")


def class_interpolation_labels(start_class: int, end_class: int, steps: int, num_classes: int = NUM_CLASSES) -> torch.Tensor:
    """Soft labels ``(steps, num_classes)`` moving linearly from one-hot(start) to one-hot(end); rows sum to 1."""
    start, end = check_class_labels([start_class, end_class], num_classes).tolist()
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise ValueError(f"steps must be an int >= 2, got {steps!r}.")
    eye = torch.eye(num_classes)
    t = torch.linspace(0, 1, steps)[:, None]
    return (1 - t) * eye[start] + t * eye[end]


class _Conditional:
    """``generate`` and ``interpolate_classes`` for any model with ``_decode_labels(z, soft_labels)``."""

    latent_dim: int
    num_classes: int

    @evaluating
    def generate(self, class_label, n: int = 1, seed: int | None = None) -> torch.Tensor:
        """``n`` images of each requested digit, label-major: ``(K * n, 1, 28, 28)`` in [0, 1].

        Args:
            class_label: an int 0..9 or a sequence of them.
            n: images per label.
            seed: makes the latents repeatable.
        """
        labels = check_class_labels(class_label, self.num_classes).repeat_interleave(check_count(n))
        gen = torch.Generator(device=self.device).manual_seed(seed) if seed is not None else None
        z = torch.randn(labels.numel(), self.latent_dim, generator=gen, device=self.device)
        soft = nn.functional.one_hot(labels, self.num_classes).float().to(self.device)
        return self._decode_labels(z, soft)

    def live_inputs(self, n: int = 1) -> dict[str, torch.Tensor]:
        """Example inputs of :meth:`live_decode` for ``n`` images, by name: ``{"z": (n, latent_dim),
        "label": (n, num_classes)}`` (the label one-hot, or soft)."""
        n = check_count(n, "n")
        return {"z": torch.zeros(n, self.latent_dim), "label": torch.eye(self.num_classes)[torch.arange(n) % self.num_classes]}

    def live_decode(self, z: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        """The decoder (or generator) alone, as the book's live panels run it: images in [0, 1],
        ``(B, 1, 28, 28)``, for latents and one-hot labels ``(B, num_classes)``."""
        return self._decode_labels(z, label)

    @evaluating
    def interpolate_classes(self, start_class: int, end_class: int, steps: int = 10, seed: int | None = 0) -> torch.Tensor:
        """Hold one latent fixed and slide the label from ``start_class`` to ``end_class``: ``(steps, 1, 28, 28)``."""
        soft = class_interpolation_labels(start_class, end_class, steps, self.num_classes).to(self.device)
        gen = torch.Generator(device=self.device).manual_seed(seed) if seed is not None else None
        z = torch.randn(1, self.latent_dim, generator=gen, device=self.device).expand(steps, -1)
        return self._decode_labels(z, soft)


# ------------------------------------------------------------------------------------------ cVAE


class ConditionalDecoder(nn.Sequential):
    """The cVAE's decoder p(x | z, y): the label, one-hot, appended to the code, then an MLP to one logit per pixel.

    Args:
        latent_dim: size of the code z (20).
        num_classes: number of labels (10 digits).
        hidden: widths of the hidden layers: an int for the seed's two layers of that width (400), or one width
            per layer, in the order the input meets them.
        activation, batch_norm: as in :class:`~fundamentalml.models.vae.MLPVAE`.

    ``forward(z, labels)`` takes codes ``(B, latent_dim)`` and labels, integer ``(B,)`` or soft
    ``(B, num_classes)``, and returns logits ``(B, 1, 28, 28)``: ``torch.sigmoid`` of them are the pixel
    probabilities, and ``F.binary_cross_entropy_with_logits`` trains them.
    """

    def __init__(self, latent_dim: int = 20, num_classes: int = NUM_CLASSES, hidden: int | Sequence[int] = 400,
                 activation: str = "relu", batch_norm: bool = False) -> None:
        widths = [int(hidden)] * 2 if isinstance(hidden, numbers.Integral) else [int(h) for h in hidden]
        if not widths or min(widths) <= 0:
            raise ValueError(f"hidden must be a positive int or a non-empty list of them, got {hidden!r}.")
        super().__init__(
            *_mlp([check_count(latent_dim, "latent_dim") + _check_num_classes(num_classes), *widths], activation, batch_norm),
            nn.Linear(widths[-1], IMAGE_SHAPE[1] * IMAGE_SHAPE[2]),  # one logit per pixel
            nn.Unflatten(1, IMAGE_SHAPE),
        )
        self.latent_dim, self.num_classes = int(latent_dim), int(num_classes)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """Logits ``(B, 1, 28, 28)`` of the images of codes ``z`` with labels ``labels`` (hard or soft)."""
        return super().forward(concat_condition(z, labels, self.num_classes))


class ConditionalVAE(_Conditional, VAE):
    """The seed's MLP VAE with the one-hot label concatenated to the encoder's and the decoder's input.

    Args:
        latent_dim, hidden_dims, batch_norm, activation, lr: as in :class:`~fundamentalml.models.vae.MLPVAE`.
        beta: weight of the KL term. 2, not the seed's 1: at beta = 1 the code keeps part of the digit's
            identity (the decoder then half-ignores the label), and only about 89% of the digits drawn are the
            digit asked for; beta = 2 pushes that identity out of the code and into the label.
        num_classes: number of labels (10 digits).
    """

    def __init__(
        self,
        latent_dim: int = 20,
        hidden_dims: Sequence[int] = (400, 400),
        beta: float = 2.0,
        batch_norm: bool = False,
        activation: str = "relu",
        lr: float = 1e-3,
        num_classes: int = NUM_CLASSES,
    ) -> None:
        super().__init__()
        self._init_common(latent_dim, beta, lr)
        _check_num_classes(num_classes)
        self.save_hyperparameters()
        self.num_classes = num_classes
        hidden = [int(h) for h in hidden_dims]
        if not hidden or min(hidden) <= 0:
            raise ValueError(f"hidden_dims must be a non-empty list of positive ints, got {hidden_dims!r}.")
        # The layers of mlp_vae_layers(..., condition_size=num_classes), made in its order: the same weights.
        encoder = _mlp([IMAGE_SHAPE[1] * IMAGE_SHAPE[2] + num_classes, *hidden], activation, batch_norm)
        decoder = ConditionalDecoder(latent_dim, num_classes, hidden[::-1], activation, batch_norm)
        self.fc_mu, self.fc_logvar = nn.Linear(hidden[-1], latent_dim), nn.Linear(hidden[-1], latent_dim)
        self.encoder, self.decoder = nn.Sequential(*encoder), decoder

    def encode(self, x: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        """``(mu, logvar)`` of q(z | x, y) for images ``(B, 1, 28, 28)`` and labels ``(B,)``."""
        x = check_images(x, IMAGE_SHAPE).flatten(1)
        labels = check_class_labels(labels, self.num_classes).to(x.device)
        if labels.numel() != x.shape[0]:
            raise ValueError(f"{x.shape[0]} images but {labels.numel()} labels.")
        h = self.encoder(concat_condition(x, labels, self.num_classes))
        return self.fc_mu(h), self.fc_logvar(h)

    def _decode_labels(self, z: torch.Tensor, soft_labels: torch.Tensor) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"latent codes must have shape (B, {self.latent_dim}), got {tuple(z.shape)}.")
        return torch.sigmoid(self.decoder(z, soft_labels))

    def decode(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """Images in (0, 1) for latents ``(B, latent_dim)`` and labels ``(B,)``."""
        labels = check_class_labels(labels, self.num_classes).to(z.device)
        return self._decode_labels(z, nn.functional.one_hot(labels, self.num_classes).float())

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # type: ignore[override]
        """``(logits, mu, logvar)`` with ``z`` sampled by the reparameterisation trick."""
        mu, logvar = self.encode(x, labels)
        z = reparameterize(mu, logvar)
        return self.decoder(z, labels), mu, logvar

    @evaluating
    def reconstruct(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """Reconstruct through the posterior mean, given the true labels."""
        mu, _ = self.encode(x.to(self.device), labels)
        return self.decode(mu, labels)

    def batch_loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``{"loss", "bce", "kl"}`` of a batch of images and labels (batch means)."""
        x, labels = batch
        # Training batches come from our own loader: skip the per-call label checks of the public API.
        flat = x.flatten(1)
        h = self.encoder(concat_condition(flat, labels, self.num_classes))
        mu, logvar = self.fc_mu(h), self.fc_logvar(h)
        logits = self.decoder(reparameterize(mu, logvar), labels)
        loss, bce, kl = vae_loss(logits, x, mu, logvar, beta=self.beta, from_logits=True)
        return {"loss": loss, "bce": bce, "kl": kl}

    def sample(self, n: int, seed: int | None = None) -> torch.Tensor:  # type: ignore[override]
        """``n`` images of random digits (labels drawn uniformly, with the same ``seed``)."""
        n = check_count(n)
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        labels = torch.randint(0, self.num_classes, (n,), generator=gen)
        return torch.cat([self.generate(int(y), 1, None if seed is None else seed + i) for i, y in enumerate(labels)])


# ------------------------------------------------------------------------------------------ cGAN


class ConditionalGAN(_Conditional, GAN):
    """A DCGAN-style conditional GAN for 28x28 digits in [-1, 1].

    Generator: [z, one-hot(y)] -> Linear -> 7x7x(2 ngf) -> 14x14x(ngf) -> 28x28x1, tanh.
    Discriminator: [image, one-hot maps of y] (11 channels) -> 14x14x(ndf) -> 7x7x(2 ndf) -> 1 logit.
    ``generate`` and ``sample`` map the tanh output to [0, 1] (:meth:`~fundamentalml.models.dcgan.GAN.to_output`),
    like the cVAE's. Base width 32 rather than the
    DCGAN's 64: digits need less capacity than CIFAR-10, and a step costs about 4 times less on a CPU.
    """

    def __init__(
        self,
        latent_dim: int = 100,
        ngf: int = 32,
        ndf: int = 32,
        lr: float = 2e-4,
        beta1: float = 0.5,
        batch_norm: bool = True,
        num_classes: int = NUM_CLASSES,
        n_fixed: int = 100,
    ) -> None:
        super().__init__()
        self._init_gan(latent_dim, lr, beta1, n_fixed)
        _check_num_classes(num_classes)
        check_count(ngf, "ngf"), check_count(ndf, "ndf"), check_count(n_fixed, "n_fixed")
        self.save_hyperparameters()
        self.num_classes = num_classes
        self.image_shape = (1, 28, 28)
        self.register_buffer("_fixed_labels", torch.arange(n_fixed) % num_classes)
        project: list[nn.Module] = [nn.Linear(latent_dim + num_classes, ngf * 2 * 7 * 7, bias=not batch_norm)]
        if batch_norm:
            project.append(nn.BatchNorm1d(ngf * 2 * 7 * 7))
        up1: list[nn.Module] = [nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=not batch_norm)]
        if batch_norm:
            up1.append(nn.BatchNorm2d(ngf))
        self.generator = nn.Sequential(
            *project,
            nn.ReLU(inplace=True),
            nn.Unflatten(1, (ngf * 2, 7, 7)),
            *up1,
            nn.ReLU(inplace=True),  # 14x14
            nn.ConvTranspose2d(ngf, 1, 4, 2, 1),  # 28x28
            nn.Tanh(),
        )
        self.discriminator = nn.Sequential(
            nn.Conv2d(1 + num_classes, ndf, 4, 2, 1),  # 14x14
            nn.LeakyReLU(0.2, inplace=True),
            discriminator_block(ndf, ndf * 2, batch_norm),  # 7x7
            nn.Flatten(),
            nn.Linear(ndf * 2 * 7 * 7, 1),
            nn.Flatten(0),
        )
        self.apply(init_dcgan_weights)

    def fixed_labels(self) -> torch.Tensor:
        """Labels of the fixed latent batch: 0, 1, ..., 9, 0, 1, ..."""
        return self._fixed_labels

    def generate_from(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Generator output in [-1, 1] for latents and labels (hard ``(B,)`` or soft ``(B, 10)``)."""
        return self.generator(concat_condition(z, labels, self.num_classes))

    def discriminate(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``(B,)`` that ``x`` is a real image of class ``labels``."""
        return self.discriminator(concat_condition(x, labels, self.num_classes))

    def _decode_labels(self, z: torch.Tensor, soft_labels: torch.Tensor) -> torch.Tensor:
        z = self._check_latent(z)
        return self.to_output(self.generate_from(z, soft_labels))

    @evaluating
    def discriminator_scores(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Probabilities ``D(x, y)`` for images in [0, 1] (as ``generate`` returns them) and labels."""
        x = check_images(x, self.image_shape).to(self.device) * 2 - 1  # generate()'s [0, 1] range
        labels = check_class_labels(labels, self.num_classes).to(self.device)
        return torch.sigmoid(self.discriminate(x, labels))

    @evaluating
    def sample(self, n: int, seed: int | None = None) -> torch.Tensor:
        """``n`` images of random digits in [0, 1]."""
        n = check_count(n)
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        labels = torch.randint(0, self.num_classes, (n,), generator=gen)
        z = torch.randn(n, self.latent_dim, generator=gen).to(self.device)
        return self._decode_labels(z, nn.functional.one_hot(labels, self.num_classes).float().to(self.device))
