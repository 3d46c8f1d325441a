"""The ELBO's pieces: the reparameterisation, the closed-form KL, the batch loss."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from fundamentalml.models.latent import lerp, slerp
from fundamentalml.models.vae import kl_divergence, reparameterize, vae_loss


def test_kl_matches_a_monte_carlo_estimate():
    gen = torch.Generator().manual_seed(0)
    mu = torch.randn(4, 6, generator=gen)
    logvar = torch.randn(4, 6, generator=gen) * 0.5
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    z = q.sample((200_000,))
    monte_carlo = (q.log_prob(z) - p.log_prob(z)).sum(-1).mean(0)
    torch.testing.assert_close(kl_divergence(mu, logvar), monte_carlo, rtol=0.02, atol=0.02)
    # and it agrees with torch.distributions' own closed form
    torch.testing.assert_close(kl_divergence(mu, logvar), torch.distributions.kl_divergence(q, p).sum(-1))


def test_kl_is_zero_only_at_the_prior():
    assert kl_divergence(torch.zeros(3, 5), torch.zeros(3, 5)).abs().max() == 0
    assert (kl_divergence(torch.full((1, 5), 0.1), torch.zeros(1, 5)) > 0).all()
    assert (kl_divergence(torch.zeros(1, 5), torch.full((1, 5), -0.1)) > 0).all()


def test_reparameterize_has_the_right_moments_and_passes_gradients():
    mu = torch.tensor([[1.0, -2.0]], requires_grad=True)
    logvar = torch.tensor([[0.0, math.log(4.0)]], requires_grad=True)
    z = reparameterize(mu.expand(100_000, 2), logvar.expand(100_000, 2), generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(z.mean(0), torch.tensor([1.0, -2.0]), atol=0.02, rtol=0)
    torch.testing.assert_close(z.std(0), torch.tensor([1.0, 2.0]), atol=0.02, rtol=0)
    z.sum().backward()
    assert mu.grad is not None and logvar.grad is not None and logvar.grad.abs().sum() > 0


def test_loss_is_summed_per_image_and_averaged_over_the_batch():
    torch.manual_seed(0)
    x = torch.rand(8, 1, 28, 28)
    logits = torch.randn(8, 1, 28, 28)
    mu, logvar = torch.randn(8, 20), torch.randn(8, 20)
    loss, bce, kl = vae_loss(logits, x, mu, logvar, from_logits=True)
    expected_bce = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum((1, 2, 3)).mean()
    torch.testing.assert_close(bce, expected_bce)
    torch.testing.assert_close(kl, kl_divergence(mu, logvar).mean())
    torch.testing.assert_close(loss, bce + kl)
    # probabilities and logits give the same number
    loss_p, _, _ = vae_loss(torch.sigmoid(logits), x, mu, logvar)
    torch.testing.assert_close(loss_p, loss, rtol=1e-4, atol=1e-3)
    # beta weighs the KL term only
    loss_b, bce_b, kl_b = vae_loss(logits, x, mu, logvar, beta=3.0, from_logits=True)
    torch.testing.assert_close(loss_b, bce_b + 3.0 * kl_b)


def test_lerp_and_slerp_end_at_the_end_points():
    a, b = torch.randn(20), torch.randn(20)
    for path in (lerp(a, b, 7), slerp(a, b, 7)):
        assert path.shape == (7, 20)
        torch.testing.assert_close(path[0], a)
        torch.testing.assert_close(path[-1], b, rtol=1e-4, atol=1e-5)
    # slerp keeps the norm between two codes of equal norm; lerp cuts inside
    b = b / b.norm() * a.norm()
    mid_s, mid_l = slerp(a, b, 3)[1], lerp(a, b, 3)[1]
    torch.testing.assert_close(mid_s.norm(), a.norm(), rtol=1e-4, atol=1e-4)
    assert mid_l.norm() < a.norm()
