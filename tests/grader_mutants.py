"""Plausible wrong solutions of every exercise, which the graders in ``exercises/`` must reject, and correct
solutions written differently from the references, which they must accept.

Every wrong function depends only on the package's references for anything other than its own mistake, so
a rejection is caused by that mistake. ``MUTANTS`` maps each exercise function to its wrong versions
(``<function>__<mistake>``), ``HINTS`` some of them to a phrase their failure message must contain, and
``ALTERNATIVES`` each function to its correct alternatives (``alt__<function>__<how>``), which use neither the
references nor each other. ``tests/test_graders.py`` writes modules that swap them in and grades those modules.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from fundamentalml import metrics as ref_metrics
from fundamentalml.exercises._grading import REFERENCES
from fundamentalml.models import dcgan as ref_dcgan
from fundamentalml.models import latent as ref_latent
from fundamentalml.models import vae as ref_vae

# ------------------------------------------------------------------------------------------ VAE


def reparameterize__returns_mu(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Skips the sampling altogether."""
    return mu


def reparameterize__forgets_half(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Uses exp(logvar), the variance, as the standard deviation."""
    return mu + torch.randn_like(mu) * torch.exp(logvar)


def reparameterize__shared_noise(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Draws one eps of shape (D,) for the whole batch."""
    return mu + torch.randn(mu.shape[-1], dtype=mu.dtype) * torch.exp(0.5 * logvar)


def reparameterize__noise_per_row(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Draws one eps per row, shared by all the latent dimensions: they come out perfectly correlated."""
    return mu + torch.randn(mu.shape[0], 1, dtype=mu.dtype) * torch.exp(0.5 * logvar)


def reparameterize__torch_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """torch.normal(mu, sigma): the right distribution, but no gradient reaches mu or logvar."""
    return torch.normal(mu, torch.exp(0.5 * logvar))


def kl_divergence__sign_error(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Drops the leading minus sign."""
    return 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=-1)


def kl_divergence__forgets_half(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Forgets the factor 1/2."""
    return -torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=-1)


def kl_divergence__mean_over_dims(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Averages over the latent dimensions instead of summing."""
    return -0.5 * torch.mean(1 + logvar - mu.pow(2) - logvar.exp(), dim=-1)


def kl_divergence__float64_result(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Computes (and returns) the KL in float64 whatever the inputs' dtype."""
    return ref_vae.kl_divergence(mu.double(), logvar.double())


def vae_loss__mean_reduction(recon, x, mu, logvar, beta=1.0):
    """Reduces the BCE with mean (per pixel) instead of sum per image."""
    bce = F.binary_cross_entropy(recon, x)
    kl = ref_vae.kl_divergence(mu, logvar).mean()
    return bce + beta * kl, bce, kl


def vae_loss__no_batch_average(recon, x, mu, logvar, beta=1.0):
    """Sums over the batch too."""
    bce = F.binary_cross_entropy(recon, x, reduction="sum")
    kl = ref_vae.kl_divergence(mu, logvar).sum()
    return bce + beta * kl, bce, kl


def vae_loss__ignores_beta(recon, x, mu, logvar, beta=1.0):
    """Forgets to weight the KL."""
    _, bce, kl = ref_vae.vae_loss(recon, x, mu, logvar)
    return bce + kl, bce, kl


def vae_loss__beta_weighted_kl(recon, x, mu, logvar, beta=1.0):
    """Returns beta * kl as its third value."""
    loss, bce, kl = ref_vae.vae_loss(recon, x, mu, logvar, beta=beta)
    return loss, bce, beta * kl


def vae_loss__only_4d_images(recon, x, mu, logvar, beta=1.0):
    """Sums the BCE over dimensions 1, 2 and 3: breaks on flattened images."""
    bce = F.binary_cross_entropy(recon, x, reduction="none").sum(dim=(1, 2, 3)).mean()
    kl = ref_vae.kl_divergence(mu, logvar).mean()
    return bce + beta * kl, bce, kl


def conv_output_size__pads_one_side(size, kernel, stride=1, padding=0):
    """Adds the padding once instead of on both sides."""
    return (size + padding - kernel) // stride + 1


def conv_output_size__float_division(size, kernel, stride=1, padding=0):
    """Divides with / and returns a float."""
    return (size + 2 * padding - kernel) / stride + 1


def conv_transpose_output_size__forgets_output_padding(size, kernel, stride=1, padding=0, output_padding=0):
    """Leaves output_padding out."""
    return (size - 1) * stride - 2 * padding + kernel


def lerp__excludes_endpoint(z_a, z_b, steps):
    """t = i / steps: never reaches z_b."""
    t = torch.arange(steps, dtype=z_a.dtype)[:, None] / steps
    return (1 - t) * z_a + t * z_b


def lerp__reversed(z_a, z_b, steps):
    """Walks from z_b to z_a."""
    t = torch.linspace(0, 1, steps, dtype=z_a.dtype)[:, None]
    return t * z_a + (1 - t) * z_b


def slerp__is_lerp(z_a, z_b, steps):
    """A straight line: cuts inside the sphere."""
    return ref_latent.lerp(z_a, z_b, steps)


def slerp__swapped_weights(z_a, z_b, steps):
    """Weights z_a with sin(t omega) and z_b with sin((1 - t) omega)."""
    omega = torch.arccos((z_a @ z_b / (z_a.norm() * z_b.norm())).clamp(-1, 1))
    t = torch.linspace(0, 1, steps, dtype=z_a.dtype)[:, None]
    return (torch.sin(t * omega) * z_a + torch.sin((1 - t) * omega) * z_b) / torch.sin(omega)


def slerp__angle_without_norms(z_a, z_b, steps):
    """Takes arccos of the raw dot product, without dividing by the norms."""
    omega = torch.arccos((z_a @ z_b).clamp(-1, 1))
    if torch.sin(omega).abs() < 1e-4:
        return ref_latent.lerp(z_a, z_b, steps)
    t = torch.linspace(0, 1, steps, dtype=z_a.dtype)[:, None]
    return (torch.sin((1 - t) * omega) * z_a + torch.sin(t * omega) * z_b) / torch.sin(omega)


def slerp__lerp_when_cos_close_to_1(z_a, z_b, steps):
    """The common snippet: lerp when cos > 0.9995, which misses opposite codes (cos = -1)."""
    cos = torch.dot(z_a / z_a.norm(), z_b / z_b.norm())
    if cos > 0.9995:
        return ref_latent.lerp(z_a, z_b, steps)
    omega = torch.arccos(cos.clamp(-1, 1))
    t = torch.linspace(0, 1, steps, dtype=z_a.dtype)[:, None]
    return (torch.sin((1 - t) * omega) * z_a + torch.sin(t * omega) * z_b) / torch.sin(omega)


def slerp__arccos_sin_threshold(z_a, z_b, steps):
    """The package's old reference: arccos of the cosine, lerp when sin(omega) < 1e-4. In float32 the angle of
    opposite codes can come out as pi - 3.5e-4, and the path is then not a straight line."""
    cos = torch.dot(z_a, z_b) / (z_a.norm() * z_b.norm()).clamp_min(1e-7)
    omega = torch.arccos(cos.clamp(-1.0, 1.0))
    if torch.sin(omega).abs() < 1e-4:
        return ref_latent.lerp(z_a, z_b, steps)
    t = torch.linspace(0.0, 1.0, steps, dtype=z_a.dtype)[:, None]
    return (torch.sin((1.0 - t) * omega) * z_a + torch.sin(t * omega) * z_b) / torch.sin(omega)


def slerp__normalises_in_place(z_a, z_b, steps):
    """Normalises the codes in place and interpolates the unit vectors: right only if the checks computed what
    they expect from the changed codes."""
    z_a /= z_a.norm()
    z_b /= z_b.norm()
    return ref_latent.slerp(z_a, z_b, steps)


# ------------------------------------------------------------------------------------------ DCGAN


def _init(module, conv_types=(nn.Conv2d, nn.ConvTranspose2d), conv_std=0.02, bn_mean=1.0):
    """The reference's initialisation, with one of its numbers or types changed by the mutants below."""
    if isinstance(module, conv_types):
        nn.init.normal_(module.weight, 0.0, conv_std)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, bn_mean, 0.02)
        nn.init.zeros_(module.bias)


def init_dcgan_weights__std_typo(module):
    """Standard deviation 0.2 instead of 0.02."""
    _init(module, conv_std=0.2)


def init_dcgan_weights__misses_conv_transpose(module):
    """isinstance(module, nn.Conv2d) alone: ConvTranspose2d is not a Conv2d."""
    _init(module, conv_types=nn.Conv2d)


def init_dcgan_weights__batchnorm_around_zero(module):
    """Batch-norm scales drawn around 0 instead of 1."""
    _init(module, bn_mean=0.0)


def init_dcgan_weights__tutorial(m):
    """The PyTorch DCGAN tutorial's weights_init: by class name, and conv biases left as they were."""
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        nn.init.normal_(m.weight.data, 0.0, 0.02)
    elif classname.find("BatchNorm") != -1:
        nn.init.normal_(m.weight.data, 1.0, 0.02)
        nn.init.constant_(m.bias.data, 0)


def discriminator_loss__swapped_labels(real_logits, fake_logits):
    """Labels real images 0 and fakes 1."""
    return (F.binary_cross_entropy_with_logits(real_logits, torch.zeros_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits)))


def discriminator_loss__sigmoid_then_bce(real_logits, fake_logits):
    """Applies sigmoid then the probability BCE: saturates for large logits."""
    return (F.binary_cross_entropy(torch.sigmoid(real_logits), torch.ones_like(real_logits))
            + F.binary_cross_entropy(torch.sigmoid(fake_logits), torch.zeros_like(fake_logits)))


def discriminator_loss__mean_of_both(real_logits, fake_logits):
    """One mean over the concatenated batch: half the loss."""
    logits = torch.cat([real_logits, fake_logits])
    targets = torch.cat([torch.ones_like(real_logits), torch.zeros_like(fake_logits)])
    return F.binary_cross_entropy_with_logits(logits, targets)


def discriminator_loss__twice_mean_of_both(real_logits, fake_logits):
    """Twice one mean over the joined batch: right only when both batches have the same size."""
    logits = torch.cat([real_logits, fake_logits])
    targets = torch.cat([torch.ones_like(real_logits), torch.zeros_like(fake_logits)])
    return 2 * F.binary_cross_entropy_with_logits(logits, targets)


def generator_loss__saturating(fake_logits):
    """Minimises log(1 - D(G(z))): the minimax form."""
    return -F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))


