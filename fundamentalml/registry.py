"""The model registry: one entry per model, and the only place a model's name is branched on.

An entry says what the model is (its class), what it trains on (its data), how long it trains under each
profile (its budgets), how it is judged (its evaluation, headline metric and tolerances), what a page calls
it, what it is compared with, which extra seeds it gets and what the benchmark does with it. The CLI, the run
path, the shipping code, the chapters, the benchmark and the tests all read this table, so adding a model means
adding its class in ``models/`` and one entry here; a test reads the package's syntax trees to check that no
other module names a model.
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass, replace
from typing import Any, Callable

import torch

from . import metrics
from .data import CIFAR10DataModule, ImageDataModule, ImageSet, MNISTDataModule, eval_indices, to_float_images
from .models import (CIFARClassifier, ConditionalGAN, ConditionalVAE, ConvVAE, DCGAN, HistoryModule, MLPVAE,
                     MNISTClassifier, MNISTMLPClassifier)
from .profiles import PROFILES, Budget, check_profile, default_profile
from .tables import markdown_table

DATASETS = ("mnist", "fashion-mnist", "cifar10")


KINDS = ("recompute", "half", "reproduce", "precision")  # the reasons a headline metric may move (Tolerance)


@dataclass(frozen=True)
class Tolerance:
    """How far a model's headline metric may move, for each reason it can move: the one table of tolerances.

    Each is in the metric's own units (nats, a fraction of images), or a fraction of the value itself when
    ``relative`` (the Fréchet distance, whose scale depends on the feature space).

    Attributes:
        recompute: the shipped weights measured again (``verify``, the shipped-weights tests) against the
            number their manifest records: another machine, another library version.
        half: the largest change that storing the weights in float16 may cause; ``ship`` keeps float32 otherwise.
        reproduce: a retrain with the same seed and settings (``verify --runs``) against the manifest: machine
            and library noise (seeds alone move the MLP VAE's -ELBO by about +-0.5 nats, and a GAN's numbers more).
        precision: a ``full`` run in bf16-mixed against the same run in fp32 (same seed and settings): the quality
            check that lets a model's ``full`` budget say ``"auto"`` (bf16 where the hardware is fast at it).
        relative: the four are fractions of the reference value instead of absolute amounts.
    """

    recompute: float
    half: float
    reproduce: float
    precision: float
    relative: bool = False

    def allowed(self, kind: str, reference: float) -> float:
        """The largest difference from ``reference`` that ``kind`` (``"recompute"``, ``"half"``, ``"reproduce"``,
        ``"precision"``) allows."""
        if kind not in KINDS:
            raise ValueError(f"unknown tolerance {kind!r}; known: {', '.join(KINDS)}.")
        amount = getattr(self, kind)
        return amount * max(abs(reference), 1e-9) if self.relative else amount

    def close(self, kind: str, reference: float, value: float) -> bool:
        """``True`` when ``value`` is within ``kind``'s tolerance of ``reference``."""
        return abs(value - reference) <= self.allowed(kind, reference)


@dataclass(frozen=True)
class Benchmark:
    """What the benchmark (outside the package, which never imports it) does with one model.

    Attributes:
        quick: measured by ``--quick`` (the short run a contributor does before and after a change); the first
            quick model is also the whole-run benchmark's default.
        layouts: measured by the layouts benchmark by default (memory-format and compile variants:
            convolutional models, where the layout matters).
        ratio_target: the project path's time per image over the bare loop's that the benchmark prints as the
            target (never asserted: timings depend on the machine).
        data_speedup_target: the speed-up of the in-memory data path over a plain DataLoader that is printed as
            the target, or ``None`` for no target.
    """

    quick: bool = False
    layouts: bool = False
    ratio_target: float = 1.10
    data_speedup_target: float | None = None


