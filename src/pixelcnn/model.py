"""The gated PixelCNN: a categorical distribution over images or code grids.

Legend: B batch, C channels (colour groups), K categories per channel,
E embedding size, F hidden features, S skip features, D conditioning
features, H W positions (pixels or codes).

One class serves both systems of the project:

- pixel space: ``channels`` 1 or 3, ``levels`` 256 (or fewer for lower bit
  depth), input values fed as scalars in [-1, 1] (``embed_dim = 0``);
- code grids of the VQ prior: ``channels`` 1, ``levels`` = codebook size K,
  input codes embedded (``embed_dim > 0``), optionally conditioned on a
  feature map of the same H × W (``cond_channels > 0``: the bottom prior's
  view of the top codes).

Both may be class-conditional (``num_classes > 0``).
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from pixelcnn.configs import PixelCNNConfig
from pixelcnn.layers import GatedBlock, MaskedConv2d


class PixelCNN(nn.Module):
    """Gated PixelCNN with vertical/horizontal stacks, residual and skip connections."""

    CHECKPOINT_KIND = "pixelcnn"

    def __init__(self, config: PixelCNNConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        in_features = c.channels * (c.embed_dim or 1)
        self.embedding = nn.Embedding(c.levels, c.embed_dim) if c.embed_dim else None
        # Position is known before any value is drawn, so conditioning on it keeps the model
        # causal; it lets a network with a local receptive field place a global shape.
        self.position = nn.Parameter(0.1 * torch.randn(c.position_channels, c.height, c.width)) if c.position_channels else None
        self.blocks = nn.ModuleList(
            GatedBlock(
                in_features if i == 0 else c.hidden,
                c.hidden,
                c.skip,
                c.kernel,
                c.channels,
                first=i == 0,
                num_classes=c.num_classes,
                cond_channels=c.cond_channels + c.position_channels,
            )
            for i in range(c.layers)
        )
        self.head_hidden = MaskedConv2d(c.skip, c.skip, (1, 1), "B", c.channels)
        self.head_out = MaskedConv2d(c.skip, c.channels * c.levels, (1, 1), "B", c.channels)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "PixelCNN":
        from pixelcnn.checkpoints import config_from_dict

        return cls(config_from_dict(PixelCNNConfig, config))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """x: int64 (B, C, H, W) in [0, K) → float (B, C·E, H, W) in C contiguous groups."""
        if self.embedding is None:
            dtype = self.head_out.weight.dtype
            return x.to(dtype) * (2.0 / (self.config.levels - 1)) - 1.0
        b, ch, h, w = x.shape
        e = self.embedding(x)  # (B, C, H, W, E)
        return e.permute(0, 1, 4, 2, 3).reshape(b, ch * self.config.embed_dim, h, w)  # (B, C·E, H, W)

    def block_cond(self, cond: torch.Tensor | None, batch: int) -> torch.Tensor | None:
        """The map every block is conditioned on: ``cond`` (B, D, H, W) and the position map, stacked."""
        if self.position is None:
            return cond
        position = self.position[None].expand(batch, -1, -1, -1)  # (B, P, H, W)
        return position if cond is None else torch.cat([cond, position.to(cond.dtype)], dim=1)  # (B, D+P, H, W)

    def head(self, skip: torch.Tensor) -> torch.Tensor:
        """skip: (B, S, H, W) → logits (B, K, C, H, W)."""
        b, _, h, w = skip.shape
        out = self.head_out(F.relu(self.head_hidden(F.relu(skip))))  # (B, C·K, H, W)
        out = out.view(b, self.config.channels, self.config.levels, h, w)  # (B, C, K, H, W)
        return out.transpose(1, 2)  # (B, K, C, H, W)

    def forward(
        self,
        x: torch.Tensor,
        labels: torch.Tensor | None = None,
        cond: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x: int64 (B, C, H, W) in [0, K); labels: int64 (B,); cond: (B, D, H, W).

        Returns logits (B, K, C, H, W); position (i, j, c) depends only on
        inputs strictly before it in raster-then-channel order.
        """
        self._check_inputs(x, labels, cond)
        cond = self.block_cond(cond, x.shape[0])
        v = h = self.embed(x)
        skip = 0.0
        for block in self.blocks:
            v, h, s = block(v, h, labels, cond)
            skip = skip + s
        return self.head(skip)

    def _check_inputs(self, x: torch.Tensor, labels: torch.Tensor | None, cond: torch.Tensor | None) -> None:
        c = self.config
        if x.dim() != 4 or x.shape[1] != c.channels:
            raise ValueError(f"expected x of shape (B, {c.channels}, H, W), got {tuple(x.shape)}")
        if c.num_classes and labels is None:
            raise ValueError(f"the model is conditioned on {c.num_classes} classes: pass labels")
        if c.cond_channels and (cond is None or cond.shape[1:] != (c.cond_channels, *x.shape[2:])):
            got = None if cond is None else tuple(cond.shape)
            raise ValueError(f"expected cond of shape (B, {c.cond_channels}, {x.shape[2]}, {x.shape[3]}), got {got}")
        if c.position_channels and tuple(x.shape[2:]) != (c.height, c.width):
            raise ValueError(f"a model with a position map draws {c.height}x{c.width} grids only, got {tuple(x.shape[2:])}")

    def nll(
        self,
        x: torch.Tensor,
        labels: torch.Tensor | None = None,
        cond: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Negative log-likelihood in nats per image: float (B,)."""
        logits = self(x, labels, cond)
        return F.cross_entropy(logits.float(), x, reduction="none").flatten(1).sum(1)

    def bits_per_dim(
        self,
        x: torch.Tensor,
        labels: torch.Tensor | None = None,
        cond: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Mean NLL in bits per dimension (per channel value) of the batch: scalar."""
        return self.nll(x, labels, cond).mean() / (x[0].numel() * math.log(2))

