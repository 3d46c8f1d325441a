"""Paths through a latent space: linear and spherical interpolation between two codes."""

from __future__ import annotations

import torch


def lerp(z_a: torch.Tensor, z_b: torch.Tensor, steps: int) -> torch.Tensor:
    """Return ``steps`` codes evenly spaced on the straight line from ``z_a`` to ``z_b`` (both ends included).

    ``z_a`` and ``z_b`` have the same shape ``S``; the result has shape ``(steps, *S)``.
    """
    _check_pair(z_a, z_b, steps)
    t = torch.linspace(0.0, 1.0, steps, dtype=z_a.dtype, device=z_a.device).view(-1, *([1] * z_a.ndim))
    return (1.0 - t) * z_a + t * z_b


def slerp(z_a: torch.Tensor, z_b: torch.Tensor, steps: int, eps: float = 1e-7) -> torch.Tensor:
    """Spherical interpolation: ``steps`` codes along the great circle from ``z_a`` to ``z_b``.

    Under a Gaussian prior most mass lies near a sphere of radius ``sqrt(d)``; a straight line between two
    codes cuts through the low-norm interior, which decodes to blurry "average" images. Slerp keeps the norm.
    Falls back to :func:`lerp` when the two codes are (anti-)parallel, where the great circle is undefined.
    """
    _check_pair(z_a, z_b, steps)
    a, b = z_a.flatten(), z_b.flatten()
    a, b = a / a.norm().clamp_min(eps), b / b.norm().clamp_min(eps)
    # The angle from the half-angle's tangent, not arccos of the cosine: arccos loses half the digits near
    # 0 and pi (in float32, opposite codes come out at pi - 3.5e-4, whose sine passes the test below).
    omega = 2.0 * torch.atan2((a - b).norm(), (a + b).norm())
    if torch.sin(omega).abs() < 1e-4:
        return lerp(z_a, z_b, steps)
    t = torch.linspace(0.0, 1.0, steps, dtype=z_a.dtype, device=z_a.device).view(-1, *([1] * z_a.ndim))
    return (torch.sin((1.0 - t) * omega) * z_a + torch.sin(t * omega) * z_b) / torch.sin(omega)


def interpolate_latents(z_a: torch.Tensor, z_b: torch.Tensor, steps: int, method: str = "linear") -> torch.Tensor:
    """Interpolate with ``method`` ``"linear"`` (:func:`lerp`) or ``"slerp"`` (:func:`slerp`)."""
    if method == "linear":
        return lerp(z_a, z_b, steps)
    if method == "slerp":
        return slerp(z_a, z_b, steps)
    raise ValueError(f"Unknown interpolation method {method!r}: use 'linear' or 'slerp'.")


def _check_pair(z_a: torch.Tensor, z_b: torch.Tensor, steps: int) -> None:
    if z_a.shape != z_b.shape:
        raise ValueError(f"Both latent codes must have the same shape, got {tuple(z_a.shape)} and {tuple(z_b.shape)}.")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise ValueError(f"steps must be an int >= 2 (both ends are included), got {steps!r}.")