@dataclass(frozen=True)
class ModelSpec:
    """Everything the package knows about one model.

    Attributes:
        name: the name on the command line and in file names (``"vae-mlp"``).
        title: what a page or a table calls it (``"MLP VAE"``).
        model_class: the LightningModule.
        dataset: what it trains on by default (``"mnist"`` or ``"cifar10"``).
        value_range: pixel range its data module serves (``"unit"`` for sigmoid decoders, ``"symmetric"`` for tanh).
        budgets: the :class:`~fundamentalml.profiles.Budget` for each profile.
        evaluate: ``evaluate(model, test_set, judge)`` -> a :class:`~fundamentalml.metrics.Metrics` dataclass.
        needs_judge: ``True`` when evaluation needs the reference classifier.
        headline: the metric field a shipped model is checked on (``better``: ``"lower"`` or ``"higher"``).
        tolerance: how far the headline may move, for each reason it can move (a :class:`Tolerance`): the one
            table of tolerances, read by shipping, ``verify`` and the tests.
        chapter: the book chapter that shows it.
        alternatives: other datasets the model can train on (``--dataset``).
        val_size: training images held out for validation (0 for a model with no validation loss, which then
            trains on the whole training split).
        compare_group: models of the same (non-empty) group are compared side by side: ``python -m fundamentalml
            compare`` takes two of one group, and :func:`compare_groups` lists each group in registry order. ``""``:
            compared with nothing.
        extra_seeds: the seeds beyond the shipped one that ``python -m fundamentalml seeds`` trains by default
            (their spread is the error bar of a chapter's verdict); ``()``: none by default.
        benchmark: what the benchmark does with this model (a :class:`Benchmark`).
    """

    name: str
    title: str
    model_class: type[HistoryModule]
    dataset: str
    value_range: str
    budgets: dict[str, Budget]
    evaluate: Callable[..., metrics.Metrics]
    headline: str
    tolerance: Tolerance
    better: str = "lower"
    needs_judge: bool = False
    chapter: str = ""
    alternatives: tuple[str, ...] = ()
    val_size: int = 5000
    compare_group: str = ""
    extra_seeds: tuple[int, ...] = ()
    benchmark: Benchmark = Benchmark()

    def budget(self, profile: str | None = None, **overrides: Any) -> Budget:
        """The budget under ``profile`` (default :func:`~fundamentalml.profiles.default_profile`), with overrides.

        ``spec.budget("cpu", epochs=2)`` replaces single fields; an unknown field is an error.
        """
        profile = check_profile(profile) if profile is not None else default_profile()
        budget = self.budgets[profile]
        unknown = set(overrides) - set(budget.to_dict())
        if unknown:
            raise ValueError(f"Unknown budget field(s) {sorted(unknown)}; known: {sorted(budget.to_dict())}.")
        return replace(budget, **overrides) if overrides else budget

    def datamodule(self, budget: Budget, data_dir: str | os.PathLike | None = None, dataset: str | None = None) -> ImageDataModule:
        """The data module this model trains on, sized by ``budget`` (``dataset`` picks an alternative)."""
        dataset = dataset or self.dataset
        if dataset != self.dataset and dataset not in self.alternatives:
            allowed = ", ".join((self.dataset, *self.alternatives))
            raise ValueError(f"{self.name} trains on {allowed}, not {dataset!r}.")
        common = dict(data_dir=data_dir, batch_size=budget.batch_size, train_size=budget.train_size,
                      eval_size=budget.eval_size, val_size=self.val_size)
        if dataset == "cifar10":
            return CIFAR10DataModule(**common, fallback_to_digits=True, value_range=self.value_range)
        return MNISTDataModule(**common, dataset=dataset, value_range=self.value_range)

    def build(self, budget: Budget | None = None, **model_kwargs: Any) -> HistoryModule:
        """A fresh model with the class's defaults, the budget's learning rate, and ``model_kwargs``.

        An argument the class does not take is an error that lists the ones it does.
        """
        accepted = model_arguments(self.model_class)
        unknown = sorted(set(model_kwargs) - set(accepted))
        if unknown:
            raise ValueError(f"{self.title} ({self.model_class.__name__}) takes no argument(s) {unknown}; it takes {sorted(accepted)}.")
        if budget is not None and "lr" in accepted:
            model_kwargs.setdefault("lr", budget.lr)
        return self.model_class(**model_kwargs)


def model_arguments(cls: type) -> dict[str, Any]:
    """The keyword arguments of a model class with their defaults."""
    params = inspect.signature(cls.__init__).parameters
    return {k: p.default for k, p in params.items() if k != "self" and p.kind is p.POSITIONAL_OR_KEYWORD}


# ------------------------------------------------------------------------------------------ evaluation


def _evaluate_vae(model, test: ImageSet, judge=None, seed: int = 0) -> metrics.VAEMetrics:
    images = to_float_images(test.images)
    batches = ((images[i : i + 1000],) for i in range(0, len(images), 1000))
    return metrics.evaluate_vae(model, batches, seed=seed)


def _evaluate_classifier(model, test: ImageSet, judge=None, seed: int = 0) -> metrics.ClassifierMetrics:
    return metrics.evaluate_classifier(model, to_float_images(test.images), test.labels)


