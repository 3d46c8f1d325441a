"""One range for images: every model's public ``sample()`` in [0, 1]; and inference helpers that leave a model's
training mode as they found it (``eval_mode``)."""

from __future__ import annotations

import pytest
import torch

from fundamentalml import metrics, plots, registry, widgets
from fundamentalml.models import DCGAN, MLPVAE, ConditionalGAN
from fundamentalml.models.base import eval_mode
from fundamentalml.models.ring_gan import RingGAN

GENERATIVE = [name for name, spec in registry.MODELS.items() if callable(getattr(spec.model_class, "sample", None))]


def test_the_registry_has_generative_models_of_both_ranges():
    # the VAEs decode through a sigmoid, the GANs through tanh: both kinds must be covered below
    assert {"vae-mlp", "dcgan", "cvae", "cgan"} <= set(GENERATIVE)


@pytest.mark.parametrize("name", GENERATIVE)
def test_every_generative_model_samples_images_in_0_1(name):
    torch.manual_seed(0)
    model = registry.get(name).build()
    with torch.no_grad():  # push the output layer's pre-activations far out, so a tanh range would show
        for p in model.parameters():
            p.mul_(8)
    images = model.sample(16, seed=0)
    assert images.ndim == 4 and images.shape[0] == 16
    assert images.min() >= 0 and images.max() <= 1, f"{name}: sample() gave values from {images.min()} to {images.max()}"
    assert images.min() < 0.05 and images.max() > 0.95  # the range is used, not squeezed into [0.5, 1]


def test_the_dcgan_speaks_0_1_and_its_generator_tanh():
    torch.manual_seed(0)
    model = DCGAN().eval()
    z = torch.randn(4, model.latent_dim)
    raw = model.generate_from(z).detach()
    assert raw.min() < 0  # the generator itself still ends in tanh, the range it trains on
    torch.testing.assert_close(model.generate(z), (raw + 1) / 2, rtol=0, atol=0)
    torch.testing.assert_close(model.live_decode(z).detach(), (raw + 1) / 2, rtol=0, atol=0)
    path = model.interpolate(z[0], z[1], steps=5)
    assert path.min() >= 0 and path.max() <= 1
    scores = model.discriminator_scores(model.generate(z))  # takes what generate returns
    torch.testing.assert_close(scores, torch.sigmoid(model.discriminate(raw)).detach())
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        model.discriminator_scores(raw * 3)


def test_the_2d_warm_up_gan_samples_points_unchanged():
    torch.manual_seed(0)
    model = RingGAN().eval()
    gen = torch.Generator().manual_seed(3)
    z = torch.randn(50, model.latent_dim, generator=gen)
    torch.testing.assert_close(model.sample(50, seed=3), model.generate_from(z).detach(), rtol=0, atol=0)


def _old_evaluate_gan(model: DCGAN, real: torch.Tensor, n: int, seed: int) -> tuple[torch.Tensor, float]:
    """The evaluation as it was written before ``sample()`` returned [0, 1]: the raw tanh samples drawn with
    ``seed``, mapped to [0, 1] by the caller, scored in the same random conv features."""
    gen = torch.Generator().manual_seed(seed)
    with eval_mode(model):
        raw = model.generate_from(torch.randn(n, model.latent_dim, generator=gen))
    fake = (raw.cpu() + 1) / 2
    return fake, metrics.frechet_distance(real[:n], fake, metrics.random_conv_extractor(channels=real.shape[1]))


def test_the_dcgan_evaluation_sees_the_same_pixels_and_gives_the_same_distance():
    torch.manual_seed(1)
    model = DCGAN(ngf=16, ndf=16)
    real = torch.rand(40, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    old_fake, old_distance = _old_evaluate_gan(model, real, n=40, seed=5)
    assert torch.equal(model.sample(40, seed=5), old_fake)  # bit for bit
    new = metrics.evaluate_gan(model, real, n=40, seed=5)
    assert new.frechet_distance == old_distance and new.n_images == 40
    assert model.training  # and the model's mode is left alone


def test_the_conditional_gan_samples_are_unchanged():
    torch.manual_seed(0)
    model = ConditionalGAN()
    gen = torch.Generator().manual_seed(4)
    labels = torch.randint(0, 10, (6,), generator=gen)
    z = torch.randn(6, model.latent_dim, generator=gen)
    with eval_mode(model):
        old = (model.generate_from(z, torch.nn.functional.one_hot(labels, 10).float()) + 1) / 2
    assert torch.equal(model.sample(6, seed=4), old)


# ------------------------------------------------------------------------------------------ training mode kept


def test_eval_mode_restores_each_models_mode_even_on_an_error():
    a, b = MLPVAE(), MLPVAE().eval()
    with eval_mode(a, b):
        assert not a.training and not b.training and not torch.is_grad_enabled()
    assert a.training and not b.training
    with pytest.raises(RuntimeError, match="boom"):
        with eval_mode(a):
            raise RuntimeError("boom")
    assert a.training


def test_the_interpolation_widget_leaves_the_models_training_mode_alone():
    torch.manual_seed(0)
    model = MLPVAE(batch_norm=True)  # in training mode, batch norm would fail on one image, and differ in eval
    assert model.training
    images = torch.rand(4, 1, 28, 28)
    w = widgets.interpolation_widget({"VAE": model}, images)
    w.mix.value = 0.25
    assert model.training, "the widget left the model in eval mode (batch norm and dropout off in the caller's loop)"
    shown = w.current()
    assert model.training
    with eval_mode(model):
        z = w.latent().unsqueeze(0)
        expected = model.decode(z)
    torch.testing.assert_close(shown, expected)  # decoded in eval mode all the same
    assert w.path().shape[0] == w.steps and model.training


def test_metrics_and_plots_restore_the_training_mode():
    torch.manual_seed(0)
    vae = MLPVAE(batch_norm=True)
    x = torch.rand(8, 1, 28, 28)
    metrics.evaluate_vae(vae, [(x,)])
    metrics.importance_log_weights(vae, (x > 0.5).float(), k=3)
    assert vae.training
    with pytest.raises(ValueError, match="empty loader"):
        metrics.evaluate_vae(vae, [])
    assert vae.training
    plane = MLPVAE(latent_dim=2)
    plots.plot_latent_plane(plane, n=4)
    assert plane.training
    gan = DCGAN(ngf=8, ndf=8)
    plots.plot_current_state(gan, n=4)
    assert gan.training
