"""The pixel PixelCNN's objective: bits per dimension of the quantised images."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

from pixelcnn.data.pixels import quantise
from pixelcnn.training.objectives import IMAGES, Batch, _count, drop_labels
from pixelcnn.training.trainer import Objective

if TYPE_CHECKING:
    from pixelcnn.models.pixelcnn import PixelCNN


class PixelObjective(Objective["PixelCNN"]):
    """The pixel PixelCNN: bits per dimension of the quantised images."""

    name = "pixelcnn"
    files = IMAGES
    loss_name = "bpd"

    def __init__(self, model: PixelCNN, cond_dropout: float = 0.0) -> None:
        super().__init__()
        self.model = model
        self.cond_dropout = cond_dropout if model.config.null_class else 0.0

    def bpd(self, batch: Batch, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Bits per dimension of each image (given ``labels``, default the batch's): float (B,)."""
        c = self.model.config
        x = quantise(batch["images"], c.levels)  # int64 (B, C, H, W)
        if labels is None and c.num_classes:
            labels = batch["labels"]
        return self.model.nll(x, labels) / (x[0].numel() * math.log(2))

    def forward(self, batch: Batch, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        labels = None
        if self.cond_dropout:  # classifier-free guidance: some images are seen with the "no class" label
            labels = drop_labels(batch, batch["labels"], self.cond_dropout, self.model.config.num_classes, generator)
        return {"bpd": self.bpd(batch, labels)}

    def evaluate(self, batch: Batch) -> dict[str, torch.Tensor]:
        return {"bpd": self.bpd(batch).double().sum(), "count": _count(batch, "images")}

    def summarize(self, sums: dict[str, torch.Tensor]) -> dict[str, float]:
        return {"bpd": float(sums["bpd"] / sums["count"])}
