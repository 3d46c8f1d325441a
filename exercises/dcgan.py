"""Exercises for the DCGAN chapter. Replace each ``raise NotImplementedError(...)`` with your code.

The exercises of the three files are numbered together, in order of rising difficulty: * warm-up, ** core,
*** challenge (``exercises/README.md`` lists them). Within this file they come in that order too.

Check your work with ``python -m pytest exercises/test_dcgan.py`` (or ``-k generator_loss`` for one exercise);
``--hint-level 2`` or ``3`` makes a failure say more. Only ``torch`` is needed; do not import the course
package's solutions. Leave the tensors you are given unchanged (no in-place operations on them): the checks
verify it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: F401  (you may need it)
from torch import nn


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Exercise 3 (*). The non-saturating generator loss: ``-log D(G(z))`` averaged over the batch.

    Rather than minimising ``log(1 - D(G(z)))`` (whose gradient vanishes exactly when the discriminator
    confidently rejects the fakes, early in training), the generator asks the discriminator to call its
    images real.

    Args:
        fake_logits: the discriminator's logits for generated images, shape ``(B,)`` (or ``(B, 1)``), with
            ``D(G(z)) = sigmoid(logit)``.

    Returns:
        A scalar tensor (shape ``()``).
    """
    raise NotImplementedError(
        "the generator wins when the discriminator calls its images real: which label is that, and which loss "
        "compares logits with labels?"
    )


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Exercise 9 (**). The discriminator's loss: binary cross-entropy with real images labelled 1 and
    generated images labelled 0.

    The discriminator outputs logits (no final sigmoid). Average the cross-entropy over the real batch and
    over the fake batch separately, and return the sum of the two averages.

    Args:
        real_logits: the discriminator's logits for real images, shape ``(B,)`` (or ``(B, 1)``).
        fake_logits: its logits for generated images, shape ``(M,)`` (or ``(M, 1)``); ``M`` may differ from ``B``.

    Returns:
        A scalar tensor (shape ``()``): ``2 log 2 ~ 1.386`` when every logit is 0.
    """
    raise NotImplementedError(
        "two cross-entropies, one per batch, each against its own label; the inputs are logits, not "
        "probabilities"
    )


def generator_block(in_channels: int, out_channels: int) -> nn.Module:
    """Exercise 10 (**). One up-sampling block of the DCGAN generator.

    ``nn.Sequential`` of a transposed convolution (kernel 4, stride 2, padding 1, no bias: batch norm
    follows), a ``BatchNorm2d`` and a ``ReLU``.

    Args:
        in_channels, out_channels: channels in and out.

    Returns:
        A module mapping ``(B, in_channels, H, W)`` to ``(B, out_channels, 2H, 2W)``.
    """
    raise NotImplementedError(
        "exercise 7 (conv_transpose_output_size) shows why kernel 4, stride 2, padding 1 doubles H; then stack "
        "the three layers in the order the docstring gives"
    )


def init_dcgan_weights(module: nn.Module) -> None:
    """Exercise 11 (**). DCGAN weight initialisation, written to be used as ``model.apply(init_dcgan_weights)``.

    ``model.apply`` calls this function once for every sub-module. Change the module in place:

    * ``nn.Conv2d`` and ``nn.ConvTranspose2d``: weights drawn from ``N(0, 0.02)`` (0.02 is the standard
      deviation); biases, if any (layers made with ``bias=True``, the default), set to 0;
    * ``nn.BatchNorm2d``: weight (the scale) drawn from ``N(1, 0.02)``, bias (the shift) set to 0;
    * any other module: leave it alone.

    Returns:
        Nothing.
    """
    raise NotImplementedError(
        "model.apply hands you one layer at a time: look at its type, then overwrite its parameters in place "
        "(torch has initialisation functions that do)"
    )


def gaussian_frechet_distance(mu1: torch.Tensor, sigma1: torch.Tensor, mu2: torch.Tensor, sigma2: torch.Tensor) -> float:
    """Exercise 15 (***). The Frechet distance between two Gaussians, the heart of the FID.

    Fit a Gaussian to the features of real images and one to those of generated images; their Frechet
    distance is ``||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))`` with ``S1 = sigma1``, ``S2 = sigma2`` and
    ``(S1 S2)^(1/2)`` the matrix square root (a matrix whose square is ``S1 S2``, not the square root of each
    entry). ``S1 S2`` is not symmetric, so think before you take its root: only its trace is needed.

    Covariances estimated from fewer samples than dimensions are singular: rounding then makes some of their
    eigenvalues tiny negative numbers. And the traces are large numbers that nearly cancel: compute in float64,
    whatever the inputs' dtype.

    Args:
        mu1, mu2: means, shape ``(d,)``.
        sigma1, sigma2: covariances, symmetric positive semi-definite, shape ``(d, d)``.

    Returns:
        The distance, a Python ``float``: 0 for identical Gaussians, ``||mu1 - mu2||^2`` when the covariances are
        equal.
    """
    raise NotImplementedError(
        "two parts: how far apart the means are, and how different the covariances are; a symmetric matrix has a "
        "square root you can build from its eigenvalues and eigenvectors"
    )


def gan_update(
    generator: nn.Module,
    discriminator: nn.Module,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    real: torch.Tensor,
    z: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exercise 18 (***). Build it: one alternating GAN update, the discriminator's step then the generator's.

    1. Generate a batch of fakes from ``z``.
    2. The discriminator's turn: its loss on ``real`` (label 1) and on the fakes (label 0), exercise 9. Its
       loss must not reach the generator: cut the graph at the fakes. Clear the discriminator's old gradients,
       backpropagate, step ``opt_d``.
    3. The generator's turn: the fakes through the (just updated) discriminator, with the non-saturating
       generator loss of exercise 3 (fakes labelled 1, "real"). Clear the generator's old gradients,
       backpropagate, step ``opt_g``.

    Each optimiser steps once, on its own network's loss. The parameters may hold gradients from an earlier
    backward pass when you are called.

    Args:
        generator: maps latents ``(B, latent_dim)`` to images.
        discriminator: maps images to logits, one per image: shape ``(B,)`` (no sigmoid at the end).
        opt_g: the optimiser of the generator's parameters; ``opt_d``: the discriminator's.
        real: a batch of real images; ``z``: latents, shape ``(B, latent_dim)``. Leave both unchanged.

    Returns:
        ``(d_loss, g_loss)``: the discriminator's loss (before its step) and the generator's, two scalar
        tensors (shape ``()``).
    """
    raise NotImplementedError(
        "two turns, the discriminator's first: each computes its own loss, clears its own gradients and steps its "
        "own optimiser; and the discriminator's loss has no business changing the generator"
    )
