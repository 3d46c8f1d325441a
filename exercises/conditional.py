"""Exercises for the conditional-generation chapter. Replace each ``raise NotImplementedError(...)``.

Check your work with ``python -m pytest exercises/test_conditional.py`` (or ``-k one_hot`` for one exercise).
Only ``torch`` is needed; do not import the course package's solutions. Leave the tensors you are given
unchanged (no in-place operations on them): the checks verify it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: F401  (you may need it)


def one_hot_maps(labels: torch.Tensor, num_classes: int = 10, height: int = 28, width: int = 28) -> torch.Tensor:
    """Exercise 1. Turn class labels into constant one-hot planes, the condition of a convolutional network.

    Args:
        labels: integer class labels in ``0 .. num_classes - 1``, shape ``(B,)``.
        num_classes: number of classes ``K``.
        height, width: size ``H x W`` of each plane.

    Returns:
        A float32 tensor of shape ``(B, K, H, W)``: for sample ``i``, plane ``labels[i]`` is all ones and
        every other plane all zeros.
    """
    raise NotImplementedError(
        "F.one_hot(labels, num_classes) gives (B, K); add two trailing dimensions and expand to (B, K, H, W); "
        "one_hot returns integers: convert with .float()"
    )


def concat_condition(x: torch.Tensor, labels: torch.Tensor, num_classes: int = 10) -> torch.Tensor:
    """Exercise 2. Attach the label to the input of a conditional network (the "c" of a cVAE or cGAN).

    * Images ``x`` of shape ``(B, C, H, W)``: append the one-hot planes of exercise 1 as extra channels,
      giving ``(B, C + K, H, W)``.
    * Vectors ``x`` of shape ``(B, D)`` (latent codes, flattened images): append the one-hot vector,
      giving ``(B, D + K)``.

    ``x`` comes first, then the condition; the result has ``x``'s dtype, and gradients flow back to ``x``.

    Args:
        x: images ``(B, C, H, W)`` or vectors ``(B, D)``.
        labels: integer class labels, shape ``(B,)``.
        num_classes: number of classes ``K``.
    """
    raise NotImplementedError(
        "torch.cat([x, condition], dim=1): channels are dimension 1 for images, features dimension 1 for vectors"
    )


def conditioning_accuracy(
    intended: torch.Tensor, predicted: torch.Tensor, num_classes: int = 10
) -> tuple[float, torch.Tensor]:
    """Exercise 3. How often a conditional generator draws the class it was asked for.

    A classifier trained on real digits labels each generated image; compare its predictions with the
    classes the generator was asked for.

    Args:
        intended: the classes asked for, integer tensor of shape ``(N,)``.
        predicted: the classifier's predictions for the generated images, integer tensor ``(N,)``.
        num_classes: number of classes ``K``.

    Returns:
        ``(accuracy, per_class)``: ``accuracy`` a Python float in [0, 1], the fraction of images whose
        prediction equals the intended class; ``per_class`` a float tensor of shape ``(K,)`` whose entry
        ``c`` is that fraction among the images *intended* as class ``c`` (``nan`` if none was).
    """
    raise NotImplementedError(
        "correct = (predicted == intended); for class c, average correct[intended == c]; .item() makes a float"
    )


def class_interpolation_labels(start_class: int, end_class: int, steps: int, num_classes: int = 10) -> torch.Tensor:
    """Exercise 4. Soft labels that move from one class to another, to morph a digit into another.

    Args:
        start_class, end_class: the two classes, in ``0 .. num_classes - 1``.
        steps: number of label vectors, at least 2.
        num_classes: number of classes ``K``.

    Returns:
        A float32 tensor of shape ``(steps, K)``: row ``i`` is ``(1 - t_i) * onehot(start) + t_i * onehot(end)``
        with ``t_i = i / (steps - 1)``; the first row is ``onehot(start)``, the last ``onehot(end)``, every row
        sums to 1.
    """
    raise NotImplementedError("torch.eye(num_classes)[c] is the one-hot vector of c; t = torch.linspace(0, 1, steps)[:, None]")
