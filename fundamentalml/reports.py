"""Side-by-side reports that chapters and the CLI print: they call metrics (numbers) and plots (figures).

Nothing here trains; pass in trained models (e.g. from :func:`fundamentalml.training.train_or_load`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from . import metrics
from .data import load_cifar10, load_mnist, to_float_images, DataError

DIGITS = list(range(10))


def reference_classifier(profile: str | None = None, data_dir: str | os.PathLike | None = None, seed: int = 0):
    """The reference MNIST classifier for ``profile``: trained once per data folder and code version, then
    loaded from the checkpoint cache. Returns ``(classifier, test_accuracy)``."""
    from .training import train_or_load  # reports sit above training in the flow; import here keeps plots light

    run = train_or_load("classifier", profile, data_dir=data_dir, seed=seed)
    return run.model, classifier_accuracy(run.model, data_dir)


def classifier_accuracy(classifier, data_dir: str | os.PathLike | None = None) -> float:
    """Accuracy of the classifier on the whole MNIST test set (or the offline fallback's 1,000 digits)."""
    test = load_mnist("test", data_dir)
    return (classifier.predict(to_float_images(test.images)) == test.labels).float().mean().item()


def conditional_summary(model, classifier, data_dir: str | os.PathLike | None = None, n_per_class: int = 100, seed: int = 0) -> dict[str, float]:
    """Conditioning accuracy and Fréchet distance (classifier features) of one conditional model."""
    test = load_mnist("test", data_dir)
    images, intended = metrics.generate_per_class(model, n_per_class, seed=seed)
    overall, _ = metrics.conditioning_accuracy(intended, classifier.predict(images))
    fd = metrics.frechet_distance(to_float_images(test.images), images, metrics.classifier_extractor(classifier))
    return {"conditioning_accuracy": overall, "frechet_distance_classifier_features": fd}


@dataclass
class ConditionalComparison:
    """Everything :func:`compare_models` measured.

    Attributes:
        summary: per model, the overall numbers (conditioning accuracy, Fréchet distance, diversity, ...).
        per_class: per model, name -> ``(10,)`` array (accuracy, confidence, diversity, collapse flags, ...).
        confusion: per model, the 10x10 confusion matrix (rows intended, columns read).
        samples: per model, the generated images used, ``(10 * n, 1, 28, 28)`` in [0, 1], label-major.
        real_diversity: per class, the diversity of real test digits (the yardstick for mode collapse).
    """

    summary: dict[str, dict[str, float]]
    per_class: dict[str, dict[str, np.ndarray]]
    confusion: dict[str, np.ndarray]
    samples: dict[str, torch.Tensor]
    real_diversity: np.ndarray
    classifier_accuracy: float
    notes: list[str] = field(default_factory=list)

    def table(self) -> str:
        """The overall numbers as a Markdown table, models side by side."""
        names = list(self.summary)
        keys = list(next(iter(self.summary.values())))
        lines = ["| metric | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
        for k in keys:
            cells = []
            for n in names:
                v = self.summary[n].get(k)
                cells.append("-" if v is None else (f"{v:.4f}" if abs(v) < 10 else f"{v:.2f}"))
            lines.append(f"| {k} | " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def per_class_table(self, key: str) -> str:
        """One per-class quantity (e.g. ``"accuracy"``) as a Markdown table, digits as rows."""
        names = [n for n in self.per_class if key in self.per_class[n]]
        lines = ["| digit | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
        for d in DIGITS:
            lines.append(f"| {d} | " + " | ".join(f"{self.per_class[n][key][d]:.3f}" for n in names) + " |")
        return "\n".join(lines)

    def figures(self) -> dict[str, Any]:
        """The comparison's figures: digit grids, confusion matrices, per-class bars."""
        from . import plots  # figures are drawn only when asked for

        return {
            "samples": plots.plot_class_grids(self.samples, n_per_class=8),
            "confusion": plots.plot_confusion_matrices(self.confusion),
            "per_class": plots.plot_per_class(self.per_class, self.real_diversity),
        }


def compare_models(
    cvae,
    cgan,
    classifier=None,
    *,
    n_per_class: int = 100,
    data_dir: str | os.PathLike | None = None,
    profile: str | None = None,
    seed: int = 0,
    show: bool = True,
) -> ConditionalComparison:
    """Compare a conditional VAE and a conditional GAN on everything the seed lists, and print it.

    For each model it generates ``n_per_class`` digits of every class and lets the reference classifier read
    them: conditioning accuracy (overall and per class), the confusion matrix, per-class quality (the
    classifier's confidence in the intended digit), diversity within each class (mean pairwise distance in the
    classifier's feature space) against real digits' diversity, a mode-collapse flag per class (diversity
    below half of the real digits'), and the Fréchet distance to real test digits in the classifier's feature
    space. Also the cVAE's per-class reconstruction error, and the cGAN's training stability and per-class
    discriminator accuracy.

    Args:
        cvae, cgan: trained :class:`~fundamentalml.models.ConditionalVAE` and :class:`~fundamentalml.models.ConditionalGAN`.
        classifier: the judge; default :func:`reference_classifier` for ``profile``.
        n_per_class: generated digits per class.
        data_dir: where MNIST lives.
        profile: profile of the default classifier.
        seed: seeds the generated latents.
        show: print the tables.
    """
    notes: list[str] = []
    if classifier is None:
        classifier, clf_acc = reference_classifier(profile, data_dir)
    else:
        clf_acc = classifier_accuracy(classifier, data_dir)
    test = load_mnist("test", data_dir)
    if test.is_fallback:
        notes.append("Real digits come from the offline 1,000-image MNIST fallback.")
    real = to_float_images(test.images)
    real_labels = test.labels
    extractor = metrics.classifier_extractor(classifier)
    real_feats = classifier.features(real).cpu()
    real_div = np.array([metrics.pairwise_diversity(real_feats[real_labels == d][:n_per_class]) for d in DIGITS])

    summary: dict[str, dict[str, float]] = {}
    per_class: dict[str, dict[str, np.ndarray]] = {}
    confusion: dict[str, np.ndarray] = {}
    samples: dict[str, torch.Tensor] = {}
    for name, model in (("cVAE", cvae), ("cGAN", cgan)):
        images, intended = metrics.generate_per_class(model, n_per_class, seed=seed)
        logits = torch.cat([classifier(images[i : i + 1000].to(classifier.device)).cpu() for i in range(0, len(images), 1000)])
        predicted = logits.argmax(1)
        confidence = logits.softmax(1)[torch.arange(len(intended)), intended]
        overall, acc = metrics.conditioning_accuracy(intended, predicted)
        feats = classifier.features(images).cpu()
        div = np.array([metrics.pairwise_diversity(feats[intended == d]) for d in DIGITS])
        per_class[name] = {
            "accuracy": acc.numpy(),
            "confidence": np.array([confidence[intended == d].mean().item() for d in DIGITS]),
            "diversity": div,
            "diversity_ratio": div / real_div,
            "collapsed": (div < 0.5 * real_div).astype(float),
        }
        confusion[name] = metrics.confusion(intended, predicted)
        samples[name] = images
        summary[name] = {
            "conditioning accuracy": overall,
            "mean confidence in intended digit": confidence.mean().item(),
            "Fréchet distance (classifier features)": metrics.frechet_distance(real, images, extractor),
            "diversity / real diversity": float(np.mean(div / real_div)),
            "classes flagged as collapsed": float(per_class[name]["collapsed"].sum()),
        }
    per_class["cVAE"]["recon_mse"] = metrics.per_class_reconstruction_error(cvae, real, real_labels).numpy()
    d_acc = metrics.per_class_discriminator_accuracy(cgan, real, real_labels, n_per_class, seed=seed)
    per_class["cGAN"]["d_acc_real"] = d_acc["real"].numpy()
    per_class["cGAN"]["d_acc_fake"] = d_acc["fake"].numpy()
    stability = metrics.gan_stability(cgan)
    summary["cGAN"].update({f"stability: {k}": v for k, v in stability.items()})
    summary["cVAE"]["test reconstruction MSE"] = float(per_class["cVAE"]["recon_mse"].mean())
    result = ConditionalComparison(summary, per_class, confusion, samples, real_div, clf_acc, notes)
    if show:
        print(f"Reference classifier: test accuracy {clf_acc:.4f}")
        for note in notes:
            print(note)
        print(result.table())
        print("\nConditioning accuracy per digit:\n" + result.per_class_table("accuracy"))
    return result


def dcgan_report(model, data_dir: str | os.PathLike | None = None, n: int = 2000, seed: int = 0, real=None) -> dict[str, float]:
    """DCGAN numbers: Fréchet distance to real test images in a fixed random conv net's feature space
    (see :func:`fundamentalml.metrics.random_conv_extractor`), and training stability."""
    if real is None:
        try:
            test = load_cifar10("test", data_dir)
            images = test.images
        except DataError:
            from .data import pad_to_rgb32

            images = pad_to_rgb32(load_mnist("test", data_dir).images)
        real = images[:n].float() / 255
    fake = (model.sample(min(n, len(real)), seed=seed).cpu() + 1) / 2
    extractor = metrics.random_conv_extractor(channels=real.shape[1])
    out = {"frechet_distance_random_features": metrics.frechet_distance(real, fake, extractor), "n_images": float(len(fake))}
    out.update(metrics.gan_stability(model))
    return out
