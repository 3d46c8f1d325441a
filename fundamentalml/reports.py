"""Side-by-side reports that chapters and the CLI print: metrics (numbers) laid out as tables, and figures.

Nothing here trains: pass in trained models (from :func:`fundamentalml.runs.get_run`), and for conditional
models the judge, a trained reference classifier. :func:`table` lays out every metrics table a page or the
command line prints, with :func:`fundamentalml.tables.markdown_table`, the one table formatter, so a number
reads the same everywhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import torch

from . import metrics, registry
from .data import ImageSet, to_float_images
from .tables import markdown_table

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
    "sharpness": ("sharpness: mean gradient magnitude", "{:.4f}"),
    "sharpness_sem": ("  its standard error", "{:.4f}"),
    "high_frequency_share": ("high-frequency share of spectral power", "{:.3f}"),
    "mean_diversity_pixels": ("within-digit diversity (pixels)", "{:.2f}"),
    "mean_diversity_features": ("within-digit diversity (judge's features)", "{:.2f}"),
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
    labels = [FIELDS.get(key, (key.replace("_", " "), ""))[0] for key in keys]
    return markdown_table(["metric", *names], ([label, *(format_value(key, rows[n].get(key)) for n in names)]
                                               for key, label in zip(keys, labels)), "l" + "r" * len(names))


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
        sharpness: ``"real digits"`` and each model -> :class:`~fundamentalml.metrics.SharpnessDiversity`
            (mean gradient magnitude, high-frequency share, within-digit diversity in pixels and features).
    """

    summary: dict[str, dict[str, float]]
    per_class: dict[str, dict[str, np.ndarray]]
    confusion: dict[str, np.ndarray]
    samples: dict[str, torch.Tensor]
    real_diversity: np.ndarray
    classifier_accuracy: float
    notes: list[str] = field(default_factory=list)
    sharpness: dict[str, metrics.SharpnessDiversity] = field(default_factory=dict)

    def table(self) -> str:
        """The overall numbers as a Markdown table, models side by side."""
        return table(self.summary)

    def per_class_table(self, key: str) -> str:
        """One per-class quantity (e.g. ``"accuracy"``) as a Markdown table, digits as rows."""
        names = [n for n in self.per_class if key in self.per_class[n]]
        return self.per_class_columns({n: (n, key) for n in names})

    def per_class_columns(self, columns: Mapping[str, tuple[str, str]], digits: str = "digit") -> str:
        """Several per-class quantities in one Markdown table, digits as rows and every column named.

        ``columns`` maps a column header to ``(model, key)``: ``{"cVAE: reconstruction MSE": ("cVAE", "recon_mse")}``.
        """
        if not columns:
            raise ValueError("per_class_columns needs at least one column.")
        missing = [h for h, (n, k) in columns.items() if k not in self.per_class.get(n, {})]
        if missing:
            raise ValueError(f"no per-class numbers for column(s) {missing}; known: "
                             + ", ".join(f"{n}: {sorted(v)}" for n, v in self.per_class.items()))
        rows = ([d, *(f"{self.per_class[n][k][d]:.3f}" for n, k in columns.values())] for d in DIGITS)
        return markdown_table([digits, *columns], rows, "l" + "r" * len(columns))

    def figures(self) -> dict[str, Any]:
        """The comparison's figures: digit grids, confusion matrices, per-class bars."""
        from . import plots  # figures are drawn only when asked for

        return {
            "samples": plots.plot_class_grids(self.samples, n_per_class=8),
            "confusion": plots.plot_confusion_matrices(self.confusion),
            "per_class": plots.plot_per_class(self.per_class, self.real_diversity),
            **({"sharpness": plots.plot_sharpness_diversity(self.sharpness)} if self.sharpness else {}),
        }

    def sharpness_table(self) -> str:
        """Sharpness and within-digit diversity of real digits and each model, side by side."""
        keys = ["sharpness", "sharpness_sem", "high_frequency_share", "mean_diversity_pixels", "mean_diversity_features"]
        return table({name: s.to_dict() for name, s in self.sharpness.items()}, keys)

    def sharpness_verdict(self, model: str | None = None, other: str | None = None) -> str:
        """Markdown verdict on "``model`` is sharper and more varied than ``other``", from the measured numbers.

        Sharper: its mean gradient magnitude exceeds the other's by more than three combined standard errors.
        More varied (in pixels, and in the judge's features): a higher within-digit diversity on average over the
        digits. Each is also set against real digits. Default: the last model compared (``model``) against the
        first (``other``), by their titles in :func:`compare_models`.
        """
        compared = [n for n in self.sharpness if not n.lower().startswith("real")]
        model = model if model is not None else (compared[-1] if compared else "")
        other = other if other is not None else (compared[0] if compared else "")
        if model == other:
            raise ValueError(f"sharpness_verdict compares two models; both are {model!r}.")
        if model not in self.sharpness or other not in self.sharpness:
            raise ValueError(f"no sharpness measured for {model!r} and {other!r}: got {list(self.sharpness)}.")
        a, b = self.sharpness[model], self.sharpness[other]
        real = next((s for n, s in self.sharpness.items() if n.lower().startswith("real")), None)
        noise = 3 * math.hypot(a.sharpness_sem, b.sharpness_sem)
        diff = a.sharpness - b.sharpness
        sharper = diff > noise
        text = [f"**Sharpness.** Mean gradient magnitude {model} {a.sharpness:.4f}, {other} {b.sharpness:.4f}"
                + (f", real digits {real.sharpness:.4f}" if real else "") + ": "
                + (f"the {model} is sharper, by {diff / b.sharpness:.0%} (more than three standard errors, {noise:.4f})"
                   if sharper else f"the {model} is **not** measurably sharper (difference {diff:+.4f}, three standard "
                   f"errors {noise:.4f})")
                + (f"; it reaches {a.sharpness / real.sharpness:.0%} of real digits' sharpness, the {other} "
                   f"{b.sharpness / real.sharpness:.0%}." if real else ".")
                + f" The second statistic, the high-frequency share of the spectrum, "
                + ("agrees" if (a.high_frequency_share > b.high_frequency_share) == sharper else "disagrees")
                + f": {model} {a.high_frequency_share:.3f}, {other} {b.high_frequency_share:.3f}"
                + (f", real digits {real.high_frequency_share:.3f}." if real else ".")]
        varied = []
        for space, key, per in (("pixels", "mean_diversity_pixels", "diversity_pixels"),
                                ("the judge's features", "mean_diversity_features", "diversity_features")):
            va, vb = getattr(a, key), getattr(b, key)
            if math.isnan(va) or math.isnan(vb):
                continue
            wins = sum(x > y for x, y in zip(getattr(a, per), getattr(b, per)))
            varied.append(va > vb)
            text.append(f"**Variety ({space}).** Within-digit diversity {model} {va:.2f}, {other} {vb:.2f}"
                        + (f", real digits {getattr(real, key):.2f}" if real else "")
                        + f": the {model if va > vb else other} is more varied on average, and the {model} is more "
                          f"varied for {wins} of the {len(getattr(a, per))} digits.")
        holds = sharper and bool(varied) and all(varied)
        text.append(f"**Verdict on \"the {model} is sharper and more varied\".** "
                    + ("It holds here, on both counts." if holds else
                       "It does **not** fully hold here: " + ", ".join(
                           p for p, ok in (("not measurably sharper", not sharper),
                                           ("not more varied in every space measured", not (varied and all(varied)))) if ok) + "."))
        return "\n\n".join(text)


