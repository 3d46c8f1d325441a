"""Side-by-side reports that chapters and the CLI print: metrics (numbers) laid out as tables, and figures.

Nothing here trains: pass in trained models (from :func:`fundamentalml.runs.get_run`), and for conditional
models the judge, a trained reference classifier. One table formatter, :func:`table`, serves every page and
the command line, so a number reads the same everywhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import torch

from . import metrics
from .data import ImageSet, to_float_images

DIGITS = list(range(10))

# Stable field name -> (label on a page, format). Fields not listed print with their name and 4 digits.
FIELDS: dict[str, tuple[str, str]] = {
    "parameters": ("parameters", "{:,.0f}"),
    "recon_mse": ("reconstruction MSE (test, per pixel)", "{:.5f}"),
    "neg_elbo": ("test -ELBO (nats/image, grey-level BCE)", "{:.2f}"),
    "bce": ("  of which reconstruction (BCE)", "{:.2f}"),
    "kl": ("  of which KL (near 0 = code ignored)", "{:.2f}"),
    "train_time_s": ("training time (s)", "{:.1f}"),
    "epochs": ("epochs", "{:.0f}"),
    "final_train_loss": ("final train loss", "{:.2f}"),
    "final_val_loss": ("final validation loss", "{:.2f}"),
    "n_images": ("test images", "{:,.0f}"),
    "accuracy": ("test accuracy", "{:.2%}"),
    "conditioning_accuracy": ("conditioning accuracy", "{:.1%}"),
    "worst_digit": ("digit drawn right least often", "{:.0f}"),
    "worst_digit_accuracy": ("  its conditioning accuracy", "{:.1%}"),
    "mean_confidence": ("judge's mean confidence in the intended digit", "{:.3f}"),
    "frechet_distance": ("Fréchet distance", "{:.2f}"),
    "diversity_ratio": ("diversity / real diversity", "{:.3f}"),
    "collapsed": ("digits flagged as collapsed", "{:.0f}"),
    "recon_mse_test": ("test reconstruction MSE", "{:.4f}"),
    "g_loss_std": ("stability: G loss std (last quarter)", "{:.3f}"),
    "d_loss_std": ("stability: D loss std (last quarter)", "{:.3f}"),
    "g_loss_mean": ("G loss mean (last quarter)", "{:.3f}"),
    "d_loss_mean": ("D loss mean (last quarter)", "{:.3f}"),
    "d_real_acc": ("D accuracy on real (last epoch)", "{:.3f}"),
    "d_fake_acc": ("D accuracy on generated (last epoch)", "{:.3f}"),
}


def format_value(key: str, value: Any) -> str:
    """One number as the tables print it (``-`` for missing or non-numbers)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return FIELDS.get(key, (key, "{:.4g}"))[1].format(value)


