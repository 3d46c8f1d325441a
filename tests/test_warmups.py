"""The two-dimensional warm-ups: the ring of Gaussians, the 2-D GAN and its losses, the mode metric, the figures."""

from __future__ import annotations

import math

import pytest
import pytorch_lightning as pl
import torch
from matplotlib.figure import Figure
from torch.utils.data import DataLoader, TensorDataset

from fundamentalml import plots
from fundamentalml.data import ring_centres, sample_ring
from fundamentalml.metrics import mode_coverage
from fundamentalml.models import MLPVAE, RingGAN, train_ring_gan
from fundamentalml.models.ring_gan import generator_loss_grad, saturating_generator_loss


# --------------------------------------------------------------------------------------------- data


def test_ring_centres_lie_on_the_circle_evenly_spaced():
    centres = ring_centres(8, radius=3.0)
    assert centres.shape == (8, 2)
    assert torch.allclose(centres.norm(dim=1), torch.full((8,), 3.0), atol=1e-5)
    assert torch.allclose(centres[0], torch.tensor([3.0, 0.0]), atol=1e-6)
    gaps = torch.cdist(centres, centres)[torch.arange(8), (torch.arange(8) + 1) % 8]
    assert torch.allclose(gaps, torch.full((8,), 2 * 3.0 * math.sin(math.pi / 8)), atol=1e-5)


def test_ring_sampler_statistics():
    points, modes = sample_ring(40_000, n_modes=8, radius=2.0, std=0.05, seed=3)
    assert points.shape == (40_000, 2) and points.dtype == torch.float32 and modes.shape == (40_000,)
    share = torch.bincount(modes, minlength=8).float() / len(modes)
    assert torch.allclose(share, torch.full((8,), 1 / 8), atol=0.01)  # modes equally likely
    offsets = points - ring_centres(8, 2.0)[modes]
    assert offsets.mean(0).abs().max() < 0.002  # centred on its mode
    assert torch.allclose(offsets.std(0), torch.tensor([0.05, 0.05]), rtol=0.03)  # isotropic, std as asked
    assert points.mean(0).abs().max() < 0.03  # the ring as a whole is centred at the origin


def test_ring_sampler_is_seeded_and_checks_its_arguments():
    a, b = sample_ring(100, seed=7), sample_ring(100, seed=7)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], sample_ring(100, seed=8)[0])
    for kwargs in (dict(n=0), dict(n=10, std=0.0), dict(n=10, n_modes=0), dict(n=10, radius=-1.0)):
        with pytest.raises(ValueError):
            sample_ring(**kwargs)


# --------------------------------------------------------------------------------------------- the 2-D GAN


def test_ring_gan_shapes():
    torch.manual_seed(0)
    model = RingGAN(latent_dim=3, hidden_dim=16, n_hidden=3)
    points = model.sample(11, seed=0)
    assert points.shape == (11, 2)
    assert model.logits(points).shape == (11,)
    assert model.discriminate(points).shape == (11,)
    assert torch.equal(model.sample(5, seed=1), model.sample(5, seed=1))
    assert sum(isinstance(m, torch.nn.Linear) for m in model.generator) == 4
    with pytest.raises(ValueError, match="generator loss"):
        RingGAN(generator_loss="minimax")
    with pytest.raises(ValueError, match=r"\(B, 2\)"):
        model.logits(torch.zeros(4, 3))


@pytest.mark.parametrize("loss", ["saturating", "non-saturating"])
def test_generator_loss_gradients_match_autograd(loss):
    a = torch.linspace(-12, 12, 97, dtype=torch.float64, requires_grad=True)
    per_sample = torch.log1p(-torch.sigmoid(a)) if loss == "saturating" else -torch.log(torch.sigmoid(a))
    (grad,) = torch.autograd.grad(per_sample.sum(), a)
    assert torch.allclose(generator_loss_grad(a.detach(), loss), grad, rtol=1e-6, atol=1e-12)
    # and the model's objective is that loss: its gradient per logit is the closed form over the batch size
    model = RingGAN(generator_loss=loss)
    logits = a.detach().float().clone().requires_grad_(True)
    (grad_model,) = torch.autograd.grad(model.generator_objective(logits), logits)
    assert torch.allclose(grad_model * len(logits), generator_loss_grad(logits.detach(), loss), atol=1e-6)


def test_saturating_gradient_vanishes_where_the_discriminator_is_confident():
    a = torch.tensor([-10.0], dtype=torch.float64)
    assert generator_loss_grad(a, "saturating").abs().item() == pytest.approx(4.54e-5, rel=1e-2)  # as the chapter says
    assert generator_loss_grad(a, "non-saturating").abs().item() == pytest.approx(1.0, abs=1e-4)
    assert saturating_generator_loss(torch.tensor([0.0])).item() == pytest.approx(-math.log(2))
    with pytest.raises(ValueError):
        generator_loss_grad(a, "wasserstein")


def test_a_seeded_run_is_reproducible_and_the_seed_matters():
    before = torch.random.get_rng_state()
    kwargs = dict(steps=30, batch_size=64, trace_every=10, hidden_dim=32)
    a, b = train_ring_gan(seed=5, **kwargs), train_ring_gan(seed=5, **kwargs)
    assert torch.equal(torch.random.get_rng_state(), before)  # the global random state is left alone
    assert a.step_history["g_loss"] == b.step_history["g_loss"] and len(a.step_history["g_loss"]) == 30
    assert a.trace["step"] == [0, 10, 20, 30]
    assert all(torch.equal(x, y) for x, y in zip(a.trace["points"], b.trace["points"]))
    assert all(torch.equal(x, y) for x, y in zip(a.trace["fake_logits"], b.trace["fake_logits"]))
    assert a.trace["points"][0].shape == (1000, 2) and a.trace["fake_logits"][0].shape == (1000,)
    for pa, pb in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(pa, pb)
    c = train_ring_gan(seed=6, **kwargs)
    assert c.step_history["g_loss"] != a.step_history["g_loss"]
    assert a.history["time_s"][0] > 0 and not a.training