def generator_loss__sum(fake_logits):
    """Sums over the batch instead of averaging."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits), reduction="sum")


def generator_loss__log_of_sigmoid(fake_logits):
    """-log(sigmoid(x)): infinite once sigmoid underflows."""
    return -torch.log(torch.sigmoid(fake_logits)).mean()


def generator_block__no_padding(in_channels, out_channels):
    """padding=0: 2H + 2 instead of 2H."""
    return nn.Sequential(nn.ConvTranspose2d(in_channels, out_channels, 4, 2, 0, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU())


def generator_block__relu_before_batchnorm(in_channels, out_channels):
    """ReLU, then batch norm: the output goes negative again."""
    return nn.Sequential(nn.ConvTranspose2d(in_channels, out_channels, 4, 2, 1, bias=False),
                         nn.ReLU(), nn.BatchNorm2d(out_channels))


def generator_block__kernel_3(in_channels, out_channels):
    """Kernel 3 with output_padding 1: right shape, not the DCGAN block."""
    return nn.Sequential(nn.ConvTranspose2d(in_channels, out_channels, 3, 2, 1, output_padding=1, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU())


def _frechet_parts(mu1, sigma1, mu2, sigma2, dtype=torch.float64):
    mu1, sigma1, mu2, sigma2 = (torch.as_tensor(t).to(dtype) for t in (mu1, sigma1, mu2, sigma2))
    return mu1, sigma1, mu2, sigma2, (mu1 - mu2).pow(2).sum() + sigma1.trace() + sigma2.trace()


def gaussian_frechet_distance__no_cross_term(mu1, sigma1, mu2, sigma2):
    """Tr(S1) + Tr(S2) only: forgets -2 Tr((S1 S2)^(1/2))."""
    return float(_frechet_parts(mu1, sigma1, mu2, sigma2)[-1])


def gaussian_frechet_distance__elementwise_sqrt(mu1, sigma1, mu2, sigma2):
    """torch.sqrt(S1 @ S2): the square root of each entry of the product, not its matrix square root."""
    mu1, sigma1, mu2, sigma2, partial = _frechet_parts(mu1, sigma1, mu2, sigma2)
    return float(partial - 2 * torch.sqrt(sigma1 @ sigma2).trace())


def gaussian_frechet_distance__sqrt_of_each_factor(mu1, sigma1, mu2, sigma2):
    """Tr(S1^(1/2) S2^(1/2)): right only when the covariances commute."""
    mu1, sigma1, mu2, sigma2, partial = _frechet_parts(mu1, sigma1, mu2, sigma2)
    return float(partial - 2 * (ref_metrics.sqrt_psd(sigma1) @ ref_metrics.sqrt_psd(sigma2)).trace())


def gaussian_frechet_distance__mean_distance_not_squared(mu1, sigma1, mu2, sigma2):
    """||mu1 - mu2|| where the squared distance belongs."""
    d = ref_metrics.gaussian_frechet_distance(mu1, sigma1, mu2, sigma2)
    gap = float(torch.as_tensor(mu1).double().sub(torch.as_tensor(mu2).double()).pow(2).sum())
    return d - gap + math.sqrt(gap)


def gaussian_frechet_distance__in_input_dtype(mu1, sigma1, mu2, sigma2):
    """The right formula in the inputs' own dtype: float32 loses the difference of the large traces."""
    dtype = torch.as_tensor(sigma1).dtype
    mu1, sigma1, mu2, sigma2, partial = _frechet_parts(mu1, sigma1, mu2, sigma2, dtype=dtype)
    values, vectors = torch.linalg.eigh(sigma1)
    root = (vectors * values.clamp_min(0).sqrt()) @ vectors.T
    middle = root @ sigma2 @ root
    return float(partial - 2 * torch.linalg.eigvalsh((middle + middle.T) / 2).clamp_min(0).sqrt().sum())