def _evaluate_gan(model, test: ImageSet, judge=None, seed: int = 0) -> metrics.GANMetrics:
    idx = eval_indices(len(test), 2000)  # a fixed random subset: the CIFAR-10 copy is grouped by class
    return metrics.evaluate_gan(model, test.images[idx].float() / 255, n=2000, seed=seed)


def _evaluate_conditional(model, test: ImageSet, judge=None, seed: int = 0) -> metrics.ConditionalMetrics:
    if judge is None:
        raise ValueError(
            "Judging a conditional model needs the reference classifier: pass judge=pretrained('classifier').model "
            "(or a classifier you trained)."
        )
    return metrics.evaluate_conditional(model, judge, to_float_images(test.images), test.labels, n_per_class=100, seed=seed)


# ------------------------------------------------------------------------------------------ the table


# The seed's recipe trains the VAEs on all 60,000 training digits. Holding out 5,000 for the validation curve
# cost the MLP VAE about 1.5 nats of test -ELBO after 10 epochs (105.1 against 103.6 on 59,999 images,
# seed 0); 1,000 held-out digits still draw a smooth validation curve and cost far less.
VAE_VAL_SIZE = 1000


# The one table of tolerances (see Tolerance), one row per headline metric; the entries below pick theirs.
NEG_ELBO_TOLERANCE = Tolerance(recompute=0.1, half=0.05, reproduce=1.0, precision=0.2)  # nats per image
FRECHET_TOLERANCE = Tolerance(recompute=0.05, half=0.01, reproduce=0.25, precision=0.25, relative=True)
CONDITIONING_TOLERANCE = Tolerance(recompute=0.01, half=0.002, reproduce=0.02, precision=0.01)  # fraction of generated digits
MNIST_ACCURACY_TOLERANCE = Tolerance(recompute=0.0005, half=0.002, reproduce=0.003, precision=0.002)  # fraction of test images
CIFAR_ACCURACY_TOLERANCE = Tolerance(recompute=0.002, half=0.002, reproduce=0.003, precision=0.002)


