"""The input checks every public metric runs first.

A metric computed on 0..255 pixels, NaN images or labels outside the classes is a wrong number, not an error,
unless it is caught: the public functions check what they are given, the way the models check theirs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


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


def check_model(model: Any, method: str, what: str) -> None:
    """Refuse a ``model`` without a callable ``method`` (a VAE passed where a classifier is expected)."""
    if not callable(getattr(model, method, None)):
        raise TypeError(f"{what} must have a {method}() method; got a {type(model).__name__}.")