def gaussian_frechet_distance__no_clamp(mu1, sigma1, mu2, sigma2):
    """Square roots of the eigenvalues as they come: the tiny negative ones of a singular covariance give nan."""
    mu1, sigma1, mu2, sigma2, partial = _frechet_parts(mu1, sigma1, mu2, sigma2)
    values, vectors = torch.linalg.eigh(sigma1)
    root = (vectors * values.sqrt()) @ vectors.T
    middle = root @ sigma2 @ root
    return float(partial - 2 * torch.linalg.eigvalsh((middle + middle.T) / 2).sqrt().sum())


# ------------------------------------------------------------------------------------------ conditional


def one_hot_maps__integer_dtype(labels, num_classes=10, height=28, width=28):
    """Forgets .float(): int64 maps."""
    return F.one_hot(labels.long(), num_classes)[:, :, None, None].expand(-1, -1, height, width)


def one_hot_maps__hardcoded_sizes(labels, num_classes=10, height=28, width=28):
    """Ignores the arguments."""
    return F.one_hot(labels.long(), 10).float()[:, :, None, None].expand(-1, -1, 28, 28)


def one_hot_maps__label_value_planes(labels, num_classes=10, height=28, width=28):
    """Fills every plane with the label value instead of a one-hot pattern."""
    return labels.float()[:, None, None, None].expand(-1, num_classes, height, width).contiguous()


def concat_condition__condition_first(x, labels, num_classes=10):
    """Puts the condition before x."""
    one_hot = F.one_hot(labels.long(), num_classes).to(x.dtype)
    if x.ndim == 4:
        return torch.cat([one_hot[:, :, None, None].expand(-1, -1, *x.shape[2:]), x], dim=1)
    return torch.cat([one_hot, x], dim=1)


def concat_condition__label_as_one_channel(x, labels, num_classes=10):
    """Appends the label as a single scaled channel / feature."""
    scaled = (labels.to(x.dtype) / (num_classes - 1))
    if x.ndim == 4:
        return torch.cat([x, scaled[:, None, None, None].expand(-1, 1, *x.shape[2:])], dim=1)
    return torch.cat([x, scaled[:, None]], dim=1)


def concat_condition__detaches_x(x, labels, num_classes=10):
    """Builds the result from x.detach(): no gradient reaches the encoder."""
    one_hot = F.one_hot(labels.long(), num_classes).to(x.dtype)
    x = x.detach()
    if x.ndim == 4:
        return torch.cat([x, one_hot[:, :, None, None].expand(-1, -1, *x.shape[2:])], dim=1)
    return torch.cat([x, one_hot], dim=1)


def _accuracy(intended, predicted, num_classes, *, asked=True, absent=math.nan):
    """Overall and per-class accuracy as the reference computes them, but for ``asked=False`` (classes counted
    by the prediction) and ``absent`` (the value of a class never asked for)."""
    correct = predicted == intended
    per_class = torch.full((num_classes,), absent)
    for c in range(num_classes):
        mask = (intended if asked else predicted) == c
        if mask.any():
            per_class[c] = correct[mask].float().mean()
    return correct, per_class


def conditioning_accuracy__precision_not_recall(intended, predicted, num_classes=10):
    """Divides by the images predicted as c instead of those intended as c."""
    correct, per_class = _accuracy(intended, predicted, num_classes, asked=False)
    return correct.float().mean().item(), per_class


def conditioning_accuracy__zero_for_absent(intended, predicted, num_classes=10):
    """Reports 0 for classes never asked for."""
    correct, per_class = _accuracy(intended, predicted, num_classes, absent=0.0)
    return correct.float().mean().item(), per_class


def conditioning_accuracy__tensor_and_count(intended, predicted, num_classes=10):
    """Returns the count of correct images as a tensor."""
    correct, per_class = _accuracy(intended, predicted, num_classes)
    return correct.sum(), per_class


