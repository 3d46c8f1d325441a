"""The judges beside the reference classifier: the MNIST MLP judge and the CIFAR-10 judge (shapes, inputs, training)."""

from __future__ import annotations

import pytest
import torch

from fundamentalml import registry
from fundamentalml.models import CIFARClassifier, MNISTClassifier, MNISTMLPClassifier


@pytest.mark.parametrize("cls, shape", [(MNISTMLPClassifier, (1, 28, 28)), (CIFARClassifier, (3, 32, 32))])
def test_judge_features_predictions_and_input_checks(cls, shape):
    torch.manual_seed(0)
    model = cls()
    x = torch.rand(6, *shape)
    assert model.features(x).shape == (6, cls.feature_dim)
    assert model(x).shape == (6, 10)
    predicted = model.predict(x, batch_size=4)
    assert predicted.shape == (6,) and predicted.dtype == torch.long
    with pytest.raises(ValueError, match="255"):
        model.predict(x * 255)
    wrong = (1, 32, 32) if shape[0] == 3 else (3, 32, 32)
    with pytest.raises(ValueError):
        model.features(torch.rand(2, *wrong))


def test_the_second_mnist_judge_shares_no_architecture_with_the_first():
    first, second = MNISTClassifier(), MNISTMLPClassifier()
    assert any(isinstance(m, torch.nn.Conv2d) for m in first.modules())
    assert not any(isinstance(m, torch.nn.Conv2d) for m in second.modules())


@pytest.mark.parametrize("cls, shape", [(MNISTMLPClassifier, (1, 28, 28)), (CIFARClassifier, (3, 32, 32))])
def test_a_judge_learns_a_separable_toy_task(cls, shape):
    """Ten classes told apart by which tenth of the image is bright: a few Adam steps must fit them."""
    torch.manual_seed(0)
    model = cls(lr=3e-3)
    y = torch.arange(10).repeat(8)
    x = torch.rand(len(y), *shape) * 0.2
    rows = shape[1] // 10
    for i, c in enumerate(y.tolist()):
        x[i, :, c * rows : (c + 1) * rows, :] += 0.8
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    first = model.batch_loss((x, y))["loss"].item()
    for _ in range(60):
        optimizer.zero_grad()
        loss = model.batch_loss((x, y))["loss"]
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.5 * first
    assert (model.predict(x) == y).float().mean() > 0.9


def test_judges_are_registered_with_their_data():
    assert registry.get(registry.SECOND_JUDGE).model_class is MNISTMLPClassifier
    cifar = registry.get(registry.CIFAR_JUDGE)
    assert cifar.model_class is CIFARClassifier and cifar.dataset == "cifar10" and cifar.value_range == "unit"
    assert registry.spec_of(CIFARClassifier()).name == registry.CIFAR_JUDGE
