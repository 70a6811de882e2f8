"""The buffers of the cached sampler: vertical stacks and horizontal streams, and bias maps.

Legend: B batch, F features, H_k W_k the grid of resolution k, p = kernel // 2.

- A vertical stack of resolution k is a zero-padded, channels-last buffer
  (B, H_k + p, W_k + 2p, F): row I of the stack lives at row p + I, columns
  p .. p + W_k - 1, so a block's vertical convolution over rows I-p .. I is one
  convolution of a contiguous band.
- A horizontal ``Stream`` holds the current row of a stage's horizontal output,
  zero-padded on the left (B, p + W_k, F), so a masked 1 × (p + 1) convolution at
  column J is one matmul over the contiguous window ``row[:, J : J + p + 1]``.
  The row holds ``h - beta``: ``beta`` (1, F, H_k, W_k) is the sum of the biases
  that reached the stream, folded into the biases of whatever reads it (see
  docs/cached_sampling.md), so residual connections cost one ``addmm`` per step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class Stream:
    """A horizontal stream at one resolution: the current row of ``h - beta`` (and the row before)."""

    row: torch.Tensor  # (B, p + W_k, F), p zero columns on the left
    beta: torch.Tensor  # (1, F, H_k, W_k): the offset the row omits


def channels_last(x: torch.Tensor) -> torch.Tensor:
    """(B, F, H|1, W|1) → (B, H|1, W|1, F)."""
    return x.permute(0, 2, 3, 1)  # (B, H, W, F)


def bias_map(bias: torch.Tensor) -> torch.Tensor:
    """A bias vector (F,) as a constant map (1, F, 1, 1)."""
    return bias[None, :, None, None]


def bias_of(layer: nn.Conv2d | nn.ConvTranspose2d | nn.Linear) -> torch.Tensor:
    """The bias of a layer the caches fold (each is built with one): (F,)."""
    if layer.bias is None:
        raise ValueError(f"the cached sampler folds every layer's bias, and this {type(layer).__name__} has none")
    return layer.bias
