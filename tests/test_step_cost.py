"""What a training step costs beyond the model's own arithmetic: manual optimisation, one accumulation, no GPU probe.

Behaviour only (no timings are asserted): the loss models step the way the plain loop does, their schedules
step as automatic optimisation stepped them, the per-epoch means are the means of the steps, and a CPU run
does not ask NVML for a GPU on every optimiser step.
"""

from __future__ import annotations

import os

import pytest
import torch

from fundamentalml import registry
from fundamentalml.models import LossModule, MLPVAE
from fundamentalml.training import NVML_CHECK_ENV, fit, no_gpu_probing


def test_the_loss_models_step_like_the_plain_loop():
    """LossModule trains with Lightning's manual optimisation: loss, zero_grad, backward, step."""
    assert LossModule.automatic_optimization is False
    for spec in registry.MODELS.values():
        if issubclass(spec.model_class, LossModule):
            assert spec.build().automatic_optimization is False, spec.name


def test_a_per_step_schedule_steps_once_a_batch(empty_data_dir):
    """The classifier's one-cycle schedule steps every batch, exactly as many times as there are steps (one more
    step than it was built for would raise inside OneCycleLR)."""
    spec = registry.get(registry.JUDGE)
    budget = spec.budget("smoke", epochs=2, train_size=512)
    datamodule = spec.datamodule(budget, empty_data_dir)
    model = spec.build(budget)
    _, trainer = fit(model, datamodule, budget, progress_bar=False, print_epochs=False)
    steps = trainer.global_step
    assert steps == 2 * len(datamodule.train_dataloader())
    (config,) = trainer.lr_scheduler_configs
    assert config.interval == "step" and config.scheduler.last_epoch == steps


def test_epoch_means_are_the_means_of_the_steps():
    """accumulate + the epoch flush give each value's batch-size-weighted mean, for any number of values."""
    model = MLPVAE()
    model.all_gather = lambda t: t  # one process, no Trainer: the gather over devices is the identity
    batches = [(torch.tensor(2.0), torch.tensor(10.0), 3), (torch.tensor(4.0), torch.tensor(30.0), 1)]
    for a, b, n in batches:
        model.accumulate("train", n, loss=a, kl=b)
    means = model._flush("train")
    assert means == pytest.approx({"train_loss": (2 * 3 + 4) / 4, "train_kl": (10 * 3 + 30) / 4})
    assert model._flush("train") == {}  # flushed: the next epoch starts from zero


def test_changing_the_values_mid_epoch_is_refused():
    model = MLPVAE()
    model.accumulate("train", 2, loss=torch.tensor(1.0))
    with pytest.raises(ValueError, match="earlier in this epoch"):
        model.accumulate("train", 2, loss=torch.tensor(1.0), kl=torch.tensor(0.0))


def test_no_gpu_probing_lifts_the_nvml_check_only_inside_and_only_without_a_gpu(monkeypatch):
    monkeypatch.setenv(NVML_CHECK_ENV, "1")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    with no_gpu_probing():
        assert NVML_CHECK_ENV not in os.environ
    assert os.environ[NVML_CHECK_ENV] == "1"
    with pytest.raises(RuntimeError), no_gpu_probing():  # put back after an error too
        raise RuntimeError("boom")
    assert os.environ[NVML_CHECK_ENV] == "1"
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with no_gpu_probing():
        assert os.environ[NVML_CHECK_ENV] == "1"  # a GPU machine keeps Lightning's fork-safe check


def test_the_dcgan_keeps_its_convolutions_channels_last_with_the_same_outputs():
    """The DCGAN's weights are NHWC (faster convolutions on a CPU); its generator and discriminator compute the
    same numbers as in the default NCHW layout, and take NCHW images as given."""
    from fundamentalml.models import DCGAN

    torch.manual_seed(0)
    model = DCGAN().eval()
    convs = [m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    assert convs and all(m.weight.is_contiguous(memory_format=torch.channels_last) for m in convs)
    nchw = DCGAN().eval()
    nchw.load_state_dict(model.state_dict())
    nchw.to(memory_format=torch.contiguous_format)
    z = torch.randn(4, model.latent_dim)
    x = torch.rand(4, 3, 32, 32) * 2 - 1  # NCHW, as the data module serves it
    with torch.no_grad():
        torch.testing.assert_close(model.generate_from(z), nchw.generator(z), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(model.discriminate(x), nchw.discriminator(x), rtol=1e-4, atol=1e-5)


def test_the_hook_name_lightning_sets_every_step_is_a_plain_attribute():
    """HistoryModule sets ``_current_fx_name`` without nn.Module's checks: it lands where nn.Module would put a
    string (the instance's ``__dict__``), and every other attribute keeps nn.Module's handling (a submodule is
    still registered). (Every fit in the tests reads it back: ``log_dict`` in the epoch-end hook refuses to log
    when the name is wrong.)"""
    import pytorch_lightning as pl

    model = MLPVAE()
    assert "_current_fx_name" in vars(pl.LightningModule())  # the name Lightning uses: a rename would show here
    model._current_fx_name = "training_step"
    assert vars(model)["_current_fx_name"] == "training_step" and model._current_fx_name == "training_step"
    assert "_current_fx_name" not in model._modules and "_current_fx_name" not in model._parameters
    model._current_fx_name = None
    assert model._current_fx_name is None
    model.extra = torch.nn.Linear(2, 2)
    assert "extra" in model._modules and any(n.startswith("extra.") for n, _ in model.named_parameters())
