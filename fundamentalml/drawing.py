"""A drawn digit, made into an MNIST digit: the Python twin of the draw-a-digit panels' preprocessing.

The book's draw-a-digit panels (``book/_static/fml-live.js``, ``preprocess`` and ``rasterise``) turn a reader's
strokes into the 28×28 image the encoders were trained on. This module does the same, step for step, so tests
can compare the page with Python on the same strokes, and Python code can feed drawings to the models:

1. **Rasterise** (:func:`rasterise`): the strokes (lists of points in the pad's 280×280 pixels) become a
   280×280 mask: a pixel is 1 when its centre lies within ``PEN / 2`` of a segment of a stroke (round caps
   and joins; a single point is a dot), else 0. No anti-aliasing, so the page and Python agree exactly.
   A test digit loaded by a button instead is enlarged ten times (:func:`from_digit`), each pixel a 10×10 block.
2. **Scale** (:func:`preprocess`): the bounding box of the non-zero pixels is scaled, keeping its aspect
   ratio, so that its longer side is 20 pixels of the 28×28 field; each output pixel is the mean of the
   pad's pixels under it (area resampling), which gives the grey edges MNIST's anti-aliasing gave.
3. **Centre**: the scaled box is placed in the 28×28 field so that its centre of mass (pixel centres at
   ``i + 0.5``) lands on the field's centre (14, 14), to the nearest whole pixel (``floor(x + 0.5)``).

This is how MNIST was made (LeCun et al.: "normalized to fit in a 20x20 pixel box while preserving their aspect
ratio ... centered in a 28x28 image by computing the center of mass of the pixels").
:func:`elbo_terms` is the panels' ELBO arithmetic: the reconstruction BCE and the KL, in nats.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

PAD = 280  # the pad's size in pixels (ten pad pixels per MNIST pixel)
PEN = 24.0  # the pen's width in pad pixels (a stroke about 2.4 MNIST pixels wide before scaling)
FIELD = 28  # MNIST's field
BOX = 20  # the longer side of the scaled bounding box

Stroke = Sequence[tuple[float, float]]


def rasterise(strokes: Sequence[Stroke], size: int = PAD, pen: float = PEN) -> np.ndarray:
    """The pad's mask for ``strokes`` (each a sequence of ``(x, y)`` points in pad pixels): ``(size, size)``
    float64, 1 where a pixel's centre is within ``pen / 2`` of a stroke's segment (or of a lone point)."""
    out = np.zeros((size, size))
    r = pen / 2
    centres = np.arange(size) + 0.5
    for k, stroke in enumerate(strokes):
        pts = [(float(x), float(y)) for x, y in stroke]
        if not pts:
            raise ValueError(f"stroke {k} has no points: each stroke needs at least one (x, y) point.")
        if not all(math.isfinite(v) for p in pts for v in p):
            raise ValueError(f"stroke {k} has a point that is not a finite number.")
        segments = list(zip(pts, pts[1:])) or [(pts[0], pts[0])]
        for (ax, ay), (bx, by) in segments:
            _segment(out, centres, ax, ay, bx, by, r)
    return out


def _segment(out: np.ndarray, centres: np.ndarray, ax: float, ay: float, bx: float, by: float, r: float) -> None:
    """Set to 1 the pixels whose centres are within ``r`` of the segment a-b (what fml-live.js's ``segment`` does)."""
    size = out.shape[0]
    x0, x1 = max(0, math.floor(min(ax, bx) - r)), min(size, math.ceil(max(ax, bx) + r) + 1)
    y0, y1 = max(0, math.floor(min(ay, by) - r)), min(size, math.ceil(max(ay, by) + r) + 1)
    if x0 >= x1 or y0 >= y1:
        return
    px, py = np.meshgrid(centres[x0:x1], centres[y0:y1])
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    if length2 > 0:
        t = np.clip(((px - ax) * dx + (py - ay) * dy) / length2, 0.0, 1.0)
    else:
        t = np.zeros_like(px)
    qx, qy = px - (ax + t * dx), py - (ay + t * dy)
    inside = qx * qx + qy * qy <= r * r
    out[y0:y1, x0:x1][inside] = 1.0


def from_digit(image: np.ndarray | Sequence, scale: int = PAD // FIELD) -> np.ndarray:
    """A 28×28 digit (uint8 0..255, or floats in [0, 1]) as the pad holds it: each pixel a ``scale``×``scale`` block."""
    raw = np.asarray(image)
    if raw.size != FIELD * FIELD:
        raise ValueError(f"a digit has {FIELD}×{FIELD} pixels, got {raw.size} values.")
    img = raw.astype(np.float64).reshape(FIELD, FIELD)
    if raw.dtype == np.uint8:
        img = img / 255.0
    elif not np.isfinite(img).all() or img.min() < 0 or img.max() > 1:
        raise ValueError("a digit's pixels must be uint8 (0..255) or floats in [0, 1].")
    return np.kron(img, np.ones((scale, scale)))


def _area_weights(n_in: int, factor: float) -> np.ndarray:
    """``(n_out, n_in)`` weights: output pixel i averages the input interval ``[i / factor, (i + 1) / factor)``."""
    n_out = max(1, math.ceil(n_in * factor - 1e-9))
    w = np.zeros((n_out, n_in))
    for i in range(n_out):
        lo, hi = i / factor, (i + 1) / factor
        for j in range(max(0, math.floor(lo)), min(n_in, math.ceil(hi))):
            overlap = min(hi, j + 1) - max(lo, j)
            if overlap > 0:
                w[i, j] = overlap * factor
    return w


def preprocess(pad: np.ndarray) -> np.ndarray:
    """MNIST's normalisation of the pad's image (``(280, 280)`` in [0, 1]): ``(28, 28)`` float32 in [0, 1].

    Raises:
        ValueError: the pad is empty (nothing drawn), or not a square image in [0, 1].
    """
    pad = np.asarray(pad, dtype=np.float64)
    if pad.ndim != 2 or pad.shape[0] != pad.shape[1] or pad.shape[0] < FIELD:
        raise ValueError(f"the pad must be a square image of at least {FIELD}×{FIELD} pixels, got shape {pad.shape}.")
    if not np.isfinite(pad).all() or pad.min() < 0 or pad.max() > 1:
        raise ValueError("the pad's pixels must be finite numbers in [0, 1].")
    rows, cols = np.nonzero(pad.any(axis=1))[0], np.nonzero(pad.any(axis=0))[0]
    if rows.size == 0:
        raise ValueError("nothing is drawn: draw a digit (or load a test digit) first.")
    crop = pad[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    factor = BOX / max(crop.shape)
    box = _area_weights(crop.shape[0], factor) @ crop @ _area_weights(crop.shape[1], factor).T
    mass = box.sum()
    ys, xs = np.arange(box.shape[0]) + 0.5, np.arange(box.shape[1]) + 0.5
    cy, cx = float((box.sum(axis=1) * ys).sum() / mass), float((box.sum(axis=0) * xs).sum() / mass)
    oy, ox = math.floor(FIELD / 2 - cy + 0.5), math.floor(FIELD / 2 - cx + 0.5)
    field = np.zeros((FIELD, FIELD))
    for i in range(box.shape[0]):
        y = i + oy
        if not 0 <= y < FIELD:
            continue
        for j in range(box.shape[1]):
            x = j + ox
            if 0 <= x < FIELD:
                field[y, x] = box[i, j]
    return np.clip(field, 0.0, 1.0).astype(np.float32)


def elbo_terms(x: np.ndarray, recon: np.ndarray, mu: np.ndarray, logvar: np.ndarray) -> tuple[float, float]:
    """The ELBO's two terms for one image, in nats: ``(reconstruction BCE, KL)``.

    ``BCE = -sum(x log p + (1 - x) log(1 - p))`` over the pixels, each log clamped at -100 (as torch's
    ``binary_cross_entropy``); ``KL = -1/2 sum(1 + logvar - mu^2 - exp(logvar))`` (``kl_divergence``).
    """
    x, p = np.asarray(x, np.float64).ravel(), np.asarray(recon, np.float64).ravel()
    if x.shape != p.shape:
        raise ValueError(f"the image has {x.size} pixels but the reconstruction {p.size}.")
    with np.errstate(divide="ignore"):
        log_p, log_q = np.maximum(np.log(p), -100.0), np.maximum(np.log(1.0 - p), -100.0)
    bce = float(-(x * log_p + (1.0 - x) * log_q).sum())
    mu, logvar = np.asarray(mu, np.float64).ravel(), np.asarray(logvar, np.float64).ravel()
    kl = float(-0.5 * (1.0 + logvar - mu * mu - np.exp(logvar)).sum())
    return bce, kl
