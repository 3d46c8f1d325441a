"""Graded checks of the conditional-generation chapter's exercises (``exercises/conditional.py``)."""

from __future__ import annotations

import functools
import math
from typing import Any

import pytest
import torch

from fundamentalml.exercises._grading import ExerciseFailure, call, check, check_close, check_tensor, close, hint_on_error, load_reference

CHAPTER = "conditional"


ref = functools.partial(load_reference, CHAPTER)  # ref(name): the package's reference solution, what checks compare with


# ------------------------------------------------------------------------------------------ 4 (*)


@pytest.mark.exercise("conditional.one_hot_maps")
class TestOneHotMaps:
    @pytest.mark.points(1)
    def test_shape_and_dtype(self, impl: Any) -> None:
        """returns float32 (B, 10, 28, 28) by default"""
        labels = torch.randint(0, 10, (6,))
        check_tensor(call(impl.one_hot_maps, labels), shape=(6, 10, 28, 28), dtype=torch.float32, what="the maps",
                     hint="one plane per class: (B, num_classes, height, width).",
                     dtype_hint="F.one_hot returns integers (int64): convert with .float().")

    @pytest.mark.points(2)
    def test_planes(self, impl: Any) -> None:
        """plane labels[i] of sample i is all ones, every other plane all zeros"""
        labels = torch.tensor([3, 0, 9, 3, 7])
        maps = check_tensor(call(impl.one_hot_maps, labels), shape=(5, 10, 28, 28), what="the maps")
        check_close(maps, ref("one_hot_maps")(labels), what="the maps",
                    hint="maps[i, c] must be all ones exactly when c == labels[i]; expand (B, K) to (B, K, H, W).")

    @pytest.mark.points(1)
    def test_other_sizes(self, impl: Any) -> None:
        """honours num_classes, height and width"""
        labels = torch.tensor([2, 0, 1, 1])
        maps = call(impl.one_hot_maps, labels, num_classes=3, height=5, width=7)
        check_close(maps, ref("one_hot_maps")(labels, num_classes=3, height=5, width=7), what="maps for K=3, 5x7",
                    hint="use the num_classes, height and width arguments instead of 10, 28 and 28.")

    @pytest.mark.points(1)
    def test_single_label_int32(self, impl: Any) -> None:
        """works for a batch of one and for int32 labels"""
        maps = call(impl.one_hot_maps, torch.tensor([4], dtype=torch.int32), height=4, width=4)
        check_tensor(maps, shape=(1, 10, 4, 4), dtype=torch.float32, what="maps of one int32 label",
                     hint="keep the batch dimension, even for one label: (1, K, H, W).",
                     dtype_hint="the maps are float32 whatever the labels' dtype: convert with .float().")
        check(bool(maps[0, 4].eq(1).all()) and float(maps.sum()) == 16.0, expected="plane 4 all ones, the rest zeros",
              got=f"sum {float(maps.sum()):g}, plane 4 sum {float(maps[0, 4].sum()):g}",
              hint="do not squeeze the batch dimension away.")


# ------------------------------------------------------------------------------------------ 5 (*)


@pytest.mark.exercise("conditional.class_interpolation_labels")
class TestClassInterpolation:
    @pytest.mark.points(1)
    def test_shape_and_dtype(self, impl: Any) -> None:
        """returns float32 (steps, K)"""
        check_tensor(impl.class_interpolation_labels(3, 8, 6), shape=(6, 10), dtype=torch.float32, what="the labels",
                     hint="one row (a label vector over the K classes) per step.",
                     dtype_hint="the docstring asks for float32: torch.eye and torch.linspace give it by default.")
        check_tensor(impl.class_interpolation_labels(0, 1, 3, num_classes=4), shape=(3, 4), what="labels with K=4",
                     hint="use the num_classes argument.")

    @pytest.mark.points(1)
    def test_endpoints(self, impl: Any) -> None:
        """the first row is onehot(start), the last onehot(end)"""
        labels = check_tensor(impl.class_interpolation_labels(2, 7, 5), shape=(5, 10), what="the labels")
        eye = torch.eye(10)
        check_close(labels[0], eye[2], what="the first row", hint="t starts at 0: the first row is the start class.")
        check_close(labels[-1], eye[7], what="the last row", hint="t ends at 1, included: torch.linspace(0, 1, steps).")

    @pytest.mark.points(1)
    def test_rows_are_distributions(self, impl: Any) -> None:
        """every row is >= 0 and sums to 1"""
        labels = check_tensor(impl.class_interpolation_labels(9, 1, 8), shape=(8, 10), what="the labels").detach()
        check(bool((labels >= 0).all()) and close(labels.sum(1), torch.ones(8)),
              expected="non-negative rows summing to 1", got=f"row sums {[round(v, 3) for v in labels.sum(1).tolist()]}",
              hint="weights (1 - t) and t add up to 1.")

    @pytest.mark.points(2)
    def test_linear(self, impl: Any) -> None:
        """the weight moves linearly from start to end"""
        for start, end, steps in ((1, 6, 7), (4, 0, 2), (5, 5, 3)):
            check_close(impl.class_interpolation_labels(start, end, steps), ref("class_interpolation_labels")(start, end, steps),
                        what=f"labels from {start} to {end} in {steps} steps",
                        hint="row i is (1 - t) * onehot(start) + t * onehot(end) with t = i / (steps - 1): "
                             "a soft mix, not a hard switch half-way.")


