"""Within-class variety and sharpness of images: pairwise diversity, the mode-collapse rule, gradient sharpness
and high-frequency share."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from .frechet import embed
from .results import Metrics


def pairwise_diversity(features: torch.Tensor) -> float:
    """Mean Euclidean distance between all pairs of rows of ``features`` (``(N, d)``, N >= 2)."""
    if features.shape[0] < 2:
        raise ValueError("diversity needs at least two samples.")
    d = torch.cdist(features.double(), features.double())
    n = features.shape[0]
    return (d.sum() / (n * (n - 1))).item()


def class_diversity(features: torch.Tensor, labels: torch.Tensor, num_classes: int = 10,
                    n_per_class: int | None = None) -> np.ndarray:
    """:func:`pairwise_diversity` of each class's rows of ``features`` (the first ``n_per_class`` of each, or all):
    ``(num_classes,)``."""
    labels = torch.as_tensor(labels).reshape(-1).cpu()
    return np.array([pairwise_diversity(features[labels == c][:n_per_class]) for c in range(num_classes)])


COLLAPSE_THRESHOLD = 0.5  # generated samples of a class less diverse than this share of real ones: collapsed


def is_collapsed(diversity: Any, real_diversity: Any, threshold: float = COLLAPSE_THRESHOLD) -> np.ndarray:
    """The mode-collapse rule, elementwise: a generated diversity below ``threshold`` times the real one.

    The one place the rule is written: :func:`collapsed_classes`, the conditional evaluation
    (``ConditionalMetrics.collapsed_digits``) and :func:`fundamentalml.reports.compare_models` all apply it.
    """
    return np.asarray(diversity, dtype=np.float64) < threshold * np.asarray(real_diversity, dtype=np.float64)


def collapsed_classes(features: torch.Tensor, labels: torch.Tensor, real_features: torch.Tensor,
                      real_labels: torch.Tensor, threshold: float = COLLAPSE_THRESHOLD) -> list[int]:
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
        if is_collapsed(pairwise_diversity(fake), pairwise_diversity(real), threshold):
            collapsed.append(int(c))
    return collapsed


# ------------------------------------------------------------------------------------------ sharpness


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
        feats = embed(images, features)
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
