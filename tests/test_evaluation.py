"""Issue 17: how loose the ELBO is (importance-weighted bounds), memorisation, sharpness and variety."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from fundamentalml import metrics, plots, reports
from fundamentalml.models import MLPVAE
from fundamentalml.models.vae import kl_divergence


def tiny_vae(seed: int = 0) -> MLPVAE:
    torch.manual_seed(seed)
    return MLPVAE(latent_dim=2, hidden_dims=(16,)).eval()


def binary_digits(n: int = 6, seed: int = 0) -> torch.Tensor:
    grey = torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))
    return metrics.binarize(grey, seed)


# ------------------------------------------------------------------------------------------ importance weighting


def test_the_bound_rises_with_k_on_average():
    r = metrics.importance_weighted_bound(tiny_vae(), binary_digits(), ks=(1, 10, 100, 1000), seed=1)
    assert r.ks == [1, 10, 100, 1000]
    assert all(b2 >= b1 - 1e-6 for b1, b2 in zip(r.bound, r.bound[1:])), r.bound
    assert r.bound[-1] > r.bound[0] + 1.0  # an untrained encoder leaves a wide gap for the samples to recover
    assert r.gap == pytest.approx([b - r.elbo for b in r.bound])
    assert r.n_images == 6 and len(r.gap_sem) == 4


def test_k_equal_1_matches_the_elbo_in_expectation():
    vae, x = tiny_vae(2), binary_digits(seed=2)
    r = metrics.importance_weighted_bound(vae, x, ks=(1, 4000), seed=3)
    # The ELBO independently: a Monte Carlo reconstruction term plus the closed-form KL, other samples.
    gen = torch.Generator().manual_seed(99)
    with torch.no_grad():
        mu, logvar = vae.encode(x)
        recon = []
        for _ in range(400):
            z = mu + torch.randn(mu.shape, generator=gen) * (0.5 * logvar).exp()
            logits = vae.decode_logits(z)
            recon.append(-F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1))
        recon = torch.stack(recon)  # (draws, images)
        elbo = (recon.mean(0) - kl_divergence(mu, logvar)).mean().item()
        noise = (recon.mean(1).std() / math.sqrt(len(recon))).item()
    assert r.bound[0] == pytest.approx(elbo, abs=5 * noise + 0.05)
    assert r.bound[0] == pytest.approx(r.elbo)  # k = 1 averages the same single-sample terms


def _vae_ignoring_z(mu: float, logvar: float) -> tuple[MLPVAE, torch.Tensor]:
    vae = tiny_vae(4)
    last = vae.decoder[-2]
    bias = torch.linspace(-3, 3, 784)
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(bias)
        for head, value in ((vae.fc_mu, mu), (vae.fc_logvar, logvar)):
            head.weight.zero_()
            head.bias.fill_(value)
    return vae, bias


def test_closed_form_when_the_decoder_ignores_the_code():
    x = binary_digits(4, seed=5)
    # q equal to the prior: every importance weight is exactly p(x), so every bound equals log p(x).
    vae, bias = _vae_ignoring_z(0.0, 0.0)
    log_px = -F.binary_cross_entropy_with_logits(bias.expand(4, 784), x.flatten(1), reduction="none").sum(1).mean().item()
    r = metrics.importance_weighted_bound(vae, x, ks=(1, 10, 100), seed=0)
    assert r.bound == pytest.approx([log_px] * 3, abs=1e-3)
    assert r.elbo == pytest.approx(log_px, abs=1e-3)
    # q off the prior: the ELBO is log p(x) - KL(q || p) exactly, and many samples recover log p(x).
    vae, _ = _vae_ignoring_z(0.5, math.log(0.8))
    kl = kl_divergence(torch.full((1, 2), 0.5), torch.full((1, 2), math.log(0.8))).item()
    r = metrics.importance_weighted_bound(vae, x, ks=(1, 5000), seed=0)
    assert r.elbo == pytest.approx(log_px - kl, abs=0.05)
    assert kl > 0.25  # so the tolerances below tell the bound from the ELBO
    assert r.bound[-1] == pytest.approx(log_px, abs=0.08)
    assert r.gap[-1] == pytest.approx(kl, abs=0.08)


def test_the_bound_refuses_grey_levels_and_bad_k():
    grey = torch.rand(2, 1, 28, 28)
    with pytest.raises(ValueError, match="binary pixels"):
        metrics.importance_weighted_bound(tiny_vae(), grey)
    with pytest.raises(ValueError, match="positive"):
        metrics.importance_weighted_bound(tiny_vae(), binary_digits(2), ks=(0, 5))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        metrics.binarize(grey * 2, seed=0)


def test_the_binarised_subset_is_fixed_by_its_seed():
    images = (torch.rand(50, 1, 28, 28) * 255).to(torch.uint8)
    a, b = metrics.binarized_test_subset(images, 10), metrics.binarized_test_subset(images, 10)
    assert torch.equal(a, b) and a.shape == (10, 1, 28, 28)
    assert set(a.unique().tolist()) <= {0.0, 1.0}
    assert not torch.equal(a, metrics.binarized_test_subset(images, 10, seed=1))


def test_bound_verdict_reads_the_ranking():
    def bound(elbo, last, sem=0.1):
        return metrics.ImportanceWeightedBound(ks=[1, 10], bound=[elbo, last], bound_sem=[1, 1], elbo=elbo,
                                               gap=[0, last - elbo], gap_sem=[0, sem], n_images=3, seed=0)

    text = reports.bound_verdict({"A": bound(-100, -97), "B": bound(-101, -96)})
    assert "flips" in text and "difference in looseness" in text
    text = reports.bound_verdict({"A": bound(-100, -95), "B": bound(-101, -99)})
    assert "flips" not in text and "understates the A's lead" in text
    assert "overstates the A's lead" in reports.bound_verdict({"A": bound(-100, -98), "B": bound(-102, -99)})
    assert "about equally loose" in reports.bound_verdict({"A": bound(-100, -95, 3), "B": bound(-101, -99, 3)})


# ------------------------------------------------------------------------------------------ memorisation


def _images(n: int, seed: int) -> torch.Tensor:
    return torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(seed))


def test_a_copied_training_image_is_at_distance_zero():
    train = _images(50, 0)
    d, j = metrics.nearest_neighbours(train[[3, 17]], train)
    assert d.tolist() == pytest.approx([0.0, 0.0], abs=1e-3) and j.tolist() == [3, 17]
    d, _ = metrics.nearest_neighbours(train[:1] + 0.1, train[:1])
    assert d.item() == pytest.approx(0.1 * 8, rel=1e-4)  # 64 pixels, each 0.1 off


def test_copies_are_flagged_and_fresh_samples_are_not():
    train, test = _images(300, 0), _images(200, 1)
    copies = train[:200] + 0.01 * torch.randn(200, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    fresh = _images(200, 3)
    out = metrics.nearest_training({"copier": copies, "fresh": fresh}, test, train)
    assert out["copier"].copying and out["copier"].share_below_threshold > 0.9
    assert out["copier"].generated_index == list(range(200))
    assert not out["fresh"].copying and out["fresh"].share_below_threshold <= 0.05
    assert out["fresh"].test_distance == out["copier"].test_distance  # the same test images, once
    assert len(out["fresh"].test_distance) == 200 and out["fresh"].feature_space == "pixels"
    assert "sign of copying" in reports.memorisation_verdict({"pixels": out["copier"]})
    assert "no sign of copying" in reports.memorisation_verdict({"pixels": out["fresh"]})


def test_feature_space_and_training_subset():
    train, test, fresh = _images(100, 0), _images(40, 1), _images(40, 2)
    out = metrics.nearest_training(fresh, test, train, features=lambda x: x.flatten(1)[:, :10], feature_space="first ten",
                                   train_subset=30)["generated"]
    assert out.n_train == 30 and out.feature_space == "first ten"
    picked = set(out.generated_index) | set(out.test_index)
    assert all(0 <= i < 100 for i in picked)
    with pytest.raises(ValueError, match="test images"):
        metrics.nearest_training(fresh, test[:10], train)


# ------------------------------------------------------------------------------------------ sharpness and variety


def _edge_and_blur() -> tuple[torch.Tensor, torch.Tensor]:
    sharp = torch.zeros(4, 1, 28, 28)
    sharp[:, :, 8:20, 8:20] = 1.0
    kernel = torch.ones(1, 1, 5, 5) / 25
    return sharp, F.conv2d(sharp, kernel, padding=2)


def test_sharpness_drops_with_blur():
    sharp, blurred = _edge_and_blur()
    assert (metrics.gradient_sharpness(sharp) > metrics.gradient_sharpness(blurred)).all()
    assert (metrics.high_frequency_share(sharp) > metrics.high_frequency_share(blurred)).all()
    flat = torch.full((2, 1, 28, 28), 0.3)
    assert metrics.gradient_sharpness(flat).tolist() == [0.0, 0.0]
    assert metrics.high_frequency_share(flat).tolist() == pytest.approx([0.0, 0.0], abs=1e-6)  # up to rounding
    with pytest.raises(ValueError):
        metrics.high_frequency_share(sharp, cutoff=0.9)


def test_diversity_of_identical_and_varied_samples():
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    same = torch.zeros(6, 1, 28, 28)
    varied = torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    s = metrics.sharpness_and_diversity(same, labels, num_classes=2)
    v = metrics.sharpness_and_diversity(varied, labels, features=lambda x: x.flatten(1)[:, :5], num_classes=2)
    assert s.diversity_pixels == [0.0, 0.0] and math.isnan(s.mean_diversity_features)
    assert min(v.diversity_pixels) > 1.0 and len(v.diversity_features) == 2
    with pytest.raises(ValueError, match="class 1"):
        metrics.sharpness_and_diversity(varied[:4], labels[:4], num_classes=2)


def _stats(images: torch.Tensor) -> metrics.SharpnessDiversity:
    labels = torch.arange(10).repeat_interleave(len(images) // 10)
    return metrics.sharpness_and_diversity(images, labels)


def test_sharpness_verdict_follows_the_numbers():
    sharp, _ = _edge_and_blur()
    gen = torch.Generator().manual_seed(0)
    crisp = (torch.rand(40, 1, 28, 28, generator=gen) > 0.5).float()  # binary noise: sharp and varied
    soft = F.avg_pool2d(crisp, 5, stride=1, padding=2)  # blurred and less varied
    comparison = reports.ConditionalComparison({}, {}, {}, {}, np.ones(10), 1.0,
                                               sharpness={"real digits": _stats(crisp), "cVAE": _stats(soft), "cGAN": _stats(crisp)})
    text = comparison.sharpness_verdict()
    assert "It holds here" in text
    comparison.sharpness["cGAN"], comparison.sharpness["cVAE"] = comparison.sharpness["cVAE"], comparison.sharpness["cGAN"]
    assert "does **not** fully hold" in comparison.sharpness_verdict()
    assert "sharpness: mean gradient magnitude" in comparison.sharpness_table()


# ------------------------------------------------------------------------------------------ figures


def test_the_figures_are_figures():
    r = metrics.importance_weighted_bound(tiny_vae(), binary_digits(3), ks=(1, 10, 100), seed=0)
    assert isinstance(plots.plot_importance_weighted({"tiny": r, "again": r}), Figure)
    train, test, fresh = _images(60, 0), _images(20, 1), _images(20, 2)
    results = {"pixels": metrics.nearest_training(fresh, test, train)["generated"],
               "features": metrics.nearest_training(fresh, test, train, features=lambda x: x.flatten(1)[:, :10])["generated"]}
    fig = plots.plot_nearest_training(fresh, train, results, n_show=5)
    assert isinstance(fig, Figure) and len(fig.axes) == 3 + 2
    labels = torch.arange(10).repeat_interleave(3)
    stats = {"real digits": metrics.sharpness_and_diversity(torch.rand(30, 1, 28, 28), labels, features=lambda x: x.flatten(1)),
             "cVAE": metrics.sharpness_and_diversity(torch.rand(30, 1, 28, 28), labels, features=lambda x: x.flatten(1))}
    assert len(plots.plot_sharpness_diversity(stats).axes) == 3
    with pytest.raises(ValueError):
        plots.plot_nearest_training(fresh[:3], train, results)
    plt_close()


def plt_close() -> None:
    import matplotlib.pyplot as plt

    plt.close("all")


def test_copy_check_power_follows_the_binomial_and_the_verdict_states_it():
    # 250 samples: the rule flags more than 12 under the threshold; a copied share q puts q + 0.99 * 0.01 * ... there.
    p90, p50 = metrics.copy_check_power(250), metrics.copy_check_power(250, 0.5)
    assert 0.04 < p50 < p90 < 0.08
    assert metrics.copy_check_power(5000) < p90  # more samples, a finer check
    from scipy.stats import binom
    q = p90
    assert binom.sf(12, 250, q + (1 - q) * 0.01) >= 0.9 > binom.sf(12, 250, (q - 0.001) + (1 - q + 0.001) * 0.01)
    with pytest.raises(ValueError):
        metrics.copy_check_power(0)
    train, test, fresh = _images(100, 0), _images(40, 1), _images(40, 2)
    whole = metrics.nearest_training(fresh, test, train)["generated"]
    part = metrics.nearest_training(fresh, test, train, train_subset=30)["generated"]
    text = reports.memorisation_verdict({"pixels": whole, "subset": part})
    assert f"{metrics.copy_check_power(40):.1%} or more of its samples with 90% probability" in text
    assert "In subset only part of the training set was searched" in text
    assert "Every training image was searched" in reports.memorisation_verdict({"pixels": whole})


class _PixelJudge(torch.nn.Module):
    """A stand-in judge: 'features' are the first 8 pixels, the class is the brightest of the first 10."""

    feature_dim = 8

    def features(self, x):
        return x.flatten(1)[:, :8]

    def predict(self, x):
        return x.flatten(1)[:, :10].argmax(1)


def test_held_out_floor_uses_n_per_class_of_each_class():
    g = torch.Generator().manual_seed(0)
    test = torch.rand(400, 1, 8, 8, generator=g)
    held, labels = torch.rand(300, 1, 8, 8, generator=g), torch.arange(300) % 10
    same = metrics.held_out_floor(_PixelJudge(), test, held, labels, n_per_class=20)
    shifted = metrics.held_out_floor(_PixelJudge(), test, held * 0.5, labels, n_per_class=20)
    assert 0 <= same < shifted
    with pytest.raises(ValueError, match="held-out images of every class"):
        metrics.held_out_floor(_PixelJudge(), test, held[:30], labels[:30], n_per_class=20)


class _LabelledModel:
    """generate(digits, n, seed) draws a bright pixel at the digit's index, wrong for digit 9 half the time."""

    def generate(self, digits, n, seed=None):
        g = torch.Generator().manual_seed(seed)
        out = []
        for d in digits:
            x = torch.zeros(n, 1, 8, 8)
            where = torch.full((n,), d)
            if d == 9:
                where = torch.where(torch.rand(n, generator=g) < 0.5, where, torch.zeros(n, dtype=torch.long))
            x.view(n, -1)[torch.arange(n), where] = 1.0
            out.append(x)
        return torch.cat(out)


def test_judged_accuracy_reads_the_same_draws_with_every_judge():
    ja = metrics.judged_accuracy(_LabelledModel(), {"a": _PixelJudge(), "b": _PixelJudge()}, n_per_class=50, seeds=[0, 1, 2])
    assert ja.accuracies["a"] == ja.accuracies["b"] and len(ja.accuracies["a"]) == 3
    assert 0.9 < ja.mean("a") < 1.0 and ja.spread("a")[0] <= ja.mean("a") <= ja.spread("a")[1]
    assert ja.std("a") > 0  # the draws differ
    with pytest.raises(ValueError):
        metrics.judged_accuracy(_LabelledModel(), {}, seeds=[0])


def test_standard_fid_fails_cleanly_offline(monkeypatch):
    monkeypatch.setenv("FUNDAMENTALML_OFFLINE", "1")
    fid, why = metrics.standard_fid(torch.rand(4, 3, 32, 32), torch.rand(4, 3, 32, 32))
    assert fid is None and "offline" in why
