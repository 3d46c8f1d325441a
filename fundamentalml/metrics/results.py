"""What every evaluation returns: plain dataclasses with stable field names (for JSON, manifests and tables)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from torch import nn


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


@dataclass
class Metrics:
    """Base of every evaluation result: plain fields with stable names, and :meth:`to_dict`."""

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (for JSON, manifests and tables)."""
        return asdict(self)


@dataclass
class VAEMetrics(Metrics):
    """A VAE on the test set.

    Attributes:
        neg_elbo: -ELBO in nats per image (one posterior sample per image, the estimate the training loss uses).
        bce: its reconstruction term (binary cross-entropy against the grey-level pixels).
        kl: its KL term (near 0 would mean the code is ignored: posterior collapse).
        recon_mse: mean squared error per pixel of the reconstruction through the posterior mean.
        n_images: test images used.
    """

    neg_elbo: float
    bce: float
    kl: float
    recon_mse: float
    n_images: int


@dataclass
class ClassifierMetrics(Metrics):
    """The reference classifier on the test set: ``accuracy`` over ``n_images``."""

    accuracy: float
    n_images: int


@dataclass
class GANMetrics(Metrics):
    """An unconditional GAN: Fréchet distance to real test images in a stated feature space.

    Attributes:
        frechet_distance: between ``n_images`` generated and ``n_images`` real test images.
        feature_space: which features (``"random conv net"`` for CIFAR-10 here).
        n_images: images on each side.
    """

    frechet_distance: float
    feature_space: str
    n_images: int


@dataclass
class ConditionalMetrics(Metrics):
    """A conditional model read by the reference classifier (the judge).

    Attributes:
        conditioning_accuracy: how often the judge reads the digit that was asked for.
        per_class_accuracy: the same for each digit 0..9.
        worst_digit: the digit drawn right least often, and ``worst_digit_accuracy`` its rate.
        frechet_distance: to real test digits in the judge's 128-d features.
        diversity_ratio: mean over digits of (within-digit diversity of samples / of real digits).
        collapsed_digits: digits whose samples are less than half as diverse as real ones.
        n_per_class: samples drawn per digit.
    """

    conditioning_accuracy: float
    per_class_accuracy: list[float]
    worst_digit: int
    worst_digit_accuracy: float
    frechet_distance: float
    diversity_ratio: float
    collapsed_digits: list[int]
    n_per_class: int
