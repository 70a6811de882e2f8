"""The feature-extractor classifier's objective: cross-entropy on shifted images; accuracy."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from pixelcnn.configs import Augmentation
from pixelcnn.training.objectives import IMAGES, Batch, _count
from pixelcnn.training.trainer import Objective

if TYPE_CHECKING:
    from pixelcnn.models.classifier import Classifier


def shift_images(x: torch.Tensor, max_shift: int, draws: torch.Tensor) -> torch.Tensor:
    """Translate each uint8 image (B, C, H, W) by ``draws`` (2, B) in [0, 2·max_shift] pixels, zero-filled."""
    if max_shift == 0:
        return x
    B, _, H, W = x.shape
    padded = F.pad(x, (max_shift,) * 4)  # (B, C, H + 2s, W + 2s)
    dy, dx = draws.tolist()
    return torch.stack([padded[i, :, dy[i] : dy[i] + H, dx[i] : dx[i] + W] for i in range(B)])


class ClassifierObjective(Objective["Classifier"]):
    """The feature-extractor classifier: cross-entropy on randomly shifted images; test accuracy."""

    name = "classifier"
    files = IMAGES
    loss_name = "loss"

    def __init__(self, model: Classifier, augmentation: Augmentation) -> None:
        super().__init__()
        self.model = model
        self.shift = augmentation.augment_shift

    def forward(self, batch: Batch, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        x = batch["images"]
        if self.shift:
            offset, total = int(batch["offset"]), int(batch["total"])
            draws = torch.randint(0, 2 * self.shift + 1, (2, total), generator=generator)[:, offset : offset + len(x)]
            x = shift_images(x, self.shift, draws)
        logits = self.model(x)[1]
        return {"loss": F.cross_entropy(logits.float(), batch["labels"], reduction="none")}

    def evaluate(self, batch: Batch) -> dict[str, torch.Tensor]:
        logits = self.model(batch["images"])[1].float()
        return {
            "loss": F.cross_entropy(logits, batch["labels"], reduction="sum").double(),
            "correct": (logits.argmax(1) == batch["labels"]).double().sum(),
            "count": _count(batch, "images"),
        }

    def summarize(self, sums: dict[str, torch.Tensor]) -> dict[str, float]:
        return {"loss": float(sums["loss"] / sums["count"]), "accuracy": float(sums["correct"] / sums["count"])}
