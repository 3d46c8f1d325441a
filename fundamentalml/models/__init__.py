"""The course's models. ``MODEL_CLASSES`` maps each CLI name to its LightningModule class."""

from .base import CHECKPOINT_FORMAT, HistoryModule
from .vae import ConvVAE, MLPVAE, VAE, kl_divergence, reparameterize, vae_loss

MODEL_CLASSES: dict[str, type[HistoryModule]] = {
    "vae-mlp": MLPVAE,
    "vae-cnn": ConvVAE,
}

__all__ = [
    "CHECKPOINT_FORMAT",
    "ConvVAE",
    "HistoryModule",
    "MLPVAE",
    "MODEL_CLASSES",
    "VAE",
    "kl_divergence",
    "reparameterize",
    "vae_loss",
]
