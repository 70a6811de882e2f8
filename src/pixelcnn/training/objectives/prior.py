"""A code prior's objective: bits per code, given the class and the top codes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from pixelcnn.training.objectives import Batch, _count
from pixelcnn.training.trainer import Objective

if TYPE_CHECKING:
    from pixelcnn.models.prior import LevelPrior


class PriorObjective(Objective):
    """One level's prior: bits per code, given the class and (bottom level) the top codes."""

    loss_name = "bits_per_code"

    def __init__(self, level: LevelPrior, name: str, top: str | None) -> None:
        super().__init__()
        self.model = level
        self.files = {"codes": f"{{split}}_{name}.npy", "labels": "{split}_labels.npy"}
        if top is not None:
            self.files["top"] = f"{{split}}_{top}.npy"

    def bits(self, batch: Batch) -> torch.Tensor:
        config = self.model.pixelcnn.config
        labels = batch["labels"] if config.num_classes else None
        top = batch["top"].long() if "top" in batch else None
        return self.model.bits_per_code(batch["codes"].long(), labels, top)  # (B,)

    def forward(self, batch: Batch, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        return {"bits_per_code": self.bits(batch)}

    def evaluate(self, batch: Batch) -> dict[str, torch.Tensor]:
        return {"bits_per_code": self.bits(batch).double().sum(), "count": _count(batch, "codes")}

    def summarize(self, sums: dict[str, torch.Tensor]) -> dict[str, float]:
        return {"bits_per_code": float(sums["bits_per_code"] / sums["count"])}
