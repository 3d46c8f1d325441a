"""Graded checks of the DCGAN chapter's exercises (``exercises/dcgan.py``)."""

from __future__ import annotations

import functools
import copy
import math
from typing import Any

import pytest
import torch
from torch import nn

from fundamentalml.exercises._grading import (call, check, check_close, check_tensor, hint_on_error, load_reference,
                                          one_thread)

CHAPTER = "dcgan"


ref = functools.partial(load_reference, CHAPTER)  # ref(name): the package's reference solution, what checks compare with


def _looks_like_normal(w: torch.Tensor, mean: float, std: float, what: str) -> None:
    """Check mean, standard deviation and the one-sigma mass (68 %) of the entries of ``w``."""
    __tracebackhide__ = True
    w = w.detach().double().flatten()
    n = w.numel()
    check(abs(w.mean().item() - mean) < 5 * std / math.sqrt(n) + 1e-3, expected=f"{what}: mean {mean}",
          got=f"mean {w.mean().item():.4f}", hint=f"draw them with nn.init.normal_(weight, mean={mean}, std={std}).")
    check(abs(w.std().item() - std) < 0.1 * std, expected=f"{what}: standard deviation {std}",
          got=f"standard deviation {w.std().item():.4f}",
          hint="the second number of N(mean, 0.02) is the standard deviation, not the variance; "
               "and the default PyTorch initialisation does not give it.")
    inside = ((w - mean).abs() < std).double().mean().item()
    # Five standard errors of the share: a correct initialisation fails about once in a million draws, while a
    # uniform distribution of the same standard deviation (58% inside) still fails from 2,000 weights on.
    tolerance = 5 * math.sqrt(0.6827 * 0.3173 / n)
    check(abs(inside - 0.6827) < tolerance, expected=f"{what}: about 68% within one standard deviation (a normal distribution)",
          got=f"{100 * inside:.1f}%", hint="use a normal distribution (nn.init.normal_), not a uniform one.")


# ------------------------------------------------------------------------------------------ 3 (*)


@pytest.mark.exercise("dcgan.generator_loss")
class TestGeneratorLoss:
    @pytest.mark.points(1)
    def test_scalar(self, impl: Any) -> None:
        """returns a scalar tensor"""
        check_tensor(call(impl.generator_loss, torch.randn(8)), shape=(), what="the loss", hint="average over the batch.")

    @pytest.mark.points(2)
    def test_matches_reference(self, impl: Any) -> None:
        """the mean of -log sigmoid(fake_logits)"""
        for shape in ((16,), (16, 1)):
            fake = 3 * torch.randn(*shape)
            check_close(call(impl.generator_loss, fake), ref("generator_loss")(fake), what=f"the loss for logits of shape {shape}",
                        hint="the generator wants its images called real: the fakes' target is 1 ('real') here, and "
                             "the loss is a mean over the batch.")

    @pytest.mark.points(1)
    def test_non_saturating_gradient(self, impl: Any) -> None:
        """strong gradient when the discriminator confidently rejects the fakes"""
        logits = torch.full((8,), -10.0, requires_grad=True)
        loss = check_tensor(call(impl.generator_loss, logits), shape=(), what="the loss")
        check(loss.requires_grad, expected="a loss connected to the logits", got="a loss without gradient",
              hint="compute it from fake_logits with torch operations.")
        loss.backward()
        want = (torch.sigmoid(logits.detach()) - 1) / 8
        check_close(logits.grad, want, what="d loss / d logits at logit -10", rtol=1e-3, atol=1e-6,
                    hint="minimising log(1 - D(G(z))) gives a gradient of about 5e-6 here (it saturates); "
                         "minimise -log D(G(z)) instead.")

    @pytest.mark.points(1)
    def test_stable_for_large_logits(self, impl: Any) -> None:
        """stays exact for a logit of -200"""
        loss = check_tensor(call(impl.generator_loss, torch.full((4,), -200.0)), shape=(), what="the loss")
        check(bool(torch.isfinite(loss)) and abs(loss.item() - 200.0) < 0.1, expected="200.0", got=f"{loss.item():.4g}",
              hint="work on logits with F.binary_cross_entropy_with_logits: sigmoid(-200) is 0 in float32.")


# ------------------------------------------------------------------------------------------ 9 (**)


