"""Fréchet distances: the feature spaces they are measured in, the distance itself, its floor, and the
Gaussian formula the DCGAN chapter's exercise asks for."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .checks import check_unit_images


class FeatureExtractor(nn.Module):
    """Wraps a ``features(x)`` function as the module torchmetrics' Fréchet distance expects."""

    def __init__(self, features, num_features: int) -> None:
        super().__init__()
        self._features, self.num_features = features, num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self._features(x)


def frechet_distance(real: torch.Tensor, fake: torch.Tensor, extractor: nn.Module, batch_size: int = 500) -> float:
    """Fréchet distance between Gaussians fitted to ``extractor`` features of real and generated images.

    Uses torchmetrics' ``FrechetInceptionDistance`` with a custom feature extractor (Inception weights cannot be
    downloaded offline). Only comparable between models scored with the same extractor and sample sizes.
    """
    from torchmetrics.image.fid import FrechetInceptionDistance

    real, fake = check_unit_images(real, "real images"), check_unit_images(fake, "generated images")
    if real.shape[1:] != fake.shape[1:]:
        raise ValueError(f"real and generated images differ in shape: {tuple(real.shape[1:])} and {tuple(fake.shape[1:])}.")
    if real.shape[0] < 2 or fake.shape[0] < 2:
        raise ValueError("the Fréchet distance needs at least two real and two generated images.")
    fid = FrechetInceptionDistance(feature=extractor, normalize=True)
    for images, is_real in ((real, True), (fake, False)):
        for i in range(0, images.shape[0], batch_size):
            fid.update(images[i : i + batch_size].float(), real=is_real)
    return float(fid.compute())


def standard_fid(real: torch.Tensor, fake: torch.Tensor, batch_size: int = 200) -> tuple[float | None, str]:
    """The standard FID (torchmetrics' Inception-v3 features, 2048-d) of images in [0, 1], where it can be had.

    The Inception weights are downloaded on first use, so offline (``$FUNDAMENTALML_OFFLINE`` set, or no
    network) this returns ``(None, why)`` instead of failing; online it returns ``(fid, "torchmetrics
    Inception-v3, 2048-d pool features")``. Only this number is comparable with published FIDs (and only
    at the same sample sizes, on the original CIFAR-10 pixels).
    """
    from ..data import offline_requested

    if offline_requested():
        return None, "offline ($FUNDAMENTALML_OFFLINE is set): the Inception weights cannot be downloaded"
    try:
        from torchmetrics.image.fid import FrechetInceptionDistance

        fid = FrechetInceptionDistance(feature=2048, normalize=True)
        for images, is_real in ((real, True), (fake, False)):
            for i in range(0, images.shape[0], batch_size):
                fid.update(images[i : i + batch_size].float(), real=is_real)
        return float(fid.compute()), "torchmetrics Inception-v3, 2048-d pool features"
    except (ImportError, ModuleNotFoundError) as exc:
        return None, f"torchmetrics' Inception backbone is not installed ({exc}); pip install torch-fidelity"
    except (OSError, RuntimeError, ValueError) as exc:  # no network, a failed download, a corrupt cache
        return None, f"the Inception weights could not be loaded ({type(exc).__name__}: {str(exc)[:120]})"


def held_out_floor(judge, test: torch.Tensor, held_out: torch.Tensor, held_out_labels: torch.Tensor,
                   n_per_class: int = 100) -> float:
    """The Fréchet-distance floor in ``judge``'s features: ``n_per_class`` real images of every class that the
    judge never trained on (``held_out``, e.g. its validation split) against the ``test`` images.

    Real images a judge trained on are not fresh samples in its feature space (it has pulled them towards its
    class prototypes), so a floor from them is biased; held-out images are what a perfect generator's samples
    would look like to the judge. The sizes match a per-class generator evaluation (``n_per_class`` of each).
    """
    labels = torch.as_tensor(held_out_labels).long()
    picks = [torch.nonzero(labels == c).flatten()[:n_per_class] for c in range(int(labels.max()) + 1)]
    if any(len(p) < n_per_class for p in picks):
        raise ValueError(f"held_out_floor needs {n_per_class} held-out images of every class; some class has fewer.")
    return frechet_distance(test, held_out[torch.cat(picks)], classifier_extractor(judge))


