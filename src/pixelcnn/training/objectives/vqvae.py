"""The autoencoder's objective: reconstruction plus commitment; MSE, PSNR and codebook use."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

from pixelcnn.data.pixels import to_float
from pixelcnn.models.vqvae import perplexity
from pixelcnn.training.objectives import Batch, _count
from pixelcnn.training.trainer import Objective

if TYPE_CHECKING:
    from pixelcnn.models.vqvae import VQVAE


def _mse01(recon: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per-image mean squared error of clamped reconstructions on [0, 1]-scaled pixels: (B,)."""
    return ((recon.float().clamp(-1, 1) - x) / 2).pow(2).flatten(1).mean(1)


class VQVAEObjective(Objective["VQVAE"]):
    """The autoencoder: reconstruction MSE plus the levels' commitment losses; codebooks learn by EMA.

    ``mse`` is measured the same way in training and on the test split:
    clamped reconstructions, pixels scaled to [0, 1].
    """

    name = "vqvae"
    files = {"images": "{split}_images.npy"}
    loss_name = "loss"

    def __init__(self, model: VQVAE) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: Batch, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        x = to_float(batch["images"])
        out = self.model(x, generator=generator)
        recon = (out.recon.float() - x).pow(2).flatten(1).mean(1)  # (B,) on [-1, 1]
        return {"loss": recon + out.commit_loss, "mse": _mse01(out.recon.detach(), x)}

    def evaluate(self, batch: Batch) -> dict[str, torch.Tensor]:
        x = to_float(batch["images"])
        out = self.model(x)
        sums = {
            "loss": ((out.recon.float() - x).pow(2).flatten(1).mean(1) + out.commit_loss).double().sum(),
            "mse": _mse01(out.recon, x).double().sum(),
            "count": _count(batch, "images"),
        }
        for name, codes in zip(self.model.level_names, out.codes):
            sums[f"codes_{name}"] = torch.bincount(codes.flatten(), minlength=self.model.config.codebook_size).double()
        return sums

    def summarize(self, sums: dict[str, torch.Tensor]) -> dict[str, float]:
        mse = float(sums["mse"] / sums["count"])
        metrics = {"loss": float(sums["loss"] / sums["count"]), "mse": mse, "psnr": 10 * math.log10(1 / max(mse, 1e-12))}
        for name in self.model.level_names:
            counts = sums[f"codes_{name}"]
            metrics[f"{name}_perplexity"] = float(perplexity(counts))
            metrics[f"{name}_usage"] = float((counts > 0).double().mean())
        return metrics
