"""Graded checks of the VAE chapter's exercises (``exercises/vae.py``)."""

from __future__ import annotations

import functools
import copy
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fundamentalml.exercises._grading import (call, check, check_close, check_tensor, close, hint_on_error, load_reference,
                                          one_thread)

CHAPTER = "vae"


ref = functools.partial(load_reference, CHAPTER)  # ref(name): the package's reference solution, what checks compare with


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# ------------------------------------------------------------------------------------------ 1 (*)


@pytest.mark.exercise("vae.lerp")
class TestLerp:
    @pytest.mark.points(1)
    def test_shape_and_dtype(self, impl: Any) -> None:
        """returns (steps, D) in the dtype of the codes"""
        for dtype in (torch.float32, torch.float64):
            z_a, z_b = torch.randn(8, dtype=dtype), torch.randn(8, dtype=dtype)
            check_tensor(call(impl.lerp, z_a, z_b, 5), shape=(5, 8), dtype=dtype, what=f"lerp of {dtype} codes",
                         hint="one row per step: t of shape (steps, 1) times a code of shape (D,) broadcasts to (steps, D).",
                         dtype_hint="make t in the codes' dtype: torch.linspace(0, 1, steps, dtype=z_a.dtype).")

    @pytest.mark.points(1)
    def test_endpoints(self, impl: Any) -> None:
        """the first code is z_a and the last z_b"""
        z_a, z_b = torch.randn(6), torch.randn(6)
        path = check_tensor(call(impl.lerp, z_a, z_b, 4), shape=(4, 6), what="the path")
        check_close(path[0], z_a, what="first code", hint="t runs from 0 (z_a) ...")
        check_close(path[-1], z_b, what="last code", hint="... to 1 (z_b), both included: torch.linspace(0, 1, steps).")

    @pytest.mark.points(2)
    def test_evenly_spaced(self, impl: Any) -> None:
        """codes are evenly spaced on the segment"""
        z_a, z_b = torch.randn(10), torch.randn(10)
        for steps in (2, 7):
            check_close(call(impl.lerp, z_a, z_b, steps), ref("lerp")(z_a, z_b, steps), what=f"lerp with {steps} steps",
                        hint="row i sits at t_i = i / (steps - 1) of the way from z_a to z_b: equal steps, both ends "
                             "included; compare your rows with the docstring's.")


# ------------------------------------------------------------------------------------------ 2 (*)