def class_interpolation_labels__excludes_endpoint(start_class, end_class, steps, num_classes=10):
    """t = i / steps: never reaches the end class."""
    eye = torch.eye(num_classes)
    t = torch.arange(steps, dtype=torch.float32)[:, None] / steps
    return (1 - t) * eye[start_class] + t * eye[end_class]


def class_interpolation_labels__hard_switch(start_class, end_class, steps, num_classes=10):
    """Switches from one class to the other half-way instead of mixing."""
    eye = torch.eye(num_classes)
    t = (torch.linspace(0, 1, steps)[:, None] >= 0.5).float()
    return (1 - t) * eye[start_class] + t * eye[end_class]


def class_interpolation_labels__unnormalised(start_class, end_class, steps, num_classes=10):
    """Adds the end class without taking weight from the start: rows sum to more than 1."""
    eye = torch.eye(num_classes)
    t = torch.linspace(0, 1, steps)[:, None]
    return eye[start_class] * (t < 1).float() + t * eye[end_class]


def _collapsed(features, labels, real_features, real_labels, threshold, diversity, pooled=False, compare=None,
               real_mask_from_fake=False, check_counts=True):
    """The shared loop of the wrong collapsed_classes: the mistake is in the arguments."""
    compare = compare or (lambda a, b: a < b)
    out = []
    for c in torch.unique(labels).tolist():
        fake = features[labels == c]
        if pooled:
            real = real_features
        elif real_mask_from_fake:
            real = real_features[labels == c]
        else:
            real = real_features[real_labels == c]
        if check_counts and (len(fake) < 2 or len(real) < 2):
            raise ValueError(f"class {c}: fewer than two samples")
        if compare(diversity(fake), threshold * diversity(real)):
            out.append(int(c))
    return out


def collapsed_classes__includes_diagonal(features, labels, real_features, real_labels, threshold=0.5):
    """torch.cdist(f, f).mean(): the n zero distances of each sample to itself count as pairs."""
    return _collapsed(features, labels, real_features, real_labels, threshold,
                      lambda f: float(torch.cdist(f.double(), f.double()).mean()))


def collapsed_classes__squared_distances(features, labels, real_features, real_labels, threshold=0.5):
    """Averages squared distances (no square root)."""
    def diversity(f):
        n = len(f)
        return float(torch.cdist(f.double(), f.double()).pow(2).sum() / (n * (n - 1)))
    return _collapsed(features, labels, real_features, real_labels, threshold, diversity)


def collapsed_classes__pooled_real(features, labels, real_features, real_labels, threshold=0.5):
    """Compares each class with the diversity of all real samples, every class pooled."""
    return _collapsed(features, labels, real_features, real_labels, threshold, ref_metrics.pairwise_diversity, pooled=True)


def collapsed_classes__real_indexed_by_generated_labels(features, labels, real_features, real_labels, threshold=0.5):
    """real_features[labels == c]: the generated labels select the real samples (a copy-paste slip)."""
    return _collapsed(features, labels, real_features, real_labels, threshold, ref_metrics.pairwise_diversity,
                      real_mask_from_fake=True)


def collapsed_classes__less_or_equal(features, labels, real_features, real_labels, threshold=0.5):
    """<= where the docstring says below."""
    return _collapsed(features, labels, real_features, real_labels, threshold, ref_metrics.pairwise_diversity,
                      compare=lambda a, b: a <= b)


def collapsed_classes__nan_for_one_sample(features, labels, real_features, real_labels, threshold=0.5):
    """No check of the counts: one sample gives 0 / 0 = nan, which compares False, and the class passes silently."""
    def diversity(f):
        n = len(f)
        return float(torch.cdist(f.double(), f.double()).sum() / (n * (n - 1))) if n else math.nan
    return _collapsed(features, labels, real_features, real_labels, threshold, diversity, check_counts=False)


# ------------------------------------------------------------------------------------------ correct alternatives
# Written the way learners write them, never calling a reference.


def _alt_lerp(z_a, z_b, steps):
    return torch.stack([z_a + (z_b - z_a) * (i / (steps - 1)) for i in range(steps)])


def alt__reparameterize__pytorch_example(mu, logvar):
    """The PyTorch VAE example: in-place operations, on new tensors only."""
    std = logvar.mul(0.5).exp_()
    eps = torch.empty_like(std).normal_()
    return eps.mul(std).add_(mu)


def alt__reparameterize__distributions(mu, logvar):
    return torch.distributions.Normal(mu, (0.5 * logvar).exp()).rsample()


def alt__kl_divergence__positive_form(mu, logvar):
    return 0.5 * (mu**2 + logvar.exp() - logvar - 1).sum(dim=1)


def alt__kl_divergence__distributions(mu, logvar):
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    return torch.distributions.kl_divergence(q, p).sum(-1)


def alt__vae_loss__flatten_then_reduce(recon, x, mu, logvar, beta=1.0):
    batch = x.size(0)
    bce = F.binary_cross_entropy(recon.view(batch, -1), x.view(batch, -1), reduction="none").sum(1).mean()
    kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp())).sum(1).mean()
    return bce + beta * kl, bce, kl


def alt__vae_loss__by_hand(recon, x, mu, logvar, beta=1.0):
    bce = -(x * torch.log(recon) + (1 - x) * torch.log1p(-recon)).sum() / len(x)
    kl = 0.5 * torch.sum(mu * mu + torch.exp(logvar) - logvar - 1) / len(x)
    loss = bce + beta * kl
    return loss, bce, kl


def alt__conv_output_size__floor(size, kernel, stride=1, padding=0):
    return math.floor((size + 2 * padding - kernel) / stride) + 1


def alt__conv_output_size__int_truncation(size, kernel, stride=1, padding=0):
    return int((size - kernel + 2 * padding) / stride) + 1


def alt__conv_transpose_output_size__reordered(size, kernel, stride=1, padding=0, output_padding=0):
    return stride * (size - 1) + kernel - 2 * padding + output_padding


def alt__conv_transpose_output_size__dilation_form(size, kernel, stride=1, padding=0, output_padding=0):
    dilation = 1
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def alt__lerp__list_of_rows(z_a, z_b, steps):
    return _alt_lerp(z_a, z_b, steps)


