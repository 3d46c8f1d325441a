"""Variational autoencoders for 28x28 images: the ELBO pieces, an MLP VAE and a convolutional VAE.

The loss is the negative evidence lower bound (Kingma & Welling, 2013) with a Bernoulli decoder:

    -ELBO(x) = BCE(x_hat, x) + beta * KL(q(z|x) || N(0, I)),

each term summed over the pixels / latent dimensions of one image and averaged over the batch, so the
number reads in nats per image (pytorch/examples' VAE reaches about 105 after 10 epochs).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .base import LossModule, check_count, check_images, check_latents, check_positive, evaluating, make_activation
from .latent import interpolate_latents

IMAGE_SHAPE = (1, 28, 28)


# ------------------------------------------------------------------------------------------ ELBO pieces


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw ``z = mu + sigma * eps`` with ``eps ~ N(0, I)`` and ``sigma = exp(logvar / 2)``.

    Writing the sample this way moves the randomness into ``eps``, so gradients flow to ``mu`` and ``logvar``.
    """
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + eps * torch.exp(0.5 * logvar)


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) for each row, in closed form: shape ``(B,)``.

    ``KL = -1/2 * sum_j (1 + logvar_j - mu_j^2 - exp(logvar_j))``; zero exactly when ``mu = 0, logvar = 0``.
    """
    return -0.5 * torch.sum(1.0 + logvar - mu.pow(2) - logvar.exp(), dim=-1)


def vae_loss(
    recon: torch.Tensor,
    x: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    beta: float = 1.0,
    from_logits: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Negative ELBO of a batch: ``(loss, bce, kl)``, each summed per image and averaged over the batch.

    Args:
        recon: decoder output, probabilities in (0, 1) (or logits when ``from_logits=True``), same number of
            elements per image as ``x``.
        x: target images in [0, 1].
        mu, logvar: the encoder's Gaussian, shape ``(B, latent_dim)``.
        beta: weight of the KL term (1 is the true ELBO; > 1 is a beta-VAE).
        from_logits: ``True`` when ``recon`` holds logits; numerically safer and what the models use.
    """
    batch = x.shape[0]
    recon, x = recon.reshape(batch, -1), x.reshape(batch, -1)
    if from_logits:
        bce = F.binary_cross_entropy_with_logits(recon, x, reduction="sum") / batch
    else:
        bce = F.binary_cross_entropy(recon, x, reduction="sum") / batch
    kl = kl_divergence(mu, logvar).mean()
    return bce + beta * kl, bce, kl


# ------------------------------------------------------------------------------------------ the models


