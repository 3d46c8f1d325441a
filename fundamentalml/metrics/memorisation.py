"""Memorisation: does a generator copy its training images? Nearest training images of generated and of test
images, the copying rule and its power."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np
import torch

from .frechet import embed
from .results import Metrics


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
    reference = embed(train if len(train_idx) == len(train) else train[train_idx], features)  # no copy of all of it
    test_d, test_j = nearest_neighbours(embed(test[test_pick], features), reference)
    levels = [COPY_QUANTILE, 0.05, 0.25, 0.5]
    threshold = torch.quantile(test_d.double(), COPY_QUANTILE).item()
    out = {}
    for name, images in named.items():
        d, j = nearest_neighbours(embed(images.cpu(), features), reference)
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
