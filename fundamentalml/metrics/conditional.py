"""How good a trained model is: numbers only, no plots and no training.

VAE numbers follow the seed's quantitative table: parameter count, reconstruction MSE on the test set,
test negative ELBO in nats, training time, final losses.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
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


# ------------------------------------------------------------------------------------------ input checks
# The public functions below check what they are given, the way the models check theirs: a metric computed on
# 0..255 pixels, NaN images or labels outside the classes is a wrong number, not an error, unless it is caught.


def check_unit_images(x: Any, what: str = "images", value_range: tuple[float, float] = (0.0, 1.0)) -> torch.Tensor:
    """``x`` as a non-empty float32 image batch ``(N, C, H, W)`` of finite values in ``value_range``."""
    if not isinstance(x, torch.Tensor):
        hint = " Convert it with torch.from_numpy(x).float()." if type(x).__module__ == "numpy" else ""
        raise TypeError(f"{what} must be a torch.Tensor (N, C, H, W), got {type(x).__name__}.{hint}")
    if not torch.is_floating_point(x):
        raise TypeError(f"{what} must be floating point in [{value_range[0]:g}, {value_range[1]:g}], got dtype {x.dtype}; "
                        f"convert uint8 pixels with x.float() / 255.")
    if x.ndim != 4 or x.shape[0] == 0:
        raise ValueError(f"{what} must be a non-empty batch (N, C, H, W), got shape {tuple(x.shape)}.")
    x_min, x_max = torch.aminmax(x.detach().float())
    if not (torch.isfinite(x_min) and torch.isfinite(x_max)):
        raise ValueError(f"{what} hold NaN or infinite values.")
    lo, hi = value_range
    if x_min < lo - 1e-3 or x_max > hi + 1e-3:
        hint = " They look like 0..255 pixels: divide by 255." if x_max > 2 else ""
        raise ValueError(f"{what} must lie in [{lo:g}, {hi:g}], got values from {x_min.item():.3g} to {x_max.item():.3g}.{hint}")
    return x.float()


def check_labels(labels: Any, num_classes: int = 10, what: str = "labels", n: int | None = None) -> torch.Tensor:
    """``labels`` as an int64 vector of class indices ``0..num_classes-1`` (of length ``n`` when given)."""
    if isinstance(labels, (list, tuple)) and any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in labels):
        raise TypeError(f"{what} must be whole numbers 0..{num_classes - 1}, got {labels[:5]!r}...")
    t = torch.as_tensor(np.asarray(labels) if not isinstance(labels, torch.Tensor) else labels)
    if t.numel() == 0:
        raise ValueError(f"{what} are empty.")
    if t.dtype.is_floating_point or t.dtype == torch.bool or t.dtype.is_complex:
        raise TypeError(f"{what} must be integer class indices 0..{num_classes - 1}, got dtype {t.dtype}.")
    t = t.reshape(-1).long()
    if t.numel() == 0:
        raise ValueError(f"{what} are empty.")
    if n is not None and t.numel() != n:
        raise ValueError(f"{what} hold {t.numel():,} values for {n:,} images: one label per image.")
    low, high = int(t.min()), int(t.max())
    if low < 0 or high >= num_classes:
        raise ValueError(f"{what} must lie in 0..{num_classes - 1}, got values from {low} to {high}.")
    return t


def _check_model(model: Any, method: str, what: str) -> None:
    if not callable(getattr(model, method, None)):
        raise TypeError(f"{what} must have a {method}() method; got a {type(model).__name__}.")


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
    _check_model(classifier, "predict", "classifier")
    images = check_unit_images(images)
    labels = check_labels(labels, getattr(classifier, "num_classes", 10), n=len(images))
    predicted = classifier.predict(images)
    return ClassifierMetrics(accuracy=(predicted == labels.cpu()).float().mean().item(), n_images=len(labels))


@torch.no_grad()
def evaluate_gan(model, real: torch.Tensor, n: int = 2000, seed: int = 0) -> GANMetrics:
    """Fréchet distance of an unconditional GAN to ``real`` images (floats in [0, 1]), in random conv features.

    ``min(n, len(real))`` images on each side; the generator's samples are drawn with ``seed``.
    """
    _check_model(model, "sample", "model")
    real = check_unit_images(real, "real images")
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
    _check_model(model, "generate", "model")
    _check_model(judge, "predict", "judge")
    real = check_unit_images(real, "real images")
    real_labels = check_labels(real_labels, 10, "real labels", n=len(real))
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
    intended = check_labels(intended, num_classes, "intended labels")
    predicted = check_labels(predicted, num_classes, "predicted labels")
    if intended.shape != predicted.shape:
        raise ValueError(f"need two label vectors of the same length, got {intended.numel()} and {predicted.numel()}.")
    hits = (intended == predicted).float()
    counts = torch.bincount(intended, minlength=num_classes).float()
    per_class = torch.bincount(intended, weights=hits, minlength=num_classes) / counts  # 0/0 -> NaN
    return hits.mean().item(), per_class


@dataclass
class JudgedAccuracy:
    """Conditioning accuracy of one model read by several judges over several independent sample draws.

    Attributes:
        accuracies: judge name -> one accuracy per draw (the draws are the same images for every judge).
        n_per_class: samples of each digit in one draw.
        seeds: the seed of each draw.
    """

    accuracies: dict[str, list[float]]
    n_per_class: int
    seeds: list[int]

    def mean(self, judge: str) -> float:
        """Mean accuracy over the draws, by ``judge``."""
        return float(np.mean(self.accuracies[judge]))

    def spread(self, judge: str) -> tuple[float, float]:
        """Lowest and highest accuracy over the draws, by ``judge``."""
        return float(np.min(self.accuracies[judge])), float(np.max(self.accuracies[judge]))

    def std(self, judge: str) -> float:
        """Standard deviation over the draws (ddof=1; 0 for one draw), by ``judge``."""
        values = self.accuracies[judge]
        return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


@torch.no_grad()
def judged_accuracy(model, judges: dict[str, Any], n_per_class: int = 100, seeds: Sequence[int] = (0, 1, 2, 3, 4)) -> JudgedAccuracy:
    """Conditioning accuracy of a conditional ``model`` by every judge in ``judges``, over independent draws.

    Each seed draws ``n_per_class`` samples of every digit once; every judge reads the same images, so the
    judges differ only in who reads. The spread over draws is the sampling noise of a single reading.
    """
    if not judges:
        raise ValueError("judged_accuracy needs at least one judge (a classifier with predict()).")
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("judged_accuracy needs at least one seed (one draw of samples).")
    out: dict[str, list[float]] = {name: [] for name in judges}
    for seed in seeds:
        images, intended = generate_per_class(model, n_per_class, seed=seed)
        for name, judge in judges.items():
            out[name].append(conditioning_accuracy(intended, judge.predict(images))[0])
    return JudgedAccuracy(accuracies=out, n_per_class=n_per_class, seeds=seeds)


def confusion(intended: torch.Tensor, predicted: torch.Tensor, num_classes: int = 10) -> np.ndarray:
    """Confusion matrix (scikit-learn): rows are the intended class, columns the class the classifier read."""
    from sklearn.metrics import confusion_matrix

    intended = check_labels(intended, num_classes, "intended labels")
    predicted = check_labels(predicted, num_classes, "predicted labels", n=len(intended))
    return confusion_matrix(intended.numpy(), predicted.numpy(), labels=list(range(num_classes)))


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
    from .data import offline_requested

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


# ------------------------------------------------------------------------------------------ how loose the bound is

IWAE_SUBSET_SEED = 17  # which test digits the importance-weighted bound uses, and how their pixels are drawn


@dataclass
class ImportanceWeightedBound(Metrics):
    """Importance-weighted bounds on ``log p(x)`` of binarised digits (Burda et al., 2016), one per ``k``.

    Attributes:
        ks: the numbers of importance samples, ascending.
        bound: for each ``k``, the mean over images of ``log (1/k) sum_i p(x, z_i) / q(z_i | x)`` in nats per image
            (averaged over the ``max(ks) // k`` disjoint groups of ``k`` samples drawn per image); a lower bound on
            ``log p(x)`` in expectation, rising towards it as ``k`` grows.
        bound_sem: standard error over images of each ``bound``.
        elbo: the ELBO of the same images, the mean of all ``max(ks)`` single-sample terms (what ``k = 1``
            estimates).
        gap: ``bound - elbo`` for each ``k``: how much of the ELBO's gap the extra samples recovered (paired on
            the same images and samples, so much less noisy than either number); ``gap_sem`` its standard error
            over images.
        n_images: test images used; ``seed``: the seed of their choice, of the binarisation and of the samples.
    """

    ks: list[int]
    bound: list[float]
    bound_sem: list[float]
    elbo: float
    gap: list[float]
    gap_sem: list[float]
    n_images: int
    seed: int


def binarize(images: torch.Tensor, seed: int) -> torch.Tensor:
    """Pixels drawn as Bernoulli variables from grey levels in [0, 1] (one fixed draw of dynamic binarisation).

    The same ``seed`` always draws the same binary images, so a bound computed on them is repeatable.
    """
    images = torch.as_tensor(images).float()
    if images.numel() == 0 or images.min() < 0 or images.max() > 1:
        raise ValueError("binarize needs grey levels in [0, 1] (use data.to_float_images on uint8 images).")
    return torch.bernoulli(images, generator=torch.Generator().manual_seed(seed))


def binarized_test_subset(test_images_uint8: torch.Tensor, n: int, seed: int = IWAE_SUBSET_SEED) -> torch.Tensor:
    """A fixed random subset of ``n`` test digits, binarised once with ``seed``: ``(n, 1, 28, 28)`` of 0s and 1s.

    The subset is :func:`fundamentalml.data.eval_indices` with ``seed`` (random, not the first ``n``).
    """
    from .data import eval_indices, to_float_images

    idx = eval_indices(len(test_images_uint8), n, seed=seed)
    return binarize(to_float_images(test_images_uint8[idx]), seed)


def _normal_log_density(z: torch.Tensor, mu: torch.Tensor | float = 0.0, logvar: torch.Tensor | float = 0.0) -> torch.Tensor:
    logvar = torch.as_tensor(logvar, dtype=z.dtype, device=z.device)
    return -0.5 * (math.log(2 * math.pi) + logvar + (z - mu).pow(2) / logvar.exp()).sum(-1)


@torch.no_grad()
def importance_log_weights(vae: VAE, x: torch.Tensor, k: int, seed: int = 0, chunk: int = 8192) -> torch.Tensor:
    """``log p(x | z_i) + log p(z_i) - log q(z_i | x)`` for ``k`` samples ``z_i ~ q(z | x)`` per image: ``(B, k)``.

    ``x`` holds binary pixels (the Bernoulli decoder's likelihood is then a probability). Samples are decoded
    ``chunk`` at a time, so ``k = 5000`` fits in memory.
    """
    x = torch.as_tensor(x).float()
    if x.ndim != 4 or x.shape[0] == 0:
        raise ValueError(f"x must be a non-empty batch of images (B, C, H, W), got shape {tuple(x.shape)}.")
    if not bool(((x == 0) | (x == 1)).all()):
        raise ValueError("importance weights need binary pixels (0 or 1): a Bernoulli likelihood of grey levels "
                         "is not a probability. Binarise first (metrics.binarize).")
    k = int(k)
    if k < 1:
        raise ValueError(f"k must be a positive number of samples, got {k}.")
    was_training = vae.training
    vae.eval()
    gen = torch.Generator(device=vae.device).manual_seed(seed)
    x = x.to(vae.device)
    mu, logvar = vae.encode(x)
    out = torch.empty(x.shape[0], k, dtype=torch.float64)
    per_chunk = max(1, chunk // x.shape[0])  # samples per image in one decoder call
    for start in range(0, k, per_chunk):
        m = min(per_chunk, k - start)
        eps = torch.randn(m, *mu.shape, generator=gen, device=vae.device)
        z = mu + eps * (0.5 * logvar).exp()  # (m, B, d)
        logits = vae.decode_logits(z.reshape(-1, mu.shape[1])).reshape(m, x.shape[0], -1)
        target = x.reshape(1, x.shape[0], -1).expand_as(logits)
        log_px_z = -F.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(-1)
        log_w = log_px_z + _normal_log_density(z) - _normal_log_density(z, mu, logvar)
        out[:, start : start + m] = log_w.T.double().cpu()
    vae.train(was_training)
    return out


@torch.no_grad()
def importance_weighted_bound(vae: VAE, x: torch.Tensor, ks: Iterable[int] = (1, 5, 50, 500, 5000), seed: int = 0,
                              chunk: int = 8192) -> ImportanceWeightedBound:
    """Importance-weighted lower bounds on ``log p(x)`` for each ``k`` in ``ks`` (Burda et al., 2016).

    ``log p_k(x) = log (1/k) sum_i w_i`` with ``w_i = p(x | z_i) p(z_i) / q(z_i | x)``, ``z_i ~ q(z | x)``: for
    ``k = 1`` its expectation is the ELBO, it never decreases in expectation as ``k`` grows, and it tends to
    ``log p(x)``. ``max(ks)`` samples are drawn per image once; the bound for a smaller ``k`` is the mean
    over the ``max(ks) // k`` disjoint groups of ``k`` of them.

    Args:
        vae: a trained VAE with a Bernoulli decoder.
        x: binary images ``(B, 1, 28, 28)`` (see :func:`binarized_test_subset`).
        ks: numbers of importance samples.
        seed: seeds the posterior samples.
        chunk: latents decoded at once (memory, not the result).
    """
    ks = sorted({int(k) for k in ks})
    if not ks or ks[0] < 1:
        raise ValueError(f"ks must be positive numbers of samples, got {ks}.")
    log_w = importance_log_weights(vae, x, ks[-1], seed=seed, chunk=chunk)
    n = log_w.shape[0]
    elbo_per_image = log_w.mean(1)
    sem = (lambda v: (v.std() / math.sqrt(n)).item() if n > 1 else float("nan"))  # noqa: E731
    bound, bound_sem, gap_sem = [], [], []
    for k in ks:
        groups = ks[-1] // k
        per_image = (torch.logsumexp(log_w[:, : groups * k].reshape(n, groups, k), dim=2) - math.log(k)).mean(1)
        bound.append(per_image.mean().item())
        bound_sem.append(sem(per_image))
        gap_sem.append(sem(per_image - elbo_per_image))
    elbo = elbo_per_image.mean().item()
    return ImportanceWeightedBound(ks=ks, bound=bound, bound_sem=bound_sem, elbo=elbo, gap=[b - elbo for b in bound],
                                   gap_sem=gap_sem, n_images=n, seed=seed)


# ------------------------------------------------------------------------------------------ memorisation


@dataclass
class NearestTraining(Metrics):
    """How close generated images, and as many real test images, come to the training set.

    A generator that copies shows generated images much closer to their nearest training image than test
    images are (test images were never trained on, so their distances are what "not a copy" looks like).

    Attributes:
        feature_space: ``"pixels"`` or the name of the features the distances were measured in.
        n_train: training images searched (all of them, or a fixed random subset for costly features).
        generated_distance, test_distance: each image's Euclidean distance to its nearest training image.
        generated_index, test_index: which training image that is (an index into the whole training set).
        quantile_levels: the levels of ``generated_quantiles`` and ``test_quantiles``.
        threshold: the test distances' 1st percentile: closer than 99% of test images come.
        share_below_threshold: the share of generated images closer to a training image than ``threshold``
            (about 0.01 when generated images sit like test images).
        copying: ``share_below_threshold`` above 0.05 (five times what test images show): a sign of copying.
    """

    feature_space: str
    n_train: int
    generated_distance: list[float]
    test_distance: list[float]
    generated_index: list[int]
    test_index: list[int]
    quantile_levels: list[float]
    generated_quantiles: list[float]
    test_quantiles: list[float]
    threshold: float
    share_below_threshold: float
    copying: bool


COPY_QUANTILE = 0.01  # test images' lower tail that generated images are compared with
COPY_FACTOR = 5.0  # generated images below it this many times more often than test images: copying


def nearest_neighbours(queries: torch.Tensor, reference: torch.Tensor, chunk: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row of ``queries`` (``(N, d)``)'s Euclidean distance to its nearest row of ``reference`` (``(M, d)``),
    and that row's index: ``(distances (N,), indices (N,))``. Chunked over queries to bound memory."""
    queries, reference = torch.as_tensor(queries).float().flatten(1), torch.as_tensor(reference).float().flatten(1)
    if len(queries) == 0 or len(reference) == 0 or queries.shape[1] != reference.shape[1]:
        raise ValueError(f"need non-empty queries and reference of the same width, got {tuple(queries.shape)} and "
                         f"{tuple(reference.shape)}.")
    ref_sq = reference.pow(2).sum(1)
    dist, idx = [], []
    for i in range(0, len(queries), chunk):
        q = queries[i : i + chunk]
        # |q - r|^2 = |q|^2 + |r|^2 - 2 q.r: one matrix product instead of an (N, M, d) difference
        sq = (q.pow(2).sum(1, keepdim=True) + ref_sq - 2 * q @ reference.T).clamp_min(0)
        d, j = sq.min(1)
        dist.append(d.sqrt())
        idx.append(j)
    return torch.cat(dist), torch.cat(idx)


def _embed(images: torch.Tensor, features: Callable[[torch.Tensor], torch.Tensor] | None, batch_size: int = 500) -> torch.Tensor:
    if features is None:
        return images.float().flatten(1)
    with torch.no_grad():
        return torch.cat([features(images[i : i + batch_size].float()).cpu() for i in range(0, len(images), batch_size)]).flatten(1)


def copy_check_power(n: int, level: float = 0.9, quantile: float = COPY_QUANTILE, factor: float = COPY_FACTOR) -> float:
    """The power of the memorisation rule: the smallest share of copies among ``n`` generated images that the
    rule flags with probability at least ``level``.

    A copy of a training image (or a near copy) lies closer to it than any unseen test image does, so it falls
    under the threshold; the other samples fall under it as often as test images do (``quantile``). The rule
    flags when more than ``factor * quantile`` of the ``n`` samples fall under: the count of those is binomial.
    This holds only when the whole training set is searched (a copy of an image outside a searched subset is
    not found at all).
    """
    from scipy.stats import binom

    if n < 1 or not 0 < level < 1:
        raise ValueError(f"copy_check_power needs n >= 1 and 0 < level < 1, got n={n}, level={level}.")
    limit = math.floor(factor * quantile * n)  # flagged when the count exceeds this
    for copied in np.linspace(0.0, 1.0, 1001):
        p = copied + (1 - copied) * quantile
        if binom.sf(limit, n, p) >= level:
            return float(copied)
    return 1.0


@torch.no_grad()
def nearest_training(
    generated: Mapping[str, torch.Tensor] | torch.Tensor,
    test: torch.Tensor,
    train: torch.Tensor,
    features: Callable[[torch.Tensor], torch.Tensor] | None = None,
    feature_space: str | None = None,
    train_subset: int | None = None,
    seed: int = 0,
) -> dict[str, NearestTraining]:
    """Memorisation check: each generated image's nearest training image, against test images' (same counts).

    Args:
        generated: images in [0, 1] ``(N, C, H, W)``, or a mapping model name -> images (the training images'
            embedding is then computed once for all of them).
        test: real test images in [0, 1]; a fixed random ``N`` of them (``seed``) are compared, so both sides
            have the same count.
        train: the training images in [0, 1].
        features: ``None`` for pixel space, else a feature extractor (``classifier_extractor(judge)``,
            ``random_conv_extractor()``) applied to every image.
        feature_space: its name for the result (default ``"pixels"`` or ``"features"``).
        train_subset: search only a fixed random subset of this many training images (costly features).
        seed: the choice of test images and of the training subset.

    Returns:
        Model name -> :class:`NearestTraining` (the key ``"generated"`` when ``generated`` is one tensor).
    """
    named = dict(generated) if isinstance(generated, Mapping) else {"generated": generated}
    if not named:
        raise ValueError("nearest_training needs at least one set of generated images.")
    n = len(next(iter(named.values())))
    if any(len(g) != n for g in named.values()) or n < 2:
        raise ValueError(f"every set of generated images needs the same count (at least 2), got {[len(g) for g in named.values()]}.")
    if len(test) < n:
        raise ValueError(f"{n} generated images need at least {n} test images to compare with, got {len(test)}.")
    gen = torch.Generator().manual_seed(seed)
    train_idx = torch.arange(len(train))
    if train_subset is not None and train_subset < len(train):
        train_idx = torch.randperm(len(train), generator=gen)[:train_subset]
    test_pick = torch.randperm(len(test), generator=gen)[:n]
    reference = _embed(train if len(train_idx) == len(train) else train[train_idx], features)  # no copy of all of it
    test_d, test_j = nearest_neighbours(_embed(test[test_pick], features), reference)
    levels = [COPY_QUANTILE, 0.05, 0.25, 0.5]
    threshold = torch.quantile(test_d.double(), COPY_QUANTILE).item()
    out = {}
    for name, images in named.items():
        d, j = nearest_neighbours(_embed(images.cpu(), features), reference)
        share = (d < threshold).double().mean().item()
        out[name] = NearestTraining(
            feature_space=feature_space or ("pixels" if features is None else "features"),
            n_train=len(train_idx),
            generated_distance=d.tolist(),
            test_distance=test_d.tolist(),
            generated_index=train_idx[j].tolist(),
            test_index=train_idx[test_j].tolist(),
            quantile_levels=levels,
            generated_quantiles=torch.quantile(d.double(), torch.tensor(levels, dtype=torch.float64)).tolist(),
            test_quantiles=torch.quantile(test_d.double(), torch.tensor(levels, dtype=torch.float64)).tolist(),
            threshold=threshold,
            share_below_threshold=share,
            copying=share > COPY_FACTOR * COPY_QUANTILE,
        )
    return out


# ------------------------------------------------------------------------------------------ sharpness and variety


def gradient_sharpness(images: torch.Tensor) -> torch.Tensor:
    """Each image's mean gradient magnitude: ``(N,)``.

    The mean over pixels of ``sqrt(dx^2 + dy^2)``, with ``dx``, ``dy`` the differences between horizontally and
    vertically neighbouring pixels (averaged over channels) of images in [0, 1]. Blurring spreads an edge over
    more pixels with smaller steps, so the same strokes drawn blurrier score lower; an empty image scores 0.
    """
    x = torch.as_tensor(images).float()
    if x.ndim != 4 or x.shape[-1] < 2 or x.shape[-2] < 2:
        raise ValueError(f"images must be (N, C, H, W) with H, W >= 2, got {tuple(x.shape)}.")
    x = x.mean(1)
    dx = x[:, :-1, 1:] - x[:, :-1, :-1]
    dy = x[:, 1:, :-1] - x[:, :-1, :-1]
    return (dx.pow(2) + dy.pow(2)).sqrt().flatten(1).mean(1)


def high_frequency_share(images: torch.Tensor, cutoff: float = 0.25) -> torch.Tensor:
    """Each image's share of spectral power (mean removed) at spatial frequencies above ``cutoff``: ``(N,)``.

    Frequencies are in cycles per pixel (0 to 0.5 along each axis); ``cutoff`` is a radius. Sharp edges put
    power at high frequencies, blur removes it. An image with no variation scores 0.
    """
    x = torch.as_tensor(images).float()
    if x.ndim != 4:
        raise ValueError(f"images must be (N, C, H, W), got {tuple(x.shape)}.")
    if not 0 < cutoff < 0.5 * math.sqrt(2):
        raise ValueError(f"cutoff must lie in (0, 0.707) cycles per pixel, got {cutoff}.")
    x = x.mean(1)
    x = x - x.mean((1, 2), keepdim=True)
    power = torch.fft.fft2(x).abs().pow(2)
    fy, fx = torch.fft.fftfreq(x.shape[1]), torch.fft.fftfreq(x.shape[2])
    high = (fy[:, None].pow(2) + fx[None, :].pow(2)).sqrt() > cutoff
    total = power.flatten(1).sum(1)
    return torch.where(total > 0, power[:, high].sum(1) / total.clamp_min(1e-12), torch.zeros_like(total))


@dataclass
class SharpnessDiversity(Metrics):
    """Sharpness and within-class variety of a labelled set of images (real or generated).

    Attributes:
        sharpness: mean over images of :func:`gradient_sharpness`; ``sharpness_sem`` its standard error.
        high_frequency_share: mean over images of :func:`high_frequency_share`.
        per_class_sharpness: the mean gradient magnitude per class.
        diversity_pixels: per class, the mean pixel-space distance between two images of the class
            (:func:`pairwise_diversity`); ``mean_diversity_pixels`` its mean over classes.
        diversity_features: the same in a feature space (the judge's), when one was given, else empty;
            ``mean_diversity_features`` its mean (NaN without features).
        n_per_class: images per class used.
    """

    sharpness: float
    sharpness_sem: float
    high_frequency_share: float
    per_class_sharpness: list[float]
    diversity_pixels: list[float]
    mean_diversity_pixels: float
    diversity_features: list[float]
    mean_diversity_features: float
    n_per_class: int


@torch.no_grad()
def sharpness_and_diversity(images: torch.Tensor, labels: torch.Tensor,
                            features: Callable[[torch.Tensor], torch.Tensor] | torch.Tensor | None = None,
                            n_per_class: int | None = None,
                            num_classes: int = 10) -> SharpnessDiversity:
    """Sharpness (mean gradient magnitude, high-frequency share) and within-class diversity of ``images``.

    Args:
        images: ``(N, C, H, W)`` in [0, 1]; labels: their classes ``(N,)``.
        features: optional, for a second diversity in a feature space: an extractor (``classifier_extractor(judge)``)
            or the images' features already computed, ``(N, d)``.
        n_per_class: use the first ``n`` images of every class (same counts for every set compared), or all.
    """
    images, labels = torch.as_tensor(images).float().cpu(), torch.as_tensor(labels).long().reshape(-1).cpu()
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels.")
    if isinstance(features, torch.Tensor) and len(features) != len(images):
        raise ValueError(f"{len(images)} images but features for {len(features)}.")
    keep = []
    for c in range(num_classes):
        idx = (labels == c).nonzero().flatten()
        if len(idx) < 2 or (n_per_class is not None and len(idx) < n_per_class):
            raise ValueError(f"class {c} has {len(idx)} images; need at least {max(2, n_per_class or 2)}.")
        keep.append(idx[:n_per_class] if n_per_class else idx)
    idx = torch.cat(keep)
    images, labels = images[idx], labels[idx]
    sharp = gradient_sharpness(images)
    feats = None
    if isinstance(features, torch.Tensor):
        feats = features.cpu().flatten(1)[idx]
    elif features is not None:
        feats = _embed(images, features)
    div_px = [pairwise_diversity(images[labels == c].flatten(1)) for c in range(num_classes)]
    div_ft = [pairwise_diversity(feats[labels == c]) for c in range(num_classes)] if feats is not None else []
    return SharpnessDiversity(
        sharpness=sharp.mean().item(),
        sharpness_sem=(sharp.std() / math.sqrt(len(sharp))).item(),
        high_frequency_share=high_frequency_share(images).mean().item(),
        per_class_sharpness=[sharp[labels == c].mean().item() for c in range(num_classes)],
        diversity_pixels=div_px,
        mean_diversity_pixels=float(np.mean(div_px)),
        diversity_features=div_ft,
        mean_diversity_features=float(np.mean(div_ft)) if div_ft else float("nan"),
        n_per_class=int(min(len(k) for k in keep)),
    )


# --------------------------------------------------------------------------------------------- 2-D warm-ups


@dataclass
class ModeCoverage(Metrics):
    """How well generated 2-D points cover a mixture of Gaussians (see :func:`mode_coverage`).

    Attributes:
        modes_covered: modes holding at least ``min_share`` of the samples within ``n_std`` std of their centre.
        n_modes: number of modes in the data.
        high_quality_share: share of samples within ``n_std`` std of *some* centre.
        mode_shares: per mode, the share of all samples within ``n_std`` std of its centre.
        n_std, min_share: the thresholds used.
    """

    modes_covered: int
    n_modes: int
    high_quality_share: float
    mode_shares: list[float]
    n_std: float
    min_share: float


def mode_coverage(
    samples: torch.Tensor, centres: torch.Tensor, std: float, n_std: float = 3.0, min_share: float = 0.02
) -> ModeCoverage:
    """Count the modes a generator covers, and how many of its samples are "high quality".

    A sample is high quality when it lies within ``n_std`` standard deviations of a mode's centre (the
    measure of Srivastava et al., 2017, VEEGAN); a mode is covered when at least ``min_share`` of all
    samples are high-quality samples of that mode. With 8 equally likely modes a perfect generator gives
    each a share of 1/8 (minus the little Gaussian mass beyond ``n_std``).

    Args:
        samples: generated points ``(N, D)``.
        centres: the modes' centres ``(K, D)``.
        std: the modes' standard deviation (isotropic).
        n_std: radius, in standard deviations, that counts as "at the mode".
        min_share: share of all samples a mode needs to count as covered.
    """
    if not isinstance(samples, torch.Tensor) or samples.ndim != 2 or len(samples) == 0:
        raise ValueError(f"samples must be a non-empty tensor of shape (N, D), got {getattr(samples, 'shape', type(samples).__name__)}.")
    if not isinstance(centres, torch.Tensor) or centres.ndim != 2 or centres.shape[1] != samples.shape[1] or len(centres) == 0:
        raise ValueError(f"centres must have shape (K, {samples.shape[1]}), got {getattr(centres, 'shape', type(centres).__name__)}.")
    for value, what in ((std, "std"), (n_std, "n_std")):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise ValueError(f"{what} must be a finite number > 0, got {value!r}.")
    if not (isinstance(min_share, (int, float)) and 0 <= min_share <= 1):
        raise ValueError(f"min_share must be in [0, 1], got {min_share!r}.")
    samples, centres = samples.detach().double().cpu(), centres.detach().double().cpu()
    if not torch.isfinite(samples).all():
        raise ValueError("samples hold NaN or infinite values (did the GAN diverge?).")
    distance, nearest = torch.cdist(samples, centres).min(dim=1)
    close = distance <= n_std * std
    shares = torch.bincount(nearest[close], minlength=len(centres)).double() / len(samples)
    return ModeCoverage(
        modes_covered=int((shares >= min_share).sum()),
        n_modes=len(centres),
        high_quality_share=float(close.double().mean()),
        mode_shares=[float(s) for s in shares],
        n_std=float(n_std),
        min_share=float(min_share),
    )
