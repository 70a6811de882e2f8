"""Pixel values: uint8 images ↔ what the models take, and the pixel model's shape from the data (``model_config``).

Legend: N images, B batch, C channels, H W pixels, K = ``levels`` values per channel.

Pixels are uint8 in [0, 255] everywhere on disk and at every API boundary.
The one place they become model values and back:

- ``quantise`` / ``dequantise``: uint8 ↔ int64 categories in [0, K) (the
  pixel PixelCNN; ``levels = 256`` is lossless). Bits per dimension are
  reported for the quantised data, per channel value.
- ``to_float`` / ``to_uint8``: uint8 ↔ float32 in [-1, 1] (``x / 127.5 - 1``;
  the VQ-VAE, the classifier, LPIPS), back by clamping and rounding.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from pixelcnn.configs import PixelCNNConfig
from pixelcnn.errors import require


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


def to_float(images: np.ndarray | torch.Tensor, device: torch.device | str | None = None) -> torch.Tensor:
    """uint8 (B, C, H, W) → float32 (B, C, H, W) in [-1, 1], on ``device`` (None: a tensor's own, else the CPU)."""
    if not isinstance(images, torch.Tensor):
        array = np.ascontiguousarray(images)
        images = torch.from_numpy(array if array.flags.writeable else array.copy())
    if device is not None:
        images = images.to(device)
    return images.float() / 127.5 - 1


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """float (B, C, H, W) in [-1, 1] (clamped) → uint8 (B, C, H, W) NumPy array."""
    return ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu().numpy()


def model_config(architecture: PixelCNNConfig, channels: int, image_size: int, num_classes: int,
                 null_class: bool = False) -> PixelCNNConfig:
    """The pixel model's config: ``architecture``'s network over images (C, H, W) = (channels, image_size, image_size).

    ``architecture`` gives the network (its shape fields are replaced: pixels
    enter as scalars, no conditioning map); ``num_classes`` is 0 for an
    unconditional model; ``null_class`` adds the "no class" label of classifier-free
    guidance. A field out of range raises ``errors.InvalidValue``
    naming it (``levels`` must fit 8-bit pixels).
    """
    require(2 <= architecture.levels <= 256, "levels", f"must be in [2, 256] for 8-bit pixels, got {architecture.levels}")
    return replace(architecture, channels=channels, height=image_size, width=image_size, embed_dim=0,
                   num_classes=num_classes, cond_channels=0, null_class=null_class)
