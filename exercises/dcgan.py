"""Exercises for the DCGAN chapter. Replace each ``raise NotImplementedError(...)`` with your code.

Check your work with ``python -m pytest exercises/test_dcgan.py`` (or ``-k generator_loss`` for one exercise).
Only ``torch`` is needed; do not import the course package's solutions. Leave the tensors you are given
unchanged (no in-place operations on them): the checks verify it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: F401  (you may need it)
from torch import nn


def init_dcgan_weights(module: nn.Module) -> None:
    """Exercise 1. DCGAN weight initialisation, written to be used as ``model.apply(init_dcgan_weights)``.

    ``model.apply`` calls this function once for every sub-module. Change the module in place:

    * ``nn.Conv2d`` and ``nn.ConvTranspose2d``: weights drawn from ``N(0, 0.02)`` (0.02 is the standard
      deviation); biases, if any (layers made with ``bias=True``, the default), set to 0;
    * ``nn.BatchNorm2d``: weight (the scale) drawn from ``N(1, 0.02)``, bias (the shift) set to 0;
    * any other module: leave it alone.

    Returns:
        Nothing.
    """
    raise NotImplementedError(
        "test the type with isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)); nn.init.normal_(w, mean, std) "
        "draws in place"
    )


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Exercise 2. The discriminator's loss: binary cross-entropy with real images labelled 1 and
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
        "F.binary_cross_entropy_with_logits(logits, targets) is stable for large logits; "
        "targets are torch.ones_like(real_logits) and torch.zeros_like(fake_logits)"
    )


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Exercise 3. The non-saturating generator loss: ``-log D(G(z))`` averaged over the batch.

    Rather than minimising ``log(1 - D(G(z)))`` (whose gradient vanishes exactly when the discriminator
    confidently rejects the fakes, early in training), the generator asks the discriminator to call its
    images real.

    Args:
        fake_logits: the discriminator's logits for generated images, shape ``(B,)`` (or ``(B, 1)``).

    Returns:
        A scalar tensor (shape ``()``).
    """
    raise NotImplementedError("it is the binary cross-entropy of the fake logits against the label 1 ('real')")


def generator_block(in_channels: int, out_channels: int) -> nn.Module:
    """Exercise 4. One up-sampling block of the DCGAN generator.

    ``nn.Sequential`` of a transposed convolution (kernel 4, stride 2, padding 1, no bias: batch norm
    follows), a ``BatchNorm2d`` and a ``ReLU``.

    Args:
        in_channels, out_channels: channels in and out.

    Returns:
        A module mapping ``(B, in_channels, H, W)`` to ``(B, out_channels, 2H, 2W)``.
    """
    raise NotImplementedError(
        "use conv_transpose_output_size of the VAE exercises to see why kernel 4, stride 2, padding 1 doubles H"
    )
