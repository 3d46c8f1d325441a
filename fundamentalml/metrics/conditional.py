"""Conditional generators read by a judge (a trained classifier): conditioning accuracy, confusion, judged
accuracy over draws, per-class numbers, and the registry's evaluations of conditional models and judges."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from .checks import check_labels, check_model, check_unit_images
from .diversity import class_diversity, is_collapsed
from .frechet import classifier_extractor, frechet_distance
from .results import ClassifierMetrics, ConditionalMetrics


@torch.no_grad()
def evaluate_classifier(classifier, images: torch.Tensor, labels: torch.Tensor) -> ClassifierMetrics:
    """Accuracy of ``classifier`` on ``images`` (floats in [0, 1]) with true ``labels``."""
    check_model(classifier, "predict", "the classifier")
    images = check_unit_images(images)
    labels = check_labels(labels, getattr(classifier, "num_classes", 10), n=len(images))
    predicted = classifier.predict(images)
    return ClassifierMetrics(accuracy=(predicted == labels.cpu()).float().mean().item(), n_images=len(labels))


@torch.no_grad()
def evaluate_conditional(model, judge, real: torch.Tensor, real_labels: torch.Tensor, n_per_class: int = 100, seed: int = 0) -> ConditionalMetrics:
    """Read ``n_per_class`` samples of every digit with ``judge``: accuracy, Fréchet distance, diversity, collapse.

    Args:
        model: a conditional model with ``generate(digits, n, seed=)``.
        judge: the reference classifier (``predict`` and ``features``).
        real, real_labels: real test digits (floats in [0, 1]) and their labels, the yardstick.
    """
    check_model(model, "generate", "model")
    check_model(judge, "predict", "judge")
    real = check_unit_images(real, "real images")
    real_labels = check_labels(real_labels, 10, "real labels", n=len(real))
    images, intended = generate_per_class(model, n_per_class, seed=seed)
    predicted = judge.predict(images)
    overall, per_class = conditioning_accuracy(intended, predicted)
    feats = judge.features(images).cpu()
    real_feats = judge.features(real).cpu()
    div = class_diversity(feats, intended)
    real_div = class_diversity(real_feats, real_labels, n_per_class=n_per_class)
    per = [float(v) for v in per_class.tolist()]
    worst = int(np.argmin(per))
    return ConditionalMetrics(
        conditioning_accuracy=overall,
        per_class_accuracy=per,
        worst_digit=worst,
        worst_digit_accuracy=per[worst],
        frechet_distance=frechet_distance(real, images, classifier_extractor(judge)),
        diversity_ratio=float(np.mean(div / real_div)),
        collapsed_digits=[int(d) for d in np.nonzero(is_collapsed(div, real_div))[0]],
        n_per_class=n_per_class,
    )


@torch.no_grad()
def generate_per_class(model, n_per_class: int, seed: int = 0, num_classes: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    """``n_per_class`` images of every digit from a conditional model: ``(images in [0, 1], intended labels)``."""
    images = model.generate(list(range(num_classes)), n_per_class, seed=seed).cpu()
    labels = torch.arange(num_classes).repeat_interleave(n_per_class)
    return images, labels


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
