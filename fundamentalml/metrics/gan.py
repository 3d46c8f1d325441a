"""How good an unconditional GAN is: Fréchet distance of its samples, stability of its training, and (for the
2-D warm-ups) the modes of a mixture it covers."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .checks import check_model, check_unit_images
from .frechet import frechet_distance, random_conv_extractor
from .results import GANMetrics, Metrics


@torch.no_grad()
def evaluate_gan(model, real: torch.Tensor, n: int = 2000, seed: int = 0) -> GANMetrics:
    """Fréchet distance of an unconditional GAN to ``real`` images (floats in [0, 1]), in random conv features.

    ``min(n, len(real))`` images on each side; the generator's samples are drawn with ``seed``.
    """
    check_model(model, "sample", "model")
    real = check_unit_images(real, "real images")
    n = min(n, len(real))
    fake = model.sample(n, seed=seed).cpu()  # in [0, 1], like every model's samples
    extractor = random_conv_extractor(channels=real.shape[1])
    return GANMetrics(frechet_distance=frechet_distance(real[:n], fake, extractor), feature_space="random conv net", n_images=n)


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