@pytest.mark.exercise("dcgan.discriminator_loss")
class TestDiscriminatorLoss:
    @pytest.mark.points(1)
    def test_scalar(self, impl: Any) -> None:
        """returns a scalar tensor"""
        check_tensor(call(impl.discriminator_loss, torch.randn(8), torch.randn(8)), shape=(), what="the loss",
                     hint="average over the batch: the loss is one number.")

    @pytest.mark.points(1)
    def test_matches_reference(self, impl: Any) -> None:
        """mean BCE of real logits against 1 plus mean BCE of fake logits against 0"""
        for shape in ((16,), (16, 1)):
            real, fake = 2 * torch.randn(*shape) + 1, 2 * torch.randn(*shape) - 1
            check_close(call(impl.discriminator_loss, real, fake), ref("discriminator_loss")(real, fake),
                        what=f"the loss for logits of shape {shape}",
                        hint="BCE(real_logits, 1).mean() + BCE(fake_logits, 0).mean(): two averages, added.")

    @pytest.mark.points(1)
    def test_batches_of_different_sizes(self, impl: Any) -> None:
        """each batch is averaged on its own, also when the real and fake batches differ in size"""
        for n_real, n_fake in ((16, 4), (3, 12)):
            for tail in ((), (1,)):
                real, fake = 2 * torch.randn(n_real, *tail) + 1, 2 * torch.randn(n_fake, *tail) - 1
                check_close(call(impl.discriminator_loss, real, fake), ref("discriminator_loss")(real, fake),
                            what=f"the loss for {n_real} real and {n_fake} fake logits",
                            hint="average the real batch and the fake batch separately, then add the two means: one "
                                 "mean over both batches joined weights the larger one more (twice that mean equals "
                                 "the sum of the two only when the sizes are equal).")

    @pytest.mark.points(1)
    def test_rewards_the_right_answers(self, impl: Any) -> None:
        """about 0 for a discriminator that is right, 2 log 2 at logits 0, large when it is wrong"""
        ones = torch.ones(10)
        right = call(impl.discriminator_loss, 8 * ones, -8 * ones)
        neutral = call(impl.discriminator_loss, 0 * ones, 0 * ones)
        wrong = call(impl.discriminator_loss, -8 * ones, 8 * ones)
        for name, value, want in (("real +8, fake -8", right, 2 * math.log1p(math.exp(-8))),
                                  ("all 0", neutral, 2 * math.log(2)),
                                  ("real -8, fake +8", wrong, 2 * math.log1p(math.exp(8)))):
            check_tensor(value, shape=(), what=f"the loss ({name})")
            check(abs(value.item() - want) < 1e-3, expected=f"{want:.4f} for logits {name}", got=f"{value.item():.4f}",
                  hint="real images have target 1 and fakes target 0; a confident correct discriminator has a loss near 0.")

    @pytest.mark.points(1)
    def test_stable_for_large_logits(self, impl: Any) -> None:
        """stays exact for logits of +-200 (works on logits, not on sigmoid outputs)"""
        loss = call(impl.discriminator_loss, torch.full((4,), -200.0), torch.full((4,), 200.0))
        check_tensor(loss, shape=(), what="the loss")
        check(bool(torch.isfinite(loss)) and abs(loss.item() - 400.0) < 0.1, expected="400.0 (each term 200)",
              got=f"{loss.item():.4g}",
              hint="sigmoid(-200) rounds to 0 in float32 and log(0) breaks: use F.binary_cross_entropy_with_logits.")


# ------------------------------------------------------------------------------------------ 10 (**)


@pytest.mark.exercise("dcgan.generator_block")
class TestGeneratorBlock:
    @pytest.mark.points(2)
    def test_doubles_height_and_width(self, impl: Any) -> None:
        """maps (B, in, H, W) to (B, out, 2H, 2W)"""
        block = impl.generator_block(8, 4)
        check(isinstance(block, nn.Module), expected="an nn.Module", got=type(block).__name__, hint="return nn.Sequential(...)")
        for h, w in ((4, 4), (7, 5)):
            out = block(torch.randn(3, 8, h, w))
            check_tensor(out, shape=(3, 4, 2 * h, 2 * w), what=f"the output for a (3, 8, {h}, {w}) input",
                         hint="(H - 1) * 2 - 2 * padding + 4 = 2H needs padding 1 with kernel 4 and stride 2.")

    @pytest.mark.points(1)
    def test_layers(self, impl: Any) -> None:
        """ConvTranspose2d(4, stride 2, padding 1, no bias), then BatchNorm2d, then ReLU"""
        block = impl.generator_block(6, 3)
        layers = [m for m in block.modules() if not isinstance(m, nn.Sequential)]
        kinds = [type(m).__name__ for m in layers]
        check(kinds == ["ConvTranspose2d", "BatchNorm2d", "ReLU"], expected="layers [ConvTranspose2d, BatchNorm2d, ReLU]",
              got=str(kinds), hint="a generator block up-samples, normalises, then applies ReLU (tanh only at the output).")
        conv = layers[0]
        got = (conv.kernel_size, conv.stride, conv.padding, conv.bias is None)
        check(got == ((4, 4), (2, 2), (1, 1), True), expected="kernel 4, stride 2, padding 1, bias=False",
              got=f"kernel {conv.kernel_size}, stride {conv.stride}, padding {conv.padding}, bias={conv.bias is not None}",
              hint="batch norm subtracts the mean right after, so a bias would be wasted: bias=False.")

    @pytest.mark.points(1)
    def test_output_is_normalised_relu(self, impl: Any) -> None:
        """output is non-negative, with about half the activations switched on"""
        block = impl.generator_block(8, 16).train()
        out = check_tensor(block(torch.randn(32, 8, 4, 4)), shape=(32, 16, 8, 8), what="the output").detach()
        active = (out > 0).double().mean().item()
        check(bool((out >= 0).all()) and 0.3 < active < 0.7, expected="values >= 0 with roughly half of them > 0",
              got=f"minimum {out.min().item():.3g}, {100 * active:.0f}% positive",
              hint="batch norm centres each channel; ReLU then zeroes about half: the order is conv, BN, ReLU.")

    @pytest.mark.points(1)
    def test_parameter_count(self, impl: Any) -> None:
        """as many parameters as the reference block"""
        got = sum(p.numel() for p in impl.generator_block(32, 16).parameters())
        want = sum(p.numel() for p in ref("generator_block")(32, 16).parameters())
        check(got == want, expected=f"{want} parameters (32*16*4*4 weights + 2*16 batch-norm)", got=f"{got}",
              hint="no bias in the transposed convolution; one BatchNorm2d(out_channels).")