# ------------------------------------------------------------------------------------------ 12 (**)


@pytest.mark.exercise("conditional.concat_condition")
class TestConcatCondition:
    @pytest.mark.points(2)
    def test_images(self, impl: Any) -> None:
        """images (B, C, H, W) get K one-hot channels after their own: (B, C + K, H, W)"""
        x, labels = torch.rand(4, 3, 8, 6), torch.tensor([1, 5, 5, 9])
        out = check_tensor(call(impl.concat_condition, x, labels), shape=(4, 13, 8, 6), what="images with their condition",
                           hint="concatenate along the channel dimension (dim=1), with planes of the image's H and W.")
        check_close(out[:, :3], x, what="the first C channels (the image itself)",
                    hint="put x first and the condition after it: torch.cat([x, maps], dim=1).")
        check_close(out, ref("concat_condition")(x, labels), what="images with their condition",
                    hint="channel C + c of sample i is all ones exactly when labels[i] == c.")

    @pytest.mark.points(2)
    def test_vectors(self, impl: Any) -> None:
        """vectors (B, D) get the one-hot vector appended: (B, D + K)"""
        z, labels = torch.randn(5, 16), torch.tensor([0, 2, 4, 6, 8])
        out = check_tensor(call(impl.concat_condition, z, labels), shape=(5, 26), what="codes with their condition",
                           hint="for 2-D inputs append the one-hot vector itself, not planes.")
        check_close(out, ref("concat_condition")(z, labels), what="codes with their condition",
                    hint="x first, then F.one_hot(labels, num_classes).")

    @pytest.mark.points(1)
    def test_num_classes(self, impl: Any) -> None:
        """honours num_classes"""
        z, labels = torch.randn(3, 4), torch.tensor([0, 2, 1])
        out = call(impl.concat_condition, z, labels, num_classes=3)
        check_close(out, ref("concat_condition")(z, labels, num_classes=3), what="codes with a 3-class condition",
                    hint="use the num_classes argument.")

    @pytest.mark.points(1)
    def test_dtype_and_gradient(self, impl: Any) -> None:
        """keeps x's dtype and lets gradients flow back to x"""
        x = torch.randn(2, 1, 5, 5, dtype=torch.float64, requires_grad=True)
        out = check_tensor(call(impl.concat_condition, x, torch.tensor([1, 2])), shape=(2, 11, 5, 5), dtype=torch.float64,
                           what="the output for float64 images", hint="append K one-hot planes after x's C channels.",
                           dtype_hint="convert the one-hot maps to x.dtype before concatenating.")
        check(out.requires_grad, expected="an output connected to x", got="no gradient", hint="do not detach x.")
        out.sum().backward()
        check_close(x.grad, torch.ones_like(x), what="the gradient reaching x", hint="x must appear once, unchanged.")


# ------------------------------------------------------------------------------------------ 13 (**)


def _accuracy_result(result: Any, num_classes: int) -> tuple[float, torch.Tensor]:
    __tracebackhide__ = True
    check(isinstance(result, (tuple, list)) and len(result) == 2, expected="a pair (accuracy, per_class)",
          got=type(result).__name__, hint="return accuracy, per_class")
    acc, per_class = result
    check(isinstance(acc, float), expected="accuracy as a Python float", got=f"{type(acc).__name__} {acc!r}",
          hint="turn a one-element tensor into a float with .item().")
    check_tensor(per_class, shape=(num_classes,), what="per_class", hint="one entry per class, including absent ones.")
    check(per_class.dtype.is_floating_point, expected="a float per_class", got=str(per_class.dtype),
          hint="fractions are not integers: use .float().")
    return acc, per_class