@pytest.mark.exercise("vae.reparameterize")
class TestReparameterize:
    @pytest.mark.points(1)
    def test_shape_and_dtype(self, impl: Any) -> None:
        """z has the shape and dtype of mu"""
        for dtype in (torch.float32, torch.float64):
            mu, logvar = torch.randn(5, 3, dtype=dtype), torch.randn(5, 3, dtype=dtype)
            check_tensor(call(impl.reparameterize, mu, logvar), shape=(5, 3), dtype=dtype, what=f"z for {dtype} inputs",
                         hint="build z from mu, logvar and eps of the same shape (torch.randn_like(mu)).",
                         dtype_hint="draw eps in mu's dtype: torch.randn_like(mu) does; torch.randn(shape) gives the "
                                    "default dtype, float32.")

    @pytest.mark.points(1)
    def test_mean_and_std(self, impl: Any) -> None:
        """samples have mean mu and standard deviation exp(logvar / 2)"""
        n = 20000
        mu = torch.tensor([-2.0, 0.0, 1.0, 3.0])
        std = torch.tensor([0.5, 1.0, 2.0, 0.3])
        logvar = (2 * std.log()).expand(n, 4).clone()
        z = check_tensor(call(impl.reparameterize, mu.expand(n, 4).clone(), logvar), shape=(n, 4), what="z")
        z = z.detach().double()
        # Five standard errors: a correct sampler fails about once in a million runs.
        mean_ok = bool(((z.mean(0) - mu.double()).abs() < 5 * std.double() / n ** 0.5).all())
        check(mean_ok, expected=f"column means close to mu = {mu.tolist()}",
              got=f"means {[round(v, 3) for v in z.mean(0).tolist()]}",
              hint="z = mu + sigma * eps with eps ~ N(0, 1): its mean is mu.")
        check(close(z.std(0), std, rtol=0.05, atol=0), expected=f"column std close to {std.tolist()}",
              got=f"std {[round(v, 3) for v in z.std(0).tolist()]}",
              hint="logvar is the log of the variance sigma^2, not of the standard deviation sigma: what is sigma in "
                   "terms of logvar?")

    @pytest.mark.points(1)
    def test_fresh_noise(self, impl: Any) -> None:
        """every call, and every row, gets its own noise"""
        mu, logvar = torch.zeros(4, 6), torch.zeros(4, 6)
        z1 = check_tensor(call(impl.reparameterize, mu, logvar), shape=(4, 6), what="z").detach()
        z2 = check_tensor(call(impl.reparameterize, mu, logvar), shape=(4, 6), what="z").detach()
        check(not close(z1, z2, rtol=0, atol=0), expected="two calls with the same mu, logvar to give different z",
              got="the same z twice", hint="draw a new eps inside the function on every call.")
        check(not close(z1[0], z1[1]), expected="different noise in each row",
              got="identical rows", hint="eps needs the full shape (B, D) of mu, not (D,).")

    @pytest.mark.points(1)
    def test_independent_dimensions(self, impl: Any) -> None:
        """every latent dimension gets its own noise: the columns of z are uncorrelated"""
        n, d = 4000, 8
        z = check_tensor(call(impl.reparameterize, torch.zeros(n, d), torch.zeros(n, d)), shape=(n, d), what="z")
        corr = torch.corrcoef(z.detach().double().T).nan_to_num(nan=1.0) - torch.eye(d, dtype=torch.float64)
        worst = int(corr.abs().flatten().argmax())
        i, j = divmod(worst, d)
        # Sample correlations of independent columns are about N(0, 1/n): five standard errors.
        check(corr.abs().max().item() < 5 / n ** 0.5, expected="uncorrelated columns (independent noise per dimension)",
              got=f"correlation {corr[i, j].item():.3f} between dimensions {i} and {j}",
              hint="eps ~ N(0, I) has one independent value per entry of mu: torch.randn_like(mu), of shape (B, D); "
                   "noise of shape (B, 1) is shared by all the dimensions of a row.")

    @pytest.mark.points(1)
    def test_gradient_reaches_mu(self, impl: Any) -> None:
        """gradients flow to mu: dz/dmu = 1"""
        mu = torch.randn(3, 4, requires_grad=True)
        logvar = torch.randn(3, 4, requires_grad=True)
        z = check_tensor(call(impl.reparameterize, mu, logvar), shape=(3, 4), what="z")
        check(z.requires_grad, expected="z to be connected to mu and logvar in the autograd graph",
              got="a z that does not require grad",
              hint="do not detach, use torch.no_grad() or rebuild z with torch.tensor(...): compute it from mu.")
        z.sum().backward()
        zero = mu.grad is not None and bool((mu.grad == 0).all())
        check(mu.grad is not None and close(mu.grad, torch.ones_like(mu)),
              expected="mu.grad = 1 everywhere (z = mu + ...)", got=mu.grad if mu.grad is not None else "no gradient",
              hint="torch.normal(mu, sigma) draws the sample without a path for gradients: write it as "
                   "mu + sigma * eps yourself." if zero else
                   "z must be mu plus the scaled noise, with mu entering once and unscaled.")

    @pytest.mark.points(1)
    def test_gradient_reaches_logvar(self, impl: Any) -> None:
        """gradients flow to logvar: dz/dlogvar = (z - mu) / 2"""
        mu = torch.randn(3, 4, requires_grad=True)
        logvar = torch.randn(3, 4, requires_grad=True)
        z = check_tensor(call(impl.reparameterize, mu, logvar), shape=(3, 4), what="z")
        check(z.requires_grad, expected="z to depend on logvar through autograd", got="a z that does not require grad",
              hint="compute z from logvar with torch operations; do not detach it.")
        z.sum().backward()
        expected = 0.5 * (z - mu).detach()
        check(logvar.grad is not None, expected="a gradient for logvar", got="None",
              hint="returning mu alone is not a sample: add the noise, scaled by a sigma computed from logvar.")
        check_close(logvar.grad, expected, what="logvar.grad", rtol=1e-4, atol=1e-5,
                    hint="z - mu = sigma * eps, and d sigma / d logvar = sigma / 2 when sigma^2 = exp(logvar): a "
                         "sigma computed some other way from logvar gives another gradient.")


# ------------------------------------------------------------------------------------------ 6 (**)


