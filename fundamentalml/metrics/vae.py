"""How good a VAE is: the test-set ELBO and reconstruction error, and how loose the ELBO is (importance-weighted
bounds, Burda et al., 2016)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import torch
import torch.nn.functional as F

from ..models.base import eval_mode
from ..models.vae import VAE, kl_divergence, reparameterize
from .results import Metrics, VAEMetrics


def evaluate_vae(model: VAE, loader: Iterable, seed: int = 0) -> VAEMetrics:
    """Test-set numbers of a VAE: negative ELBO, its two terms, and reconstruction MSE.

    Args:
        model: a trained :class:`~fundamentalml.models.vae.VAE`.
        loader: an iterable of ``(images, labels)`` batches in [0, 1] (e.g. a DataModule's ``test_dataloader()``).
        seed: seeds the single posterior sample of the ELBO estimate, so the number is repeatable.
    """
    gen = torch.Generator(device=model.device).manual_seed(seed)
    totals = {"bce": 0.0, "kl": 0.0, "sq_err": 0.0}
    n = 0
    pixels = 1
    with eval_mode(model):
        for x, *_ in loader:
            x = x.to(model.device)
            mu, logvar = model.encode(x)
            z = reparameterize(mu, logvar, generator=gen)
            logits = model.decode_logits(z)
            b = x.shape[0]
            totals["bce"] += F.binary_cross_entropy_with_logits(logits.reshape(b, -1), x.reshape(b, -1), reduction="sum").item()
            totals["kl"] += kl_divergence(mu, logvar).sum().item()
            totals["sq_err"] += (model.decode(mu) - x).pow(2).sum().item()
            n += b
            pixels = x[0].numel()
    if n == 0:
        raise ValueError("evaluate_vae got an empty loader.")
    bce, kl = totals["bce"] / n, totals["kl"] / n
    return VAEMetrics(neg_elbo=bce + kl, bce=bce, kl=kl, recon_mse=totals["sq_err"] / (n * pixels), n_images=n)


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
    from ..data import eval_indices, to_float_images

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
    gen = torch.Generator(device=vae.device).manual_seed(seed)
    x = x.to(vae.device)
    out = torch.empty(x.shape[0], k, dtype=torch.float64)
    per_chunk = max(1, chunk // x.shape[0])  # samples per image in one decoder call
    with eval_mode(vae):
        mu, logvar = vae.encode(x)
        for start in range(0, k, per_chunk):
            m = min(per_chunk, k - start)
            eps = torch.randn(m, *mu.shape, generator=gen, device=vae.device)
            z = mu + eps * (0.5 * logvar).exp()  # (m, B, d)
            logits = vae.decode_logits(z.reshape(-1, mu.shape[1])).reshape(m, x.shape[0], -1)
            target = x.reshape(1, x.shape[0], -1).expand_as(logits)
            log_px_z = -F.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(-1)
            log_w = log_px_z + _normal_log_density(z) - _normal_log_density(z, mu, logvar)
            out[:, start : start + m] = log_w.T.double().cpu()
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