def _vae_budgets() -> dict[str, Budget]:
    return {
        "smoke": Budget(epochs=1, batch_size=128, train_size=2048, lr=1e-3, eval_size=1000),
        "cpu": Budget(epochs=5, batch_size=128, train_size=None, lr=1e-3),
        # "auto": bf16-mixed where the hardware is fast at it. The quality check (the same full run, seed 0, in
        # bf16 against the shipped fp32 one; python -m fundamentalml costs) moved the test -ELBO by -0.07 (MLP) and
        # -0.03 nats (CNN) and the cVAE's conditioning accuracy by +0.3 points: within the `precision` tolerances.
        "full": Budget(epochs=10, batch_size=128, train_size=None, lr=1e-3, precision="auto"),
    }


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="vae-mlp", title="MLP VAE", model_class=MLPVAE, dataset="mnist", value_range="unit",
            budgets=_vae_budgets(), evaluate=_evaluate_vae, headline="neg_elbo", tolerance=NEG_ELBO_TOLERANCE,
            chapter="vae", alternatives=("fashion-mnist",), val_size=VAE_VAL_SIZE, compare_group="vae",
            extra_seeds=(1, 2), benchmark=Benchmark(quick=True, ratio_target=1.15, data_speedup_target=1.8),
        ),
        ModelSpec(
            name="vae-cnn", title="CNN VAE", model_class=ConvVAE, dataset="mnist", value_range="unit",
            budgets=_vae_budgets(), evaluate=_evaluate_vae, headline="neg_elbo", tolerance=NEG_ELBO_TOLERANCE,
            chapter="vae", alternatives=("fashion-mnist",), val_size=VAE_VAL_SIZE, compare_group="vae",
            extra_seeds=(1, 2), benchmark=Benchmark(quick=True, layouts=True),
        ),
        ModelSpec(
            name="dcgan", title="DCGAN", model_class=DCGAN, dataset="cifar10", value_range="symmetric",
            budgets={
                "smoke": Budget(epochs=1, batch_size=64, train_size=512, lr=2e-4, eval_size=512),
                # Batch 64 on a CPU: twice the generator updates for the same arithmetic, which matters most early.
                "cpu": Budget(epochs=2, batch_size=64, train_size=12800, lr=2e-4, eval_size=2000),
                # "auto": bf16-mixed where the hardware has fast bf16 (same quality here, 1.4x faster), else fp32.
                "full": Budget(epochs=25, batch_size=128, train_size=None, lr=2e-4, precision="auto"),
            },
            evaluate=_evaluate_gan, headline="frechet_distance", tolerance=FRECHET_TOLERANCE, chapter="dcgan",
            val_size=0,  # a GAN has no validation loss: all 50,000 CIFAR-10 training images train it
            benchmark=Benchmark(layouts=True),
        ),
        ModelSpec(
            name="cvae", title="cVAE", model_class=ConditionalVAE, dataset="mnist", value_range="unit",
            budgets=_vae_budgets(), evaluate=_evaluate_conditional, headline="conditioning_accuracy",
            tolerance=CONDITIONING_TOLERANCE, better="higher", needs_judge=True, chapter="conditional",
            alternatives=("fashion-mnist",), compare_group="conditional",
        ),
        ModelSpec(
            name="cgan", title="cGAN", model_class=ConditionalGAN, dataset="mnist", value_range="symmetric",
            budgets={
                "smoke": Budget(epochs=1, batch_size=64, train_size=1024, lr=2e-4, eval_size=1000),
                "cpu": Budget(epochs=3, batch_size=128, train_size=None, lr=2e-4),
                # bf16 where fast: conditioning accuracy 98.7% against the fp32 run's 99.0% (same seed), within the
                # 1-point tolerance (its Fréchet distance 13.1 against 15.3).
                "full": Budget(epochs=20, batch_size=128, train_size=None, lr=2e-4, precision="auto"),
            },
            evaluate=_evaluate_conditional, headline="conditioning_accuracy", tolerance=CONDITIONING_TOLERANCE,
            better="higher", needs_judge=True, chapter="conditional", alternatives=("fashion-mnist",),
            compare_group="conditional",
        ),
        ModelSpec(
            name="classifier", title="reference classifier", model_class=MNISTClassifier, dataset="mnist",
            value_range="unit",
            budgets={
                "smoke": Budget(epochs=1, batch_size=128, train_size=2048, lr=1e-3, eval_size=1000),
                "cpu": Budget(epochs=3, batch_size=128, train_size=None, lr=1e-3),
                # bf16 where fast: 99.29% against the fp32 run's 99.31% (same seed), within the 0.2-point tolerance.
                "full": Budget(epochs=5, batch_size=128, train_size=None, lr=1e-3, precision="auto"),
            },
            evaluate=_evaluate_classifier, headline="accuracy", tolerance=MNIST_ACCURACY_TOLERANCE, better="higher", chapter="conditional",
        ),
        # The second MNIST judge, of another architecture (an MLP): conditioning accuracy read by both.
        ModelSpec(
            name="classifier-mlp", title="second judge (MLP)", model_class=MNISTMLPClassifier, dataset="mnist",
            value_range="unit",
            budgets={
                "smoke": Budget(epochs=1, batch_size=128, train_size=2048, lr=1e-3, eval_size=1000),
                "cpu": Budget(epochs=3, batch_size=128, train_size=None, lr=1e-3),
                # bf16 where fast: 98.45% against the fp32 run's 98.41% (same seed), within the 0.2-point tolerance.
                "full": Budget(epochs=8, batch_size=128, train_size=None, lr=1e-3, precision="auto"),
            },
            evaluate=_evaluate_classifier, headline="accuracy", tolerance=MNIST_ACCURACY_TOLERANCE, better="higher", chapter="conditional",
        ),
        # The DCGAN's judge: its features are the space of the DCGAN's Fréchet distance.
        ModelSpec(
            name="cifar-classifier", title="CIFAR-10 judge", model_class=CIFARClassifier, dataset="cifar10",
            value_range="unit",
            budgets={
                "smoke": Budget(epochs=1, batch_size=64, train_size=512, lr=1e-3, eval_size=512),
                "cpu": Budget(epochs=2, batch_size=128, train_size=None, lr=1e-3, eval_size=2000),
                # bf16 where fast: 71.25% against the fp32 run's 71.32% (same seed), within the 0.2-point tolerance.
                "full": Budget(epochs=5, batch_size=128, train_size=None, lr=1e-3, precision="auto"),
            },
            evaluate=_evaluate_classifier, headline="accuracy", tolerance=CIFAR_ACCURACY_TOLERANCE, better="higher", chapter="dcgan",
        ),
    )
}
JUDGE = "classifier"  # the model that judges the others (needs_judge=True)
SECOND_JUDGE = "classifier-mlp"  # the MNIST judge of another architecture
CIFAR_JUDGE = "cifar-classifier"  # the DCGAN's judge (its Fréchet distance's feature space)
# The VAE chapter's 2-D warm-up run: book/vae.md trains it with exactly these get_run arguments (a test checks),
# and the live export ships its encoder with the test digits' codes.
WARMUP_RUN: dict[str, Any] = {"name": "vae-mlp", "profile": "cpu", "epochs": 1, "model_kwargs": {"latent_dim": 2}}