@pytest.mark.exercise("vae.kl_divergence")
class TestKLDivergence:
    @pytest.mark.points(1)
    def test_shape_and_dtype(self, impl: Any) -> None:
        """one KL per row: shape (B,), dtype of mu"""
        for dtype in (torch.float32, torch.float64):
            kl = call(impl.kl_divergence, torch.randn(7, 5, dtype=dtype), torch.randn(7, 5, dtype=dtype))
            check_tensor(kl, shape=(7,), dtype=dtype, what=f"KL for {dtype} inputs",
                         hint="sum over the latent dimension only: .sum(dim=-1), not .sum().",
                         dtype_hint="compute the KL from mu and logvar with torch operations: it then keeps their "
                                    "dtype (no torch.tensor(...) or numpy on the way).")

    @pytest.mark.points(1)
    def test_zero_at_the_prior(self, impl: Any) -> None:
        """KL = 0 when q is the prior (mu = 0, logvar = 0)"""
        kl = check_tensor(call(impl.kl_divergence, torch.zeros(3, 5), torch.zeros(3, 5)), shape=(3,), what="KL")
        check(close(kl, torch.zeros(3), atol=1e-6), expected="KL = 0 for every row", got=kl,
              hint="at mu = 0, sigma = 1 each dimension gives 1/2 * (0 + 1 - 0 - 1) = 0: check the constant term.")

    @pytest.mark.points(1)
    def test_positive_away_from_the_prior(self, impl: Any) -> None:
        """KL > 0 whenever q differs from the prior"""
        mu, logvar = torch.randn(64, 8), torch.randn(64, 8)
        mu[0], logvar[0] = 0.0, 0.0
        mu[0, 3] = 0.5  # only the mean moved
        mu[1], logvar[1] = 0.0, 0.0
        logvar[1, 2] = -1.0  # only the variance moved
        kl = check_tensor(call(impl.kl_divergence, mu, logvar), shape=(64,), what="KL").detach().double()
        check(bool((kl > 0).all()), expected="KL > 0 in every row", got=f"minimum {kl.min().item():.4g} (row {int(kl.argmin())})",
              hint="a KL divergence is never negative: check the overall sign of your formula.")

    @pytest.mark.points(2)
    def test_matches_the_closed_form(self, impl: Any) -> None:
        """KL matches the closed form on random Gaussians"""
        mu, logvar = 2 * torch.randn(16, 10), torch.randn(16, 10)
        check_close(call(impl.kl_divergence, mu, logvar), ref("kl_divergence")(mu, logvar), what="KL",
                    hint="compare your terms with the docstring's one by one: sigma^2 and log(sigma^2) are both "
                         "written with logvar, and the factor 1/2 and the -1 are easy to drop.")

    @pytest.mark.points(1)
    def test_gradients(self, impl: Any) -> None:
        """dKL/dmu = mu and dKL/dlogvar = (exp(logvar) - 1) / 2"""
        mu = torch.randn(4, 3, requires_grad=True)
        logvar = torch.randn(4, 3, requires_grad=True)
        kl = check_tensor(call(impl.kl_divergence, mu, logvar), shape=(4,), what="KL")
        check(kl.requires_grad, expected="a KL connected to mu and logvar", got="a KL without gradient",
              hint="compute it with torch operations from mu and logvar (no .item(), no detach).")
        kl.sum().backward()
        check_close(mu.grad, mu.detach(), what="dKL/dmu", hint="the mu term of the KL is 0.5 * mu^2.")
        check_close(logvar.grad, 0.5 * (logvar.detach().exp() - 1), what="dKL/dlogvar",
                    hint="the logvar terms of the KL are 0.5 * (exp(logvar) - logvar).")


# ------------------------------------------------------------------------------------------ 7 (**)


def _conv_cases(n: int, transposed: bool) -> list[dict[str, int]]:
    gen = torch.Generator().manual_seed(7 if transposed else 3)
    cases: list[dict[str, int]] = []
    while len(cases) < n:
        size, kernel, stride, padding = (int(torch.randint(lo, hi, (), generator=gen)) for lo, hi in
                                         ((3, 40), (1, 6), (1, 4), (0, 3)))
        case = {"size": size, "kernel": kernel, "stride": stride, "padding": padding}
        if transposed:
            case["output_padding"] = int(torch.randint(0, stride, (), generator=gen))
            if padding >= kernel or (size - 1) * stride - 2 * padding + kernel + case["output_padding"] <= 0:
                continue
        elif size + 2 * padding < kernel or padding > kernel // 2:
            continue
        cases.append(case)
    return cases