def classifier_extractor(classifier) -> FeatureExtractor:
    """A trained classifier's penultimate features (``classifier.features``, ``classifier.feature_dim`` wide), as a
    Fréchet-distance extractor: the reference MNIST classifier's 128-d ones, or the CIFAR-10 judge's 256-d ones."""
    return FeatureExtractor(classifier.features, classifier.feature_dim)


def random_conv_extractor(channels: int = 3, seed: int = 0) -> FeatureExtractor:
    """A fixed, randomly initialised conv net (256-d pooled features) for 32x32 images in [0, 1].

    Used for the DCGAN's Fréchet distance: Inception weights cannot be downloaded here, and random conv
    features still separate colour and texture statistics (they are a recognised FID baseline). The numbers
    are therefore not comparable to published (Inception) FIDs, only between models scored here.
    """
    gen = torch.Generator().manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(channels, 64, 3, 1, 1), nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(64, 128, 3, 1, 1), nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(128, 256, 3, 1, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
    )
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * (2.0 / (m.in_channels * 9)) ** 0.5)
                m.bias.zero_()
    net.eval()

    @torch.no_grad()
    def features(x: torch.Tensor) -> torch.Tensor:
        return net(x.float() * 2 - 1)

    return FeatureExtractor(features, 256)


def embed(images: torch.Tensor, features: Callable[[torch.Tensor], torch.Tensor] | None, batch_size: int = 500) -> torch.Tensor:
    """``images`` as rows: flattened pixels (``features=None``) or ``features(images)``, ``batch_size`` at a time."""
    if features is None:
        return images.float().flatten(1)
    with torch.no_grad():
        return torch.cat([features(images[i : i + batch_size].float()).cpu() for i in range(0, len(images), batch_size)]).flatten(1)


# ------------------------------------------------------------------------------------------ exercise reference


def sqrt_psd(matrix: torch.Tensor) -> torch.Tensor:
    """The symmetric square root of a symmetric positive semi-definite matrix, from its eigen-decomposition.

    ``matrix = V diag(l) V^T`` gives ``matrix^(1/2) = V diag(sqrt(l)) V^T``. Rounding leaves the eigenvalues of a
    singular matrix slightly negative (-1e-16): they are clamped at 0 before the square root.
    """
    eigenvalues, vectors = torch.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * eigenvalues.clamp_min(0).sqrt()) @ vectors.T


def gaussian_frechet_distance(mu1: torch.Tensor, sigma1: torch.Tensor, mu2: torch.Tensor, sigma2: torch.Tensor) -> float:
    """The Fréchet distance between the Gaussians ``N(mu1, sigma1)`` and ``N(mu2, sigma2)``.

    ``||mu1 - mu2||^2 + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2))``: what a Fréchet (Inception) distance
    computes from the means and covariances of two clouds of features. ``sigma1 sigma2`` is not symmetric, but
    it is similar to the symmetric positive semi-definite ``R sigma2 R`` with ``R = sigma1^(1/2)``, so their square
    roots have the same eigenvalues, and the same trace: the sum of the square roots of the eigenvalues of
    ``R sigma2 R``. Computed in float64, whatever the inputs' dtype: the trace terms are large and nearly cancel.

    Args:
        mu1, mu2: means, shape ``(d,)``.
        sigma1, sigma2: covariances, symmetric positive semi-definite, shape ``(d, d)``.

    Returns:
        The distance, a Python float (never negative).
    """
    mu1, mu2 = (torch.as_tensor(m).to(torch.float64).reshape(-1) for m in (mu1, mu2))
    sigma1, sigma2 = (torch.as_tensor(s).to(torch.float64) for s in (sigma1, sigma2))
    d = mu1.numel()
    if mu2.numel() != d or tuple(sigma1.shape) != (d, d) or tuple(sigma2.shape) != (d, d):
        raise ValueError(f"need two means of shape (d,) and two covariances of shape (d, d), got {tuple(mu1.shape)}, "
                         f"{tuple(sigma1.shape)}, {tuple(mu2.shape)} and {tuple(sigma2.shape)}.")
    root1 = sqrt_psd(sigma1)
    middle = root1 @ sigma2 @ root1
    eigenvalues = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp_min(0)
    distance = (mu1 - mu2).pow(2).sum() + sigma1.trace() + sigma2.trace() - 2 * eigenvalues.sqrt().sum()
    return max(distance.item(), 0.0)
