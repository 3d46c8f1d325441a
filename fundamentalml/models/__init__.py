"""The course's models. ``MODEL_CLASSES`` maps each CLI name to its LightningModule class."""

from .base import CHECKPOINT_FORMAT, HistoryModule
from .classifier import MNISTClassifier
from .conditional import ConditionalGAN, ConditionalVAE
from .dcgan import DCGAN, GAN, TrainingDiverged
from .vae import ConvVAE, MLPVAE, VAE, kl_divergence, reparameterize, vae_loss

MODEL_CLASSES: dict[str, type[HistoryModule]] = {
    "vae-mlp": MLPVAE,
    "vae-cnn": ConvVAE,
    "dcgan": DCGAN,
    "cvae": ConditionalVAE,
    "cgan": ConditionalGAN,
    "classifier": MNISTClassifier,
}

__all__ = [
    "CHECKPOINT_FORMAT",
    "ConditionalGAN",
    "ConditionalVAE",
    "ConvVAE",
    "DCGAN",
    "GAN",
    "HistoryModule",
    "MLPVAE",
    "MNISTClassifier",
    "MODEL_CLASSES",
    "TrainingDiverged",
    "VAE",
    "kl_divergence",
    "reparameterize",
    "vae_loss",
]
