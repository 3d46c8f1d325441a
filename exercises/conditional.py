"""Exercises for the conditional-generation chapter. Replace each ``raise NotImplementedError(...)``.

The exercises of the three files are numbered together, in order of rising difficulty: * warm-up, ** core,
*** challenge (``exercises/README.md`` lists them). Within this file they come in that order too.

Check your work with ``python -m pytest exercises/test_conditional.py`` (or ``-k one_hot`` for one exercise);
``--hint-level 2`` or ``3`` makes a failure say more. Only ``torch`` is needed; do not import the course
package's solutions. Leave the tensors you are given unchanged (no in-place operations on them): the checks
verify it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: F401  (you may need it)
from torch import nn


def one_hot_maps(labels: torch.Tensor, num_classes: int = 10, height: int = 28, width: int = 28) -> torch.Tensor:
    """Exercise 4 (*). Turn class labels into constant one-hot planes, the condition of a convolutional network.

    Args:
        labels: integer class labels in ``0 .. num_classes - 1``, shape ``(B,)``.
        num_classes: number of classes ``K``.
        height, width: size ``H x W`` of each plane.

    Returns:
        A float32 tensor of shape ``(B, K, H, W)``: for sample ``i``, plane ``labels[i]`` is all ones and
        every other plane all zeros.
    """
    raise NotImplementedError(
        "start from one one-hot vector of K entries per label: each entry then becomes a whole H x W plane of "
        "that value"
    )


def class_interpolation_labels(start_class: int, end_class: int, steps: int, num_classes: int = 10) -> torch.Tensor:
    """Exercise 5 (*). Soft labels that move from one class to another, to morph a digit into another.

    Args:
        start_class, end_class: the two classes, in ``0 .. num_classes - 1``.
        steps: number of label vectors, at least 2.
        num_classes: number of classes ``K``.

    Returns:
        A float32 tensor of shape ``(steps, K)``: row ``i`` is ``(1 - t_i) * onehot(start) + t_i * onehot(end)``
        with ``t_i = i / (steps - 1)``; the first row is ``onehot(start)``, the last ``onehot(end)``, every row
        sums to 1.
    """
    raise NotImplementedError("this is exercise 1 (lerp) again, between two one-hot vectors")


def concat_condition(x: torch.Tensor, labels: torch.Tensor, num_classes: int = 10) -> torch.Tensor:
    """Exercise 12 (**). Attach the label to the input of a conditional network (the "c" of a cVAE or cGAN).

    * Images ``x`` of shape ``(B, C, H, W)``: append the one-hot planes of exercise 4 as extra channels,
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
        "build the condition in the shape x needs (planes for images, a vector for vectors), in x's dtype, then "
        "join the two along the dimension of channels or features"
    )


def conditioning_accuracy(
    intended: torch.Tensor, predicted: torch.Tensor, num_classes: int = 10
) -> tuple[float, torch.Tensor]:
    """Exercise 13 (**). How often a conditional generator draws the class it was asked for.

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
        "compare the two label vectors entry by entry; for one class, look only at the images that were asked "
        "to be that class"
    )


def collapsed_classes(
    features: torch.Tensor, labels: torch.Tensor, real_features: torch.Tensor, real_labels: torch.Tensor,
    threshold: float = 0.5,
) -> list[int]:
    """Exercise 16 (***). Which classes did a conditional generator collapse?

    A collapsed generator draws the same few images whatever its noise: its samples of a class sit close together.
    Measure the *diversity* of a set of samples as the mean Euclidean distance between two different samples of
    the set, in the features of a classifier. A class ``c`` is collapsed when the diversity of the generated
    samples of ``c`` is below ``threshold`` times the diversity of the real samples of ``c``.

    Examine every class that occurs in ``labels`` (the generated ones); a class that occurs only among the real
    samples is not examined. A diversity needs at least two samples: raise a ``ValueError`` that names the class
    when a generated class has fewer than two generated samples, or fewer than two real ones.

    Args:
        features: features of the generated samples, shape ``(N, d)``; ``labels``: the class each was generated
            for, integers of shape ``(N,)``.
        real_features: features of real samples, shape ``(M, d)``; ``real_labels``: their classes ``(M,)``.
        threshold: the fraction of the real diversity below which a class counts as collapsed.

    Returns:
        The collapsed classes as a list of Python ints, in ascending order (``[]`` if none).
    """
    raise NotImplementedError(
        "for one class: one number for its generated samples and one for its real samples, each the average "
        "distance between two different samples; then compare"
    )


class ConditionalDecoder(nn.Module):
    """Exercise 19 (***). Build it: a conditional decoder p(x | z, y), label in, image out, that trains.

    The conditional VAE's decoder reads a code ``z`` *and* the class label ``y``, so that the label decides
    which digit it draws and the code only how. Build it as a module: in ``__init__``, the layers (an MLP
    from the code and the label to one value per pixel, with ``hidden`` units in its hidden layers: two
    hidden layers, like the chapter's, or one); in ``forward``, give the label to the network (one-hot it and
    append it to the code as in exercise 12, or learn an ``nn.Embedding`` of it) and run the layers.

    ``forward`` returns **logits**, one per pixel, with no sigmoid at the end: ``torch.sigmoid`` of them are
    the pixel probabilities, and the checks train your decoder with ``F.binary_cross_entropy_with_logits``.

    Args:
        latent_dim: size of the code ``z``.
        num_classes: number of labels; the labels are ``0 .. num_classes - 1``.
        hidden: width of the hidden layers.
    """

    def __init__(self, latent_dim: int = 20, num_classes: int = 10, hidden: int = 400) -> None:
        super().__init__()
        self.latent_dim, self.num_classes = latent_dim, num_classes
        # Your layers here (attributes of self, so that .parameters() finds them).

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Logits of the images, shape ``(B, 1, 28, 28)``, for codes ``z`` of shape ``(B, latent_dim)`` and integer
        labels ``(B,)`` (int64). Leave both inputs unchanged."""
        raise NotImplementedError(
            "the label must reach the first layer next to the code, as a vector the network can use; and the last "
            "layer gives one value per pixel, reshaped to an image"
        )