def _expected_per_class(intended: torch.Tensor, predicted: torch.Tensor, num_classes: int) -> torch.Tensor:
    out = torch.full((num_classes,), math.nan)
    for c in range(num_classes):
        mask = intended == c
        if mask.any():
            out[c] = (predicted[mask] == c).float().mean()
    return out


@pytest.mark.exercise("conditional.conditioning_accuracy")
class TestConditioningAccuracy:
    @pytest.mark.points(1)
    def test_types(self, impl: Any) -> None:
        """returns (float, float tensor of shape (K,))"""
        intended = torch.arange(10).repeat(3)
        _accuracy_result(call(impl.conditioning_accuracy, intended, intended.roll(1)), 10)

    @pytest.mark.points(2)
    def test_overall(self, impl: Any) -> None:
        """accuracy = fraction of images classified as the class asked for"""
        intended = torch.randint(0, 10, (500,))
        predicted = torch.where(torch.rand(500) < 0.7, intended, torch.randint(0, 10, (500,)))
        acc, _ = _accuracy_result(call(impl.conditioning_accuracy, intended, predicted), 10)
        want = (intended == predicted).double().mean().item()
        check(abs(acc - want) < 1e-6, expected=f"{want:.4f}", got=f"{acc:.4f}",
              hint="the accuracy is a fraction in [0, 1]: the share of images whose prediction equals the intended "
                   "class, not a percentage or a count.")

    @pytest.mark.points(2)
    def test_per_class(self, impl: Any) -> None:
        """per_class[c] = accuracy among the images intended as c"""
        intended = torch.cat([torch.full((10,), 0), torch.full((40,), 1), torch.full((50,), 2)])
        predicted = intended.clone()
        predicted[:5] = 1  # half of the 0s come out as 1s
        predicted[10:20] = 2  # a quarter of the 1s come out as 2s
        _, per_class = _accuracy_result(call(impl.conditioning_accuracy, intended, predicted, num_classes=3), 3)
        want = _expected_per_class(intended, predicted, 3)
        check_close(per_class, want, what="per_class", rtol=1e-5,
                    hint="divide by the number of images *asked for* class c (the intended ones), "
                         "not by the number *predicted* as c.")

    @pytest.mark.points(1)
    def test_absent_class_is_nan(self, impl: Any) -> None:
        """per_class is NaN for a class that was never asked for"""
        intended = torch.tensor([0, 0, 2, 2, 2])
        predicted = torch.tensor([0, 1, 2, 2, 1])
        _, per_class = _accuracy_result(call(impl.conditioning_accuracy, intended, predicted, num_classes=4), 4)
        check(bool(torch.isnan(per_class[1])) and bool(torch.isnan(per_class[3])),
              expected="nan for classes 1 and 3 (no image was asked to be a 1 or a 3)", got=per_class,
              hint="0 would claim the generator always fails at those classes: there is no evidence either way, so nan.")
        check_close(per_class, _expected_per_class(intended, predicted, 4), what="per_class", rtol=1e-5,
                    hint="class 0: 1 of 2 right; class 2: 2 of 3 right.")


# ------------------------------------------------------------------------------------------ 16 (***)