def compare_models(
    models: Mapping[str, Any],
    classifier,
    test: ImageSet,
    *,
    n_per_class: int = 100,
    seed: int = 0,
    show: bool = True,
) -> ConditionalComparison:
    """Compare conditional models on everything the seed lists, and print it.

    For each model it generates ``n_per_class`` digits of every class and lets the reference classifier read
    them: conditioning accuracy (overall and per class), the confusion matrix, per-class quality (the
    classifier's confidence in the intended digit), diversity within each class (mean pairwise distance in the
    classifier's feature space) against real digits' diversity, a mode-collapse flag per class (diversity
    below half of the real digits'), and the Fréchet distance to real test digits in the classifier's feature
    space. Also, what each model's kind allows: the per-class reconstruction error of a model that reconstructs
    (the cVAE, ``reconstruct``), and the training stability and per-class discriminator accuracy of a model with
    a discriminator (the cGAN, ``discriminator_scores``).

    Args:
        models: title -> trained conditional model (``generate``), one or more, in the order the tables show
            them: ``{"cVAE": cvae, "cGAN": cgan}``.
        classifier: the judge, a trained :class:`~fundamentalml.models.MNISTClassifier` (e.g.
            ``pretrained("classifier").model``). Nothing here trains one.
        test: the real MNIST test digits (``run.test_set()``).
        n_per_class: generated digits per class.
        seed: seeds the generated latents.
        show: print the tables.
    """
    if classifier is None:
        raise ValueError(f"compare_models needs the judge: pass classifier=pretrained({registry.JUDGE!r}).model (or one you trained).")
    if not isinstance(models, Mapping) or not models:
        raise ValueError("compare_models takes {title: model}, e.g. {'cVAE': cvae, 'cGAN': cgan}, with at least one model.")
    notes: list[str] = []
    real = to_float_images(test.images)
    clf_acc = metrics.evaluate_classifier(classifier, real, test.labels).accuracy
    if test.is_fallback:
        notes.append("Real digits come from the offline 1,000-image MNIST fallback.")
    real_labels = test.labels
    extractor = metrics.classifier_extractor(classifier)
    real_feats = classifier.features(real).cpu()
    real_div = metrics.class_diversity(real_feats, real_labels, n_per_class=n_per_class)

    summary: dict[str, dict[str, float]] = {}
    per_class: dict[str, dict[str, np.ndarray]] = {}
    confusion: dict[str, np.ndarray] = {}
    samples: dict[str, torch.Tensor] = {}
    sample_feats: dict[str, torch.Tensor] = {}
    for name, model in models.items():
        images, intended = metrics.generate_per_class(model, n_per_class, seed=seed)
        logits = torch.cat([classifier(images[i : i + 1000].to(classifier.device)).cpu() for i in range(0, len(images), 1000)])
        predicted = logits.argmax(1)
        confidence = logits.softmax(1)[torch.arange(len(intended)), intended]
        overall, acc = metrics.conditioning_accuracy(intended, predicted)
        feats = sample_feats[name] = classifier.features(images).cpu()
        div = metrics.class_diversity(feats, intended)
        per_class[name] = {
            "accuracy": acc.numpy(),
            "confidence": np.array([confidence[intended == d].mean().item() for d in DIGITS]),
            "diversity": div,
            "diversity_ratio": div / real_div,
            "collapsed": metrics.is_collapsed(div, real_div).astype(float),
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
    # What a model's kind allows, asked of the model (never of its name): reconstruction, a discriminator.
    for name, model in models.items():
        if callable(getattr(model, "reconstruct", None)):
            per_class[name]["recon_mse"] = metrics.per_class_reconstruction_error(model, real, real_labels).numpy()
        if callable(getattr(model, "discriminator_scores", None)):
            d_acc = metrics.per_class_discriminator_accuracy(model, real, real_labels, n_per_class, seed=seed)
            per_class[name]["d_acc_real"] = d_acc["real"].numpy()
            per_class[name]["d_acc_fake"] = d_acc["fake"].numpy()
            summary[name].update(metrics.gan_stability(model))
        if "recon_mse" in per_class[name]:
            summary[name]["recon_mse_test"] = float(per_class[name]["recon_mse"].mean())
    n_real = min(n_per_class, int(torch.bincount(real_labels, minlength=10).min()))  # the offline fallback has fewer
    sharpness = {"real digits": metrics.sharpness_and_diversity(real, real_labels, real_feats, n_real)}
    for name, images in samples.items():
        sharpness[name] = metrics.sharpness_and_diversity(images, intended, sample_feats[name], n_per_class)
    result = ConditionalComparison(summary, per_class, confusion, samples, real_div, clf_acc, notes, sharpness)
    if show:
        print(f"Reference classifier: test accuracy {clf_acc:.4f}")
        for note in notes:
            print(note)
        print(result.table())
        print("\nConditioning accuracy per digit:\n" + result.per_class_table("accuracy"))
    return result


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def _about(seconds: float) -> str:
    """An estimate: ``"~1.5 min"``, ``"~48 s"``, or ``"under 1 s"`` (never ``"~0 s"``)."""
    return "under 1 s" if seconds < 0.5 else f"~{_minutes(seconds)}"


def page_note(runs: Mapping[str, Any], warmup: str | None = None) -> str:
    """The "How this page was computed" box of a chapter, as HTML: where each model came from and on what data.

    For shipped weights it names the command, commit, machine and wall time of the training (from the
    manifest) and says that nothing trained while the page was built; for runs trained here, the profile and
    budget. ``warmup`` names the page's deliberate exception (toy models that train on the page in seconds),
    which the box then states. It ends with what training each model yourself costs.
    """
    from html import escape

    from .shipping import median_epoch_seconds

    parts, costs = [], []
    for title, run in runs.items():
        meta = run.meta
        if run.profile == "shipped":
            parts.append(
                f"<li><strong>{escape(title)}</strong>: the course's shipped weights, trained once at the <code>full</code> "
                f"profile (seed {meta.get('seed')}, {meta.get('budget', {}).get('epochs')} epochs) with "
                f"<code>{escape(str(meta.get('command')))}</code> at commit <code>{escape(str(meta.get('commit'))[:10])}</code> "
                f"on {escape(str(meta.get('machine')))}, precision <code>{escape(str((meta.get('budget') or {}).get('precision')))}</code>, "
                f"in {_minutes(float(meta.get('train_time_s', 0)))} of wall time"
                + (f" (median epoch {_minutes(median)})" if (median := median_epoch_seconds(meta)) else "")
                + f" (torch {escape(str(meta.get('torch')))}, {escape(str(meta.get('dtype')))} weights).</li>"
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
    if shipped:
        lead = ("Nothing trains while this page is built" + (f" except {escape(warmup)}" if warmup else "") + ": every "
                + ("other " if warmup else "") + "figure and number below is computed now from the shipped models.")
    else:
        lead = "Every figure and number below comes from the runs listed here" + (f" and {escape(warmup)}" if warmup else "") + "."
    return (
        '<div class="admonition note"><p class="admonition-title">How this page was computed</p>'
        f"<p>{lead}</p><ul>{''.join(parts)}</ul><p>Evaluated on: {escape(data)}.</p>"
        "<p><strong>Train it yourself:</strong> set <code>PROFILE</code> in the first code cell (or the environment "
        "variable <code>FUNDAMENTALML_PROFILE</code>) to <code>smoke</code>, <code>cpu</code> or <code>full</code>. "
        f"On 2 CPU cores without AMX: {'; '.join(costs)}. At <code>full</code>, a model whose budget's precision is "
        "<code>auto</code> (<code>python -m fundamentalml profiles</code> lists them) trains at bf16 on a CPU with "
        "AVX-512 BF16 or AMX, at fp32 elsewhere; the Model cards page has every measured cost.</p></div>"
    )


def data_mismatch(meta: Mapping[str, Any], *sets: Any) -> str | None:
    """``None`` when the image sets a page read (:class:`~fundamentalml.data.ImageSet`) are the files a shipped
    model's manifest entry (``meta``) records in its ``data_identity``; else a sentence that says how they differ.

    A substitute dataset, a file the manifest does not name, or a file with another sha256 (e.g. the original
    CIFAR-10 pixels where the model trained on the course's JPEG-decoded copy) all count as different: numbers
    measured on such data are not comparable with the model's recorded curves and floors.
    """
    from pathlib import Path

    from .files import sha256_file

    if any(getattr(s, "is_fallback", False) for s in sets):
        return ("this build read a SUBSTITUTE dataset (" + "; ".join(s.source for s in sets if s.is_fallback)
                + "), not the data the model trained on")
    recorded = (meta.get("data_identity") or {}).get("files") or {}
    if not recorded:
        return None
    read = {Path(f).name: Path(f) for s in sets for f in (s.files or [])}
    if not read:
        return "this build read data with no files to fingerprint (a download stream?), so it cannot say whether they match"
    unknown = sorted(n for n in read if n not in recorded)
    changed = sorted(n for n, f in read.items() if n in recorded and sha256_file(f) != recorded[n]["sha256"])
    if not unknown and not changed:
        return None
    parts = ([f"file(s) the model did not train on: {', '.join(unknown)}"] if unknown else []) + (
        [f"file(s) with other contents than the model's: {', '.join(changed)}"] if changed else [])
    return "this build read other data than the shipped model's (" + "; ".join(parts) + ")"


def _cost_line(title: str, name: str) -> str:
    """What training ``name`` costs at each profile on a 2-core CPU, scaled from measured ``full`` runs: the
    shipped run and the runs recorded beside it (``reproduce``, ``costs --runs``), per precision.

    Each time is a median epoch (a whole run's wall time where no epoch times were kept) scaled by the images a
    profile trains on; ``smoke`` and ``cpu`` train at fp32, so they scale from an fp32 run where one was measured.
    ``full`` gives each precision measured, a recorded run (with its load known) before the shipped run's own, and
    then what a CPU with AMX took, where one was measured.
    """
    from . import registry
    from .runs import manifest
    from .shipping import machine_class, median_epoch_seconds

    entry = manifest()["models"].get(name)
    spec = registry.get(name)
    if not entry:
        return f"{title}: not measured"
    full_images, full_epochs = int(entry["train_images"]), spec.budget("full").epochs
    shipped = {"precision": (entry.get("budget") or {}).get("precision", "32-true"), "machine": entry.get("machine"),
               "median_epoch_s": median_epoch_seconds(entry), "train_time_s": entry.get("train_time_s")}
    per_image: dict[str, float] = {}  # precision -> seconds per training image on the reference CPU
    amx: dict[str, float] = {}  # the same on a CPU with AMX
    for cost in [*(entry.get("costs") or {}).values(), shipped]:
        epoch = cost.get("median_epoch_s") or (float(cost["train_time_s"]) / full_epochs if cost.get("train_time_s") else None)
        device = machine_class(cost.get("machine"))
        if epoch and device in ("cpu", "amx") and cost.get("precision"):
            (per_image if device == "cpu" else amx).setdefault(str(cost["precision"]), float(epoch) / full_images)
    if not per_image:
        return f"{title}: not measured"
    short = {"32-true": "fp32", "bf16-mixed": "bf16"}
    out = []
    for profile in ("smoke", "cpu"):
        b = spec.budget(profile)
        precision = b.precision if b.precision in per_image else next(iter(per_image))
        images = b.epochs * min(b.train_size or full_images, full_images)
        out.append(f"{profile} {_about(per_image[precision] * images)}"
                   + ("" if precision == b.precision else f" (scaled from a {short.get(precision, precision)} run)"))
    full, on_amx = ([f"{_about(seconds * full_epochs * full_images)} at {short.get(p, p)}"
                     for p, seconds in sorted(rates.items(), key=lambda item: item[0] != "32-true")]
                    for rates in (per_image, amx))
    return (f"{title} " + ", ".join(out) + ", full " + " or ".join(full)
            + (f" (on a CPU with AMX, {' or '.join(on_amx)})" if on_amx else ""))


def _num(value: float) -> str:
    """A distance with two decimals, or three significant digits below 1 (the DCGAN's distances are small)."""
    return f"{value:.2f}" if abs(value) >= 1 else f"{value:.3g}"


def quality_progress(per_epoch: Mapping[str, Any], floor: float | None = None, floor_source: str | None = None) -> str:
    """A sentence (Markdown) on how a GAN's Fréchet distance moved over training: its best epoch, and each
    distance as a ratio to the floor (the distance real images show from sampling alone).

    ``per_epoch`` is a shipped model's ``meta["per_epoch"]`` (see :func:`fundamentalml.plots.plot_quality_per_epoch`).
    ``floor`` replaces the recorded floor (e.g. one measured on held-out images, see
    :func:`fundamentalml.metrics.held_out_floor`); ``floor_source`` says where it came from. A distance under the
    floor is reported as such: the floor is itself an estimate from a finite sample.
    """
    if not per_epoch or not per_epoch.get("epoch"):
        raise ValueError("no per-epoch numbers: they are recorded for models trained with --keep_epochs.")
    epochs, fd = list(per_epoch["epoch"]), [float(v) for v in per_epoch["frechet_distance"]]
    floor = float(per_epoch["floor_frechet_distance"] if floor is None else floor)
    if floor <= 0:
        raise ValueError(f"the floor must be a positive distance, got {floor}.")
    trained = [i for i, e in enumerate(epochs) if e > 0] or list(range(len(fd)))
    best = min(trained, key=fd.__getitem__)
    text = (f"From {_num(fd[0])} (untrained) to {_num(fd[-1])} after epoch {epochs[-1]}: "
            f"{fd[-1] / floor:.2f} times the floor of {_num(floor)}"
            + (f" ({floor_source})" if floor_source else "") + ". "
            f"The best epoch is {epochs[best]}, at {_num(fd[best])} ({fd[best] / floor:.2f} times the floor)")
    if best != trained[-1]:
        text += f"; the last epoch is {fd[-1] / fd[best]:.1f} times the best"
    text += "."
    below = [e for e, v in zip(epochs, fd) if v < floor]
    if below:
        text += (f" Epochs under the floor: {', '.join(map(str, below))}. The floor is measured from a finite sample, "
                 "so a distance a little under it is noise, not better than real.")
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


def memorisation_verdict(results: Mapping[str, metrics.NearestTraining], model: str = "the generator") -> str:
    """Markdown: for each space (name -> :class:`~fundamentalml.metrics.NearestTraining`), how close ``model``'s
    samples come to the training set against test images, and the verdict of the stated rule.

    The rule (:attr:`~fundamentalml.metrics.NearestTraining.copying`): copying is flagged in a space when more
    than 5% of the generated images are closer to a training image than the closest 1% of test images are.
    """
    if not results:
        raise ValueError("memorisation_verdict needs at least one space's results.")
    lines, flagged = [], []
    for space, r in results.items():
        n = len(r.generated_distance)
        median = r.quantile_levels.index(0.5)
        lines.append(
            f"- **{space}** (nearest among {r.n_train:,} training images): {r.share_below_threshold:.1%} of {n:,} "
            f"generated images are closer to a training image than {r.threshold:.2f}, the distance only the closest "
            f"1% of {n:,} test images reach; median distance generated {r.generated_quantiles[median]:.2f}, test "
            f"{r.test_quantiles[median]:.2f}.")
        if r.copying:
            flagged.append(space)
    closer = [s for s, r in results.items()
              if r.generated_quantiles[r.quantile_levels.index(0.5)] < r.test_quantiles[r.quantile_levels.index(0.5)]]
    n = len(next(iter(results.values())).generated_distance)
    partial = [s for s, r in results.items() if r.n_train < max(x.n_train for x in results.values())]
    power = (f"*What the check can see.* With {n:,} samples, the rule flags a model that copies "
             f"{metrics.copy_check_power(n):.1%} or more of its samples with 90% probability "
             f"({metrics.copy_check_power(n, 0.5):.1%} or more with even odds); a rarer copy goes unnoticed."
             + (f" In {', '.join(partial)} only part of the training set was searched, so a copy of an image "
                "outside it is not found at all." if partial else " Every training image was searched in every space."))
    if flagged:
        verdict = (f"**Verdict: a sign of copying** in {', '.join(flagged)}: more of {model}'s samples sit that close to "
                   "a training image than 5% (five times the test images' share). Look at the pairs above.")
    else:
        verdict = (f"**Verdict: no sign of copying at this power.** {model[:1].upper() + model[1:]}'s samples are no closer to "
                   "training images than unseen test images are: in no space do more than 5% of them fall below the test "
                   "images' 1st percentile.")
        if closer:
            verdict += (f" Their median distance is below the test images' in {', '.join(closer)}: the typical sample "
                        "lies nearer the training images than a typical real test image does, while the closest ones "
                        "are no closer than the closest test images.")
    return "\n".join(lines) + "\n\n" + verdict + "\n\n" + power


def bound_verdict(bounds: Mapping[str, metrics.ImportanceWeightedBound]) -> str:
    """Markdown: each model's ELBO and importance-weighted bounds, how loose the ELBO is, and whether the
    ranking of the models changes from the ELBO to the tightest bound."""
    if not bounds:
        raise ValueError("bound_verdict needs at least one model's bounds.")
    lines = []
    for name, r in bounds.items():
        k = r.ks[-1]
        last_step = r.bound[-1] - r.bound[-2] if len(r.ks) > 1 else float("nan")
        lines.append(
            f"- **{name}**: ELBO {r.elbo:.2f} nats per image, k = {k:,} bound {r.bound[-1]:.2f} (standard error over the "
            f"{r.n_images} digits {r.bound_sem[-1]:.2f}): the ELBO lies at least {r.gap[-1]:.2f} ± {r.gap_sem[-1]:.2f} nats below log p(x)."
            + (f" From k = {r.ks[-2]:,} to {k:,} the bound still rose {last_step:.2f} nats, so the true gap is larger."
               if len(r.ks) > 1 and last_step > 0 else ""))
    if len(bounds) == 2:
        (na, a), (nb, b) = bounds.items()
        first, last = a.elbo - b.elbo, a.bound[-1] - b.bound[-1]
        lead = lambda d: na if d > 0 else nb  # noqa: E731
        looser, other = (na, nb) if a.gap[-1] > b.gap[-1] else (nb, na)
        diff, noise = abs(a.gap[-1] - b.gap[-1]), 2 * math.hypot(a.gap_sem[-1], b.gap_sem[-1])
        text = (f"\nOn these {a.n_images} digits the {lead(first)} has the higher ELBO, by {abs(first):.2f} nats, and the "
                f"{lead(last)} the higher k = {a.ks[-1]:,} bound, by {abs(last):.2f} nats"
                + (": the ranking **flips**. " if lead(first) != lead(last) else ". ")
                + f"The {looser}'s ELBO is the looser one by {diff:.2f} nats (two standard errors: {noise:.2f}): ")
        if diff <= noise:
            text += "within noise, so on this evidence the two ELBOs are about equally loose"
            text += "." if lead(first) == lead(last) else ", and the flip itself may be noise."
        elif lead(first) != lead(last):
            text += "beyond noise, so the ELBO's ranking came from a difference in looseness, not in likelihood."
        elif looser == lead(first):
            text += f"beyond noise, so the ELBO understates the {looser}'s lead."
        else:
            text += f"beyond noise, so the ELBO overstates the {other}'s lead."
        lines.append(text)
    return "\n".join(lines)
