"""Every figure the chapters show: functions that take data (or a model) and return a matplotlib ``Figure``.

Nothing here trains, and nothing here imports :mod:`fundamentalml.training`: a figure is a view of numbers
computed elsewhere. Images may be torch tensors or numpy arrays, ``(B, C, H, W)`` or ``(B, H, W)``, with
values in ``[0, 1]`` (VAE decoders) or ``[-1, 1]`` (tanh generators; pass ``value_range=(-1, 1)``).

The module also holds the small tables the chapters print beside their figures
(:func:`architecture_table`), so a chapter's "what you see" lives in one place.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

ValueRange = tuple[float, float]

# Colours per model name, so the same model has the same colour in every figure of a chapter.
_PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")

HISTORY_LABELS = {
    "train_loss": "training loss",
    "val_loss": "validation loss",
    "train_bce": "training reconstruction (BCE)",
    "val_bce": "validation reconstruction (BCE)",
    "train_kl": "training KL",
    "val_kl": "validation KL",
    "train_neg_elbo": "training -ELBO (reconstruction + KL)",
    "val_neg_elbo": "validation -ELBO (reconstruction + KL)",
}
AXIS_LABELS = {"epoch": "epoch", "time_s": "wall-clock training time (s)"}


# --------------------------------------------------------------------------------------------- images


def to_numpy_images(images: Any, value_range: ValueRange = (0.0, 1.0)) -> np.ndarray:
    """Return ``images`` as a float numpy array ``(B, H, W)`` (grey) or ``(B, H, W, 3)`` (RGB) in ``[0, 1]``.

    Accepts torch tensors (any device, with or without grad) and numpy arrays shaped ``(B, C, H, W)`` with
    ``C`` in {1, 3}, ``(B, H, W)``, or a single image ``(C, H, W)`` / ``(H, W)``.
    """
    if hasattr(images, "detach"):
        images = images.detach().to("cpu").float().numpy()
    arr = np.asarray(images, dtype=np.float32)
    if arr.ndim == 2:  # one grey image
        arr = arr[None]
    elif arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[1] > 4:  # one (C, H, W) image
        arr = arr[None]
    if arr.ndim == 4:
        if arr.shape[1] == 1:
            arr = arr[:, 0]
        elif arr.shape[1] == 3:
            arr = arr.transpose(0, 2, 3, 1)
        elif arr.shape[-1] not in (1, 3):
            raise ValueError(f"images must have 1 or 3 channels, got shape {arr.shape}.")
    if arr.ndim not in (3, 4):
        raise ValueError(f"images must be (B, C, H, W), (B, H, W) or one image, got shape {arr.shape}.")
    lo, hi = value_range
    if hi <= lo:
        raise ValueError(f"value_range must be (low, high) with low < high, got {value_range}.")
    return np.clip((arr - lo) / (hi - lo), 0.0, 1.0)


def make_grid(images: Any, ncols: int = 8, pad: int = 1, value_range: ValueRange = (0.0, 1.0)) -> np.ndarray:
    """Tile images into one array (``(H', W')`` grey or ``(H', W', 3)`` RGB), ``ncols`` per row, white gaps.

    torchvision's ``make_grid`` does the tiling; its outer border is cut off, so gaps lie only between images.
    """
    import torch
    from torchvision.utils import make_grid as tile

    arr = to_numpy_images(images, value_range)
    if len(arr) == 0:
        raise ValueError("make_grid needs at least one image.")
    if len(arr) == 1:
        return arr[0]  # torchvision returns a lone image as it is, unpadded
    grey = arr.ndim == 3
    batch = torch.from_numpy(arr[:, None] if grey else arr.transpose(0, 3, 1, 2))
    grid = tile(batch, nrow=max(1, ncols), padding=pad, pad_value=1.0)
    grid = grid[:, pad : grid.shape[1] - pad, pad : grid.shape[2] - pad]
    return grid[0].numpy() if grey else grid.permute(1, 2, 0).numpy()


def _show(ax: plt.Axes, image: np.ndarray) -> None:
    ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def plot_image_grid(
    images: Any,
    ncols: int = 8,
    title: str | None = None,
    value_range: ValueRange = (0.0, 1.0),
    scale: float = 0.6,
) -> Figure:
    """One grid of images (samples, a batch of data...), ``ncols`` per row, with an optional title."""
    grid = make_grid(images, ncols=ncols, value_range=value_range)
    fig, ax = plt.subplots(figsize=(max(2.0, grid.shape[1] / 28 * scale), max(1.2, grid.shape[0] / 28 * scale + 0.3)))
    _show(ax, grid)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_sample_grids(
    samples: Mapping[str, Any],
    ncols: int = 8,
    value_range: ValueRange = (0.0, 1.0),
    suptitle: str | None = None,
) -> Figure:
    """Grids of samples side by side, one panel per model: ``{"MLP VAE": images, "CNN VAE": images}``."""
    if not samples:
        raise ValueError("plot_sample_grids needs at least one model's samples.")
    grids = {name: make_grid(imgs, ncols=ncols, value_range=value_range) for name, imgs in samples.items()}
    h, w = next(iter(grids.values())).shape[:2]
    fig, axes = plt.subplots(1, len(grids), figsize=(len(grids) * w / 28 * 0.55 + 0.4, h / 28 * 0.55 + 0.6), squeeze=False)
    for ax, (name, grid) in zip(axes[0], grids.items()):
        _show(ax, grid)
        ax.set_title(name)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_reconstructions(
    originals: Any,
    reconstructions: Mapping[str, Any],
    value_range: ValueRange = (0.0, 1.0),
    max_images: int = 10,
) -> Figure:
    """Rows of images: the originals on top, then one row of reconstructions per model (same columns)."""
    rows = {"original": originals, **dict(reconstructions)}
    arrays = {name: to_numpy_images(imgs, value_range)[:max_images] for name, imgs in rows.items()}
    n = len(arrays["original"])
    if any(len(a) != n for a in arrays.values()):
        raise ValueError(f"every row needs {n} images, got {[len(a) for a in arrays.values()]}.")
    fig, axes = plt.subplots(len(arrays), n, figsize=(n * 0.75 + 1.4, len(arrays) * 0.8 + 0.2), squeeze=False)
    for r, (name, arr) in enumerate(arrays.items()):
        for c in range(n):
            _show(axes[r, c], arr[c])
        axes[r, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    fig.subplots_adjust(left=0.16, right=0.99, top=0.98, bottom=0.02, wspace=0.05, hspace=0.08)
    return fig


def plot_interpolation_strips(
    strips: Mapping[str, Any],
    value_range: ValueRange = (0.0, 1.0),
    ends: tuple[Any, Any] | None = None,
) -> Figure:
    """One row per model of images decoded along a latent path: ``{"MLP VAE": (steps, C, H, W), ...}``.

    ``ends`` (optional) are the two real images the path runs between; they are drawn framed at either end
    of every row, so the reader can judge how faithfully each model's path starts and finishes.
    """
    if not strips:
        raise ValueError("plot_interpolation_strips needs at least one strip.")
    arrays = {name: to_numpy_images(s, value_range) for name, s in strips.items()}
    steps = len(next(iter(arrays.values())))
    end_imgs = None if ends is None else [to_numpy_images(e, value_range)[0] for e in ends]
    ncols = steps + (2 if end_imgs else 0)
    fig, axes = plt.subplots(len(arrays), ncols, figsize=(ncols * 0.7 + 1.4, len(arrays) * 0.8 + 0.35), squeeze=False)
    for r, (name, arr) in enumerate(arrays.items()):
        cols = list(arr)
        if end_imgs:
            cols = [end_imgs[0], *cols, end_imgs[1]]
        for c, img in enumerate(cols):
            _show(axes[r, c], img)
            if end_imgs and c in (0, ncols - 1):
                for spine in axes[r, c].spines.values():
                    spine.set_visible(True)
                    spine.set_color("#444444")
        axes[r, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    if end_imgs:
        axes[0, 0].set_title("start", fontsize=8)
        axes[0, -1].set_title("end", fontsize=8)
    fig.subplots_adjust(left=0.14, right=0.99, top=0.9 if end_imgs else 0.98, bottom=0.02, wspace=0.05, hspace=0.1)
    return fig


# --------------------------------------------------------------------------------------------- curves


def plot_loss_curves(
    histories: Mapping[str, Mapping[str, Sequence[float]]],
    x: str = "epoch",
    keys: Sequence[str] = ("train_loss", "val_loss"),
    ylabel: str = "-ELBO (nats per image)",
    title: str | None = None,
) -> Figure:
    """Loss curves of several models on one axis: ``{"MLP VAE": history, ...}``.

    Args:
        histories: per-model history dicts as kept by the models (``epoch``, ``time_s``, ``train_loss``...).
        x: ``"epoch"`` or ``"time_s"`` (wall-clock seconds of training): the latter shows convergence speed.
        keys: which history series to draw; training solid, validation dashed.
        ylabel, title: axis label and optional title.
    """
    if x not in AXIS_LABELS:
        raise ValueError(f"x must be one of {sorted(AXIS_LABELS)}, got {x!r}.")
    if not histories:
        raise ValueError("plot_loss_curves needs at least one history.")
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for i, (name, history) in enumerate(histories.items()):
        colour = _PALETTE[i % len(_PALETTE)]
        xs = list(history.get(x, []))
        for key in keys:
            ys = list(history.get(key, []))
            if not ys:
                continue
            n = min(len(xs), len(ys))
            style = "--" if key.startswith("val") else "-"
            ax.plot(xs[:n], ys[:n], style, marker="o", color=colour, label=f"{name}: {HISTORY_LABELS.get(key, key)}")
    ax.set_xlabel(AXIS_LABELS[x])
    ax.set_ylabel(ylabel)
    if x == "time_s":
        ax.set_xlim(left=0)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def save_loss_curves(history: Mapping[str, Sequence[float]], filename: str | Any, title: str | None = None) -> str:
    """Write a PNG of every loss in a run's per-epoch ``history`` against the epoch; returns the path.

    The command line writes one beside each checkpoint, so a learner has curves to open without a notebook.
    """
    from pathlib import Path

    from .files import atomic_write

    keys = [k for k in history if k.endswith("loss") and history[k]]
    if not keys or not history.get("epoch"):
        raise ValueError("the history holds no per-epoch losses to draw.")
    fig = plot_loss_curves({"": history}, x="epoch", keys=keys, ylabel="loss (per-epoch mean)", title=title)
    for line in fig.axes[0].get_lines():
        line.set_label(line.get_label().lstrip(": "))
    fig.axes[0].legend(fontsize=8)
    path = Path(filename)
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100))
    plt.close(fig)
    return str(path)


def plot_quality_per_epoch(per_epoch: Mapping[str, Any], title: str | None = None) -> Figure:
    """A GAN's Fréchet distance after every epoch, between its floor and its ceiling.

    ``per_epoch`` is a shipped model's ``meta["per_epoch"]``: ``epoch`` (0 is the untrained generator),
    ``frechet_distance``, ``floor_frechet_distance`` (real training images against real test images, the best
    a perfect generator could show with this many samples) and optionally ``conditioning_accuracy``.
    """
    if not per_epoch or not per_epoch.get("epoch"):
        raise ValueError("no per-epoch numbers: they are recorded for models trained with --keep_epochs.")
    epochs, fd = list(per_epoch["epoch"]), list(per_epoch["frechet_distance"])
    acc = per_epoch.get("conditioning_accuracy")
    fig, axes = plt.subplots(1, 2 if acc else 1, figsize=(9.6 if acc else 6.4, 3.6), squeeze=False)
    ax = axes[0, 0]
    ax.plot(epochs, fd, "-o", color=_PALETTE[0], label="generated vs real test")
    floor = per_epoch.get("floor_frechet_distance")
    if floor is not None:
        ax.axhline(floor, ls="--", color=_PALETTE[2], label=f"floor: real train vs real test ({floor:.2f})")
    ax.set_yscale("log")
    ax.set_xlabel("epoch (0 = untrained generator)")
    ax.set_ylabel("Fréchet distance (log scale)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    if acc:
        ax2 = axes[0, 1]
        ax2.plot(epochs, [100 * a for a in acc], "-o", color=_PALETTE[1])
        ax2.set_xlabel("epoch (0 = untrained generator)")
        ax2.set_ylabel("conditioning accuracy (%)")
        ax2.set_ylim(0, 100)
        ax2.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------- tables


def architecture_table(models: Mapping[str, Any], parts: Sequence[str] = ("encoder", "fc_mu", "fc_logvar", "decoder")) -> str:
    """A Markdown table of trainable parameters per part (encoder, heads, decoder) and in total, per model.

    ``models`` maps a display name to an ``nn.Module``; parts a model lacks show as "-".
    """
    if not models:
        raise ValueError("architecture_table needs at least one model.")

    def count(module: Any) -> int:
        return sum(p.numel() for p in module.parameters() if p.requires_grad)

    from .tables import markdown_table

    rows = [[part, *(f"{count(getattr(m, part)):,}" if hasattr(m, part) else "-" for m in models.values())] for part in parts]
    rows.append(["**total**", *(f"**{count(m):,}**" for m in models.values())])
    return markdown_table(["part", *models], rows, "l" + "r" * len(models))


# --------------------------------------------------------------------------------------------- GANs
# The seed's DCGAN helpers: plot_current_state, plot_training_curves, interpolate_latent_space, save_samples.


def plot_current_state(model: Any, n: int = 64, ncols: int = 8, title: str | None = None) -> Figure:
    """What the generator makes of its fixed latent batch right now (comparable across epochs and runs)."""
    from .models.base import eval_mode

    n = min(n, model.fixed_noise.shape[0])
    labels = model.fixed_labels()
    with eval_mode(model):
        images = model.generate_from(model.fixed_noise[:n], None if labels is None else labels[:n])
    epochs = len(model.history.get("epoch", []))
    return plot_image_grid(images, ncols=ncols, value_range=(-1.0, 1.0), title=title or f"fixed latent batch after {epochs} epoch(s)")


def plot_snapshots(model: Any, max_panels: int = 6, ncols: int = 4) -> Figure:
    """The fixed latent batch's images after epoch 0 (untrained), ..., the last epoch: training at a glance."""
    snaps = list(model.snapshots)
    if not snaps:
        raise ValueError("this model has no snapshots: train it first.")
    picks = sorted({round(i) for i in np.linspace(0, len(snaps) - 1, min(max_panels, len(snaps)))})
    grids = [make_grid(snaps[i].float() / 255.0, ncols=ncols) for i in picks]
    h, w = grids[0].shape[:2]
    fig, axes = plt.subplots(1, len(grids), figsize=(len(grids) * w / 32 * 0.5 + 0.3, h / 32 * 0.5 + 0.6), squeeze=False)
    for ax, i, grid in zip(axes[0], picks, grids):
        _show(ax, grid)
        ax.set_title(f"epoch {i}")
    fig.tight_layout()
    return fig


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    if window <= 1 or len(values) < window:
        return values
    kernel = np.ones(window) / window
    return np.convolve(values, kernel, mode="valid")