def alt__lerp__torch_lerp(z_a, z_b, steps):
    t = torch.linspace(0, 1, steps, dtype=z_a.dtype).unsqueeze(1)
    return torch.lerp(z_a.expand(steps, -1), z_b.expand(steps, -1), t)


def alt__slerp__cosine_test(z_a, z_b, steps):
    """The common snippet done right: unit vectors, lerp when |cos| > 0.9995."""
    dot = (z_a / z_a.norm() * (z_b / z_b.norm())).sum().clamp(-1, 1)
    if dot.abs() > 0.9995:
        return _alt_lerp(z_a, z_b, steps)
    omega = torch.acos(dot)
    t = torch.linspace(0, 1, steps, dtype=z_a.dtype).unsqueeze(-1)
    return (torch.sin((1 - t) * omega) / torch.sin(omega)) * z_a + (torch.sin(t * omega) / torch.sin(omega)) * z_b


def alt__slerp__float64_loop(z_a, z_b, steps):
    """The angle in float64 with math, one row at a time."""
    a, b = z_a.double(), z_b.double()
    cos = float(a @ b / (a.norm() * b.norm()))
    omega = math.acos(max(-1.0, min(1.0, cos)))
    if math.sin(omega) < 1e-6:
        return _alt_lerp(z_a, z_b, steps)
    rows = []
    for i in range(steps):
        t = i / (steps - 1)
        rows.append((math.sin((1 - t) * omega) * z_a + math.sin(t * omega) * z_b) / math.sin(omega))
    return torch.stack(rows)


def alt__init_dcgan_weights__by_class_name(m):
    """The tutorial's weights_init, with the conv biases set to 0."""
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        m.weight.data.normal_(0.0, 0.02)
        if getattr(m, "bias", None) is not None:
            m.bias.data.fill_(0)
    elif classname.find("BatchNorm") != -1:
        m.weight.data.normal_(1.0, 0.02)
        m.bias.data.fill_(0)


def alt__init_dcgan_weights__no_grad_copy(module):
    with torch.no_grad():
        if type(module) in (nn.Conv2d, nn.ConvTranspose2d):
            module.weight.copy_(0.02 * torch.randn_like(module.weight))
            if module.bias is not None:
                module.bias.zero_()
        elif type(module) is nn.BatchNorm2d:
            module.weight.copy_(1 + 0.02 * torch.randn_like(module.weight))
            module.bias.zero_()


def alt__discriminator_loss__softplus(real_logits, fake_logits):
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def alt__discriminator_loss__module(real_logits, fake_logits):
    criterion = nn.BCEWithLogitsLoss()
    return criterion(real_logits, torch.ones_like(real_logits)) + criterion(fake_logits, torch.zeros_like(fake_logits))


def alt__generator_loss__softplus(fake_logits):
    return F.softplus(-fake_logits).mean()


def alt__generator_loss__logsigmoid(fake_logits):
    return -F.logsigmoid(fake_logits).mean()


def alt__generator_block__named_layers(in_channels, out_channels):
    return nn.Sequential(OrderedDict(
        up=nn.ConvTranspose2d(in_channels, out_channels, kernel_size=4, stride=2, padding=1, bias=False),
        norm=nn.BatchNorm2d(out_channels),
        act=nn.ReLU(inplace=True),
    ))


def alt__generator_block__nested(in_channels, out_channels):
    conv_bn = nn.Sequential(nn.ConvTranspose2d(in_channels, out_channels, 4, 2, 1, bias=False), nn.BatchNorm2d(out_channels))
    return nn.Sequential(conv_bn, nn.ReLU())


def alt__one_hot_maps__index_assignment(labels, num_classes=10, height=28, width=28):
    maps = torch.zeros(len(labels), num_classes, height, width)
    maps[torch.arange(len(labels)), labels.long()] = 1.0
    return maps


def alt__one_hot_maps__comparison(labels, num_classes=10, height=28, width=28):
    hot = (labels.long()[:, None] == torch.arange(num_classes)[None, :]).float()
    return hot[:, :, None, None].repeat(1, 1, height, width)


def alt__concat_condition__eye(x, labels, num_classes=10):
    cond = torch.eye(num_classes, dtype=x.dtype)[labels.long()]
    if x.dim() == 4:
        cond = cond.view(len(x), num_classes, 1, 1).expand(-1, -1, x.size(2), x.size(3))
    return torch.cat((x, cond), 1)


def alt__concat_condition__broadcast_ones(x, labels, num_classes=10):
    cond = F.one_hot(labels.long(), num_classes).type_as(x)
    if x.ndim == 4:
        cond = cond[..., None, None] * torch.ones(1, 1, x.shape[2], x.shape[3], dtype=x.dtype)
    return torch.cat([x, cond], dim=1)


def alt__conditioning_accuracy__python_loop(intended, predicted, num_classes=10):
    pairs = list(zip(intended.tolist(), predicted.tolist()))
    accuracy = sum(a == b for a, b in pairs) / len(pairs)
    per_class = []
    for c in range(num_classes):
        asked = [b for a, b in pairs if a == c]
        per_class.append(sum(b == c for b in asked) / len(asked) if asked else float("nan"))
    return accuracy, torch.tensor(per_class)


def alt__conditioning_accuracy__index_add(intended, predicted, num_classes=10):
    correct = (intended == predicted).float()
    counts = torch.zeros(num_classes).index_add_(0, intended.long(), torch.ones_like(correct))
    hits = torch.zeros(num_classes).index_add_(0, intended.long(), correct)
    return float(correct.mean()), hits / counts


def alt__class_interpolation_labels__columns(start_class, end_class, steps, num_classes=10):
    out = torch.zeros(steps, num_classes)
    t = torch.arange(steps) / (steps - 1)
    out[:, start_class] += 1 - t
    out[:, end_class] += t
    return out


def alt__class_interpolation_labels__torch_lerp(start_class, end_class, steps, num_classes=10):
    a = F.one_hot(torch.tensor(start_class), num_classes).float()
    b = F.one_hot(torch.tensor(end_class), num_classes).float()
    return torch.lerp(a.expand(steps, -1), b.expand(steps, -1), torch.linspace(0, 1, steps)[:, None])


