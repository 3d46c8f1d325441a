"""DCGAN and the GAN training step: architecture, losses, divergence handling, the seed's helpers."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
from PIL import Image

from fundamentalml import plots, registry
from fundamentalml.data import FallbackDataWarning
from fundamentalml.checkpoints import load_checkpoint
from fundamentalml.models import DCGAN
from fundamentalml.models import dcgan as dcgan_module
from fundamentalml.models.dcgan import discriminator_loss, generator_block, generator_loss
from fundamentalml.runs import get_run
from fundamentalml.training import TrainingDiverged

QUIET = dict(progress_bar=False, print_epochs=False)


def test_dcgan_shapes_ranges_and_initialisation():
    torch.manual_seed(0)
    model = DCGAN()
    images = model.sample(6, seed=1)
    assert images.shape == (6, 3, 32, 32) and images.min() >= 0 and images.max() <= 1  # [0, 1], like every model
    assert model.discriminate(images).shape == (6,)
    convs = [m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    weights = torch.cat([m.weight.flatten() for m in convs])
    assert abs(weights.std().item() - 0.02) < 0.002 and abs(weights.mean().item()) < 0.001
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and all(abs(m.weight.mean().item() - 1) < 0.02 for m in bns)
    # the paper's rules: no batch norm on G's output or D's input; tanh out; LeakyReLU(0.2) in D
    assert isinstance(model.generator[-1], torch.nn.Tanh)
    assert isinstance(model.discriminator[0], torch.nn.Conv2d) and isinstance(model.discriminator[1], torch.nn.LeakyReLU)
    assert model.discriminator[1].negative_slope == 0.2
    assert model.interpolate(torch.randn(100), torch.randn(100), steps=5).shape == (5, 3, 32, 32)


def test_generator_block_doubles_the_size():
    assert generator_block(64, 32)(torch.zeros(2, 64, 8, 8)).shape == (2, 32, 16, 16)


def test_losses_match_their_definitions():
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    sig = torch.sigmoid
    expected_d = -(torch.log(sig(real)).mean() + torch.log(1 - sig(fake)).mean())
    torch.testing.assert_close(discriminator_loss(real, fake), expected_d)
    torch.testing.assert_close(generator_loss(fake), -torch.log(sig(fake)).mean())
    # non-saturating: a confident discriminator still gives the generator a strong gradient
    logits = torch.tensor([-8.0], requires_grad=True)
    generator_loss(logits).backward()
    assert abs(logits.grad.item()) > 0.9


def test_latent_of_the_wrong_size_is_refused():
    with pytest.raises(ValueError, match=r"latent codes must have shape \(B, 100\)"):
        DCGAN().generate(torch.randn(3, 64))


@pytest.fixture(scope="module")
def dcgan_on_digits(tmp_path_factory):
    """A smoke DCGAN trained with CIFAR-10 absent: it must fall back to padded digits and say so."""
    empty = tmp_path_factory.mktemp("no-cifar")
    with pytest.warns(FallbackDataWarning, match="CIFAR-10 is missing"):
        return get_run("dcgan", "smoke", data_dir=empty, out=tmp_path_factory.mktemp("out"), **QUIET)


def test_dcgan_trains_on_the_digit_fallback_and_says_so(dcgan_on_digits):
    run = dcgan_on_digits
    assert run.meta["data_is_fallback"] and "SUBSTITUTE for CIFAR-10" in run.meta["data"]
    steps = len(run.model.step_history["g_loss"])
    budget = run.spec.budget("smoke")
    assert steps == math.ceil(budget.train_size / budget.batch_size)
    assert all(math.isfinite(v) for v in run.model.step_history["d_loss"])
    assert len(run.model.snapshots) == 2  # before training and after epoch 1
    assert not torch.equal(run.model.snapshots[0], run.model.snapshots[1])


def test_dcgan_checkpoint_keeps_snapshots_and_step_history(dcgan_on_digits):
    loaded = load_checkpoint(dcgan_on_digits.checkpoint, expected="dcgan")
    assert loaded.step_history == dcgan_on_digits.model.step_history
    assert torch.equal(torch.stack(loaded.snapshots), torch.stack(dcgan_on_digits.model.snapshots))
    torch.testing.assert_close(loaded.fixed_noise, dcgan_on_digits.model.fixed_noise)
    with pytest.raises(Exception, match="holds a dcgan"):
        load_checkpoint(dcgan_on_digits.checkpoint, expected="cgan")


def test_the_seed_helpers_draw_and_save(dcgan_on_digits, tmp_path):
    model = dcgan_on_digits.model
    for fig in (plots.plot_current_state(model), plots.plot_training_curves(model), plots.interpolate_latent_space(model), plots.plot_snapshots(model)):
        assert fig.axes
    path = plots.save_samples(model, str(tmp_path / "grid.png"), n=16, ncols=4, scale=4)
    with Image.open(path) as img:
        assert img.size == ((4 * 32 + 3 * 2) * 4, (4 * 32 + 3 * 2) * 4)
        alt = img.text["Description"]  # the page's alt text for the sheet
        assert alt.startswith("Figure") and "16 samples" in alt and "4 row(s) of 4" in alt
    with pytest.raises(ValueError, match="PNG"):
        plots.save_samples(model, str(tmp_path / "grid.jpg"))


def test_nan_loss_stops_with_the_step_and_keeps_the_last_good_weights(tmp_path, monkeypatch, empty_data_dir):
    calls = {"n": 0}
    real_loss = dcgan_module.generator_loss

    def poisoned(logits):
        calls["n"] += 1
        loss = real_loss(logits)
        return loss * float("nan") if calls["n"] == 7 else loss

    monkeypatch.setattr(dcgan_module, "generator_loss", poisoned)
    good = tmp_path / "dcgan.pt"
    good.write_bytes(b"an earlier good checkpoint")
    cheap = dict(registry.get("dcgan").budgets)
    monkeypatch.setitem(registry.get("dcgan").budgets, "smoke", replace(cheap["smoke"], train_size=256))
    with pytest.warns(FallbackDataWarning), pytest.raises(TrainingDiverged, match=r"diverged at step 7 \(epoch 2, batch 3\)") as info:
        get_run("dcgan", "smoke", data_dir=empty_data_dir, out=tmp_path, epochs=3, retrain=True, overwrite=True, **QUIET)
    assert "last-good.pt" in str(info.value)
    assert good.read_bytes() == b"an earlier good checkpoint"  # never overwritten by a failed run
    saved = load_checkpoint(tmp_path / "dcgan.last-good.pt")
    assert len(saved.history["epoch"]) == 1  # the weights at the end of the last finished epoch
    assert all(torch.isfinite(p).all() for p in saved.parameters())
