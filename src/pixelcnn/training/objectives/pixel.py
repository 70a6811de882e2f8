"""The pixel PixelCNN's objective: bits per dimension of the quantised images."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

from pixelcnn.data.pixels import quantise
from pixelcnn.training.objectives import IMAGES, Batch, _count
from pixelcnn.training.trainer import Objective

if TYPE_CHECKING:
    from pixelcnn.models.pixelcnn import PixelCNN


class PixelObjective(Objective):
    """The pixel PixelCNN: bits per dimension of the quantised images."""

    files = IMAGES
    loss_name = "bpd"

    def __init__(self, model: PixelCNN) -> None:
        super().__init__()
        self.model = model

    def bpd(self, batch: Batch) -> torch.Tensor:
        """Bits per dimension of each image: float (B,)."""
        c = self.model.config
        x = quantise(batch["images"], c.levels)  # int64 (B, C, H, W)
        labels = batch["labels"] if c.num_classes else None
        return self.model.nll(x, labels) / (x[0].numel() * math.log(2))

    def forward(self, batch: Batch, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        return {"bpd": self.bpd(batch)}

    def evaluate(self, batch: Batch) -> dict[str, torch.Tensor]:
        return {"bpd": self.bpd(batch).double().sum(), "count": _count(batch, "images")}

    def summarize(self, sums: dict[str, torch.Tensor]) -> dict[str, float]:
        return {"bpd": float(sums["bpd"] / sums["count"])}