def alt__gaussian_frechet_distance__eigvals_of_product(mu1, sigma1, mu2, sigma2):
    """The eigenvalues of the non-symmetric S1 S2 itself: real and non-negative, up to rounding."""
    mu1, sigma1, mu2, sigma2 = (t.double() for t in (mu1, sigma1, mu2, sigma2))
    eigenvalues = torch.linalg.eigvals(sigma1 @ sigma2).real.clamp(min=0)
    diff = mu1 - mu2
    return (diff @ diff + torch.trace(sigma1) + torch.trace(sigma2) - 2 * eigenvalues.sqrt().sum()).item()


def alt__gaussian_frechet_distance__nuclear_norm(mu1, sigma1, mu2, sigma2):
    """Tr((S1 S2)^(1/2)) is the sum of the singular values of S2^(1/2) S1^(1/2) (its nuclear norm)."""
    def root(s):
        vals, vecs = torch.linalg.eigh(s.double())
        return vecs @ torch.diag(torch.sqrt(torch.clamp(vals, min=0.0))) @ vecs.T

    cross = torch.linalg.matrix_norm(root(sigma2) @ root(sigma1), ord="nuc")
    mean_term = torch.sum((mu1.double() - mu2.double()) ** 2)
    return float(mean_term + torch.trace(sigma1.double() + sigma2.double()) - 2 * cross)


def alt__collapsed_classes__pdist(features, labels, real_features, real_labels, threshold=0.5):
    """torch.pdist gives the distance of each unordered pair once: its mean is the diversity."""
    result = []
    for c in sorted(set(labels.tolist())):
        fake, real = features[labels == c].double(), real_features[real_labels == c].double()
        if fake.shape[0] < 2 or real.shape[0] < 2:
            raise ValueError(f"class {c} needs two generated and two real samples")
        if torch.pdist(fake).mean() < threshold * torch.pdist(real).mean():
            result.append(c)
    return result


def alt__collapsed_classes__python_pairs(features, labels, real_features, real_labels, threshold=0.5):
    """Every pair by hand, in Python floats, the ratio compared with the threshold."""
    def diversity(rows):
        pairs = [(i, j) for i in range(len(rows)) for j in range(i + 1, len(rows))]
        return sum(math.dist(rows[i], rows[j]) for i, j in pairs) / len(pairs)

    fakes: dict[int, list] = {}
    reals: dict[int, list] = {}
    for row, c in zip(features.tolist(), labels.tolist()):
        fakes.setdefault(int(c), []).append(row)
    for row, c in zip(real_features.tolist(), real_labels.tolist()):
        reals.setdefault(int(c), []).append(row)
    out = []
    for c in sorted(fakes):
        if len(fakes[c]) < 2 or len(reals.get(c, [])) < 2:
            raise ValueError(f"class {c}: not enough samples for a diversity")
        real_diversity = diversity(reals[c])
        if real_diversity > 0 and diversity(fakes[c]) / real_diversity < threshold:
            out.append(c)
    return out


# ------------------------------------------------------------------------------------------ build-it: VAE step


def _elbo(logits, x, mu, logvar):
    return ref_vae.vae_loss(logits, x, mu, logvar, from_logits=True)[0]


def _vae_step(model, x, optimizer, *, code=ref_vae.reparameterize, loss=_elbo, clear="before"):
    """The reference's step (encode, ``code(mu, logvar)``, decode, ``loss``; zero_grad before backward), with
    one of its parts changed by the wrong versions below (``clear``: "before", "after" backward, or None)."""
    mu, logvar = model.encode(x)
    value = loss(model.decode_logits(code(mu, logvar)), x, mu, logvar)
    if clear == "before":
        optimizer.zero_grad()
    value.backward()
    if clear == "after":
        optimizer.zero_grad()
    optimizer.step()
    return value.detach()


def vae_step__no_zero_grad(model, x, optimizer):
    """Forgets optimizer.zero_grad(): each step adds the gradients left from before."""
    return _vae_step(model, x, optimizer, clear=None)


def vae_step__zero_grad_after_backward(model, x, optimizer):
    """Clears the gradients between backward() and step(): the optimiser steps on nothing."""
    return _vae_step(model, x, optimizer, clear="after")


def vae_step__no_kl(model, x, optimizer):
    """Forgets the KL term: an autoencoder's loss."""
    return _vae_step(model, x, optimizer,
                     loss=lambda logits, x, mu, logvar: F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x))


def vae_step__mean_over_pixels(model, x, optimizer):
    """BCE with the default reduction='mean': averaged over the pixels too, the KL then dominates."""
    return _vae_step(model, x, optimizer, loss=lambda logits, x, mu, logvar: (
        F.binary_cross_entropy(torch.sigmoid(logits), x) + ref_vae.kl_divergence(mu, logvar).mean()))


def vae_step__decodes_mu(model, x, optimizer):
    """Decodes the mean itself: no sample, so the reconstruction term never sees the noise."""
    return _vae_step(model, x, optimizer, code=lambda mu, logvar: mu)


def vae_step__detached_code(model, x, optimizer):
    """Decodes z.detach(): the reconstruction term never reaches the encoder."""
    return _vae_step(model, x, optimizer, code=lambda mu, logvar: ref_vae.reparameterize(mu, logvar).detach())


def alt__vae_step__probabilities(model, x, optimizer):
    """BCE on probabilities, zero_grad(set_to_none=False), a float back."""
    mu, logvar = model.encode(x)
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    bce = F.binary_cross_entropy(model.decode(z), x, reduction="sum") / x.shape[0]
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / x.shape[0]
    loss = bce + kl
    optimizer.zero_grad(set_to_none=False)
    loss.backward()
    optimizer.step()
    return loss.item()


def alt__vae_step__distributions(model, x, optimizer):
    """torch.distributions: rsample, a Bernoulli over logits, the analytic KL; zero_grad first."""
    optimizer.zero_grad()
    mu, logvar = model.encode(x)
    posterior = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    z = posterior.rsample()
    log_px = torch.distributions.Bernoulli(logits=model.decode_logits(z), validate_args=False).log_prob(x).flatten(1).sum(1)
    prior = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    kl = torch.distributions.kl_divergence(posterior, prior).sum(1)
    loss = (kl - log_px).mean()
    loss.backward()
    optimizer.step()
    return loss