def plot_training_curves(model: Any, smooth: int = 20) -> Figure:
    """G and D losses per step (light) with a moving average (dark), and D's accuracy on real and fake per epoch."""
    steps = model.step_history
    if not steps.get("g_loss"):
        raise ValueError("this model has no per-step losses: train it first.")
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.4))
    for key, label, colour in (("d_loss", "discriminator", _PALETTE[0]), ("g_loss", "generator", _PALETTE[1])):
        y = np.asarray(steps[key])
        ax_loss.plot(np.arange(len(y)), y, color=colour, alpha=0.25, linewidth=0.8)
        ys = _smooth(y, smooth)
        ax_loss.plot(np.arange(len(ys)) + (len(y) - len(ys)), ys, color=colour, label=f"{label} loss")
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("loss")
    ax_loss.legend()
    ax_loss.set_title("losses (moving average of %d steps)" % smooth)
    h = model.history
    if h.get("train_d_real_acc"):
        ax_acc.plot(h["epoch"], h["train_d_real_acc"], "o-", label="D accuracy on real", color=_PALETTE[2])
        ax_acc.plot(h["epoch"], h["train_d_fake_acc"], "o-", label="D accuracy on generated", color=_PALETTE[3])
        ax_acc.axhline(0.5, color="grey", linestyle=":", linewidth=1)
        ax_acc.set_ylim(0, 1.02)
        ax_acc.set_xlabel("epoch")
        ax_acc.legend()
        ax_acc.set_title("discriminator accuracy")
    fig.tight_layout()
    return fig