def _class_features(spreads: dict[int, float], n_fake: int | dict[int, int], n_real: int | dict[int, int],
                    seed: int, dim: int = 32) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Generated and real features, shuffled: the real samples of class c spread 1 around the class's centre, the
    generated ones ``spreads[c]`` around it; a spread of 0 makes the generated samples of c identical."""
    gen = torch.Generator().manual_seed(seed)
    feats, labels, real_feats, real_labels = [], [], [], []
    for c, spread in spreads.items():
        centre = 3 * torch.randn(dim, generator=gen)
        nf = n_fake[c] if isinstance(n_fake, dict) else n_fake
        nr = n_real[c] if isinstance(n_real, dict) else n_real
        feats.append(centre + spread * torch.randn(nf, dim, generator=gen))
        real_feats.append(centre + torch.randn(nr, dim, generator=gen))
        labels.append(torch.full((nf,), c))
        real_labels.append(torch.full((nr,), c))
    f, y, rf, ry = (torch.cat(t) for t in (feats, labels, real_feats, real_labels))
    order, real_order = torch.randperm(len(f), generator=gen), torch.randperm(len(rf), generator=gen)
    return f[order], y[order], rf[real_order], ry[real_order]


def _classes(result: Any) -> list[int]:
    """The classes in ``result``, sorted, as ints: lenient, so that only ``test_returns_sorted_ints`` grades the type."""
    __tracebackhide__ = True
    try:
        return sorted(int(c) for c in result)
    except (TypeError, ValueError, RuntimeError):
        check(False, expected="a list of class numbers", got=result, hint="return a list of ints, [] if no class collapsed.")
    raise AssertionError("unreachable")


def _diversity(f: torch.Tensor, diagonal: bool = False, squared: bool = False) -> float:
    d = torch.cdist(f.double(), f.double())
    d = d.pow(2) if squared else d
    n = len(f)
    return float(d.sum() / (n * n if diagonal else n * (n - 1)))


def _mistaken(features: torch.Tensor, labels: torch.Tensor, real_features: torch.Tensor, real_labels: torch.Tensor,
              threshold: float, pooled: bool = False, **how: bool) -> list[int]:
    """What a solution with a known mistake returns: the pairs include the diagonal, squared distances, or the real
    samples of all classes pooled."""
    out = []
    for c in labels.unique().tolist():
        real = real_features if pooled else real_features[real_labels == c]
        if _diversity(features[labels == c], **how) < threshold * _diversity(real, **how):
            out.append(int(c))
    return out


MISTAKES = {
    "diagonal": ({"diagonal": True}, "a sample's distance to itself (the zero diagonal of torch.cdist) is not a pair of "
                                     "different samples: average over the n * (n - 1) ordered pairs, not all n * n."),
    "squared": ({"squared": True}, "the diversity averages Euclidean distances, not squared distances: take the square "
                                   "root of each squared distance before averaging."),
    "pooled": ({"pooled": True}, "compare each class with the real samples of the same class, not with all real samples "
                                 "(different classes lie far apart, which inflates the real diversity)."),
}

REAL_LABELS_HINT = ("the real samples have their own labels: select them with real_labels == c, and the generated ones "
                    "with labels == c (the two sets differ in size).")


@pytest.mark.exercise("conditional.collapsed_classes")
class TestCollapsedClasses:
    @pytest.mark.points(1)
    def test_returns_sorted_ints(self, impl: Any) -> None:
        """returns the collapsed classes as a sorted list of Python ints"""
        inputs = _class_features({0: 1.0, 3: 0.2, 1: 0.1, 2: 0.9, 4: 1.1}, n_fake=8, n_real=20, seed=0)
        with hint_on_error(REAL_LABELS_HINT):
            result = call(impl.collapsed_classes, *inputs)
        check(isinstance(result, list) and all(isinstance(c, int) and not isinstance(c, bool) for c in result),
              expected="a list of Python ints", got=f"{type(result).__name__}: {result!r}"[:200],
              hint="build a list, and turn each class into a Python int with int(c) (or .tolist()).")
        check(result == [1, 3], expected="[1, 3]: classes 1 and 3 collapsed, in ascending order", got=repr(result),
              hint="classes 1 and 3 spread 10 and 5 times less than real ones here; list the classes in ascending order.")

    @pytest.mark.points(1)
    def test_identical_samples(self, impl: Any) -> None:
        """a class whose generated samples are all identical is collapsed; as diverse as real is not"""
        fake, labels, real, real_labels = _class_features({0: 1.0, 1: 1.0, 2: 1.0}, n_fake=6, n_real=6, seed=1)
        fake, labels = real.clone(), real_labels.clone()  # generated exactly like the real samples ...
        fake[labels == 2] = real[real_labels == 2][0]  # ... except class 2: six copies of one sample
        got = _classes(call(impl.collapsed_classes, fake, labels, real, real_labels))
        check(got == [2], expected="[2]: the class whose samples are all the same", got=repr(got),
              hint="identical samples are at distance 0 from each other: their diversity is 0, below any positive "
                   "fraction of the real one; the classes generated exactly like the real samples are not collapsed.")
        every = torch.zeros_like(fake) + real[0]
        got = _classes(call(impl.collapsed_classes, every, labels, real, real_labels))
        check(got == [0, 1, 2], expected="[0, 1, 2] when every generated sample is the same", got=repr(got),
              hint="examine every class that occurs in labels.")

    @pytest.mark.points(2)
    def test_matches_reference(self, impl: Any) -> None:
        """agrees with the reference: 10 classes of various spreads and sizes, thresholds 0.5 and 0.75"""
        spreads = {0: 0.2, 1: 0.45, 2: 0.6, 3: 0.64, 4: 0.7, 5: 0.8, 6: 1.0, 7: 1.2, 8: 0.35, 9: 0.9}
        n_fake = {c: 3 + c % 4 for c in spreads}
        inputs = _class_features(spreads, n_fake=n_fake, n_real=30, seed=2)
        for threshold in (0.5, 0.75):
            want = ref("collapsed_classes")(*inputs, threshold=threshold)
            with hint_on_error(REAL_LABELS_HINT):
                got = _classes(call(impl.collapsed_classes, *inputs, threshold=threshold))
            hint = ("compute both diversities the same way, as the mean distance between two different samples of the "
                    "class, and flag the class when the generated one is below threshold times the real one.")
            for how, mistake_hint in MISTAKES.values():
                if got != want and got == _mistaken(*inputs, threshold, **how):
                    hint = mistake_hint
                    break
            check(got == want, expected=f"{want} at threshold {threshold}", got=repr(got), hint=hint)

    @pytest.mark.points(1)
    def test_strictly_below(self, impl: Any) -> None:
        """'below' is strict: as diverse as real is not collapsed at threshold 1, nothing is at threshold 0"""
        fake, labels, real, real_labels = _class_features({0: 1.0, 1: 1.0, 2: 1.0}, n_fake=5, n_real=5, seed=3)
        got = _classes(call(impl.collapsed_classes, real, real_labels, real, real_labels, threshold=1.0))
        check(got == [], expected="[] for generated samples identical to the real ones, at threshold 1",
              got=repr(got), hint="a class is collapsed when its diversity is below (<) threshold times the real one; "
                                  "equal is not below.")
        identical = torch.zeros_like(fake) + fake[0]
        got = _classes(call(impl.collapsed_classes, identical, labels, real, real_labels, threshold=0.0))
        check(got == [], expected="[] at threshold 0, even for identical samples (diversity 0 is not below 0)",
              got=repr(got), hint="below means <, not <=: at threshold 0 no class can be below 0 times the real diversity.")

    @pytest.mark.points(1)
    def test_too_few_samples(self, impl: Any) -> None:
        """a class with one generated sample, one real sample, or no real sample raises a ValueError"""
        cases = {
            "class 3 has 1 generated sample": ({1: 1.0, 3: 1.0}, {1: 4, 3: 1}, {1: 4, 3: 4}, None),
            "class 3 has 1 real sample": ({1: 1.0, 3: 1.0}, {1: 4, 3: 4}, {1: 4, 3: 1}, None),
            "class 5 has no real sample": ({1: 1.0, 5: 1.0}, 4, 4, 5),
        }
        for name, (spreads, n_fake, n_real, drop) in cases.items():
            fake, labels, real, real_labels = _class_features(spreads, n_fake=n_fake, n_real=n_real, seed=4)
            if drop is not None:
                keep = real_labels != drop
                real, real_labels = real[keep], real_labels[keep]
            try:
                result = call(impl.collapsed_classes, fake, labels, real, real_labels)
            except ValueError:
                continue
            except ExerciseFailure:
                raise
            except Exception as err:  # noqa: BLE001 - any other error is the wrong one, said clearly
                check(False, expected=f"a ValueError when {name}", got=f"{type(err).__name__}: {err}"[:300],
                      hint="check the number of samples of the class yourself, and raise ValueError(f'class {c}: ...') "
                           "before computing anything.")
            check(False, expected=f"a ValueError when {name}", got=f"no error, the result {result!r}"[:300],
                  hint="a mean over pairs of different samples needs at least two samples (one sample has no pair, and "
                       "0 / 0 gives nan, which compares False silently): raise a ValueError that names the class.")

    @pytest.mark.points(1)
    def test_only_generated_classes(self, impl: Any) -> None:
        """examines the generated classes only, whatever their numbers, the label dtype or the feature dtype"""
        fake, labels, real, real_labels = _class_features({2: 0.2, 7: 1.0, 0: 1.0, 9: 1.0}, n_fake={2: 5, 7: 5, 0: 0, 9: 0},
                                                          n_real={2: 12, 7: 12, 0: 12, 9: 1}, seed=5)
        inputs = (fake.double(), labels.to(torch.int32), real.double(), real_labels.to(torch.int32))
        want = ref("collapsed_classes")(*inputs)
        with hint_on_error("examine only the classes that occur in labels (the generated ones): class 9 has a single "
                           "real sample and no generated one, so it is not examined."):
            got = _classes(call(impl.collapsed_classes, *inputs))
        check(got == want, expected=f"{want}: only classes 2 and 7 were generated, and 2 collapsed", got=repr(got),
              hint="examine only the classes that occur in labels: their numbers need not be 0 .. K - 1 (labels.unique() "
                   "lists them).")


# ------------------------------------------------------------------------------------------ 19 (***)


def _decoder(impl: Any, seed: int = 0, **kwargs: Any) -> torch.nn.Module:
    """The learner's decoder, built under a fixed seed."""
    __tracebackhide__ = True
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        decoder = impl.ConditionalDecoder(**kwargs)
    check(isinstance(decoder, torch.nn.Module), expected="ConditionalDecoder(...) to make an nn.Module",
          got=type(decoder).__name__, hint="class ConditionalDecoder(nn.Module), with super().__init__() first.")
    return decoder