# ------------------------------------------------------------------------------------------ 11 (**)


@pytest.mark.exercise("dcgan.init_dcgan_weights")
class TestInitWeights:
    @pytest.mark.points(1)
    def test_conv_weights(self, impl: Any) -> None:
        """Conv2d weights ~ N(0, 0.02) after model.apply"""
        model = nn.Sequential(nn.Conv2d(4, 256, 4, bias=False), nn.LeakyReLU(0.2))
        model.apply(impl.init_dcgan_weights)
        _looks_like_normal(model[0].weight, 0.0, 0.02, "Conv2d weights")

    @pytest.mark.points(1)
    def test_conv_transpose_weights(self, impl: Any) -> None:
        """ConvTranspose2d weights ~ N(0, 0.02) too"""
        # nn.ConvTranspose2d is not a subclass of nn.Conv2d: isinstance(m, nn.Conv2d) alone misses it.
        model = nn.Sequential(nn.ConvTranspose2d(256, 4, 4, bias=False), nn.ReLU())
        model.apply(impl.init_dcgan_weights)
        _looks_like_normal(model[0].weight, 0.0, 0.02, "ConvTranspose2d weights")

    @pytest.mark.points(1)
    def test_batchnorm(self, impl: Any) -> None:
        """BatchNorm2d scale ~ N(1, 0.02) and shift = 0"""
        bn = nn.BatchNorm2d(2048)
        with torch.no_grad():
            bn.bias.fill_(0.5)  # so that "leave it at 0" cannot pass
        nn.Sequential(bn).apply(impl.init_dcgan_weights)
        _looks_like_normal(bn.weight, 1.0, 0.02, "BatchNorm2d weights")
        check(bool((bn.bias.detach() == 0).all()), expected="BatchNorm2d bias = 0 everywhere", got=bn.bias,
              hint="nn.init.zeros_(module.bias)")

    @pytest.mark.points(1)
    def test_conv_biases(self, impl: Any) -> None:
        """convolutions with a bias (bias=True) get it set to 0"""
        model = nn.Sequential(nn.Conv2d(3, 64, 4, 2, 1), nn.LeakyReLU(0.2), nn.ConvTranspose2d(64, 32, 4, 2, 1))
        with torch.no_grad():
            for layer in (model[0], model[2]):
                layer.bias.fill_(0.5)  # so that "leave it as it is" cannot pass
        model.apply(impl.init_dcgan_weights)
        for name, layer in (("Conv2d", model[0]), ("ConvTranspose2d", model[2])):
            check(bool((layer.bias.detach() == 0).all()), expected=f"{name} bias = 0 everywhere", got=layer.bias,
                  hint="the docstring asks for conv biases set to 0 as well: if module.bias is not None: "
                       "nn.init.zeros_(module.bias) (the PyTorch tutorial's weights_init leaves them).")
        _looks_like_normal(model[0].weight, 0.0, 0.02, "Conv2d weights (with a bias)")

    @pytest.mark.points(1)
    def test_whole_generator(self, impl: Any) -> None:
        """model.apply runs through a whole network (activations, containers) without error"""
        model = nn.Sequential(
            nn.ConvTranspose2d(16, 8, 4, 1, 0, bias=False), nn.BatchNorm2d(8), nn.ReLU(True),
            nn.ConvTranspose2d(8, 3, 4, 2, 1, bias=False), nn.Tanh(),
        )
        result = model.apply(impl.init_dcgan_weights)
        check(result is model, expected="model.apply to work", got=repr(result), hint="change modules in place.")
        std = model[3].weight.detach().std().item()
        check(abs(std - 0.02) < 0.004, expected="the last layer initialised as well (std 0.02)", got=f"std {std:.4f}",
              hint="model.apply calls your function for every sub-module, including the last one.")


# ------------------------------------------------------------------------------------------ 15 (***)