def interpolate_latent_space(model: Any, n_rows: int = 4, steps: int = 10, seed: int = 0, method: str = "slerp") -> Figure:
    """Rows of images along paths between random pairs of latents: a smooth row means a smooth latent space."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    rows = []
    for _ in range(n_rows):
        za, zb = torch.randn(2, model.latent_dim, generator=gen)
        rows.append(model.interpolate(za, zb, steps=steps, method=method).cpu())
    images = torch.cat(rows)
    return plot_image_grid(images, ncols=steps, title=f"{method} interpolation between random latents")


def save_samples(model: Any, filename: str, n: int = 64, ncols: int = 8, scale: int = 8, seed: int | None = 0) -> str:
    """Write a high-resolution PNG grid of ``n`` samples (each pixel ``scale`` x ``scale``); returns the path.

    Written to a temporary file and renamed, so an existing file is never left half-written.
    """
    from pathlib import Path

    from PIL import Image

    from .files import atomic_write

    path = Path(filename)
    if path.suffix.lower() != ".png":
        raise ValueError(f"save_samples writes PNG files; give a name ending in .png, got {filename!r}.")
    if not isinstance(scale, int) or scale < 1:
        raise ValueError(f"scale must be a positive int, got {scale!r}.")
    images = model.sample(n, seed=seed).cpu()  # in [0, 1], like every model's samples
    grid = make_grid(images, ncols=ncols, pad=2)
    pixels = (grid * 255).round().astype(np.uint8)
    picture = Image.fromarray(pixels).resize((pixels.shape[1] * scale, pixels.shape[0] * scale), Image.NEAREST)
    from PIL.PngImagePlugin import PngInfo

    from .alt_text import PNG_KEY

    rows = -(-len(images) // ncols)
    size = "×".join(str(d) for d in images.shape[-2:])
    info = PngInfo()  # the alt text a page shows for the sheet (the book copies it into <img alt>)
    info.add_text(PNG_KEY, f"Figure: a sheet of {len(images)} samples of the generator in {rows} row(s) of {ncols}, "
                           f"each a {size} image with every pixel drawn as a {scale}×{scale} block.")
    atomic_write(path, lambda f: picture.save(f, format="PNG", pnginfo=info))
    return str(path)


# --------------------------------------------------------------------------------------------- conditional models


def plot_class_grids(samples: Mapping[str, Any], n_per_class: int = 8, num_classes: int = 10) -> Figure:
    """For each model, a grid with one row per digit (images label-major, ``n`` per class): every digit at once."""
    panels = {}
    for name, images in samples.items():
        total = len(images) // num_classes
        take = [c * total + i for c in range(num_classes) for i in range(min(n_per_class, total))]
        panels[name] = images[take]
    return plot_sample_grids(panels, ncols=min(n_per_class, len(next(iter(panels.values()))) // num_classes))


def plot_confusion_matrices(matrices: Mapping[str, np.ndarray]) -> Figure:
    """Confusion matrices side by side: rows are the digit asked for, columns the digit the classifier read."""
    fig, axes = plt.subplots(1, len(matrices), figsize=(4.2 * len(matrices), 3.8), squeeze=False)
    for ax, (name, cm) in zip(axes[0], matrices.items()):
        cm = np.asarray(cm, dtype=float)
        rates = cm / np.maximum(cm.sum(1, keepdims=True), 1)
        ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
        for i in range(cm.shape[0]):
            for j in range(cm.shape[1]):
                if cm[i, j]:
                    ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=7, color="white" if rates[i, j] > 0.5 else "black")
        ax.set_xticks(range(cm.shape[1]))
        ax.set_yticks(range(cm.shape[0]))
        ax.set_xlabel("classifier read")
        ax.set_ylabel("digit asked for")
        ax.set_title(name)
    fig.tight_layout()
    return fig


def plot_per_class(per_class: Mapping[str, Mapping[str, np.ndarray]], real_diversity: np.ndarray | None = None) -> Figure:
    """Per digit: conditioning accuracy, classifier confidence, and diversity relative to real digits."""
    keys = [("accuracy", "conditioning accuracy"), ("confidence", "confidence in intended digit"), ("diversity_ratio", "diversity / real diversity")]
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.2))
    names = list(per_class)
    width = 0.8 / max(1, len(names))
    digits = np.arange(10)
    for ax, (key, label) in zip(axes, keys):
        for k, name in enumerate(names):
            if key in per_class[name]:
                ax.bar(digits + (k - (len(names) - 1) / 2) * width, per_class[name][key], width, label=name, color=_PALETTE[k])
        if key == "diversity_ratio":
            ax.axhline(1.0, color="grey", linestyle=":", linewidth=1)
            ax.axhline(0.5, color="red", linestyle="--", linewidth=1, label="collapse threshold")
        ax.set_xticks(digits)
        ax.set_xlabel("digit")
        ax.set_title(label)
    axes[0].legend()
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------- evaluation


def plot_importance_weighted(bounds: Mapping[str, Any]) -> Figure:
    """Importance-weighted bounds against ``k``: left the bound on ``log p(x)`` (dotted: each model's ELBO),
    right its gain over the ELBO with a band of one standard error. ``bounds``: name -> ``ImportanceWeightedBound``."""
    if not bounds:
        raise ValueError("plot_importance_weighted needs at least one model's bounds.")
    fig, (ax_b, ax_g) = plt.subplots(1, 2, figsize=(10, 3.6))
    for i, (name, r) in enumerate(bounds.items()):
        colour = _PALETTE[i % len(_PALETTE)]
        ks, bound, gap, gap_sem = (np.asarray(v, dtype=float) for v in (r.ks, r.bound, r.gap, r.gap_sem))
        ax_b.plot(ks, bound, "o-", color=colour, label=f"{name}")
        ax_b.axhline(r.elbo, color=colour, linestyle=":", linewidth=1)
        ax_g.plot(ks, gap, "o-", color=colour, label=name)
        ax_g.fill_between(ks, gap - gap_sem, gap + gap_sem, color=colour, alpha=0.2)
    for ax in (ax_b, ax_g):
        ax.set_xscale("log")
        ax.set_xlabel("k, importance samples per image")
        ax.legend()
    ax_b.set_ylabel("nats per image")
    ax_b.set_title("bound on log p(x) (dotted: ELBO)")
    ax_g.set_ylabel("nats per image")
    ax_g.set_title("bound minus ELBO")
    fig.tight_layout()
    return fig


def plot_nearest_training(
    generated: Any,
    train: Any,
    results: Mapping[str, Any],
    n_show: int = 8,
    value_range: ValueRange = (0.0, 1.0),
    title: str | None = None,
) -> Figure:
    """A memorisation check at a glance.

    Top: the ``n_show`` generated images closest to the training set (in the first space of ``results``), and
    under each its nearest training image in every space. Bottom: per space, histograms of the distance to
    the nearest training image, generated images against as many test images (dashed line: the test images'
    1st percentile, the copying threshold).

    Args:
        generated: the generated images the results were computed on, in ``value_range``.
        train: the whole training set, in ``value_range`` (indexed by the results' ``generated_index``).
        results: space name -> ``NearestTraining`` (e.g. ``{"pixels": ..., "judge's features": ...}``).
    """
    if not results:
        raise ValueError("plot_nearest_training needs at least one space's results.")
    first = next(iter(results.values()))
    if len(first.generated_distance) != len(generated):
        raise ValueError(f"{len(generated)} generated images but results for {len(first.generated_distance)}.")
    order = np.argsort(first.generated_distance)[:n_show]
    rows = [to_numpy_images(generated, value_range)[order]]
    labels = ["generated"]
    for space, r in results.items():
        rows.append(to_numpy_images(train[[r.generated_index[i] for i in order]], value_range))
        labels.append(f"nearest in\n{space}")
    fig = plt.figure(figsize=(max(7.0, 4.0 * len(results)), 1.05 * len(rows) + 3.0))
    grid = fig.add_gridspec(len(rows) + 1, max(1, len(results)), height_ratios=[1] * len(rows) + [2.6])
    for k, (row, label) in enumerate(zip(rows, labels)):
        ax = fig.add_subplot(grid[k, :])
        _show(ax, make_grid(row, ncols=len(order), pad=2))
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    for k, (space, r) in enumerate(results.items()):
        ax = fig.add_subplot(grid[len(rows), k])
        gen_d, test_d = np.asarray(r.generated_distance), np.asarray(r.test_distance)
        bins = np.linspace(min(gen_d.min(), test_d.min()), max(gen_d.max(), test_d.max()), 30)
        ax.hist(test_d, bins=bins, alpha=0.5, color=_PALETTE[0], label="test → train")
        ax.hist(gen_d, bins=bins, alpha=0.5, color=_PALETTE[1], label="generated → train")
        ax.axvline(r.threshold, color="black", linestyle="--", linewidth=1, label="test 1st percentile")
        ax.set_xlabel("distance to the nearest training image")
        ax.set_ylabel("images")
        ax.set_title(space, fontsize=10)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_sharpness_diversity(stats: Mapping[str, Any]) -> Figure:
    """Per digit, for real and generated digits side by side: sharpness (mean gradient magnitude) and
    within-class diversity in pixels and, where measured, in the judge's features. ``stats``: name ->
    ``SharpnessDiversity``."""
    if not stats:
        raise ValueError("plot_sharpness_diversity needs at least one set of statistics.")
    keys = [("per_class_sharpness", "sharpness (mean gradient magnitude)"), ("diversity_pixels", "within-digit diversity (pixels)")]
    if all(s.diversity_features for s in stats.values()):
        keys.append(("diversity_features", "within-digit diversity (judge's features)"))
    fig, axes = plt.subplots(1, len(keys), figsize=(4.4 * len(keys), 3.3))
    width = 0.8 / len(stats)
    for ax, (key, label) in zip(np.atleast_1d(axes), keys):
        models = [n for n in stats if not n.lower().startswith("real")]  # models keep their colours of the page
        for i, (name, s) in enumerate(stats.items()):
            values = np.asarray(getattr(s, key), dtype=float)
            colour = _PALETTE[models.index(name) % len(_PALETTE)] if name in models else "grey"
            ax.bar(np.arange(len(values)) + (i - (len(stats) - 1) / 2) * width, values, width, label=name, color=colour)
        ax.set_xticks(range(len(values)))
        ax.set_xlabel("digit")
        ax.set_title(label, fontsize=10)
    handles, names = np.atleast_1d(axes)[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="upper center", ncol=len(names), fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    return fig


# --------------------------------------------------------------------------------------------- 2-D warm-ups


def _ring_axes(ax: plt.Axes, centres: np.ndarray, radius: float, lim: float) -> None:
    """Circles of ``radius`` around each centre, equal aspect, square limits."""
    for c in centres:
        ax.add_patch(plt.Circle((c[0], c[1]), radius, fill=False, color="0.4", lw=0.8, ls="--"))
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])


def plot_ring_training(
    models: Mapping[str, Any], real: Any, centres: Any, std: float, n_std: float = 3.0, n_panels: int = 5
) -> Figure:
    """Generated points of 2-D GANs over training: one row per model, one column per recorded step.

    ``models`` maps a title to a trained :class:`~fundamentalml.models.ring_gan.RingGAN` (its ``trace`` holds
    the fixed batch's points at recorded steps); ``real`` are data points ``(N, 2)`` drawn in grey beneath,
    ``centres`` the modes ``(K, 2)``, circled at ``n_std`` x ``std`` (the "high quality" radius of
    :func:`fundamentalml.metrics.mode_coverage`).
    """
    if not models:
        raise ValueError("models is empty: pass {title: trained RingGAN}.")
    real, centres = np.asarray(real, dtype=float), np.asarray(centres, dtype=float)
    lim = float(np.abs(centres).max() + 6 * std + 0.5)
    fig, axes = plt.subplots(len(models), n_panels, figsize=(2.1 * n_panels, 2.3 * len(models)), squeeze=False)
    for row, ((title, model), colour) in enumerate(zip(models.items(), _PALETTE)):
        steps = list(model.trace["step"])
        if not steps:
            raise ValueError(f"{title}: the model has no trace; train it with fundamentalml.models.ring_gan.train_ring_gan.")
        picks = sorted({round(i) for i in np.linspace(0, len(steps) - 1, min(n_panels, len(steps)))})
        for col, ax in enumerate(axes[row]):
            if col >= len(picks):
                ax.axis("off")
                continue
            points = np.asarray(model.trace["points"][picks[col]], dtype=float)
            ax.scatter(real[:, 0], real[:, 1], s=2, color="0.75", lw=0)
            ax.scatter(points[:, 0], points[:, 1], s=3, color=colour, lw=0, alpha=0.6)
            _ring_axes(ax, centres, n_std * std, lim)
            ax.set_title(f"step {steps[picks[col]]}", fontsize=9)
        axes[row][0].set_ylabel(title)
    fig.tight_layout()
    return fig


def plot_generator_gradients(
    early_logits: Mapping[str, Any] | None = None, a_range: tuple[float, float] = (-10.0, 10.0), step: int | None = None
) -> Figure:
    """The two generator losses' derivatives with respect to the discriminator's logit ``a``, over ``a_range``.

    Top: ``-sigmoid(a)`` (saturating, ``log(1 - D)``) and ``-(1 - sigmoid(a))`` (non-saturating, ``-log D``).
    Bottom (when ``early_logits`` is given): histograms of the discriminator's logits on generated points,
    ``{title: logits}``, e.g. from a 2-D GAN's trace early in training (``step`` labels them).
    """
    import torch

    from .models.ring_gan import generator_loss_grad

    lo, hi = float(a_range[0]), float(a_range[1])
    if not lo < hi:
        raise ValueError(f"a_range must be (low, high) with low < high, got {a_range}.")
    a = torch.linspace(lo, hi, 401, dtype=torch.float64)
    rows = 2 if early_logits else 1
    fig, axes = plt.subplots(rows, 1, figsize=(7, 3.2 * rows), sharex=True, squeeze=False,
                             gridspec_kw={"height_ratios": [3, 2][:rows]})
    ax = axes[0][0]
    for loss, colour, formula in (("saturating", _PALETTE[1], r"saturating $\log(1-\sigma(a))$: $-\sigma(a)$"),
                                  ("non-saturating", _PALETTE[0], r"non-saturating $-\log\sigma(a)$: $-(1-\sigma(a))$")):
        ax.plot(a.numpy(), generator_loss_grad(a, loss).numpy(), color=colour, label=formula)
    ax.axhline(0, color="0.6", lw=0.6)
    ax.set_ylabel(r"$\partial \mathcal{L}_G / \partial a$")
    ax.legend(loc="center right", fontsize=8)
    ax.set_title("generator loss gradients against the discriminator's logit $a$", fontsize=10)
    if early_logits:
        bx = axes[1][0]
        bins = np.linspace(lo, hi, 61)
        for (title, logits), colour in zip(early_logits.items(), _PALETTE[2:]):
            values = np.clip(np.asarray(logits, dtype=float).ravel(), lo, hi)
            bx.hist(values, bins=bins, alpha=0.6, color=colour, label=title)
        bx.set_ylabel("generated points")
        bx.legend(fontsize=8)
        bx.set_title("where the discriminator's logits on generated points sit" + (f" at step {step}" if step is not None else ""), fontsize=10)
    axes[-1][0].set_xlabel(r"discriminator logit $a$ (D = $\sigma(a)$; $a \ll 0$: confidently fake)")
    fig.tight_layout()
    return fig


def plot_latent_codes(codes: Any, labels: Any, extent: float | None = None, title: str | None = None) -> Figure:
    """Scatter of 2-D latent codes (e.g. a VAE's posterior means of test digits), coloured by label, with a legend.

    ``extent`` draws the square ``[-extent, extent]^2`` (the region a decoded grid covers).
    """
    codes, labels = np.asarray(codes, dtype=float), np.asarray(labels).ravel()
    if codes.ndim != 2 or codes.shape[1] != 2:
        raise ValueError(f"codes must have shape (N, 2), got {codes.shape}.")
    if len(labels) != len(codes):
        raise ValueError(f"labels ({len(labels)}) and codes ({len(codes)}) differ in length.")
    fig, ax = plt.subplots(figsize=(6, 5.2))
    cmap = plt.get_cmap("tab10")
    for i, label in enumerate(np.unique(labels)):
        keep = labels == label
        ax.scatter(codes[keep, 0], codes[keep, 1], s=3, color=cmap(i % 10), label=str(label), alpha=0.6, lw=0)
    if extent is not None:
        ax.add_patch(plt.Rectangle((-extent, -extent), 2 * extent, 2 * extent, fill=False, ls="--", color="0.3", lw=0.8))
    ax.set_aspect("equal")
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.legend(title="digit", markerscale=4, fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    ax.set_title(title or "test digits' codes (posterior means)")
    fig.tight_layout()
    return fig


def latent_grid_values(n: int = 15, low: float = 0.05, high: float = 0.95) -> Any:
    """``n`` latent values evenly spaced in probability between the N(0, 1) quantiles ``low`` and ``high``."""
    import torch

    if not 0 < low < high < 1:
        raise ValueError(f"quantiles must satisfy 0 < low < high < 1, got {low}, {high}.")
    if n < 2:
        raise ValueError(f"n must be at least 2, got {n}.")
    return torch.distributions.Normal(0.0, 1.0).icdf(torch.linspace(low, high, n))


def plot_latent_plane(model: Any, n: int = 15, low: float = 0.05, high: float = 0.95, title: str | None = None) -> Figure:
    """Decode an ``n`` x ``n`` grid of a 2-D latent plane (Kingma & Welling, 2013, Fig. 4).

    The grid's coordinates are the N(0, 1) quantiles from ``low`` to ``high`` (:func:`latent_grid_values`), so
    every row and column holds the same prior mass; ``z_2`` grows upwards, ``z_1`` to the right.
    """
    import torch

    from .models.base import eval_mode

    if getattr(model, "latent_dim", None) != 2:
        raise ValueError(f"plot_latent_plane needs a model with a 2-D code, got latent_dim={getattr(model, 'latent_dim', None)}.")
    values = latent_grid_values(n, low, high)
    z1, z2 = torch.meshgrid(values, values.flip(0), indexing="xy")  # row 0 at the top: the largest z_2
    z = torch.stack([z1.reshape(-1), z2.reshape(-1)], dim=1)
    with eval_mode(model):
        images = model.decode(z.to(model.device)).cpu()
    grid = make_grid(images, ncols=n, pad=0)
    fig, ax = plt.subplots(figsize=(6, 6))
    h, w = grid.shape[:2]
    ax.imshow(grid, cmap="gray", vmin=0, vmax=1, extent=(0, w, h, 0))
    ticks = [0, n // 2, n - 1]
    cell = w / n
    ax.set_xticks([(i + 0.5) * cell for i in ticks], [f"{values[i]:.2f}" for i in ticks])
    ax.set_yticks([(i + 0.5) * cell for i in ticks], [f"{values.flip(0)[i]:.2f}" for i in ticks])
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.set_title(title or f"decoded latent plane: {n}x{n} N(0,1) quantiles from {low:g} to {high:g}")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------- loops


def plot_step_losses(curves: Mapping[str, Sequence[float]], ylabel: str = "-ELBO (nats per image)",
                     title: str | None = None) -> Figure:
    """Per-step training losses of several training loops on one axis (``{"plain loop": [...], ...}``).

    The first curve is drawn thick and the others thin and dashed on top, so curves that agree step for step
    show as one line with a dashed one inside it.
    """
    if not curves:
        raise ValueError("plot_step_losses needs at least one curve.")
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    for i, (name, losses) in enumerate(curves.items()):
        steps = np.arange(1, len(losses) + 1)
        ax.plot(steps, list(losses), "-" if i == 0 else "--", lw=4 if i == 0 else 1.2, alpha=0.45 if i == 0 else 1.0,
                color=_PALETTE[i % len(_PALETTE)], label=name)
    ax.set_xlabel("optimisation step")
    ax.set_ylabel(ylabel)
    ax.set_yscale("log")
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
