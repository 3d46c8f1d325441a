"""How good a trained model is: numbers only, no plots and no training.

VAE numbers follow the seed's quantitative table: parameter count, reconstruction MSE on the test set,
test negative ELBO in nats, training time, final losses.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from .models.vae import VAE, kl_divergence, reparameterize

def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


@torch.no_grad()
def evaluate_vae(model: VAE, loader, seed: int = 0) -> dict[str, float]:
    """Test-set numbers of a VAE: negative ELBO, its two terms, and reconstruction MSE.

    Args:
        model: a trained :class:`~fundamentalml.models.vae.VAE`.
        loader: an iterable of ``(images, labels)`` batches in [0, 1] (e.g. a DataModule's ``test_dataloader()``).
        seed: seeds the single posterior sample of the ELBO estimate, so the number is repeatable.

    Returns:
        ``neg_elbo`` (nats per image, one posterior sample per image: the same estimate the training loss
        uses), ``bce`` and ``kl`` (its two terms), ``recon_mse`` (mean squared error per pixel of the
        reconstruction through the posterior mean) and ``n_images``.
    """
    model.eval()
    gen = torch.Generator(device=model.device).manual_seed(seed)
    totals = {"bce": 0.0, "kl": 0.0, "sq_err": 0.0}
    n = 0
    for x, _ in loader:
        x = x.to(model.device)
        mu, logvar = model.encode(x)
        z = reparameterize(mu, logvar, generator=gen)
        logits = model.decode_logits(z)
        b = x.shape[0]
        totals["bce"] += torch.nn.functional.binary_cross_entropy_with_logits(
            logits.reshape(b, -1), x.reshape(b, -1), reduction="sum"
        ).item()
        totals["kl"] += kl_divergence(mu, logvar).sum().item()
        totals["sq_err"] += (model.decode(mu) - x).pow(2).sum().item()
        n += b
    if n == 0:
        raise ValueError("evaluate_vae got an empty loader.")
    bce, kl = totals["bce"] / n, totals["kl"] / n
    return {
        "neg_elbo": bce + kl,
        "bce": bce,
        "kl": kl,
        "recon_mse": totals["sq_err"] / (n * x[0].numel()),
        "n_images": n,
    }


def vae_report(run: Any) -> dict[str, Any]:
    """The seed's comparison row for a :class:`~fundamentalml.training.TrainingRun` of a VAE."""
    model = run.model
    scores = evaluate_vae(model, run.datamodule.test_dataloader(), seed=run.seed)
    history = model.history
    last = lambda key: history[key][-1] if history.get(key) else math.nan  # noqa: E731
    return {
        "model": run.name,
        "parameters": count_parameters(model),
        "recon_mse": scores["recon_mse"],
        "test_neg_elbo": scores["neg_elbo"],
        "test_bce": scores["bce"],
        "test_kl": scores["kl"],
        "train_time_s": run.train_time_s,
        "epochs": len(history.get("epoch", [])),
        "final_train_loss": last("train_loss"),
        "final_val_loss": last("val_loss"),
        "test_images": scores["n_images"],
    }


_FORMATS = {
    "parameters": "{:,.0f}",
    "recon_mse": "{:.5f}",
    "test_neg_elbo": "{:.2f}",
    "test_bce": "{:.2f}",
    "test_kl": "{:.2f}",
    "train_time_s": "{:.1f}",
    "epochs": "{:.0f}",
    "final_train_loss": "{:.2f}",
    "final_val_loss": "{:.2f}",
    "test_images": "{:,.0f}",
}
_LABELS = {
    "parameters": "parameters",
    "recon_mse": "reconstruction MSE (test, per pixel)",
    "test_neg_elbo": "test -ELBO (nats/image)",
    "test_bce": "  of which reconstruction (BCE)",
    "test_kl": "  of which KL",
    "train_time_s": "training time (s)",
    "epochs": "epochs",
    "final_train_loss": "final train loss",
    "final_val_loss": "final validation loss",
    "test_images": "test images",
}


def comparison_table(rows: list[dict[str, Any]]) -> str:
    """Format report rows (one per model) as a Markdown table with the models side by side."""
    if not rows:
        raise ValueError("comparison_table needs at least one row.")
    header = "| metric | " + " | ".join(str(r["model"]) for r in rows) + " |"
    lines = [header, "|---|" + "---:|" * len(rows)]
    for key, fmt in _FORMATS.items():
        if not any(key in r for r in rows):
            continue
        cells = [fmt.format(r[key]) if isinstance(r.get(key), (int, float)) else "-" for r in rows]
        lines.append(f"| {_LABELS[key]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
