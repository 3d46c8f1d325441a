"""How good a trained model is: numbers only, no plots and no training.

VAE numbers follow the seed's quantitative table: parameter count, reconstruction MSE on the test set,
test negative ELBO in nats, training time, final losses.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Iterable

import numpy as np
import torch
from torch import nn

from .models.vae import VAE, kl_divergence, reparameterize


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


@torch.no_grad()
def evaluate_vae(model: VAE, loader: Iterable, seed: int = 0) -> VAEMetrics:
    """Test-set numbers of a VAE: negative ELBO, its two terms, and reconstruction MSE.

    Args:
        model: a trained :class:`~fundamentalml.models.vae.VAE`.
        loader: an iterable of ``(images, labels)`` batches in [0, 1] (e.g. a DataModule's ``test_dataloader()``).
        seed: seeds the single posterior sample of the ELBO estimate, so the number is repeatable.
    """
    was_training = model.training
    model.eval()
    gen = torch.Generator(device=model.device).manual_seed(seed)
    totals = {"bce": 0.0, "kl": 0.0, "sq_err": 0.0}
    n = 0
    pixels = 1
    for x, *_ in loader:
        x = x.to(model.device)
        mu, logvar = model.encode(x)
        z = reparameterize(mu, logvar, generator=gen)
        logits = model.decode_logits(z)
        b = x.shape[0]
        totals["bce"] += torch.nn.functional.binary_cross_entropy_with_logits(
            logits.reshape(b, -1), x.reshape(b, -1), reduction="sum"
        ).item()
        totals["kl"] += kl_divergence(mu, logvar).sum().item()
        totals["sq_err"] += (model.decode(mu) - x).pow(2).sum().item()
        n += b
        pixels = x[0].numel()
    model.train(was_training)
    if n == 0:
        raise ValueError("evaluate_vae got an empty loader.")
    bce, kl = totals["bce"] / n, totals["kl"] / n
    return VAEMetrics(neg_elbo=bce + kl, bce=bce, kl=kl, recon_mse=totals["sq_err"] / (n * pixels), n_images=n)


@torch.no_grad()
def evaluate_classifier(classifier, images: torch.Tensor, labels: torch.Tensor) -> ClassifierMetrics:
    """Accuracy of ``classifier`` on ``images`` (floats in [0, 1]) with true ``labels``."""
    predicted = classifier.predict(images)
    return ClassifierMetrics(accuracy=(predicted == labels.cpu()).float().mean().item(), n_images=len(labels))


@torch.no_grad()
def evaluate_gan(model, real: torch.Tensor, n: int = 2000, seed: int = 0) -> GANMetrics:
    """Fréchet distance of an unconditional GAN to ``real`` images (floats in [0, 1]), in random conv features.

    ``min(n, len(real))`` images on each side; the generator's samples are drawn with ``seed``.
    """
    n = min(n, len(real))
    fake = (model.sample(n, seed=seed).cpu() + 1) / 2
    extractor = random_conv_extractor(channels=real.shape[1])
    return GANMetrics(frechet_distance=frechet_distance(real[:n], fake, extractor), feature_space="random conv net", n_images=n)


@torch.no_grad()
def evaluate_conditional(model, judge, real: torch.Tensor, real_labels: torch.Tensor, n_per_class: int = 100, seed: int = 0) -> ConditionalMetrics:
    """Read ``n_per_class`` samples of every digit with ``judge``: accuracy, Fréchet distance, diversity, collapse.

    Args:
        model: a conditional model with ``generate(digits, n, seed=)``.
        judge: the reference classifier (``predict`` and ``features``).
        real, real_labels: real test digits (floats in [0, 1]) and their labels, the yardstick.
    """
    images, intended = generate_per_class(model, n_per_class, seed=seed)
    predicted = judge.predict(images)
    overall, per_class = conditioning_accuracy(intended, predicted)
    feats = judge.features(images).cpu()
    real_feats = judge.features(real).cpu()
    div = np.array([pairwise_diversity(feats[intended == d]) for d in range(10)])
    real_div = np.array([pairwise_diversity(real_feats[real_labels.cpu() == d][:n_per_class]) for d in range(10)])
    per = [float(v) for v in per_class.tolist()]
    worst = int(np.argmin(per))
    return ConditionalMetrics(
        conditioning_accuracy=overall,
        per_class_accuracy=per,
        worst_digit=worst,
        worst_digit_accuracy=per[worst],
        frechet_distance=frechet_distance(real, images, classifier_extractor(judge)),
        diversity_ratio=float(np.mean(div / real_div)),
        collapsed_digits=[int(d) for d in np.nonzero(div < 0.5 * real_div)[0]],
        n_per_class=n_per_class,
    )


# ------------------------------------------------------------------------------------------ conditional models


def conditioning_accuracy(intended: torch.Tensor, predicted: torch.Tensor, num_classes: int = 10) -> tuple[float, torch.Tensor]:
    """How often the classifier reads the digit that was asked for.

    Returns:
        ``(overall, per_class)``: the overall fraction, and a ``(num_classes,)`` tensor of per-class fractions
        (NaN for a class that was never asked for).
    """
    intended, predicted = torch.as_tensor(intended).long().reshape(-1), torch.as_tensor(predicted).long().reshape(-1)
    if intended.shape != predicted.shape or intended.numel() == 0:
        raise ValueError(f"need two non-empty label vectors of the same length, got {intended.numel()} and {predicted.numel()}.")
    hits = (intended == predicted).float()
    counts = torch.bincount(intended, minlength=num_classes).float()
    per_class = torch.bincount(intended, weights=hits, minlength=num_classes) / counts  # 0/0 -> NaN
    return hits.mean().item(), per_class


def confusion(intended: torch.Tensor, predicted: torch.Tensor, num_classes: int = 10) -> np.ndarray:
    """Confusion matrix (scikit-learn): rows are the intended class, columns the class the classifier read."""
    from sklearn.metrics import confusion_matrix

    return confusion_matrix(np.asarray(intended), np.asarray(predicted), labels=list(range(num_classes)))


def pairwise_diversity(features: torch.Tensor) -> float:
    """Mean Euclidean distance between all pairs of rows of ``features`` (``(N, d)``, N >= 2)."""
    if features.shape[0] < 2:
        raise ValueError("diversity needs at least two samples.")
    d = torch.cdist(features.double(), features.double())
    n = features.shape[0]
    return (d.sum() / (n * (n - 1))).item()


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

    if real.shape[0] < 2 or fake.shape[0] < 2:
        raise ValueError("the Fréchet distance needs at least two real and two generated images.")
    fid = FrechetInceptionDistance(feature=extractor, normalize=True)
    for images, is_real in ((real, True), (fake, False)):
        for i in range(0, images.shape[0], batch_size):
            fid.update(images[i : i + batch_size].float(), real=is_real)
    return float(fid.compute())


def classifier_extractor(classifier) -> FeatureExtractor:
    """The reference MNIST classifier's 128-d penultimate features, as a Fréchet-distance extractor."""
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


@torch.no_grad()
def generate_per_class(model, n_per_class: int, seed: int = 0, num_classes: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    """``n_per_class`` images of every digit from a conditional model: ``(images in [0, 1], intended labels)``."""
    images = model.generate(list(range(num_classes)), n_per_class, seed=seed).cpu()
    labels = torch.arange(num_classes).repeat_interleave(n_per_class)
    return images, labels


def gan_stability(model, tail_fraction: float = 0.25) -> dict[str, float]:
    """Stability of GAN training from its history.

    Returns the standard deviation (and mean) of the per-step G and D losses over the last ``tail_fraction`` of
    steps (small and flat is stable; a D loss near 0 with a growing G loss means D has won), and the last
    epoch's discriminator accuracy on real and on generated images (both near 1: D wins; near 0.5: balance).
    """
    out: dict[str, float] = {}
    for key in ("g_loss", "d_loss"):
        steps = model.step_history.get(key, [])
        if steps:
            tail = torch.tensor(steps[-max(2, int(len(steps) * tail_fraction)) :])
            out[f"{key}_mean"], out[f"{key}_std"] = tail.mean().item(), tail.std().item()
    for key in ("train_d_real_acc", "train_d_fake_acc"):
        if model.history.get(key):
            out[key.removeprefix("train_")] = model.history[key][-1]
    return out


@torch.no_grad()
def per_class_discriminator_accuracy(cgan, real: torch.Tensor, real_labels: torch.Tensor, n_per_class: int = 100, seed: int = 0) -> dict[str, torch.Tensor]:
    """The cGAN discriminator's accuracy per class: on real test digits (called real) and on its generator's
    digits of that class (called fake). Images in [0, 1]."""
    fake, fake_labels = generate_per_class(cgan, n_per_class, seed=seed, num_classes=cgan.num_classes)
    real_ok = (cgan.discriminator_scores(real, real_labels) > 0.5).float().cpu()
    fake_ok = (cgan.discriminator_scores(fake, fake_labels) <= 0.5).float().cpu()
    k = cgan.num_classes
    per = lambda ok, y: torch.bincount(y, weights=ok, minlength=k) / torch.bincount(y, minlength=k).float()  # noqa: E731
    return {"real": per(real_ok, real_labels.cpu()), "fake": per(fake_ok, fake_labels)}


@torch.no_grad()
def per_class_reconstruction_error(cvae, images: torch.Tensor, labels: torch.Tensor, num_classes: int = 10) -> torch.Tensor:
    """The cVAE's mean squared reconstruction error per pixel, per class: ``(num_classes,)``."""
    recon = cvae.reconstruct(images, labels).cpu()
    err = (recon - images.cpu()).pow(2).flatten(1).mean(1)
    return torch.bincount(labels, weights=err, minlength=num_classes) / torch.bincount(labels, minlength=num_classes).float()


# ------------------------------------------------------------------------------------------ exercise references


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


def collapsed_classes(features: torch.Tensor, labels: torch.Tensor, real_features: torch.Tensor,
                      real_labels: torch.Tensor, threshold: float = 0.5) -> list[int]:
    """The classes a conditional generator collapsed: its samples of the class are far less diverse than real ones.

    The diversity of a set of samples is the mean Euclidean distance between two different samples, in feature
    space (:func:`pairwise_diversity`). A class ``c`` among the generated ``labels`` is collapsed when the
    diversity of its generated samples is below ``threshold`` times the diversity of the real samples of ``c``.

    Args:
        features, labels: features ``(N, d)`` of generated samples, and the class each was generated for ``(N,)``.
        real_features, real_labels: features ``(M, d)`` of real samples and their classes ``(M,)``.
        threshold: the fraction of the real diversity below which a class counts as collapsed.

    Returns:
        The collapsed classes, ascending, as Python ints.

    Raises:
        ValueError: a generated class with fewer than two generated samples, or fewer than two real ones.
    """
    features, real_features = torch.as_tensor(features).double(), torch.as_tensor(real_features).double()
    labels, real_labels = torch.as_tensor(labels).reshape(-1), torch.as_tensor(real_labels).reshape(-1)
    collapsed = []
    for c in torch.unique(labels).tolist():
        fake, real = features[labels == c], real_features[real_labels == c]
        if len(fake) < 2 or len(real) < 2:
            raise ValueError(f"class {c}: a diversity needs at least two samples, got {len(fake)} generated and "
                             f"{len(real)} real ones.")
        if pairwise_diversity(fake) < threshold * pairwise_diversity(real):
            collapsed.append(int(c))
    return collapsed