# ------------------------------------------------------------------------------------------ build-it: GAN update


def _gan_update(generator, discriminator, opt_g, opt_d, real, z, *, detach=True, clear=True, swap=False,
                g_loss=ref_dcgan.generator_loss):
    """The reference's update (D's turn on real and detached fakes, then G's), with one of its parts changed by
    the wrong versions below."""
    fake = generator(z)
    scored = fake.detach() if detach else fake
    if swap:
        d_loss = ref_dcgan.discriminator_loss(discriminator(scored), discriminator(real))
    else:
        d_loss = ref_dcgan.discriminator_loss(discriminator(real), discriminator(scored))
    if clear:
        opt_d.zero_grad()
    d_loss.backward(retain_graph=not detach)
    opt_d.step()
    g_value = g_loss(discriminator(fake))
    if clear:
        opt_g.zero_grad()
    g_value.backward()
    opt_g.step()
    return d_loss.detach(), g_value.detach()


def gan_update__no_detach(generator, discriminator, opt_g, opt_d, real, z):
    """Scores the fakes without detach in D's turn (retain_graph to survive): D's loss reaches G, and G's
    zero_grad hides it from the parameters."""
    return _gan_update(generator, discriminator, opt_g, opt_d, real, z, detach=False)


def gan_update__no_zero_grad(generator, discriminator, opt_g, opt_d, real, z):
    """Never clears a gradient: each step adds what earlier passes left."""
    return _gan_update(generator, discriminator, opt_g, opt_d, real, z, clear=False)


def gan_update__swapped_labels(generator, discriminator, opt_g, opt_d, real, z):
    """Labels the real images 0 and the fakes 1 in D's turn."""
    return _gan_update(generator, discriminator, opt_g, opt_d, real, z, swap=True)


def gan_update__saturating(generator, discriminator, opt_g, opt_d, real, z):
    """The minimax generator loss, log(1 - D(G(z))): no gradient when D is confident."""
    return _gan_update(generator, discriminator, opt_g, opt_d, real, z, g_loss=lambda out: -F.softplus(out).mean())


def gan_update__no_detach_zero_grads_first(generator, discriminator, opt_g, opt_d, real, z):
    """Clears both optimisers first, then forgets detach: G steps on the sum of both losses' gradients."""
    opt_d.zero_grad()
    opt_g.zero_grad()
    fake = generator(z)
    d_loss = ref_dcgan.discriminator_loss(discriminator(real), discriminator(fake))
    d_loss.backward(retain_graph=True)
    opt_d.step()
    g_loss = ref_dcgan.generator_loss(discriminator(fake))
    g_loss.backward()
    opt_g.step()
    return d_loss.detach(), g_loss.detach()


def gan_update__one_loss_both_steps(generator, discriminator, opt_g, opt_d, real, z):
    """Backpropagates d_loss + g_loss once and steps both optimisers on it: D also follows G's loss."""
    fake = generator(z)
    d_loss = ref_dcgan.discriminator_loss(discriminator(real), discriminator(fake.detach()))
    g_loss = ref_dcgan.generator_loss(discriminator(fake))
    opt_d.zero_grad()
    opt_g.zero_grad()
    (d_loss + g_loss).backward()
    opt_d.step()
    opt_g.step()
    return d_loss.detach(), g_loss.detach()


def alt__gan_update__one_forward_for_d(generator, discriminator, opt_g, opt_d, real, z):
    """D scores real and detached fakes in one forward pass; zero_grad(set_to_none=False); BCE module."""
    bce = nn.BCEWithLogitsLoss()
    fake = generator(z)
    logits = discriminator(torch.cat([real, fake.detach()]))
    real_logits, fake_logits = logits[: len(real)], logits[len(real):]
    d_loss = bce(real_logits, torch.ones_like(real_logits)) + bce(fake_logits, torch.zeros_like(fake_logits))
    opt_d.zero_grad(set_to_none=False)
    d_loss.backward()
    opt_d.step()
    out = discriminator(fake)
    g_loss = bce(out, torch.ones_like(out))
    opt_g.zero_grad(set_to_none=False)
    g_loss.backward()
    opt_g.step()
    return d_loss, g_loss


def alt__gan_update__separate_forward(generator, discriminator, opt_g, opt_d, real, z):
    """Both gradients cleared first; D's fakes from a generator pass under no_grad, G's from a second pass;
    softplus forms; floats back."""
    opt_g.zero_grad()
    opt_d.zero_grad()
    with torch.no_grad():
        fake_for_d = generator(z)
    d_loss = F.softplus(-discriminator(real)).mean() + F.softplus(discriminator(fake_for_d)).mean()
    d_loss.backward()
    opt_d.step()
    g_loss = F.softplus(-discriminator(generator(z))).mean()
    g_loss.backward()
    opt_g.step()
    return d_loss.detach().clone(), g_loss.detach().clone()


# ------------------------------------------------------------------------------------------ build-it: conditional decoder


def _decoder_mlp(n_in, hidden):
    return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 784))


class ConditionalDecoder__ignores_label(nn.Module):
    """An unconditional decoder: the label never reaches the network."""

    def __init__(self, latent_dim=20, num_classes=10, hidden=400):
        super().__init__()
        self.net = _decoder_mlp(latent_dim, hidden)

    def forward(self, z, labels):
        return self.net(z).view(-1, 1, 28, 28)


class ConditionalDecoder__sigmoid_output(nn.Module):
    """Ends with a sigmoid: probabilities where the docstring asks for logits."""

    def __init__(self, latent_dim=20, num_classes=10, hidden=400):
        super().__init__()
        self.num_classes = num_classes
        self.net = nn.Sequential(_decoder_mlp(latent_dim + num_classes, hidden), nn.Sigmoid())

    def forward(self, z, labels):
        return self.net(torch.cat([z, F.one_hot(labels, self.num_classes).float()], 1)).view(-1, 1, 28, 28)


