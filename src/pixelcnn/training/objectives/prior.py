"""A code prior's objective: bits per code, given the class and the top codes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from pixelcnn.training.objectives import Batch, _count, drop_labels
from pixelcnn.training.trainer import Objective

if TYPE_CHECKING:
    from pixelcnn.models.prior import CodePrior, LevelPrior


class PriorObjective(Objective["LevelPrior"]):
    """One level's prior: bits per code, given the class and (bottom level) the top codes."""

    loss_name = "bits_per_code"

    def __init__(self, level: LevelPrior, name: str, top: str | None, cond_dropout: float = 0.0) -> None:
        super().__init__()
        self.model, self.name = level, name
        self.cond_dropout = cond_dropout if level.pixelcnn.config.null_class else 0.0
        self.files = {"codes": f"{{split}}_{name}.npy", "labels": "{split}_labels.npy"}
        if top is not None:
            self.files["top"] = f"{{split}}_{top}.npy"

    def bits(self, batch: Batch, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Bits per code of each grid (given ``labels``, default the batch's): float (B,)."""
        config = self.model.pixelcnn.config
        if labels is None and config.num_classes:
            labels = batch["labels"]
        top = batch["top"].long() if "top" in batch else None
        return self.model.bits_per_code(batch["codes"].long(), labels, top)  # (B,)

    def forward(self, batch: Batch, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        labels = None
        if self.cond_dropout:  # classifier-free guidance: some grids are seen with the "no class" label
            num_classes = self.model.pixelcnn.config.num_classes
            labels = drop_labels(batch, batch["labels"], self.cond_dropout, num_classes, generator)
        return {"bits_per_code": self.bits(batch, labels)}

    def evaluate(self, batch: Batch) -> dict[str, torch.Tensor]:
        return {"bits_per_code": self.bits(batch).double().sum(), "count": _count(batch, "codes")}

    def summarize(self, sums: dict[str, torch.Tensor]) -> dict[str, float]:
        return {"bits_per_code": float(sums["bits_per_code"] / sums["count"])}


def prior_objectives(prior: CodePrior, cond_dropout: float = 0.0) -> list[PriorObjective]:
    """One objective per level of ``prior``, coarse → fine, each given the level above it: the order to train them in."""
    levels = prior.level_priors()
    names = list(levels)
    return [PriorObjective(levels[name], name, names[index - 1] if index else None, cond_dropout)
            for index, name in enumerate(names)]