def _has_parameters(decoder: torch.nn.Module) -> None:
    __tracebackhide__ = True
    check(any(True for _ in decoder.parameters()), expected="a decoder with parameters", got="no parameters",
          hint="make the layers attributes of self in __init__ (self.net = nn.Sequential(...)).")


def _codes(n: int, latent_dim: int = 20, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(seed))


def _halves() -> torch.Tensor:
    """Two target images: the top half white, and the bottom half white."""
    targets = torch.zeros(2, 1, 28, 28)
    targets[0, :, :14] = 1.0
    targets[1, :, 14:] = 1.0
    return targets


def _train_two_classes(decoder: torch.nn.Module, classes: tuple[int, int], steps: int = 30) -> tuple[float, float]:
    """Train ``decoder`` to draw ``_halves()[i]`` for label ``classes[i]``, whatever the code: Adam, a fixed
    batch of 32 (code, label, target) triples. Returns the BCE before and after."""
    targets = _halves()
    which = torch.arange(32) % 2
    labels = torch.tensor(classes)[which]
    z = _codes(32, _SMALL["latent_dim"], seed=1)
    goal = targets[which]
    decoder(z[:1], labels[:1])  # a first call: a stub's nudge, or a crash, shows before anything else
    _has_parameters(decoder)
    optimizer = torch.optim.Adam(decoder.parameters(), lr=3e-3)
    decoder.train()
    losses = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a model this small trains faster on one thread, and far faster on a busy machine
    try:
        _fit(decoder, optimizer, z, labels, goal, steps, losses)
    finally:
        torch.set_num_threads(threads)
    decoder.eval()
    return losses[0], losses[-1]