class VAE(LossModule):
    """What the two VAEs share: the ELBO training step, Adam, and the methods a chapter calls.

    Subclasses build ``self.encoder`` (image -> features), ``self.fc_mu``/``self.fc_logvar`` and
    ``self.decoder`` (latent -> logits of shape ``(B, 1, 28, 28)``).
    """

    latent_dim: int
    beta: float
    lr: float

    def _init_common(self, latent_dim: int, beta: float, lr: float) -> None:
        self.latent_dim = check_count(latent_dim, "latent_dim")
        self.beta = check_positive(beta, "beta (the KL weight)", allow_zero=True)
        self.lr = check_positive(lr, "lr")

    # ---- the maths
    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the posterior's ``(mu, logvar)``, each ``(B, latent_dim)``, for images ``(B, 1, 28, 28)``."""
        h = self.encoder(check_images(x, IMAGE_SHAPE))
        return self.fc_mu(h), self.fc_logvar(h)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """Return the decoder's logits ``(B, 1, 28, 28)`` for latents ``(B, latent_dim)``."""
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"latent codes must have shape (B, {self.latent_dim}), got {tuple(z.shape)}.")
        return self.decoder(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Return images in (0, 1), ``(B, 1, 28, 28)``: the decoder followed by its final sigmoid.

        ``z`` is checked first (a float tensor of finite values): NaN latents would decode to NaN images.
        (The training step calls :meth:`decode_logits`, unchecked: a divergence there is the training guard's.)
        """
        return torch.sigmoid(self.decode_logits(check_latents(z, self.latent_dim).to(self.device)))

    # ---- the decoder on its own (exported to ONNX for the book's in-browser panels)
    def live_inputs(self, n: int = 1) -> dict[str, torch.Tensor]:
        """Example inputs of :meth:`live_decode` for ``n`` images, by name: ``{"z": (n, latent_dim)}``."""
        return {"z": torch.zeros(check_count(n, "n"), self.latent_dim)}

    def live_decode(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder alone, as the book's live panels run it: images in [0, 1], ``(B, 1, 28, 28)``.

        (Not :meth:`decode`: its value checks cannot be traced into an ONNX graph.)"""
        return torch.sigmoid(self.decode_logits(z))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return ``(logits, mu, logvar)`` for a batch, sampling ``z`` with the reparameterisation trick."""
        mu, logvar = self.encode(x)
        return self.decode_logits(reparameterize(mu, logvar)), mu, logvar

    # ---- what chapters call
    @evaluating
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruct images through the posterior mean (no sampling noise): ``(B, 1, 28, 28)`` in (0, 1)."""
        mu, _ = self.encode(x.to(self.device))
        return self.decode(mu)

    @evaluating
    def sample(self, n: int, seed: int | None = None) -> torch.Tensor:
        """Decode ``n`` latents drawn from the prior N(0, I): ``(n, 1, 28, 28)``. ``seed`` makes it repeatable."""
        n = check_count(n)
        gen = torch.Generator(device=self.device).manual_seed(seed) if seed is not None else None
        z = torch.randn(n, self.latent_dim, generator=gen, device=self.device)
        return self.decode(z)

    @evaluating
    def interpolate(self, x_a: torch.Tensor, x_b: torch.Tensor, steps: int = 10, method: str = "linear") -> torch.Tensor:
        """Decode ``steps`` points between the posterior means of two images: ``(steps, 1, 28, 28)``.

        ``x_a`` and ``x_b`` are single images ``(1, 28, 28)`` (or batches of one); ``method`` is ``"linear"``
        or ``"slerp"``.
        """
        za = self.encode(_one_image(x_a).to(self.device))[0][0]
        zb = self.encode(_one_image(x_b).to(self.device))[0][0]
        return self.decode(interpolate_latents(za, zb, steps, method))

    # ---- training
    def batch_loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``{"loss", "bce", "kl"}`` of a batch: the -ELBO (with ``beta``) and its two terms, batch means."""
        x = batch[0]
        logits, mu, logvar = self(x)
        loss, bce, kl = vae_loss(logits, x, mu, logvar, beta=self.beta, from_logits=True)
        return {"loss": loss, "bce": bce, "kl": kl}

    def make_optimizers(self, total_steps: int | None = None) -> torch.optim.Optimizer:
        """Adam at ``lr``; the fused kernel where the parameters' device supports it (fewer, larger ops)."""
        return make_adam(self.parameters(), self.lr)


def make_adam(params, lr: float, betas: tuple[float, float] = (0.9, 0.999)) -> torch.optim.Adam:
    """Adam with ``fused=True`` when every parameter lives on a device the fused kernel supports."""
    params = list(params)
    devices = {p.device.type for p in params}
    fused = devices <= {"cpu", "cuda", "mps", "xpu"}
    return torch.optim.Adam(params, lr=lr, betas=betas, fused=fused)


def _one_image(x: torch.Tensor) -> torch.Tensor:
    if isinstance(x, torch.Tensor) and tuple(x.shape) == IMAGE_SHAPE:
        x = x.unsqueeze(0)
    x = check_images(x, IMAGE_SHAPE, what="interpolation end point")
    if x.shape[0] != 1:
        raise ValueError(f"interpolate takes one image per end point, got a batch of {x.shape[0]}.")
    return x


def mlp_vae_layers(
    latent_dim: int, hidden_dims: Sequence[int], activation: str, batch_norm: bool, condition_size: int = 0
) -> tuple[list[nn.Module], nn.Linear, nn.Linear, list[nn.Module]]:
    """The MLP VAE's layers: encoder body, the two heads, decoder (ending in logits of shape (B, 1, 28, 28)).

    ``condition_size`` extra inputs (a one-hot label) are expected by the encoder and the decoder alike.
    """
    hidden_dims = [int(h) for h in hidden_dims]
    if not hidden_dims or min(hidden_dims) <= 0:
        raise ValueError(f"hidden_dims must be a non-empty list of positive ints, got {hidden_dims!r}.")
    n_pixels = IMAGE_SHAPE[1] * IMAGE_SHAPE[2]
    encoder = _mlp([n_pixels + condition_size, *hidden_dims], activation, batch_norm)
    decoder = [
        *_mlp([latent_dim + condition_size, *reversed(hidden_dims)], activation, batch_norm),
        nn.Linear(hidden_dims[0], n_pixels),
        nn.Unflatten(1, IMAGE_SHAPE),
    ]
    return encoder, nn.Linear(hidden_dims[-1], latent_dim), nn.Linear(hidden_dims[-1], latent_dim), decoder


def _mlp(sizes: Sequence[int], activation: str, batch_norm: bool) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers.append(nn.Linear(n_in, n_out))
        if batch_norm:
            layers.append(nn.BatchNorm1d(n_out))
        layers.append(make_activation(activation))
    return layers


class MLPVAE(VAE):
    """The seed's fully connected VAE: encoder 784-400-400-(20, 20), decoder 20-400-400-784, ReLU, sigmoid.

    About 0.97 M parameters with the defaults. Every "try this" knob is one argument.

    Args:
        latent_dim: size of z (seed: 20).
        hidden_dims: widths of the hidden layers, encoder order; the decoder mirrors them (seed: 400, 400).
        beta: KL weight (seed: 1).
        batch_norm: insert BatchNorm1d after each hidden layer (seed: off).
        activation: hidden activation, a name from ``ACTIVATIONS`` (seed: ``"relu"``).
        lr: Adam learning rate (seed: 1e-3).
    """

    def __init__(
        self,
        latent_dim: int = 20,
        hidden_dims: Sequence[int] = (400, 400),
        beta: float = 1.0,
        batch_norm: bool = False,
        activation: str = "relu",
        lr: float = 1e-3,
    ) -> None:
        super().__init__()
        self._init_common(latent_dim, beta, lr)
        self.save_hyperparameters()
        encoder, self.fc_mu, self.fc_logvar, decoder = mlp_vae_layers(latent_dim, hidden_dims, activation, batch_norm)
        self.encoder = nn.Sequential(nn.Flatten(), *encoder)
        self.decoder = nn.Sequential(*decoder)


class ConvVAE(VAE):
    """The seed's convolutional VAE.

    Encoder: Conv2d 1->32 (3x3, stride 2: 28->14), 32->64 (stride 2: 14->7), 64->64 (stride 1: 7->7),
    flatten 7x7x64 -> (mu, logvar) of size 20. Decoder: Linear 20 -> 7x7x64, ConvTranspose2d 64->32
    (stride 2: 7->14), ConvTranspose2d 32->1 (stride 2: 14->28), sigmoid. About 0.27 M parameters.

    Args:
        latent_dim: size of z (seed: 20).
        channels: encoder channels (seed: 32, 64, 64); the first two downsample, the rest keep 7x7.
        beta, batch_norm, activation, lr: as in :class:`MLPVAE`.
    """

    def __init__(
        self,
        latent_dim: int = 20,
        channels: Sequence[int] = (32, 64, 64),
        beta: float = 1.0,
        batch_norm: bool = False,
        activation: str = "relu",
        lr: float = 1e-3,
    ) -> None:
        super().__init__()
        self._init_common(latent_dim, beta, lr)
        channels = [int(c) for c in channels]
        if len(channels) < 2 or min(channels) <= 0:
            raise ValueError(f"channels needs at least two positive ints (two stride-2 convs), got {channels!r}.")
        self.save_hyperparameters()
        enc: list[nn.Module] = []
        c_in = 1
        for i, c_out in enumerate(channels):
            enc.append(nn.Conv2d(c_in, c_out, 3, stride=2 if i < 2 else 1, padding=1))
            if batch_norm:
                enc.append(nn.BatchNorm2d(c_out))
            enc.append(make_activation(activation))
            c_in = c_out
        feat = channels[-1] * 7 * 7
        self.encoder = nn.Sequential(*enc, nn.Flatten())
        self.fc_mu = nn.Linear(feat, latent_dim)
        self.fc_logvar = nn.Linear(feat, latent_dim)
        dec: list[nn.Module] = [nn.Linear(latent_dim, feat), make_activation(activation), nn.Unflatten(1, (channels[-1], 7, 7))]
        # Transposed convs: out = (in - 1) * 2 - 2 * 1 + 3 + 1 = 2 * in, so 7 -> 14 -> 28.
        dec.append(nn.ConvTranspose2d(channels[-1], channels[0], 3, stride=2, padding=1, output_padding=1))
        if batch_norm:
            dec.append(nn.BatchNorm2d(channels[0]))
        dec += [make_activation(activation), nn.ConvTranspose2d(channels[0], 1, 3, stride=2, padding=1, output_padding=1)]
        self.decoder = nn.Sequential(*dec)