def test_the_generator_loss_choice_changes_training():
    kwargs = dict(steps=20, batch_size=64, trace_every=20, hidden_dim=32, seed=0)
    sat = train_ring_gan(generator_loss="saturating", **kwargs)
    non = train_ring_gan(generator_loss="non-saturating", **kwargs)
    assert not torch.equal(sat.trace["points"][-1], non.trace["points"][-1])
    assert sat.step_history["g_loss"][0] < 0 < non.step_history["g_loss"][0]  # log(1 - D) < 0 < -log D


def test_lightning_trains_the_ring_gan_with_the_same_step(tmp_path):
    points, modes = sample_ring(256, seed=0)
    loader = DataLoader(TensorDataset(points, modes), batch_size=64)
    torch.manual_seed(0)
    model = RingGAN(hidden_dim=16)
    before = [p.detach().clone() for p in model.generator.parameters()]
    trainer = pl.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, accelerator="cpu", default_root_dir=tmp_path)
    trainer.fit(model, loader)
    assert len(model.step_history["g_loss"]) == 4
    assert len(model.snapshots) == 2 and model.snapshots[0].shape == (1000, 2)
    assert any(not torch.equal(p, q) for p, q in zip(before, model.generator.parameters()))


# --------------------------------------------------------------------------------------------- the mode metric


def test_mode_coverage_all_modes_against_one_mode():
    centres = ring_centres(8, 2.0)
    spread, _ = sample_ring(4000, std=0.02, seed=0)
    full = mode_coverage(spread, centres, std=0.02)
    assert full.modes_covered == 8 and full.n_modes == 8
    assert full.high_quality_share > 0.98  # 3 std in 2-D holds 98.9% of a Gaussian
    assert sum(full.mode_shares) == pytest.approx(full.high_quality_share)

    one = centres[2] + 0.02 * torch.randn(4000, 2, generator=torch.Generator().manual_seed(1))
    collapsed = mode_coverage(one, centres, std=0.02)
    assert collapsed.modes_covered == 1 and collapsed.mode_shares[2] > 0.98
    assert collapsed.high_quality_share > 0.98  # sharp samples, one mode: quality says nothing of coverage

    between = torch.zeros(100, 2)  # the ring's centre: far from every mode
    nowhere = mode_coverage(between, centres, std=0.02)
    assert nowhere.modes_covered == 0 and nowhere.high_quality_share == 0.0


def test_mode_coverage_min_share_and_input_checks():
    centres = ring_centres(4, 1.0)
    samples = torch.cat([centres[0].repeat(97, 1), centres[1].repeat(3, 1)])  # 97% on one mode, 3% on another
    assert mode_coverage(samples, centres, std=0.1, min_share=0.02).modes_covered == 2
    assert mode_coverage(samples, centres, std=0.1, min_share=0.05).modes_covered == 1
    with pytest.raises(ValueError, match="samples"):
        mode_coverage(torch.zeros(0, 2), centres, std=0.1)
    with pytest.raises(ValueError, match="centres"):
        mode_coverage(samples, torch.zeros(4, 3), std=0.1)
    with pytest.raises(ValueError, match="std"):
        mode_coverage(samples, centres, std=0.0)
    with pytest.raises(ValueError, match="NaN"):
        mode_coverage(torch.full((3, 2), float("nan")), centres, std=0.1)


# --------------------------------------------------------------------------------------------- the figures


def test_warm_up_figures_are_figures():
    model = train_ring_gan(steps=10, batch_size=32, trace_every=5, hidden_dim=16)
    real, _ = sample_ring(500, seed=1)
    fig = plots.plot_ring_training({"a": model, "b": model}, real, ring_centres(), std=0.02, n_panels=4)
    assert isinstance(fig, Figure) and len([ax for ax in fig.axes if ax.collections]) == 2 * 3  # 3 records per run
    fig = plots.plot_generator_gradients({"a": model.trace["fake_logits"][1]}, step=5)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert isinstance(plots.plot_generator_gradients(), Figure)
    with pytest.raises(ValueError):
        plots.plot_generator_gradients(a_range=(1.0, -1.0))
    with pytest.raises(ValueError, match="models"):
        plots.plot_ring_training({}, real, ring_centres(), std=0.02)


def test_latent_plane_figures():
    torch.manual_seed(0)
    vae = MLPVAE(latent_dim=2, hidden_dims=(32,))
    codes = torch.randn(200, 2)
    labels = torch.arange(200) % 10
    fig = plots.plot_latent_codes(codes, labels, extent=1.6)
    assert isinstance(fig, Figure)
    assert len(fig.axes[0].get_legend().get_texts()) == 10
    fig = plots.plot_latent_plane(vae, n=5)
    assert isinstance(fig, Figure) and fig.axes[0].images[0].get_array().shape == (5 * 28, 5 * 28)
    values = plots.latent_grid_values(15)
    assert values[7].abs() < 1e-6 and values[0] == pytest.approx(-1.6449, abs=1e-3) and torch.all(values.diff() > 0)
    with pytest.raises(ValueError, match="2-D code"):
        plots.plot_latent_plane(MLPVAE(latent_dim=3, hidden_dims=(8,)))
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        plots.plot_latent_codes(torch.zeros(5, 3), labels[:5])
