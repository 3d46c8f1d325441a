"""Conditional VAE and GAN, the reference classifier, and the comparison metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fundamentalml import metrics, registry
from fundamentalml.models import ConditionalGAN, ConditionalVAE, MNISTClassifier
from fundamentalml.models.conditional import check_class_labels, class_interpolation_labels, concat_condition, one_hot_maps
from fundamentalml.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from fundamentalml.data import load_mnist
from fundamentalml.reports import compare_models
from fundamentalml.runs import get_run

QUIET = dict(progress_bar=False, print_epochs=False)


@pytest.mark.parametrize("cls", [ConditionalVAE, ConditionalGAN])
def test_generate_takes_an_int_or_a_sequence(cls):
    model = cls()
    assert model.generate(3, 4).shape == (4, 1, 28, 28)
    images = model.generate([0, 9], 2, seed=5)
    assert images.shape == (4, 1, 28, 28) and images.min() >= 0 and images.max() <= 1
    torch.testing.assert_close(images, model.generate([0, 9], 2, seed=5))
    assert model.generate(np.int64(7)).shape == (1, 1, 28, 28)
    assert model.generate(torch.tensor([1, 2])).shape == (2, 1, 28, 28)
    path = model.interpolate_classes(0, 9, steps=10)
    assert path.shape == (10, 1, 28, 28)


@pytest.mark.parametrize("cls", [ConditionalVAE, ConditionalGAN])
@pytest.mark.parametrize(
    ("label", "error", "message"),
    [
        (10, ValueError, "class label 10 is out of range: digits are 0..9"),
        (-1, ValueError, "out of range"),
        ([1, 12], ValueError, "class label 12"),
        (3.0, TypeError, "must be integers"),
        ("3", TypeError, "must be integers"),
        (True, TypeError, "must be integers"),
        ([], ValueError, "no class label"),
        (torch.tensor([1.0]), TypeError, "float32 tensor"),
    ],
)
def test_bad_labels_get_clear_errors(cls, label, error, message):
    with pytest.raises(error, match=message):
        cls().generate(label, 2)


@pytest.mark.parametrize("n", [0, -2, 1.5])
def test_n_must_be_a_positive_int(n):
    with pytest.raises((ValueError, TypeError), match="positive int"):
        ConditionalVAE().generate(1, n)


def test_cgan_refuses_latents_of_the_wrong_size():
    with pytest.raises(ValueError, match=r"latent codes must have shape \(B, 100\)"):
        ConditionalGAN()._decode_labels(torch.randn(2, 20), torch.eye(10)[:2])


def test_conditioning_helpers():
    maps = one_hot_maps(torch.tensor([2, 0]), height=4, width=5)
    assert maps.shape == (2, 10, 4, 5) and maps[0, 2].min() == 1 and maps[0].sum() == 20
    assert concat_condition(torch.zeros(2, 1, 28, 28), torch.tensor([1, 2])).shape == (2, 11, 28, 28)
    assert concat_condition(torch.zeros(2, 20), torch.tensor([1, 2])).shape == (2, 30)
    soft = class_interpolation_labels(3, 7, 5)
    torch.testing.assert_close(soft.sum(1), torch.ones(5))
    assert soft[0, 3] == 1 and soft[-1, 7] == 1 and soft[2, 3] == soft[2, 7] == 0.5
    assert check_class_labels(range(3)).tolist() == [0, 1, 2]


def test_conditioning_accuracy_and_confusion():
    intended = torch.tensor([0, 0, 1, 1, 2])
    predicted = torch.tensor([0, 1, 1, 1, 0])
    overall, per_class = metrics.conditioning_accuracy(intended, predicted, num_classes=4)
    assert overall == pytest.approx(3 / 5)
    assert per_class[:3].tolist() == [0.5, 1.0, 0.0] and torch.isnan(per_class[3])
    cm = metrics.confusion(intended, predicted, num_classes=4)
    assert cm.shape == (4, 4) and cm[0, 1] == 1 and cm[2, 0] == 1 and cm.sum() == 5


def test_frechet_distance_is_small_for_the_same_distribution_and_grows_with_a_shift():
    gen = torch.Generator().manual_seed(0)
    a = torch.rand(400, 1, 28, 28, generator=gen)
    b = torch.rand(400, 1, 28, 28, generator=gen)
    extractor = metrics.FeatureExtractor(lambda x: x.flatten(1)[:, :8].double() * 10, 8)
    same = metrics.frechet_distance(a, b, extractor)
    shifted = metrics.frechet_distance(a, (b * 0.5), extractor)
    assert shifted > 20 and same < shifted / 10  # only sampling noise is left when nothing shifted
    assert metrics.pairwise_diversity(torch.zeros(5, 3)) == 0


def test_a_cgan_checkpoint_is_not_a_cvae(tmp_path):
    path = save_checkpoint(ConditionalGAN(), tmp_path / "cgan.pt")
    with pytest.raises(CheckpointError, match="holds a cgan"):
        load_checkpoint(path, expected="cvae")


@pytest.fixture(scope="module")
def smoke_models(tmp_path_factory):
    """Smoke-trained cVAE, cGAN and classifier on real MNIST."""
    import os
    from pathlib import Path

    if not (Path(os.environ.get("FUNDAMENTALML_DATA", "")) / "MNIST" / "raw").is_dir():
        pytest.skip("needs the real MNIST")
    return {
        "cvae": get_run("cvae", "smoke", evaluate=False, **QUIET).model,
        "cgan": get_run("cgan", "smoke", evaluate=False, **QUIET).model,
        "classifier": get_run("classifier", "smoke", **QUIET).model,
    }


def test_smoke_training_of_the_conditional_models(smoke_models):
    cvae, cgan = smoke_models["cvae"], smoke_models["cgan"]
    assert cvae.history["val_loss"][0] < 300
    assert len(cgan.step_history["g_loss"]) == 16 and len(cgan.snapshots) == 2
    assert isinstance(smoke_models["classifier"], MNISTClassifier)


def test_compare_models_reports_everything(smoke_models, capsys):
    test = load_mnist("test")
    pair = {"cVAE": smoke_models["cvae"], "cGAN": smoke_models["cgan"]}
    result = compare_models(pair, smoke_models["classifier"], test, n_per_class=20)
    printed = capsys.readouterr().out
    assert "conditioning accuracy" in printed and "| digit | cVAE | cGAN |" in printed
    for name in ("cVAE", "cGAN"):
        row = result.summary[name]
        assert 0 <= row["conditioning_accuracy"] <= 1
        assert row["frechet_distance"] > 0
        assert result.confusion[name].shape == (10, 10) and result.confusion[name].sum() == 200
        assert result.per_class[name]["accuracy"].shape == (10,)
        assert set(result.per_class[name]["collapsed"]) <= {0.0, 1.0}
    assert result.per_class["cVAE"]["recon_mse"].shape == (10,)
    assert result.per_class["cGAN"]["d_acc_real"].shape == (10,)
    assert "g_loss_std" in result.summary["cGAN"]
    with pytest.raises(ValueError, match="needs the judge"):
        compare_models(pair, None, test)
    with pytest.raises(ValueError, match="takes {title: model}"):
        compare_models([smoke_models["cvae"], smoke_models["cgan"]], smoke_models["classifier"], test)
    assert set(result.figures()) == {"samples", "confusion", "per_class", "sharpness"}
    assert set(result.sharpness) == {"real digits", "cVAE", "cGAN"} and result.sharpness["cGAN"].n_per_class == 20


def test_conditional_evaluation_needs_a_judge_and_never_trains(smoke_models):
    spec = registry.get("cvae")
    with pytest.raises(ValueError, match="needs the reference classifier"):
        spec.evaluate(smoke_models["cvae"], load_mnist("test"), None)
    m = spec.evaluate(smoke_models["cvae"], load_mnist("test"), smoke_models["classifier"])
    assert 0 <= m.conditioning_accuracy <= 1 and len(m.per_class_accuracy) == 10 and m.n_per_class == 100
    assert m.worst_digit_accuracy == min(m.per_class_accuracy)