def _fit(decoder: torch.nn.Module, optimizer: torch.optim.Optimizer, z: torch.Tensor, labels: torch.Tensor,
         goal: torch.Tensor, steps: int, losses: list[float]) -> None:
    for _ in range(steps):
        logits = check_tensor(decoder(z, labels), shape=(32, 1, 28, 28), what="the decoder's output")
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, goal)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))


_SMALL = {"latent_dim": 8, "num_classes": 10, "hidden": 64}  # a decoder small enough to train in a check


@pytest.mark.exercise("conditional.ConditionalDecoder")
class TestConditionalDecoder:
    @pytest.mark.points(1)
    def test_shape(self, impl: Any) -> None:
        """ConditionalDecoder() maps codes (B, 20) and int64 labels (B,) to (B, 1, 28, 28) float32 logits"""
        decoder = _decoder(impl)
        z, labels = _codes(5), torch.tensor([0, 3, 9, 3, 1])
        out = check_tensor(call(decoder, z, labels), shape=(5, 1, 28, 28), dtype=torch.float32, what="the output",
                           hint="end with a layer of 784 outputs and reshape: .view(-1, 1, 28, 28) or nn.Unflatten(1, (1, 28, 28)).")
        check(bool(torch.isfinite(out).all()), expected="finite logits", got=out, hint="no log or division by zero in forward.")

    @pytest.mark.points(1)
    def test_arguments(self, impl: Any) -> None:
        """latent_dim, num_classes and hidden are honoured: ConditionalDecoder(8, 12, 32) takes codes (B, 8) and labels 0..11"""
        hint = ("size the first layer from the arguments: latent_dim + num_classes inputs (a one-hot vector of "
                "num_classes entries), hidden units; not the defaults 20 and 10.")
        with hint_on_error(hint):
            decoder = _decoder(impl, latent_dim=8, num_classes=12, hidden=32)
            out = call(decoder, _codes(4, 8), torch.tensor([0, 11, 5, 10]))
        check_tensor(out, shape=(4, 1, 28, 28), what="the output of ConditionalDecoder(8, 12, 32)", hint=hint)
        small = sum(p.numel() for p in decoder.parameters())
        big = sum(p.numel() for p in _decoder(impl, latent_dim=8, num_classes=12, hidden=64).parameters())
        check(big > small, expected="more parameters with hidden=64 than with hidden=32", got=f"{big} and {small}",
              hint="hidden is the width of the hidden layers.")

    @pytest.mark.points(2)
    def test_label_changes_the_image(self, impl: Any) -> None:
        """the same code with different labels gives different images, for every pair of the 10 labels"""
        decoder = _decoder(impl).eval()
        z = _codes(1).expand(10, -1)
        with torch.no_grad():
            out = check_tensor(call(decoder, z, torch.arange(10)), shape=(10, 1, 28, 28), what="the output").flatten(1)
        gaps = torch.cdist(out.double(), out.double())
        same = [(i, j) for i in range(10) for j in range(i + 1, 10) if gaps[i, j] < 1e-6]
        check(not same, expected="ten different images for one code and the labels 0..9",
              got=f"identical images for the labels {same[:5]}",
              hint="the decoder must read the label: append one_hot(labels, num_classes) to z (or an embedding of "
                   "the label) before the first layer.")

    @pytest.mark.points(1)
    def test_gradients_reach_every_parameter(self, impl: Any) -> None:
        """a loss on the output sends a gradient to every parameter"""
        decoder = _decoder(impl).train()
        out = check_tensor(call(decoder, _codes(16), torch.arange(16) % 10), shape=(16, 1, 28, 28), what="the output")
        check(out.requires_grad, expected="an output connected to the parameters", got="an output without gradient",
              hint="no torch.no_grad(), .detach() or .item() in forward.")
        _has_parameters(decoder)
        out.square().mean().backward()
        missing = [name for name, p in decoder.named_parameters() if p.grad is None or not bool(p.grad.abs().sum() > 0)]
        check(not missing, expected="a gradient for every parameter", got=f"none for {missing[:4]}",
              hint="every layer made in __init__ must take part in forward (a layer left over is never trained).")

    @pytest.mark.points(1)
    def test_trains(self, impl: Any) -> None:
        """30 Adam steps on a fixed batch of (code, label, image) lower the BCE with logits"""
        first, last = _train_two_classes(_decoder(impl, seed=2, **_SMALL), (3, 7))
        check(last < 0.5 * first, expected=f"the BCE to fall below half its start, {first:.4f} / 2", got=f"{last:.4f}",
              hint="forward returns logits (no sigmoid at the end) computed from z and the label with trainable layers.")

    @pytest.mark.points(2)
    def test_draws_the_class_asked_for(self, impl: Any) -> None:
        """trained on two classes whose image depends on the label only, it draws each class's image for new codes"""
        decoder = _decoder(impl, seed=3, **_SMALL)
        _train_two_classes(decoder, (2, 5), steps=40)
        targets = _halves().flatten(1)
        z = _codes(8, _SMALL["latent_dim"], seed=9)
        with torch.no_grad():
            for index, label in enumerate((2, 5)):
                images = torch.sigmoid(call(decoder, z, torch.full((8,), label))).flatten(1)
                own = (images - targets[index]).abs().mean().item()
                other = (images - targets[1 - index]).abs().mean().item()
                check(own < 0.2 and own < other, expected=f"label {label}'s images within 0.2 of its target (mean "
                      "absolute error), and nearer to it than to the other class's",
                      got=f"{own:.3f} from its target, {other:.3f} from the other",
                      hint="the label decides what is drawn: it must enter the network (both classes get the same "
                           "image otherwise), and the output must be logits, free to go far below 0 and above 1 "
                           "(a sigmoid at the end caps what BCE with logits can reach).")