def _torch_size(case: dict[str, int], transposed: bool) -> int:
    """The size torch itself produces: the ground truth."""
    size, kernel, stride, padding = case["size"], case["kernel"], case["stride"], case["padding"]
    if transposed:
        layer: nn.Module = nn.ConvTranspose2d(1, 1, kernel, stride, padding, output_padding=case["output_padding"])
    else:
        layer = nn.Conv2d(1, 1, kernel, stride, padding)
    with torch.no_grad():
        return int(layer(torch.zeros(1, 1, size, size)).shape[-1])


@pytest.mark.exercise("vae.conv_sizes")
class TestConvSizes:
    @pytest.mark.points(2)
    def test_conv_matches_torch(self, impl: Any) -> None:
        """conv_output_size agrees with nn.Conv2d on 30 random settings"""
        for case in _conv_cases(30, transposed=False):
            got = impl.conv_output_size(**case)
            want = _torch_size(case, transposed=False)
            check(got == want, expected=f"{want} for {case}", got=repr(got),
                  hint="padding is added on both sides of the input, and a last position where the kernel does not "
                       "fit entirely is not counted.")

    @pytest.mark.points(2)
    def test_transpose_matches_torch(self, impl: Any) -> None:
        """conv_transpose_output_size agrees with nn.ConvTranspose2d on 30 random settings"""
        for case in _conv_cases(30, transposed=True):
            got = impl.conv_transpose_output_size(**case)
            want = _torch_size(case, transposed=True)
            check(got == want, expected=f"{want} for {case}", got=repr(got),
                  hint="run the convolution's count backwards (which input would a convolution with these settings "
                       "map to size?); output_padding then adds to the result once.")

    @pytest.mark.points(1)
    def test_returns_int(self, impl: Any) -> None:
        """both functions return a Python int"""
        for name, value in (("conv_output_size(28, 3, 2, 1)", impl.conv_output_size(28, 3, 2, 1)),
                            ("conv_transpose_output_size(7, 3, 2, 1, 1)", impl.conv_transpose_output_size(7, 3, 2, 1, 1))):
            check(_is_int(value), expected=f"{name} to be an int", got=f"{type(value).__name__} {value!r}",
                  hint="use integer division // (a size of 13.5 pixels does not exist).")

    @pytest.mark.points(1)
    def test_cnn_decoder_design(self, impl: Any) -> None:
        """the CNN VAE's sizes with kernel 3: 28 -> 14 -> 7 down, 7 -> 14 -> 28 up (output_padding 1)"""
        # fundamentalml.models.vae.ConvVAE: Conv2d(3, stride 2, padding 1) twice (then a stride-1 conv that keeps
        # 7 x 7), and ConvTranspose2d(3, stride 2, padding 1, output_padding 1) twice.
        down = [28]
        for _ in range(2):
            down.append(impl.conv_output_size(down[-1], kernel=3, stride=2, padding=1))
        down.append(impl.conv_output_size(down[-1], kernel=3, stride=1, padding=1))
        check(down == [28, 14, 7, 7], expected="encoder 28 -> 14 -> 7 -> 7 (kernel 3, padding 1; strides 2, 2, 1)",
              got=f"encoder {down}", hint="a stride-2 convolution with kernel 3 and padding 1 halves an even size; "
                                          "with stride 1 it keeps the size.")
        up = [7]
        for _ in range(2):
            up.append(impl.conv_transpose_output_size(up[-1], kernel=3, stride=2, padding=1, output_padding=1))
        check(up == [7, 14, 28], expected="decoder 7 -> 14 -> 28 (kernel 3, stride 2, padding 1, output_padding 1)",
              got=f"decoder {up}", hint="without output_padding, kernel 3, stride 2, padding 1 gives 2H - 1: "
                                        "output_padding adds the missing row once, at the end.")
        dcgan = impl.conv_transpose_output_size(7, kernel=4, stride=2, padding=1)
        check(dcgan == 14, expected="7 -> 14 with kernel 4, stride 2, padding 1 (the DCGAN generator's blocks)",
              got=repr(dcgan), hint="an even kernel with stride 2 doubles the size without output_padding.")


# ------------------------------------------------------------------------------------------ 8 (**)