def __getattr__(attribute: str) -> Any:
    """``MODEL_NAMES``: the registered names in registry order, read from :data:`MODELS` when asked for, so an
    entry added to :data:`MODELS` later (a test's throwaway model, a teacher's own) is in every list of choices."""
    if attribute == "MODEL_NAMES":
        return tuple(MODELS)
    raise AttributeError(f"module {__name__!r} has no attribute {attribute!r}")


def get(name: str) -> ModelSpec:
    """The registry entry of model ``name``; an unknown name is an error that lists the known ones."""
    if name not in MODELS:
        raise ValueError(f"Unknown model {name!r}. Choose one of {', '.join(MODELS)}.")
    return MODELS[name]


def spec_of(model: torch.nn.Module | type) -> ModelSpec:
    """The registry entry of a model instance or class.

    Two entries may share a class (the same network with other settings): then the class alone does not say
    which entry it is, and this is an error; ask by name (:func:`get`) instead.
    """
    cls = model if isinstance(model, type) else type(model)
    found = [spec for spec in MODELS.values() if spec.model_class is cls]
    if len(found) > 1:
        raise ValueError(f"{cls.__name__} is the class of several registry entries ({', '.join(s.name for s in found)}); "
                         f"name the one you mean.")
    if not found:
        raise ValueError(f"{cls.__name__} is not a registered model; registered: "
                         f"{', '.join(s.model_class.__name__ for s in MODELS.values())}.")
    return found[0]


def specs_by_class_name(class_name: str) -> tuple[ModelSpec, ...]:
    """The registry entries whose class is called ``class_name`` (as stored in a checkpoint), in registry order.

    Raises:
        ValueError: no entry has that class.
    """
    found = tuple(spec for spec in MODELS.values() if spec.model_class.__name__ == class_name)
    if not found:
        raise ValueError(f"unknown model class {class_name!r}; known: {sorted({s.model_class.__name__ for s in MODELS.values()})}.")
    return found


def compare_groups() -> dict[str, tuple[str, ...]]:
    """Each comparison group (:attr:`ModelSpec.compare_group`) and its models, in registry order."""
    groups: dict[str, tuple[str, ...]] = {}
    for spec in MODELS.values():
        if spec.compare_group:
            groups[spec.compare_group] = (*groups.get(spec.compare_group, ()), spec.name)
    return groups


def check_comparable(names: list[str] | tuple[str, ...]) -> str:
    """The comparison group of ``names`` (two or more different models of one group), or a clear error."""
    specs = [get(n) for n in names]
    groups = {s.compare_group for s in specs}
    if len(set(names)) != len(names) or len(names) < 2 or len(groups) != 1 or "" in groups:
        choices = "; ".join(f"{g}: {' '.join(ns)}" for g, ns in compare_groups().items())
        raise ValueError(f"compare takes two or more different models of one group, not {' '.join(names)}. Groups: {choices}.")
    return groups.pop()


def seed_study_models() -> tuple[str, ...]:
    """The models with extra seeds by default (:attr:`ModelSpec.extra_seeds`), in registry order."""
    return tuple(n for n, spec in MODELS.items() if spec.extra_seeds)


def benchmark_models(kind: str) -> tuple[str, ...]:
    """The models a benchmark measures by default: ``kind`` is a :class:`Benchmark` flag (``"quick"``, ``"layouts"``)."""
    if kind not in ("quick", "layouts"):
        raise ValueError(f"unknown benchmark set {kind!r}; known: quick, layouts.")
    return tuple(n for n, spec in MODELS.items() if getattr(spec.benchmark, kind))


def budget_table() -> str:
    """The budget table as Markdown: one row per model and profile."""
    rows = []
    for spec in MODELS.values():
        for profile in PROFILES:
            b = spec.budgets[profile]
            size = "all" if b.train_size is None else f"{b.train_size:,}"
            rows.append([spec.name, profile, b.epochs, b.batch_size, size, f"{b.lr:g}", b.precision])
    return markdown_table(["model", "profile", "epochs", "batch", "training images", "lr", "precision"], rows)
