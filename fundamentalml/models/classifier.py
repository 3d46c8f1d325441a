"""The reference MNIST classifier: the judge that reads generated digits.

A small CNN (two 3x3 conv + max-pool stages, then 128 hidden units). It is trained once per data folder and
shipped with the course (see :func:`fundamentalml.runs.pretrained`); its 128-d penultimate features also serve as the
feature space of the Fréchet distance between real and generated digits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import LossModule, check_images, evaluating
from .vae import make_adam


class MNISTClassifier(LossModule):
    """Conv(1->32, 3x3) - pool - Conv(32->64, 3x3) - pool - Linear(3136->128) - Linear(128->10).

    3x3 kernels cost 2.8 times less than 5x5 ones here and still pass 99% test accuracy.

    Args:
        lr: Adam learning rate.
        dropout: dropout before the last layer (regularises a model trained for few epochs).
    """

    feature_dim = 128

    def __init__(self, lr: float = 1e-3, dropout: float = 0.25) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.lr = lr
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),  # 14x14
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),  # 7x7
            nn.Flatten(), nn.Linear(64 * 7 * 7, self.feature_dim), nn.ReLU(inplace=True),
        )
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.feature_dim, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``(B, 10)`` for images ``(B, 1, 28, 28)`` in [0, 1]."""
        return self.head(self.body(x))

    @evaluating
    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations ``(B, 128)`` for images in [0, 1] (the Fréchet distance's feature space)."""
        return self.body(check_images(x, (1, 28, 28)).to(self.device))

    @evaluating
    def predict(self, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        """Predicted digit ``(B,)`` for images ``(B, 1, 28, 28)`` in [0, 1]."""
        x = check_images(x, (1, 28, 28))
        return torch.cat([self(x[i : i + batch_size].to(self.device)).argmax(1).cpu() for i in range(0, len(x), batch_size)])

    def batch_loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``{"loss", "acc"}`` of a batch: cross-entropy and accuracy (batch means)."""
        x, y = batch
        logits = self(x)
        return {"loss": F.cross_entropy(logits, y), "acc": (logits.argmax(1) == y).float().mean()}

    def make_optimizers(self, total_steps: int | None = None) -> dict:
        """Adam with a one-cycle schedule over ``total_steps``: a short warm-up, then a cosine decay to ~0.

        The decay is what lifts a 3-epoch run from about 98.8% to above 99% test accuracy.
        """
        optimizer = make_adam(self.parameters(), self.lr)
        schedule = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=self.lr * 3, total_steps=max(int(total_steps or 1000), 1), pct_start=0.15
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
