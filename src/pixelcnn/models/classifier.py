"""A small CNN classifier of the dataset: the feature space of the sample metrics.

Inception-v3 features neither fit 32×32 grayscale digits nor can be had on an
offline machine, so ``evaluate`` can score samples in the space of this
network instead: its penultimate ``features`` feed FID / KID / precision-recall
and its ``logits`` feed the Inception Score (``pixelcnn.evaluation.features`` registers
it with torch-fidelity).

Shapes: B batch, C channels, H W pixels, K classes, D ``feature_dim``.
Images enter as uint8 (B, C, H, W) and are mapped to [-1, 1] inside (``pixelcnn.data.pixels.to_float``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from pixelcnn.compat import config_required
from pixelcnn.configs import ClassifierConfig, config_from_dict
from pixelcnn.data.pixels import to_float


def _block(c_in: int, c_out: int) -> nn.Sequential:
    """3×3 conv → BN → ReLU → 2×2 max-pool: halves H and W."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2, ceil_mode=True),
    )


class Classifier(nn.Module):
    """Three conv blocks → global average pool → D features → K logits.

    Global pooling makes the network indifferent to the image size (≥ 1 pixel).
    """

    CHECKPOINT_KIND: ClassVar[str] = "classifier"

    def __init__(self, config: ClassifierConfig | None = None, **fields: Any):
        if fields or not isinstance(config, ClassifierConfig):
            raise config_required("Classifier", ClassifierConfig, config, fields)
        super().__init__()
        self.config = config
        w = config.width
        self.trunk = nn.Sequential(_block(config.in_channels, w), _block(w, 2 * w), _block(2 * w, 4 * w))
        self.to_features = nn.Linear(4 * w, config.feature_dim)
        self.head = nn.Linear(config.feature_dim, config.num_classes)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Classifier:
        return cls(config_from_dict(ClassifierConfig, config))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: uint8 (B, C, H, W) → (features float (B, D), logits float (B, K)).

        ``features`` are taken before the last non-linearity, so they are not
        clipped at zero (a better fit for the Gaussian that FID assumes).
        """
        x = to_float(x)
        h = self.trunk(x).mean(dim=(2, 3))  # (B, 4w)
        features = self.to_features(h)  # (B, D)
        logits = self.head(F.relu(features))  # (B, K)
        return features, logits


@torch.no_grad()
def predict(model: Classifier, images: np.ndarray | torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Class predictions int64 (N,) for uint8 images (N, C, H, W), on the model's device."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for i in range(0, len(images), batch_size):
        batch = torch.as_tensor(np.array(images[i : i + batch_size], dtype=np.uint8))  # (B, C, H, W), copied off any memmap
        out.append(model(batch.to(device))[1].argmax(1).cpu())
    return torch.cat(out)


def accuracy(model: Classifier, images: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of ``images`` (uint8 (N, C, H, W)) whose predicted class equals ``labels`` (N,)."""
    return float((predict(model, images) == torch.as_tensor(np.asarray(labels))).float().mean())
