"""The course's models: the maths only (which model is called what lives in :mod:`fundamentalml.registry`)."""

from .base import CHECKPOINT_FORMAT, HistoryModule, LossModule
from .classifier import CIFARClassifier, MNISTClassifier, MNISTMLPClassifier
from .conditional import ConditionalGAN, ConditionalVAE
from .dcgan import DCGAN, GAN
from .ring_gan import RingGAN, train_ring_gan
from .vae import ConvVAE, MLPVAE, VAE, kl_divergence, reparameterize, vae_loss

__all__ = [
    "CIFARClassifier",
    "MNISTMLPClassifier",
    "CHECKPOINT_FORMAT",
    "ConditionalGAN",
    "ConditionalVAE",
    "ConvVAE",
    "DCGAN",
    "GAN",
    "HistoryModule",
    "LossModule",
    "MLPVAE",
    "MNISTClassifier",
    "RingGAN",
    "VAE",
    "kl_divergence",
    "reparameterize",
    "train_ring_gan",
    "vae_loss",
]
