"""The pixel-space branch: pixels ↔ model values, and the model's shape from the data.

Legend: N images, B batch, C channels, H W pixels, K = ``levels`` values per channel.

Pixels are uint8 in [0, 255]; the model sees them quantised to ``levels``
values (``levels = 256`` is lossless). Bits per dimension are reported for the
quantised data, per channel value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from pixelcnn.configs import ClassConditioning, PixelCNNConfig
from pixelcnn.errors import ConfigError
from pixelcnn.params import Partial


def quantise(images: np.ndarray | torch.Tensor, levels: int) -> torch.Tensor:
    """uint8 [0, 255] → int64 in [0, levels): value * levels // 256."""
    if isinstance(images, torch.Tensor):
        x = images.long()
    else:
        x = torch.from_numpy(np.array(images, dtype=np.int64))  # a copy: prepared data is a read-only memmap
    return x if levels == 256 else (x * levels) // 256


def dequantise(x: torch.Tensor, levels: int) -> np.ndarray:
    """int64 in [0, levels) → uint8 [0, 255], spreading the levels over the range."""
    x = x.long().cpu()
    if levels != 256:
        x = (x * 255 + (levels - 1) // 2) // (levels - 1)
    return x.to(torch.uint8).numpy()


def model_config(architecture: Partial[PixelCNNConfig], conditioning: ClassConditioning, meta: Mapping[str, Any]) -> PixelCNNConfig:
    """The pixel model's config for prepared data described by ``meta`` (from ``data.load_split``)."""
    if not 2 <= architecture["levels"] <= 256:
        raise ConfigError(f"params.yaml: pixelcnn.levels must be in [2, 256] for 8-bit pixels, got {architecture['levels']}")
    size = int(meta["image_size"])
    classes = int(meta["num_classes"])
    return architecture.build(channels=int(meta["channels"]), height=size, width=size, embed_dim=0,
                              num_classes=conditioning.num_classes(classes), cond_channels=0,
                              null_class=conditioning.null_class(classes))
