"""Graded checks of the conditional-generation chapter's exercises (``exercises/conditional.py``)."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

from exercises._grading import call, check, check_close, check_tensor, close, load_reference

CHAPTER = "conditional"


def ref(name: str) -> Any:
    """The package's reference solution of ``name``: the checks compare against it."""
    return load_reference(CHAPTER, name)


# ------------------------------------------------------------------------------------------ 1


@pytest.mark.exercise("conditional.one_hot_maps", "Conditional 1: one_hot_maps")
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


# ------------------------------------------------------------------------------------------ 2


@pytest.mark.exercise("conditional.concat_condition", "Conditional 2: concat_condition")
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


# ------------------------------------------------------------------------------------------ 3


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


@pytest.mark.exercise("conditional.conditioning_accuracy", "Conditional 3: conditioning_accuracy")
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
              hint="(predicted == intended).float().mean(): a fraction in [0, 1], not a percentage or a count.")

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


# ------------------------------------------------------------------------------------------ 4


@pytest.mark.exercise("conditional.class_interpolation_labels", "Conditional 4: class_interpolation_labels")
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