def table(rows: Mapping[str, Mapping[str, Any]], keys: list[str] | None = None) -> str:
    """Markdown table with one column per model: ``rows`` maps a model's title to its ``{field: number}``.

    ``keys`` picks and orders the fields (default: the known fields first, then the rest, numbers only).
    """
    if not rows:
        raise ValueError("table needs at least one row.")
    names = list(rows)
    if keys is None:
        present = {k for r in rows.values() for k, v in r.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        keys = [k for k in FIELDS if k in present] + sorted(present - set(FIELDS))
    lines = ["| metric | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for key in keys:
        label = FIELDS.get(key, (key.replace("_", " "), ""))[0]
        lines.append(f"| {label} | " + " | ".join(format_value(key, rows[n].get(key)) for n in names) + " |")
    return "\n".join(lines)


def run_row(run: Any, measured: metrics.Metrics | Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A run's row for :func:`table`: its metrics (``measured``, else those recorded with it), parameter count,
    training time, epochs and final losses."""
    values = measured.to_dict() if isinstance(measured, metrics.Metrics) else dict(measured or run.metrics)
    history = run.history
    last = lambda key: history[key][-1] if history.get(key) else math.nan  # noqa: E731
    return {
        **{k: v for k, v in values.items() if isinstance(v, (int, float))},
        "parameters": metrics.count_parameters(run.model),
        "train_time_s": run.train_time_s,
        "epochs": len(history.get("epoch", [])),
        "final_train_loss": last("train_loss"),
        "final_val_loss": last("val_loss"),
    }


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
        return table(self.summary)

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
    classifier,
    test: ImageSet,
    *,
    n_per_class: int = 100,
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
        classifier: the judge, a trained :class:`~fundamentalml.models.MNISTClassifier` (e.g.
            ``pretrained("classifier").model``). Nothing here trains one.
        test: the real MNIST test digits (``run.test_set()``).
        n_per_class: generated digits per class.
        seed: seeds the generated latents.
        show: print the tables.
    """
    if classifier is None:
        raise ValueError("compare_models needs the judge: pass classifier=pretrained('classifier').model (or one you trained).")
    notes: list[str] = []
    real = to_float_images(test.images)
    clf_acc = metrics.evaluate_classifier(classifier, real, test.labels).accuracy
    if test.is_fallback:
        notes.append("Real digits come from the offline 1,000-image MNIST fallback.")
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
            "conditioning_accuracy": overall,
            "mean_confidence": confidence.mean().item(),
            "frechet_distance": metrics.frechet_distance(real, images, extractor),
            "diversity_ratio": float(np.mean(div / real_div)),
            "collapsed": float(per_class[name]["collapsed"].sum()),
        }
    per_class["cVAE"]["recon_mse"] = metrics.per_class_reconstruction_error(cvae, real, real_labels).numpy()
    d_acc = metrics.per_class_discriminator_accuracy(cgan, real, real_labels, n_per_class, seed=seed)
    per_class["cGAN"]["d_acc_real"] = d_acc["real"].numpy()
    per_class["cGAN"]["d_acc_fake"] = d_acc["fake"].numpy()
    stability = metrics.gan_stability(cgan)
    summary["cGAN"].update(stability)
    summary["cVAE"]["recon_mse_test"] = float(per_class["cVAE"]["recon_mse"].mean())
    result = ConditionalComparison(summary, per_class, confusion, samples, real_div, clf_acc, notes)
    if show:
        print(f"Reference classifier: test accuracy {clf_acc:.4f}")
        for note in notes:
            print(note)
        print(result.table())
        print("\nConditioning accuracy per digit:\n" + result.per_class_table("accuracy"))
    return result


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def page_note(runs: Mapping[str, Any]) -> str:
    """The "How this page was computed" box of a chapter, as HTML: where each model came from and on what data.

    For shipped weights it names the command, commit, machine and wall time of the training (from the
    manifest) and says that nothing trained while the page was built; for runs trained here, the profile and
    budget. It ends with what training each model yourself costs.
    """
    from html import escape

    parts, costs = [], []
    for title, run in runs.items():
        meta = run.meta
        if run.profile == "shipped":
            parts.append(
                f"<li><strong>{escape(title)}</strong>: the course's shipped weights, trained once at the <code>full</code> "
                f"profile (seed {meta.get('seed')}, {meta.get('budget', {}).get('epochs')} epochs) with "
                f"<code>{escape(str(meta.get('command')))}</code> at commit <code>{escape(str(meta.get('commit'))[:10])}</code> "
                f"on {escape(str(meta.get('machine')))} in {_minutes(float(meta.get('train_time_s', 0)))} "
                f"(torch {escape(str(meta.get('torch')))}, {escape(str(meta.get('dtype')))} weights)."
                + (f" Note: {escape(str(meta['note']))}" if meta.get("note") else "") + "</li>"
            )
        else:
            b = meta.get("budget", {})
            how = "loaded from an earlier run of the same configuration" if run.loaded else "trained while this page was built"
            parts.append(
                f"<li><strong>{escape(title)}</strong>: profile <code>{escape(run.profile)}</code>, {b.get('epochs')} epoch(s) of "
                f"batch {b.get('batch_size')}, {how} ({_minutes(run.train_time_s)} of training).</li>"
            )
        costs.append(_cost_line(title, run.name))
    data = next(iter(runs.values())).datamodule().describe()
    shipped = all(r.profile == "shipped" for r in runs.values())
    lead = ("Nothing trains while this page is built: every figure and number below is computed now from the "
            "shipped models." if shipped else "Every figure and number below comes from the runs listed here.")
    return (
        '<div class="admonition note"><p class="admonition-title">How this page was computed</p>'
        f"<p>{lead}</p><ul>{''.join(parts)}</ul><p>Evaluated on: {escape(data)}.</p>"
        "<p><strong>Train it yourself:</strong> set <code>PROFILE</code> in the first code cell (or the environment "
        "variable <code>FUNDAMENTALML_PROFILE</code>) to <code>smoke</code>, <code>cpu</code> or <code>full</code>. "
        f"On 2 CPU cores: {'; '.join(costs)}.</p></div>"
    )


def _cost_line(title: str, name: str) -> str:
    """What training ``name`` costs at each profile on a 2-core CPU, scaled from the shipped run's measured time."""
    from . import registry
    from .runs import manifest

    entry = manifest()["models"].get(name)
    spec = registry.get(name)
    if not entry:
        return f"{title}: not measured"
    full_images = int(entry["train_images"])
    per_image = float(entry["train_time_s"]) / (spec.budget("full").epochs * full_images)
    out = []
    for profile in ("smoke", "cpu", "full"):
        b = spec.budget(profile)
        images = b.epochs * min(b.train_size or full_images, full_images)
        out.append(f"{profile} ~{_minutes(per_image * images)}")
    precision = (entry.get("budget") or {}).get("precision", "32-true")
    return f"{title} " + ", ".join(out) + (f" (measured at full, {precision})" if precision != "32-true" else "")


def _num(value: float) -> str:
    """A distance with two decimals, or three significant digits below 1 (the DCGAN's distances are small)."""
    return f"{value:.2f}" if abs(value) >= 1 else f"{value:.3g}"


def quality_progress(per_epoch: Mapping[str, Any]) -> str:
    """A sentence (Markdown) on how a GAN's Fréchet distance moved over training, against its floor and ceiling.

    ``per_epoch`` is a shipped model's ``meta["per_epoch"]`` (see :func:`fundamentalml.plots.plot_quality_per_epoch`).
    A distance at or below the floor is reported as such: the floor is itself an estimate from a finite sample,
    so a generator can land a little under it, and "X% of the gap closed" would then read over 100%.
    """
    if not per_epoch or not per_epoch.get("epoch"):
        raise ValueError("no per-epoch numbers: they are recorded for models trained with --keep_epochs.")
    epochs, fd = list(per_epoch["epoch"]), [float(v) for v in per_epoch["frechet_distance"]]
    floor = float(per_epoch["floor_frechet_distance"])
    best = min(range(len(fd)), key=fd.__getitem__)
    text = (f"From {_num(fd[0])} (untrained) to {_num(fd[-1])} after epoch {epochs[-1]}; the lowest, {_num(fd[best])}, "
            f"after epoch {epochs[best]}. The floor is {_num(floor)}, ")
    if fd[-1] <= floor:
        below = [e for e, v in zip(epochs, fd) if v <= floor]
        text += (f"and the last epoch is at or under it (epochs at or under the floor: {', '.join(map(str, below))}): "
                 "in this feature space and at this sample size the generated images cannot be told from real ones "
                 "by their first two moments; the floor is itself measured from a finite sample, so landing a "
                 "little under it is noise, not better than real.")
    else:
        share = (fd[0] - fd[-1]) / (fd[0] - floor) if fd[0] != floor else float("nan")
        text += (f"so the last epoch closes {share:.1%} of the gap between untrained and perfect in this feature "
                 f"space, and stays {fd[-1] / floor:.1f} times the floor.")
    acc = per_epoch.get("conditioning_accuracy")
    if acc:
        first = next((e for e, a in zip(epochs, acc) if a >= 0.9), None)
        text += (f" Conditioning accuracy went from {acc[0]:.1%} (chance is 10%) to {acc[-1]:.1%}"
                 + (f", first reaching 90% after epoch {first}." if first is not None else ", never reaching 90%."))
    return text


@dataclass
class SeedVerdict:
    """A claim "``a`` is lower than ``b``" judged over several training seeds of each model.

    ``verdict`` is ``"holds"`` when every seed of ``a`` is below every seed of ``b``, ``"does not hold"`` when
    every seed of ``a`` is above every seed of ``b``, and ``"within noise"`` when the two ranges overlap.
    ``chance`` is the probability of a complete separation in the claimed direction if the two models were
    the same (all orderings of the seeds equally likely): 1 / C(n_a + n_b, n_a), 1/20 for 3 seeds each.
    """

    a: list[float]
    b: list[float]
    verdict: str
    chance: float

    @property
    def difference(self) -> float:
        """mean(b) - mean(a): positive when ``a`` is lower on average."""
        return float(np.mean(self.b) - np.mean(self.a))

    @property
    def spread(self) -> float:
        """The larger of the two seed-to-seed standard deviations (sample std, n - 1)."""
        return float(max(np.std(self.a, ddof=1), np.std(self.b, ddof=1))) if min(len(self.a), len(self.b)) > 1 else float("nan")


def seed_verdict(a: Mapping[int, float] | list[float], b: Mapping[int, float] | list[float]) -> SeedVerdict:
    """Judge the claim "``a`` is lower than ``b``" from per-seed values of each (see :class:`SeedVerdict`)."""
    a_vals = [float(v) for v in (a.values() if isinstance(a, Mapping) else a)]
    b_vals = [float(v) for v in (b.values() if isinstance(b, Mapping) else b)]
    if not a_vals or not b_vals:
        raise ValueError("seed_verdict needs at least one value on each side.")
    if max(a_vals) < min(b_vals):
        verdict = "holds"
    elif min(a_vals) > max(b_vals):
        verdict = "does not hold"
    else:
        verdict = "within noise"
    return SeedVerdict(a_vals, b_vals, verdict, 1 / math.comb(len(a_vals) + len(b_vals), len(a_vals)))


def mean_spread(values: Mapping[int, float] | list[float], fmt: str = "{:.2f}") -> str:
    """``"mean ± std (n seeds)"`` of per-seed values (the sample standard deviation, n - 1)."""
    vals = [float(v) for v in (values.values() if isinstance(values, Mapping) else values)]
    if len(vals) < 2:
        return fmt.format(vals[0]) + " (1 seed)"
    return f"{fmt.format(np.mean(vals))} ± {fmt.format(np.std(vals, ddof=1))} ({len(vals)} seeds)"
