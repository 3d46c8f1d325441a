"""Exercises for the VAE chapter. Replace each ``raise NotImplementedError(...)`` with your code.

The exercises of the three files are numbered together, in order of rising difficulty: * warm-up, ** core,
*** challenge (``exercises/README.md`` lists them). Within this file they come in that order too.

Check your work with ``python -m pytest exercises/test_vae.py`` (or ``-k reparameterize`` for one exercise);
``--hint-level 2`` or ``3`` makes a failure say more. Only ``torch`` (and ``math``) are needed; do not import the
course package's solutions. Leave the tensors you are given unchanged (no in-place operations such as
``x /= ...`` or ``x.exp_()`` on them): the checks verify it.
"""

from __future__ import annotations

import math  # noqa: F401  (you may need it)

import torch
import torch.nn.functional as F  # noqa: F401  (you may need it)


def lerp(z_a: torch.Tensor, z_b: torch.Tensor, steps: int) -> torch.Tensor:
    """Exercise 1 (*). Linear interpolation: ``steps`` codes evenly spaced on the segment from ``z_a`` to ``z_b``.

    Args:
        z_a, z_b: two latent codes of the same shape ``(D,)``.
        steps: number of codes, at least 2; the first is ``z_a`` and the last ``z_b``.

    Returns:
        Shape ``(steps, D)``, in the dtype of the codes: row ``i`` is ``(1 - t_i) * z_a + t_i * z_b`` with
        ``t_i = i / (steps - 1)``.
    """
    raise NotImplementedError(
        "every row is the same mix at its own t_i: make all the t_i at once and let broadcasting build the rows"
    )


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Exercise 2 (*). The reparameterisation trick: draw one sample ``z ~ N(mu, diag(exp(logvar)))``.

    Write the sample as ``z = mu + sigma * eps`` with ``eps ~ N(0, I)`` drawn fresh on every call, so that
    the randomness sits in ``eps`` and gradients flow to ``mu`` and ``logvar``. ``N(0, I)`` means one
    independent standard normal value for every entry of ``mu``: no two rows, and no two dimensions, share one.

    Args:
        mu: means, shape ``(B, D)``.
        logvar: log-variances ``log(sigma^2)``, shape ``(B, D)``.

    Returns:
        ``z``, shape ``(B, D)``, same dtype as ``mu``.
    """
    raise NotImplementedError(
        "logvar is the log of the variance, not of the standard deviation; and eps needs a fresh value for every "
        "entry of mu"
    )


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Exercise 6 (**). The closed-form KL divergence ``KL(N(mu, diag(exp(logvar))) || N(0, I))``, one per row.

    For one dimension, ``KL = 1/2 * (mu^2 + sigma^2 - log(sigma^2) - 1)``; the dimensions of a row are
    independent, so their KLs add up.

    Args:
        mu: means, shape ``(B, D)``.
        logvar: log-variances, shape ``(B, D)``.

    Returns:
        The KL of each row, shape ``(B,)``, same dtype as ``mu``: never negative, zero only at
        ``mu = 0, logvar = 0``.
    """
    raise NotImplementedError(
        "write the one-dimensional KL with logvar in place of log(sigma^2) and of sigma^2, then add up the "
        "dimensions of each row, not the whole batch"
    )


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Exercise 7a (**). Height (or width) of the output of ``nn.Conv2d(..., kernel, stride, padding)``.

    Args:
        size: input height (or width), an int.
        kernel, stride, padding: the convolution's settings (square kernel, no dilation).

    Returns:
        The output size, an ``int``. For example 28 -> 14 with kernel 3, stride 2, padding 1 (the first layer
        of the CNN VAE's encoder).
    """
    raise NotImplementedError(
        "count the positions where the kernel fits on the padded input, moving stride pixels at a time"
    )


def conv_transpose_output_size(
    size: int, kernel: int, stride: int = 1, padding: int = 0, output_padding: int = 0
) -> int:
    """Exercise 7b (**). Height (or width) of the output of ``nn.ConvTranspose2d(..., kernel, stride, padding,
    output_padding)``: the size a CNN decoder grows to.

    Args:
        size: input height (or width), an int.
        kernel, stride, padding, output_padding: the transposed convolution's settings (no dilation).

    Returns:
        The output size, an ``int``. For example 7 -> 14 with kernel 3, stride 2, padding 1, output_padding 1
        (the CNN VAE's decoder), or with kernel 4, stride 2, padding 1 (the DCGAN's generator).
    """
    raise NotImplementedError(
        "a transposed convolution runs a convolution's size arithmetic backwards: which input size would a "
        "convolution with these settings turn into size?"
    )


def vae_loss(
    recon: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, beta: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Exercise 8 (**). The per-batch loss of a VAE: the negative ELBO with a Bernoulli decoder.

    ``loss = bce + beta * kl`` where

    * ``bce`` is the binary cross-entropy between ``recon`` and ``x``, **summed** over the pixels of each
      image and then **averaged** over the batch;
    * ``kl`` is the KL divergence of exercise 6 (``kl_divergence``), averaged over the batch (not multiplied
      by ``beta``: the weight enters ``loss`` only).

    Args:
        recon: decoder output, probabilities in (0, 1), shape ``(B, 1, 28, 28)``, or any other shape with B rows
            (flattened images ``(B, 784)``, colour images ``(B, 3, H, W)``).
        x: target images in [0, 1], same shape as ``recon``.
        mu, logvar: the encoder's Gaussian, shape ``(B, D)``.
        beta: weight of the KL term (1 gives the ELBO; larger values give a beta-VAE).

    Returns:
        ``(loss, bce, kl)``: three scalar tensors (shape ``()``), in nats per image.
    """
    raise NotImplementedError(
        "per image means summed over its pixels, per batch means averaged over the images: mind the default "
        "reduction of the cross-entropy functions"
    )


def slerp(z_a: torch.Tensor, z_b: torch.Tensor, steps: int) -> torch.Tensor:
    """Exercise 14 (***). Spherical interpolation: ``steps`` codes along the great circle from ``z_a`` to ``z_b``.

    With ``omega`` the angle between ``z_a`` and ``z_b``, the code at ``t`` is
    ``(sin((1 - t) * omega) * z_a + sin(t * omega) * z_b) / sin(omega)``. Under a Gaussian prior most codes
    lie near a sphere; unlike a straight line, this path keeps the norm when ``|z_a| = |z_b|``.
    When ``z_a`` and ``z_b`` point in the same direction (``omega = 0``) or in opposite directions
    (``omega = pi``), ``sin(omega)`` is 0: fall back to linear interpolation in both cases. Mind the rounding:
    in float32 the cosine of opposite codes can come out as -0.99999994, whose arccos is ``pi - 3.5e-4``.

    Args:
        z_a, z_b: two latent codes of the same shape ``(D,)``.
        steps: number of codes, at least 2; the first is ``z_a`` and the last ``z_b``.

    Returns:
        Shape ``(steps, D)``, in the dtype of the codes.
    """
    raise NotImplementedError(
        "find the angle between the two codes first, from their cosine; then weight them with the sines above, "
        "and decide what to do when sin(omega) is (nearly) 0"
    )


def vae_step(model: torch.nn.Module, x: torch.Tensor, optimizer: torch.optim.Optimizer) -> torch.Tensor:
    """Exercise 17 (***). Build it: one optimisation step of a VAE on a batch of images, loss and update.

    Put this chapter's pieces together, as a training loop runs them for every batch:

    1. encode ``x`` into the posterior's ``(mu, logvar)``;
    2. draw ``z`` with the reparameterisation trick (exercise 2), fresh noise on every call;
    3. decode ``z`` and compute the -ELBO of the batch (exercise 8 with beta = 1): the binary cross-entropy
       summed over each image's pixels, plus the KL divergence to the prior, both averaged over the batch;
    4. update the weights: clear the gradients the parameters already hold (an earlier backward pass, of this
       loss or of another one, left them there), backpropagate the loss, and take one optimiser step.

    The model is any VAE with the interface of the chapter's ``MLPVAE`` and ``ConvVAE``:

    * ``model.encode(x)`` returns ``(mu, logvar)``, each of shape ``(B, D)``;
    * ``model.decode(z)`` returns pixel probabilities in (0, 1), shape ``(B, 1, 28, 28)``;
    * ``model.decode_logits(z)`` returns the same before the sigmoid (the logits), for a cross-entropy that
      works on logits (numerically safer); use either.

    Args:
        model: the VAE to train.
        x: images in [0, 1], shape ``(B, 1, 28, 28)``; leave them unchanged.
        optimizer: an optimiser over the model's parameters (Adam, SGD, ...).

    Returns:
        The batch's loss (the -ELBO computed in step 3, before the update), a scalar tensor (shape ``()``); a
        Python float is accepted too.
    """
    raise NotImplementedError(
        "four steps, in this order: the posterior, a sample, the two terms of the loss, then the update; and an "
        "optimiser adds every new gradient to the one a parameter already holds"
    )