def _loss_inputs(batch: int = 6, image: tuple[int, ...] = (1, 28, 28)) -> tuple[torch.Tensor, ...]:
    recon = torch.sigmoid(torch.randn(batch, *image))
    x = torch.rand(batch, *image)
    return recon, x, torch.randn(batch, 8), torch.randn(batch, 8)


def _three_scalars(result: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    __tracebackhide__ = True
    check(isinstance(result, (tuple, list)) and len(result) == 3, expected="a tuple (loss, bce, kl)",
          got=f"{type(result).__name__}", hint="return loss, bce, kl")
    for name, value in zip(("loss", "bce", "kl"), result):
        check_tensor(value, shape=(), what=name, hint="reduce to a single number: sum per image, then mean over the batch.")
    return tuple(result)  # type: ignore[return-value]


@pytest.mark.exercise("vae.vae_loss")
class TestVAELoss:
    @pytest.mark.points(2)
    def test_reconstruction_term(self, impl: Any) -> None:
        """bce is summed over pixels and averaged over the batch"""
        inputs = _loss_inputs()
        _, bce, _ = _three_scalars(call(impl.vae_loss, *inputs))
        _, expected, _ = ref("vae_loss")(*inputs)
        check_close(bce, expected, what="bce", rtol=1e-4,
                    hint="sum the binary cross-entropy over all pixels (reduction='sum'), then divide by the batch size, "
                         "not by the number of pixels (that is reduction='mean').")

    @pytest.mark.points(1)
    def test_kl_term(self, impl: Any) -> None:
        """kl is the per-row KL averaged over the batch, not weighted by beta (beta = 1 and 4)"""
        inputs = _loss_inputs()
        for beta in (1.0, 4.0):
            _, _, kl = _three_scalars(call(impl.vae_loss, *inputs, beta=beta))
            _, _, expected = ref("vae_loss")(*inputs, beta=beta)
            check_close(kl, expected, what=f"kl with beta={beta:g}", rtol=1e-4,
                        hint="the KL of each row (exercise 6), averaged over the batch; beta weights it in the loss "
                             "only, so return the kl itself, not beta * kl." if beta != 1 else
                             "the KL of each row (exercise 6: summed over the latent dimensions), averaged over the batch.")

    @pytest.mark.points(1)
    def test_loss_combines_with_beta(self, impl: Any) -> None:
        """loss = bce + beta * kl, for beta = 1 and beta = 4"""
        inputs = _loss_inputs()
        for beta in (1.0, 4.0):
            loss, bce, kl = _three_scalars(call(impl.vae_loss, *inputs, beta=beta))
            expected, _, _ = ref("vae_loss")(*inputs, beta=beta)
            check_close(loss, expected, what=f"loss with beta={beta:g}", rtol=1e-4,
                        hint="loss = bce + beta * kl: use the beta argument, and add (not subtract) the KL.")

    @pytest.mark.points(1)
    def test_any_image_shape(self, impl: Any) -> None:
        """works for any shape with B rows: flattened (B, 784) and (B, 3, 8, 8) images"""
        inputs = _loss_inputs(batch=5)
        right_for_mnist = all(close(got, want, rtol=1e-4) for got, want in
                              zip(_three_scalars(call(impl.vae_loss, *inputs, beta=2.0)), ref("vae_loss")(*inputs, beta=2.0)))
        hint = ("do not assume 4-D images: sum over everything and divide by the batch size recon.shape[0] "
                "(or flatten with recon.reshape(len(recon), -1))." if right_for_mnist else
                "the values are off for (B, 1, 28, 28) images too: see the other checks of this exercise first.")
        for image in ((784,), (3, 8, 8)):
            inputs = _loss_inputs(batch=5, image=image)
            with hint_on_error(hint):
                got = _three_scalars(call(impl.vae_loss, *inputs, beta=2.0))
            for name, value, expected in zip(("loss", "bce", "kl"), got, ref("vae_loss")(*inputs, beta=2.0)):
                check_close(value, expected, what=f"{name} for images of shape {(5, *image)}", rtol=1e-4, hint=hint)

    @pytest.mark.points(1)
    def test_gradients_flow(self, impl: Any) -> None:
        """the loss is differentiable in recon, mu and logvar"""
        recon, x, mu, logvar = _loss_inputs()
        logits = torch.randn(6, 1, 28, 28, requires_grad=True)
        mu.requires_grad_(True)
        logvar.requires_grad_(True)
        loss, _, _ = _three_scalars(call(impl.vae_loss, torch.sigmoid(logits), x, mu, logvar))
        check(loss.requires_grad, expected="a loss connected to the autograd graph", got="a loss without gradient",
              hint="use torch operations only: no .item(), .detach() or torch.no_grad() inside the loss.")
        loss.backward()
        for name, t in (("the decoder output", logits), ("mu", mu), ("logvar", logvar)):
            check(t.grad is not None and bool(t.grad.abs().sum() > 0), expected=f"a non-zero gradient for {name}",
                  got="none", hint="both terms must enter the loss.")


# ------------------------------------------------------------------------------------------ 14 (***)


@pytest.mark.exercise("vae.slerp")
class TestSlerp:
    @pytest.mark.points(1)
    def test_shape_and_endpoints(self, impl: Any) -> None:
        """returns (steps, D) in the codes' dtype, from z_a to z_b"""
        z_a, z_b = torch.randn(16), torch.randn(16)
        path = check_tensor(call(impl.slerp, z_a, z_b, 6), shape=(6, 16), dtype=torch.float32, what="the path",
                            dtype_hint="make t in the codes' dtype: torch.linspace(0, 1, steps, dtype=z_a.dtype).")
        check_close(path[0], z_a, what="first code", hint="at t = 0 the formula gives sin(omega) * z_a / sin(omega) = z_a.")
        check_close(path[-1], z_b, what="last code", hint="at t = 1 it gives z_b; t = torch.linspace(0, 1, steps).", atol=1e-4)

    @pytest.mark.points(1)
    def test_keeps_the_norm(self, impl: Any) -> None:
        """codes of equal norm stay on their sphere (a straight line would cut inside)"""
        z_a, z_b = torch.randn(32), torch.randn(32)
        z_b = z_b / z_b.norm() * z_a.norm()
        path = check_tensor(call(impl.slerp, z_a, z_b, 9), shape=(9, 32), what="the path")
        norms = path.detach().double().norm(dim=1)
        check(close(norms, z_a.norm().expand(9), rtol=1e-3), expected=f"every norm = {z_a.norm().item():.4f}",
              got=f"norms {[round(v, 4) for v in norms.tolist()]}",
              hint="weight z_a by sin((1 - t) * omega) and z_b by sin(t * omega), divide by sin(omega); "
                   "linear weights (1 - t, t) shrink the norm in the middle.")

    @pytest.mark.points(2)
    def test_matches_the_great_circle(self, impl: Any) -> None:
        """codes follow the great circle at constant angular speed"""
        z_a, z_b = torch.randn(12), 3 * torch.randn(12)
        check_close(call(impl.slerp, z_a, z_b, 7), ref("slerp")(z_a, z_b, 7), what="slerp with 7 steps", atol=1e-4,
                    hint="omega is the angle between the codes themselves: its cosine is their dot product divided "
                         "by both norms; then each weight is one of the docstring's sines divided by sin(omega).")

    @pytest.mark.points(1)
    def test_parallel_codes(self, impl: Any) -> None:
        """parallel codes (sin(omega) = 0) fall back to a straight line, without NaN"""
        z_a = torch.randn(5)
        path = check_tensor(call(impl.slerp, z_a, 2 * z_a, 5), shape=(5, 5), what="the path between z and 2z")
        check(bool(torch.isfinite(path).all()), expected="finite codes", got=path,
              hint="when sin(omega) is (almost) 0, return lerp(z_a, z_b, steps) instead of dividing by it.")
        check_close(path, ref("lerp")(z_a, 2 * z_a, 5), what="the path between z and 2z", atol=1e-4,
                    hint="parallel codes lie on one line: linear interpolation is the right path.")

    @pytest.mark.points(1)
    def test_opposite_codes(self, impl: Any) -> None:
        """opposite codes (omega = pi, sin(omega) = 0 too) fall back to a straight line, for many codes"""
        # Many codes: in float32 the cosine of z and -c z comes out as -1 or a hair above, and arccos of a hair
        # above -1 is pi - 3.5e-4, so a check of sin(omega) against a tiny threshold passes some codes, not all.
        for i, dim in enumerate((2, 3, 8, 16, 32, 64, 128, 512)):
            z_a = torch.randn(dim)
            for scale in (1.0, 2.0, 0.3):
                z_b = -scale * z_a
                name = f"the path from z to -{scale:g} z".replace(" -1 z", " -z")
                path = check_tensor(call(impl.slerp, z_a, z_b, 5), shape=(5, dim), what=name)
                check_close(path, ref("lerp")(z_a, z_b, 5), what=f"{name} (D = {dim})", atol=1e-4,
                            hint="opposite codes have cos(omega) = -1 and sin(omega) = 0, like parallel ones: fall back "
                                 "to lerp when |cos(omega)| is close to 1, not only cos(omega). In float32, arccos of a "
                                 "cosine near -1 is only good to about 3e-4: test the cosine (say |cos| > 0.9995) "
                                 "rather than sin(omega) against a tiny threshold.")


# ------------------------------------------------------------------------------------------ 17 (***)


def _tiny_vae(seed: int = 0, certain: bool = False) -> nn.Module:
    """A small MLP VAE of the chapter's kind (784-32-(4, 4), decoder 4-32-784). ``certain``: its encoder says
    logvar = -30 everywhere (sigma = 3e-7), so the loss no longer depends on how the noise was drawn."""
    from fundamentalml.models.vae import MLPVAE

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = MLPVAE(latent_dim=4, hidden_dims=(32,))
    if certain:
        with torch.no_grad():
            model.fc_logvar.weight.zero_()
            model.fc_logvar.bias.fill_(-30.0)
    return model


def _images(n: int = 8, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


def _loss_value(value: Any, what: str = "the returned loss") -> float:
    """The loss as a float: a tensor of one element (shape ()) or a Python number."""
    __tracebackhide__ = True
    if isinstance(value, torch.Tensor):
        check(value.numel() == 1, expected=f"{what}: one number (a tensor of shape ())", got=value,
              hint="return the batch's loss: the mean over the batch is one number.")
        number = float(value.detach())
    else:
        check(isinstance(value, (int, float)) and not isinstance(value, bool), expected=f"{what}: a scalar tensor",
              got=f"{type(value).__name__}: {value!r}"[:200], hint="return the loss you computed (a scalar tensor).")
        number = float(value)
    check(number == number and abs(number) != float("inf"), expected=f"{what}: a finite number", got=f"{number}",
          hint="a nan or inf loss: compute the cross-entropy with F.binary_cross_entropy(probabilities, x) or "
               "F.binary_cross_entropy_with_logits(logits, x), not by hand.")
    return number


def _parameters_match(model: nn.Module, twin: nn.Module) -> list[str]:
    """The names of the parameters of ``model`` that differ from ``twin``'s."""
    theirs = dict(twin.named_parameters())
    return [name for name, p in model.named_parameters()
            if not close(p.detach(), theirs[name].detach(), rtol=1e-4, atol=1e-5)]


@pytest.mark.exercise("vae.vae_step")
class TestVAEStep:
    @pytest.mark.points(1)
    def test_returns_the_loss(self, impl: Any) -> None:
        """returns the batch's loss: one finite number"""
        model = _tiny_vae()
        result = call(impl.vae_step, model, _images(), torch.optim.SGD(model.parameters(), lr=0.0))
        if isinstance(result, torch.Tensor):
            check_tensor(result, shape=(), what="the returned loss", hint="return the batch's loss, a mean: shape ().")
        _loss_value(result)

    @pytest.mark.points(2)
    def test_loss_is_the_negative_elbo(self, impl: Any) -> None:
        """the loss is the -ELBO: BCE summed over each image's pixels plus the KL, averaged over the batch"""
        model, x = _tiny_vae(certain=True), _images()
        twin = copy.deepcopy(model)
        got = _loss_value(call(impl.vae_step, model, x, torch.optim.SGD(model.parameters(), lr=0.0)))
        want = float(ref("vae_step")(twin, x, torch.optim.SGD(twin.parameters(), lr=0.0)))
        with torch.no_grad():
            mu, logvar = twin.encode(x)
            logits = twin.decode_logits(mu)
            bce = float(F.binary_cross_entropy_with_logits(logits, x, reduction="sum")) / len(x)
            kl = float(ref("kl_divergence")(mu, logvar).mean())
        hint = "encode, sample z = mu + sigma * eps, decode, then BCE + KL of exercise 8 (beta = 1)."
        for wrong, why in ((bce, "the KL term is missing: the -ELBO is the reconstruction BCE plus the KL to the prior."),
                           (bce - kl, "the KL is added to the BCE, not subtracted: both are costs."),
                           (bce / 784 + kl, "sum the BCE over each image's 784 pixels (reduction='sum') and divide by "
                                            "the batch size: reduction='mean' divides by the pixels as well."),
                           (bce + kl / 4, "sum the KL over the latent dimensions, then average over the batch."),
                           (len(x) * want, "average over the batch: the sums over pixels and dimensions are per image.")):
            if abs(got - wrong) <= 1e-3 * abs(wrong):
                hint = why
        check(abs(got - want) <= 1e-4 * abs(want) + 1e-4, expected=f"the -ELBO of the batch = {want:.6g}",
              got=f"{got:.6g}", hint=hint)

    @pytest.mark.points(1)
    def test_samples_the_code(self, impl: Any) -> None:
        """z is drawn afresh (the reparameterisation trick): different noise, a different loss"""
        model, x = _tiny_vae(), _images()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
        losses = []
        for seed in (1, 2):
            torch.manual_seed(seed)
            losses.append(_loss_value(call(impl.vae_step, model, x, optimizer)))
        check(abs(losses[0] - losses[1]) > 1e-6 * abs(losses[0]),
              expected="two calls with different random states to give different losses (z is a sample)",
              got=f"{losses[0]:.8g} both times",
              hint="decode a sample z = mu + exp(logvar / 2) * eps with fresh eps, not mu itself: the ELBO is an "
                   "expectation over q(z|x), estimated with one sample.")

    @pytest.mark.points(2)
    def test_one_step_from_fresh_gradients(self, impl: Any) -> None:
        """each call moves the parameters by one optimiser step on this batch's gradient alone (zero_grad, backward, step)"""
        model = _tiny_vae(certain=True)
        twin = copy.deepcopy(model)
        gen = torch.Generator().manual_seed(3)
        for p, q in zip(model.parameters(), twin.parameters()):  # gradients an earlier backward pass left behind
            p.grad = torch.randn(p.shape, generator=gen)
            q.grad = p.grad.clone()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
        reference = torch.optim.SGD(twin.parameters(), lr=0.01)
        for call_number, seed in ((1, 10), (2, 11)):
            x = _images(seed=seed)
            with one_thread():
                call(impl.vae_step, model, x, optimizer)
                ref("vae_step")(twin, x, reference)
            wrong = _parameters_match(model, twin)
            check(not wrong, expected=f"after call {call_number}, every parameter moved by one SGD step on this batch's "
                                      "gradient",
                  got=f"{len(wrong)} parameters elsewhere, e.g. {wrong[:3]}",
                  hint="the parameters held gradients already, and backward() adds to them: call optimizer.zero_grad() "
                       "before loss.backward(); then one backward() and one optimizer.step() per call.")

    @pytest.mark.points(1)
    def test_gradients_reach_encoder_and_decoder(self, impl: Any) -> None:
        """one step changes every parameter: encoder, both heads and decoder"""
        model = _tiny_vae()
        before = {name: p.detach().clone() for name, p in model.named_parameters()}
        call(impl.vae_step, model, _images(), torch.optim.SGD(model.parameters(), lr=0.01))
        unchanged = [name for name, p in model.named_parameters() if torch.equal(before[name], p.detach())]
        check(not unchanged, expected="every parameter updated (gradients reach the encoder, mu, logvar and decoder)",
              got=f"unchanged: {unchanged}",
              hint="build z from mu and logvar with torch operations and decode it: no .detach(), .item() or "
                   "torch.no_grad() on the way; and step the optimiser after backward().")

    @pytest.mark.points(1)
    def test_loss_falls(self, impl: Any) -> None:
        """twenty Adam steps on one batch lower its -ELBO"""
        model, x = _tiny_vae(seed=5), _images(16, seed=4)

        def elbo() -> float:
            with torch.random.fork_rng(), torch.no_grad():
                torch.manual_seed(0)
                return float(model.batch_loss((x,))["loss"])

        with one_thread():
            before = elbo()
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
            for _ in range(20):
                call(impl.vae_step, model, x, optimizer)
            after = elbo()
        check(after < 0.97 * before, expected=f"the batch's -ELBO to fall below {0.97 * before:.5g} (from {before:.5g})",
              got=f"{after:.5g}",
              hint="step downhill on the -ELBO: loss.backward() then optimizer.step(), once per call, with the "
                   "gradients cleared first.")