def _gaussian(d: int, gen: torch.Generator, n: int | None = None, scale: float = 1.0,
              shift: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and covariance (float64) of ``n`` correlated samples in ``d`` dimensions: singular when ``n <= d``."""
    n = 3 * d if n is None else n
    mixing = torch.randn(d, d, dtype=torch.float64, generator=gen)
    x = (torch.randn(n, d, dtype=torch.float64, generator=gen) @ mixing) * scale + shift
    mu = x.mean(0)
    centred = x - mu
    return mu, centred.T @ centred / (n - 1)


def _number(value: Any, what: str) -> float:
    """The distance as a float: a Python float, or anything ``float()`` takes (a one-element tensor, say); whether
    it is a Python float is the business of ``test_returns_a_float`` alone."""
    __tracebackhide__ = True
    try:
        return float(value)
    except (TypeError, ValueError, RuntimeError):
        check(False, expected=f"{what}: one number", got=value, hint="the distance is a single number: return a float.")
    raise AssertionError("unreachable")


def _distance_scale(mu1: torch.Tensor, s1: torch.Tensor, mu2: torch.Tensor, s2: torch.Tensor) -> float:
    """The size of the terms that cancel: rounding errors are relative to it, not to the distance."""
    return float((mu1 - mu2).double().pow(2).sum() + s1.double().trace() + s2.double().trace())


def _check_distance(got: float, want: float, scale: float, what: str, hint: str, rtol: float = 1e-6) -> None:
    __tracebackhide__ = True
    ok = math.isfinite(got) and abs(got - want) <= rtol * abs(want) + 1e-9 * scale + 1e-12
    check(ok, expected=f"{what} = {want:.10g}", got=f"{got:.10g}", hint=hint)


def _trace_of_root_product(s1: torch.Tensor, s2: torch.Tensor) -> float:
    """Tr(S1^(1/2) S2^(1/2)): what a wrong solution computes in place of Tr((S1 S2)^(1/2))."""
    def root(s: torch.Tensor) -> torch.Tensor:
        values, vectors = torch.linalg.eigh(s.double())
        return (vectors * values.clamp_min(0).sqrt()) @ vectors.T
    return float((root(s1) @ root(s2)).trace())


@pytest.mark.exercise("dcgan.gaussian_frechet_distance")
class TestGaussianFrechetDistance:
    @pytest.mark.points(1)
    def test_returns_a_float(self, impl: Any) -> None:
        """returns a Python float, for float32 and float64 inputs"""
        gen = torch.Generator().manual_seed(0)
        for dtype in (torch.float64, torch.float32):
            mu1, s1 = _gaussian(4, gen)
            mu2, s2 = _gaussian(4, gen)
            value = call(impl.gaussian_frechet_distance, mu1.to(dtype), s1.to(dtype), mu2.to(dtype), s2.to(dtype))
            check(isinstance(value, float), expected=f"a Python float for {dtype} inputs",
                  got=f"{type(value).__name__}: {value!r}"[:200],
                  hint=".item() turns a one-element tensor into a Python float.")

    @pytest.mark.points(1)
    def test_zero_for_identical_gaussians(self, impl: Any) -> None:
        """identical Gaussians are at distance 0"""
        gen = torch.Generator().manual_seed(1)
        for d in (1, 3, 12):
            mu, s = _gaussian(d, gen)
            got = _number(call(impl.gaussian_frechet_distance, mu, s, mu, s), "the distance")
            _check_distance(got, 0.0, _distance_scale(mu, s, mu, s), f"the distance of a {d}-d Gaussian to itself",
                            hint="identical Gaussians are at distance 0: -2 Tr((S1 S2)^(1/2)) must cancel Tr(S1) + Tr(S2) "
                                 "exactly, and (S1 S2)^(1/2) is a matrix square root (a matrix whose square is S1 S2), "
                                 "not torch.sqrt of each entry.")

    @pytest.mark.points(1)
    def test_equal_covariances(self, impl: Any) -> None:
        """with equal covariances, the distance is the squared distance between the means"""
        gen = torch.Generator().manual_seed(2)
        _, s = _gaussian(5, gen)
        mu1 = torch.randn(5, dtype=torch.float64, generator=gen)
        for step in (0.1, 3.0):
            mu2 = mu1 + step * torch.randn(5, dtype=torch.float64, generator=gen)
            want = float((mu1 - mu2).pow(2).sum())
            got = _number(call(impl.gaussian_frechet_distance, mu1, s, mu2, s), "the distance")
            _check_distance(got, want, _distance_scale(mu1, s, mu2, s),
                            f"the distance for equal covariances and |mu1 - mu2| = {want ** 0.5:.4g}",
                            hint="with equal covariances only the means differ: the first term is the squared Euclidean "
                                 "distance between the means, ((mu1 - mu2) ** 2).sum(), with no square root.")

    @pytest.mark.points(1)
    def test_diagonal_covariances(self, impl: Any) -> None:
        """diagonal covariances (and d = 1): the trace term is sum((sqrt(a_i) - sqrt(b_i))^2)"""
        gen = torch.Generator().manual_seed(3)
        for d in (1, 6):
            a = torch.rand(d, dtype=torch.float64, generator=gen) * 4 + 0.1
            b = torch.rand(d, dtype=torch.float64, generator=gen) * 4 + 0.1
            mu1, mu2 = torch.randn(d, dtype=torch.float64, generator=gen), torch.randn(d, dtype=torch.float64, generator=gen)
            want = float((mu1 - mu2).pow(2).sum() + (a.sqrt() - b.sqrt()).pow(2).sum())
            got = _number(call(impl.gaussian_frechet_distance, mu1, torch.diag(a), mu2, torch.diag(b)), "the distance")
            _check_distance(got, want, _distance_scale(mu1, torch.diag(a), mu2, torch.diag(b)),
                            f"the distance for diagonal covariances in {d} dimension{'s' if d > 1 else ''}",
                            hint="for diagonal covariances (S1 S2)^(1/2) is diagonal too, with entries sqrt(a_i b_i): "
                                 "check the mean term and the three traces on this simple case first.")

    @pytest.mark.points(2)
    def test_matches_reference(self, impl: Any) -> None:
        """full (non-commuting) covariances in 2, 7 and 24 dimensions agree with the reference"""
        gen = torch.Generator().manual_seed(4)
        for d in (2, 7, 24):
            mu1, s1 = _gaussian(d, gen)
            mu2, s2 = _gaussian(d, gen, scale=0.7, shift=0.5)
            want = ref("gaussian_frechet_distance")(mu1, s1, mu2, s2)
            got = _number(call(impl.gaussian_frechet_distance, mu1, s1, mu2, s2), "the distance")
            wrong = float((mu1 - mu2).pow(2).sum() + s1.trace() + s2.trace()) - 2 * _trace_of_root_product(s1, s2)
            if math.isfinite(got) and abs(got - wrong) <= 1e-6 * abs(wrong) + 1e-9:
                hint = ("S1^(1/2) S2^(1/2) has the trace of (S1 S2)^(1/2) only when S1 and S2 commute (diagonal "
                        "covariances, say): here they do not. S1 S2 is similar to a symmetric matrix whose square root "
                        "you can take.")
            else:
                hint = ("S1 S2 is not symmetric, so torch.linalg.eigh does not apply to it; but it is similar to a "
                        "symmetric matrix (same eigenvalues, so the same trace of the square root): which one?")
            _check_distance(got, want, _distance_scale(mu1, s1, mu2, s2), f"the distance in {d} dimensions", hint=hint)

    @pytest.mark.points(1)
    def test_float32_inputs(self, impl: Any) -> None:
        """float32 features of large scale: computed in float64, the large traces cancel exactly"""
        gen = torch.Generator().manual_seed(5)
        for _ in range(3):
            x = torch.randn(200, 32, dtype=torch.float64, generator=gen) * 1000 + 5000
            y = x + 3 * torch.randn(200, 32, dtype=torch.float64, generator=gen)
            mu1, mu2 = x.mean(0), y.mean(0)
            s1, s2 = torch.cov(x.T), torch.cov(y.T)
            inputs = [t.float() for t in (mu1, s1, mu2, s2)]
            want = ref("gaussian_frechet_distance")(*inputs)
            got = _number(call(impl.gaussian_frechet_distance, *inputs), "the distance")
            scale = _distance_scale(*inputs)
            _check_distance(got, want, scale, "the distance for float32 inputs", rtol=1e-3,
                            hint=f"the traces add up to {scale:.3g} here and the distance is {want:.3g}: float32 keeps "
                                 "about 7 digits, too few for that difference. Convert the inputs with .double() and "
                                 "compute in float64.")

    @pytest.mark.points(1)
    def test_singular_covariances(self, impl: Any) -> None:
        """covariances of fewer samples than dimensions (singular) give a finite distance"""
        gen = torch.Generator().manual_seed(6)
        for d, n in ((10, 4), (32, 6)):
            mu1, s1 = _gaussian(d, gen, n=n)
            mu2, s2 = _gaussian(d, gen, n=n, shift=0.3)
            want = ref("gaussian_frechet_distance")(mu1, s1, mu2, s2)
            nan_hint = (f"these covariances have rank {n - 1} in {d} dimensions: rounding makes some of their "
                        "eigenvalues tiny negative numbers, whose square root is nan (and nan in a matrix makes the "
                        "next eigen-decomposition fail). Clamp the eigenvalues at 0 (clamp_min(0)) before taking square "
                        "roots.")
            with hint_on_error(nan_hint):
                got = _number(call(impl.gaussian_frechet_distance, mu1, s1, mu2, s2), "the distance")
            hint = (nan_hint if not math.isfinite(got) else
                    "a singular covariance has zero eigenvalues: a square root through the eigen-decomposition handles "
                    "them; an inverse or a Cholesky factor does not.")
            _check_distance(got, want, _distance_scale(mu1, s1, mu2, s2),
                            f"the distance for rank-{n - 1} covariances in {d} dimensions", hint=hint)


# ------------------------------------------------------------------------------------------ 18 (***)


def _toy_gan(seed: int = 0) -> tuple[nn.Module, nn.Module]:
    """A small generator (4 -> 16 -> 8, tanh) and discriminator (8 -> 16 -> 1 logit per row), no batch norm."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        generator = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 8), nn.Tanh())
        discriminator = nn.Sequential(nn.Linear(8, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1), nn.Flatten(0))
    return generator, discriminator


def _toy_batch(seed: int, n: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return 0.3 * torch.randn(n, 8, generator=gen) + 0.5, torch.randn(n, 4, generator=gen)


def _two_losses(result: Any) -> tuple[float, float]:
    """``(d_loss, g_loss)`` as floats: scalar tensors (or Python numbers)."""
    __tracebackhide__ = True
    check(isinstance(result, (tuple, list)) and len(result) == 2, expected="a pair (d_loss, g_loss)",
          got=f"{type(result).__name__}: {result!r}"[:200], hint="return d_loss, g_loss")
    out = []
    for name, value in zip(("d_loss", "g_loss"), result):
        if isinstance(value, torch.Tensor):
            check_tensor(value, shape=(), what=name, hint="each loss is a batch mean: one number, shape ().")
            value = float(value.detach())
        check(isinstance(value, float) and math.isfinite(value), expected=f"{name}: a finite number",
              got=f"{value!r}"[:100], hint="return the two losses you computed, as scalar tensors.")
        out.append(value)
    return out[0], out[1]


class _Watch:
    """Records, in order, when gradients reach the generator's or the discriminator's parameters and when each
    optimiser steps (with a snapshot of the generator's parameters and gradients at that moment)."""

    def __init__(self, generator: nn.Module, discriminator: nn.Module, opt_g: torch.optim.Optimizer,
                 opt_d: torch.optim.Optimizer) -> None:
        self.events: list[str] = []
        self.g_grads_at_g_step: list[torch.Tensor | None] = []
        self.g_params_at_d_step: list[torch.Tensor] = []
        self.handles = []
        for net, tag in ((generator, "G gradient"), (discriminator, "D gradient")):
            for p in net.parameters():
                self.handles.append(p.register_hook(lambda grad, tag=tag: self.events.append(tag)))
        self._wrap(opt_d, "opt_d.step", lambda: self.g_params_at_d_step.extend(
            p.detach().clone() for p in generator.parameters()))
        self._wrap(opt_g, "opt_g.step", lambda: self.g_grads_at_g_step.extend(
            None if p.grad is None else p.grad.detach().clone() for p in generator.parameters()))

    def _wrap(self, optimizer: torch.optim.Optimizer, tag: str, before: Any) -> None:
        step = optimizer.step

        def watched(*args: Any, **kwargs: Any) -> Any:
            before()
            self.events.append(tag)
            return step(*args, **kwargs)

        optimizer.step = watched  # type: ignore[method-assign]

    def close(self) -> None:
        for h in self.handles:
            h.remove()

    def count(self, tag: str) -> int:
        return self.events.count(tag)


def _parameter_mismatches(model: nn.Module, twin: nn.Module) -> list[str]:
    theirs = dict(twin.named_parameters())
    return [name for name, p in model.named_parameters()
            if not torch.allclose(p.detach().double(), theirs[name].detach().double(), rtol=1e-4, atol=1e-6)]


def _confident_pair() -> tuple[nn.Module, nn.Module, torch.Tensor, torch.Tensor]:
    """A generator that draws rows of -1 and a discriminator that scores a row by the sum of its 8 entries: real
    rows of +1 get logit +8, the fakes -8. A confident, correct discriminator."""
    generator = nn.Sequential(nn.Linear(4, 8))
    discriminator = nn.Sequential(nn.Linear(8, 1), nn.Flatten(0))
    with torch.no_grad():
        generator[0].weight.zero_()
        generator[0].bias.fill_(-1.0)
        discriminator[0].weight.fill_(1.0)
        discriminator[0].bias.zero_()
    real = torch.ones(6, 8)
    z = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    return generator, discriminator, real, z


@pytest.mark.exercise("dcgan.gan_update")
class TestGANUpdate:
    @pytest.mark.points(2)
    def test_losses_match_the_reference(self, impl: Any) -> None:
        """returns (d_loss, g_loss): D's loss on real (1) and detached fakes (0), then G's non-saturating loss through the updated D"""
        generator, discriminator = _toy_gan()
        g_twin, d_twin = copy.deepcopy(generator), copy.deepcopy(discriminator)
        real, z = _toy_batch(1)
        got_d, got_g = _two_losses(call(impl.gan_update, generator, discriminator,
                                        torch.optim.SGD(generator.parameters(), lr=0.1),
                                        torch.optim.SGD(discriminator.parameters(), lr=0.1), real, z))
        want_d, want_g = (float(v) for v in ref("gan_update")(g_twin, d_twin, torch.optim.SGD(g_twin.parameters(), lr=0.1),
                                                               torch.optim.SGD(d_twin.parameters(), lr=0.1), real, z))
        with torch.no_grad():
            g0, d0 = _toy_gan()
            fake_logits, real_logits = d0(g0(z)), d0(real)
            swapped = float(ref("discriminator_loss")(fake_logits, real_logits))
            old_d_g = float(ref("generator_loss")(fake_logits))
        d_hint = ("real images have label 1 and fakes label 0: your labels look swapped." if abs(got_d - swapped) < 1e-4
                  else "the discriminator's loss of exercise 9: BCE of D(real) against 1 plus BCE of D(fake) against 0.")
        check(abs(got_d - want_d) <= 1e-4 * abs(want_d) + 1e-6, expected=f"d_loss = {want_d:.6g}", got=f"{got_d:.6g}",
              hint=d_hint)
        g_hint = ("score the fakes again after opt_d.step(): the generator learns against the updated discriminator."
                  if abs(got_g - old_d_g) < 1e-4 else
                  "the generator's loss of exercise 3 on D(fake) (fakes labelled 1, 'real'): -log D(G(z)), not "
                  "log(1 - D(G(z))).")
        check(abs(got_g - want_g) <= 1e-4 * abs(want_g) + 1e-6, expected=f"g_loss = {want_g:.6g}", got=f"{got_g:.6g}",
              hint=g_hint)

    @pytest.mark.points(2)
    def test_d_loss_never_reaches_g(self, impl: Any) -> None:
        """the discriminator's loss sends no gradient into the generator (the fakes are detached for D)"""
        generator, discriminator = _toy_gan()
        real, z = _toy_batch(2)
        opt_g = torch.optim.SGD(generator.parameters(), lr=0.1)
        opt_d = torch.optim.SGD(discriminator.parameters(), lr=0.1)
        before = [p.detach().clone() for p in generator.parameters()]
        watch = _Watch(generator, discriminator, opt_g, opt_d)
        try:
            call(impl.gan_update, generator, discriminator, opt_g, opt_d, real, z)
        finally:
            watch.close()
        check("opt_d.step" in watch.events, expected="opt_d.step() to be called", got=f"events: {watch.events[:8]}",
              hint="step the discriminator's optimiser after backpropagating its loss.")
        first_d_step = watch.events.index("opt_d.step")
        early = watch.events[:first_d_step].count("G gradient")
        check(early == 0, expected="no gradient in the generator's parameters before the discriminator's step",
              got=f"{early} gradients reached the generator during the discriminator's turn",
              hint="the discriminator's loss must stop at the fakes: score fake.detach() in its turn (then its "
                   "backward pass cannot reach the generator, and costs less).")
        moved = [i for i, (b, a) in enumerate(zip(before, watch.g_params_at_d_step)) if not torch.equal(b, a)]
        check(not moved, expected="the generator unchanged until its own turn", got=f"{len(moved)} tensors changed",
              hint="only opt_g updates the generator, after the discriminator's step.")

    @pytest.mark.points(1)
    def test_each_optimiser_steps_once(self, impl: Any) -> None:
        """opt_d steps once, then opt_g once"""
        generator, discriminator = _toy_gan()
        real, z = _toy_batch(3)
        opt_g = torch.optim.SGD(generator.parameters(), lr=0.1)
        opt_d = torch.optim.SGD(discriminator.parameters(), lr=0.1)
        watch = _Watch(generator, discriminator, opt_g, opt_d)
        try:
            call(impl.gan_update, generator, discriminator, opt_g, opt_d, real, z)
        finally:
            watch.close()
        steps = [e for e in watch.events if e.endswith(".step")]
        check(steps == ["opt_d.step", "opt_g.step"], expected="the steps ['opt_d.step', 'opt_g.step'], in that order",
              got=str(steps), hint="one step per optimiser and per update, on its own network's loss: the "
                                   "discriminator's first, then the generator's.")

    @pytest.mark.points(2)
    def test_parameters_after_two_updates(self, impl: Any) -> None:
        """after each of two updates both networks equal the reference's: fresh gradients, each net stepped on its own loss"""
        generator, discriminator = _toy_gan(seed=4)
        g_twin, d_twin = copy.deepcopy(generator), copy.deepcopy(discriminator)
        gen = torch.Generator().manual_seed(5)
        for net, twin in ((generator, g_twin), (discriminator, d_twin)):
            for p, q in zip(net.parameters(), twin.parameters()):  # what an earlier backward pass left behind
                p.grad = torch.randn(p.shape, generator=gen)
                q.grad = p.grad.clone()
        opts = [torch.optim.SGD(generator.parameters(), lr=0.1), torch.optim.SGD(discriminator.parameters(), lr=0.1)]
        twin_opts = [torch.optim.SGD(g_twin.parameters(), lr=0.1), torch.optim.SGD(d_twin.parameters(), lr=0.1)]
        for update, seed in ((1, 6), (2, 7)):
            real, z = _toy_batch(seed)
            with one_thread():
                call(impl.gan_update, generator, discriminator, *opts, real, z)
                ref("gan_update")(g_twin, d_twin, *twin_opts, real, z)
            for name, net, twin in (("discriminator", discriminator, d_twin), ("generator", generator, g_twin)):
                wrong = _parameter_mismatches(net, twin)
                check(not wrong, expected=f"after update {update}, the {name} moved by one SGD step on its own loss's "
                                          "gradient", got=f"the {name}'s {wrong[:3]} elsewhere",
                      hint="each network's optimiser: zero_grad() before backward (the parameters held gradients "
                           "already), then step() on that network's loss alone; D's loss on detached fakes.")

    @pytest.mark.points(1)
    def test_labels_at_a_confident_discriminator(self, impl: Any) -> None:
        """a discriminator that is confidently right (real +8, fakes -8) has a loss near 0"""
        generator, discriminator, real, z = _confident_pair()
        d_loss, _ = _two_losses(call(impl.gan_update, generator, discriminator,
                                     torch.optim.SGD(generator.parameters(), lr=0.0),
                                     torch.optim.SGD(discriminator.parameters(), lr=0.0), real, z))
        want = 2 * math.log1p(math.exp(-8))
        check(abs(d_loss - want) < 1e-4, expected=f"d_loss = {want:.3g} (real logits +8, fake logits -8)",
              got=f"{d_loss:.4g}", hint="real images have label 1, fakes label 0: a discriminator that is right with "
                                        "confidence has a loss near 0.")

    @pytest.mark.points(1)
    def test_non_saturating_at_a_confident_discriminator(self, impl: Any) -> None:
        """the generator's loss is -log D(G(z)): large, with a strong gradient, when D rejects the fakes confidently"""
        generator, discriminator, real, z = _confident_pair()
        opt_g = torch.optim.SGD(generator.parameters(), lr=0.0)
        opt_d = torch.optim.SGD(discriminator.parameters(), lr=0.0)
        watch = _Watch(generator, discriminator, opt_g, opt_d)
        try:
            _, g_loss = _two_losses(call(impl.gan_update, generator, discriminator, opt_g, opt_d, real, z))
        finally:
            watch.close()
        want = math.log1p(math.exp(8))
        hint = ("minimising log(1 - D(G(z))) saturates: at a confident discriminator its gradient is about 3e-4. "
                "Label the fakes 1 ('real') in the generator's loss: -log D(G(z)).")
        check(abs(g_loss - want) < 1e-3, expected=f"g_loss = {want:.4f} (-log sigmoid(-8))", got=f"{g_loss:.4g}", hint=hint)
        grads = watch.g_grads_at_g_step
        bias_grad = grads[1] if len(grads) == 2 else None
        strength = float(bias_grad.abs().mean()) if bias_grad is not None else 0.0
        check(strength > 0.5, expected="a gradient of about 1 on the generator's output bias at opt_g.step()",
              got=f"{strength:.3g}", hint=hint)

    @pytest.mark.points(1)
    def test_each_side_learns(self, impl: Any) -> None:
        """with G frozen (lr 0) D's loss falls over 15 updates; with D frozen G's loss falls"""
        real, _ = _toy_batch(8, n=32)
        zs = [_toy_batch(100 + i, n=32)[1] for i in range(15)]

        def losses(generator: nn.Module, discriminator: nn.Module) -> tuple[float, float]:
            with torch.no_grad():
                fake_logits = discriminator(generator(zs[0]))
                return (float(ref("discriminator_loss")(discriminator(real), fake_logits)),
                        float(ref("generator_loss")(fake_logits)))

        for learner, index in (("discriminator", 0), ("generator", 1)):
            generator, discriminator = _toy_gan(seed=9)
            lr_g, lr_d = (0.0, 0.01) if learner == "discriminator" else (0.01, 0.0)
            opt_g = torch.optim.Adam(generator.parameters(), lr=lr_g)
            opt_d = torch.optim.Adam(discriminator.parameters(), lr=lr_d)
            with one_thread():
                before = losses(generator, discriminator)[index]
                for z in zs:
                    call(impl.gan_update, generator, discriminator, opt_g, opt_d, real, z)
                after = losses(generator, discriminator)[index]
            check(after < before - 0.05, expected=f"the {learner}'s loss to fall from {before:.4f} (the other net frozen)",
                  got=f"{after:.4f}", hint="each network descends on its own loss: D on real = 1 and fake = 0, G on "
                                           "its fakes called real; backward() then step() of its own optimiser.")