class ConditionalDecoder__ten_classes_always(nn.Module):
    """One-hot with 10 entries whatever num_classes says."""

    def __init__(self, latent_dim=20, num_classes=10, hidden=400):
        super().__init__()
        self.net = _decoder_mlp(latent_dim + 10, hidden)

    def forward(self, z, labels):
        return self.net(torch.cat([z, F.one_hot(labels, 10).float()], 1)).view(-1, 1, 28, 28)


class ConditionalDecoder__unused_embedding(nn.Module):
    """Makes an embedding of the label, then appends the one-hot vector instead: the embedding never trains."""

    def __init__(self, latent_dim=20, num_classes=10, hidden=400):
        super().__init__()
        self.num_classes = num_classes
        self.embed = nn.Embedding(num_classes, 16)
        self.net = _decoder_mlp(latent_dim + num_classes, hidden)

    def forward(self, z, labels):
        return self.net(torch.cat([z, F.one_hot(labels, self.num_classes).float()], 1)).view(-1, 1, 28, 28)


class ConditionalDecoder__label_at_the_output(nn.Module):
    """Adds a per-class constant to the output logits only: the label shifts the image but cannot shape it with the code,
    and the decoder's first layer never sees it (a plausible shortcut); it also returns probabilities."""

    def __init__(self, latent_dim=20, num_classes=10, hidden=400):
        super().__init__()
        self.net = _decoder_mlp(latent_dim, hidden)
        self.shift = nn.Embedding(num_classes, 1)

    def forward(self, z, labels):
        return torch.sigmoid(self.net(z) + self.shift(labels)).view(-1, 1, 28, 28)


class alt__ConditionalDecoder__embedding(nn.Module):
    """A learned embedding of the label next to the code, one hidden layer, LeakyReLU, nn.Unflatten."""

    def __init__(self, latent_dim=20, num_classes=10, hidden=400):
        super().__init__()
        self.embed = nn.Embedding(num_classes, 12)
        self.net = nn.Sequential(nn.Linear(latent_dim + 12, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 784),
                                 nn.Unflatten(1, (1, 28, 28)))

    def forward(self, z, labels):
        return self.net(torch.cat([z, self.embed(labels)], dim=1))


class alt__ConditionalDecoder__eye_rows(nn.Module):
    """torch.eye rows as the one-hot vectors, two hidden layers written out, reshape."""

    def __init__(self, latent_dim=20, num_classes=10, hidden=400):
        super().__init__()
        self.num_classes = num_classes
        self.fc1 = nn.Linear(latent_dim + num_classes, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 28 * 28)

    def forward(self, z, labels):
        y = torch.eye(self.num_classes, dtype=z.dtype)[labels]
        h = F.relu(self.fc1(torch.cat((z, y), dim=-1)))
        h = F.relu(self.fc2(h))
        return self.out(h).reshape(z.shape[0], 1, 28, 28)


# ------------------------------------------------------------------------------------------ registry

_FUNCTIONS = [function for chapter in REFERENCES.values() for function in chapter]

#: exercise function -> names (in this module) of its wrong versions
MUTANTS: dict[str, list[str]] = {
    name: sorted(attr for attr in globals() if attr.startswith(name + "__")) for name in _FUNCTIONS
}

#: exercise function -> names of its correct alternatives
ALTERNATIVES: dict[str, list[str]] = {
    name: sorted(attr for attr in globals() if attr.startswith(f"alt__{name}__")) for name in _FUNCTIONS
}

#: wrong version -> a phrase its failure message must contain (the hint that matches the mistake)
HINTS: dict[str, str] = {
    "reparameterize__noise_per_row": "noise of shape (B, 1) is shared by all the dimensions",
    "reparameterize__torch_normal": "torch.normal(mu, sigma) draws the sample without a path for gradients",
    "kl_divergence__float64_result": "it then keeps their dtype",
    "vae_loss__beta_weighted_kl": "return the kl itself, not beta * kl",
    "vae_loss__only_4d_images": "do not assume 4-D images",
    "slerp__lerp_when_cos_close_to_1": "fall back to lerp when |cos(omega)| is close to 1",
    "slerp__arccos_sin_threshold": "test the cosine (say |cos| > 0.9995)",
    "slerp__normalises_in_place": "to leave its input `z_a` unchanged",
    "init_dcgan_weights__tutorial": "the PyTorch tutorial's weights_init leaves them",
    "discriminator_loss__twice_mean_of_both": "average the real batch and the fake batch separately",
    "gaussian_frechet_distance__no_cross_term": "must cancel Tr(S1) + Tr(S2)",
    "gaussian_frechet_distance__elementwise_sqrt": "not torch.sqrt of each entry",
    "gaussian_frechet_distance__sqrt_of_each_factor": "only when S1 and S2 commute",
    "gaussian_frechet_distance__mean_distance_not_squared": "with no square root",
    "gaussian_frechet_distance__in_input_dtype": "compute in float64",
    "gaussian_frechet_distance__no_clamp": "Clamp the eigenvalues at 0",
    "collapsed_classes__includes_diagonal": "not all n * n",
    "collapsed_classes__squared_distances": "not squared distances",
    "collapsed_classes__pooled_real": "the real samples of the same class",
    "collapsed_classes__real_indexed_by_generated_labels": "select them with real_labels == c",
    "collapsed_classes__less_or_equal": "equal is not below",
    "collapsed_classes__nan_for_one_sample": "raise a ValueError that names the class",
    "vae_step__no_zero_grad": "call optimizer.zero_grad() before loss.backward()",
    "vae_step__no_kl": "the KL term is missing",
    "vae_step__mean_over_pixels": "reduction='mean' divides by the pixels as well",
    "vae_step__decodes_mu": "decode a sample z = mu + exp(logvar / 2) * eps",
    "gan_update__no_detach": "score fake.detach() in its turn",
    "gan_update__no_zero_grad": "the parameters held gradients already",
    "gan_update__one_loss_both_steps": "score the fakes again after opt_d.step()",
    "gan_update__swapped_labels": "your labels look swapped",
    "gan_update__saturating": "minimising log(1 - D(G(z))) saturates",
    "ConditionalDecoder__ignores_label": "the decoder must read the label",
    "ConditionalDecoder__ten_classes_always": "size the first layer from the arguments",
    "ConditionalDecoder__unused_embedding": "a layer left over is never trained",
}
