"""Plausible wrong solutions of every exercise: the graders in ``exercises/`` must reject each of them.

Every wrong function depends only on the package's references for anything other than its own mistake, so
a rejection is caused by that mistake. ``MUTANTS`` maps each exercise function to its wrong versions;
``tests/test_graders.py`` writes modules that swap them in and grades those modules.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

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


def kl_divergence__sign_error(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Drops the leading minus sign."""
    return 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=-1)


def kl_divergence__forgets_half(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Forgets the factor 1/2."""
    return -torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=-1)


def kl_divergence__mean_over_dims(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Averages over the latent dimensions instead of summing."""
    return -0.5 * torch.mean(1 + logvar - mu.pow(2) - logvar.exp(), dim=-1)


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


# ------------------------------------------------------------------------------------------ DCGAN


def init_dcgan_weights__std_typo(module):
    """Standard deviation 0.2 instead of 0.02."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.2)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def init_dcgan_weights__misses_conv_transpose(module):
    """isinstance(module, nn.Conv2d) alone: ConvTranspose2d is not a Conv2d."""
    if isinstance(module, nn.Conv2d):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def init_dcgan_weights__batchnorm_around_zero(module):
    """Batch-norm scales drawn around 0 instead of 1."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 0.0, 0.02)
        nn.init.zeros_(module.bias)


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


def conditioning_accuracy__precision_not_recall(intended, predicted, num_classes=10):
    """Divides by the images predicted as c instead of those intended as c."""
    correct = predicted == intended
    per_class = torch.full((num_classes,), math.nan)
    for c in range(num_classes):
        mask = predicted == c
        if mask.any():
            per_class[c] = correct[mask].float().mean()
    return correct.float().mean().item(), per_class


def conditioning_accuracy__zero_for_absent(intended, predicted, num_classes=10):
    """Reports 0 for classes never asked for."""
    correct = predicted == intended
    per_class = torch.zeros(num_classes)
    for c in range(num_classes):
        mask = intended == c
        if mask.any():
            per_class[c] = correct[mask].float().mean()
    return correct.float().mean().item(), per_class


def conditioning_accuracy__tensor_and_count(intended, predicted, num_classes=10):
    """Returns the count of correct images as a tensor."""
    correct = predicted == intended
    per_class = torch.full((num_classes,), math.nan)
    for c in range(num_classes):
        mask = intended == c
        if mask.any():
            per_class[c] = correct[mask].float().mean()
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


# ------------------------------------------------------------------------------------------ registry

_FUNCTIONS = [
    "reparameterize", "kl_divergence", "vae_loss", "conv_output_size", "conv_transpose_output_size", "lerp", "slerp",
    "init_dcgan_weights", "discriminator_loss", "generator_loss", "generator_block",
    "one_hot_maps", "concat_condition", "conditioning_accuracy", "class_interpolation_labels",
]

#: exercise function -> names (in this module) of its wrong versions
MUTANTS: dict[str, list[str]] = {
    name: sorted(attr for attr in globals() if attr.startswith(name + "__")) for name in _FUNCTIONS
}


# ------------------------------------------------------------------------------------------ crash and hang


def lerp__hangs(z_a, z_b, steps):
    """Never returns."""
    while True:
        pass


def generator_loss__crashes(fake_logits):
    """Multiplies tensors of mismatched shapes."""
    return (fake_logits @ torch.ones(3, 3)).mean()
