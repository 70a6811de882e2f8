"""The gated PixelCNN: a distribution over images or code grids, one channel value at a time.

Legend: B batch, C channels, K categories per channel, E embedding size,
F hidden features, S skip features, D conditioning features, Q head outputs
per position, H W positions (pixels or codes), r resolutions.

One class serves both systems of the project:

- pixel space: ``channels`` 1 or 3, ``levels`` 256 (or fewer for lower bit
  depth), input values fed as scalars in [-1, 1] (``embed_dim = 0``), with a
  categorical or a discretized logistic mixture output (``output``);
- code grids of the VQ prior: ``channels`` 1, ``levels`` = codebook size K,
  input codes embedded (``embed_dim > 0``), optionally conditioned on a
  feature map of the same H × W (``cond_channels > 0``: the bottom prior's
  view of the top codes).

Both may be class-conditional (``num_classes > 0``). The network is a list
of stages (``network_layout``): gated blocks, and where the config asks for
them causal self-attention blocks and the down/up sampling of a U-Net.
Whatever the options, ``forward`` returns log-probabilities up to a constant
per channel (logits) of shape (B, K, C, H, W): position (i, j, c) depends only
on inputs strictly before it in raster-then-channel order.

The model knows nothing of sampling: ``pixelcnn.generate(model, n, labels=...,
temperature=...)`` (``pixelcnn.pipelines.generate``) draws images from it with
the exact cached sampler (``pixelcnn.sampling``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from pixelcnn.compat import config_required, renamed_method
from pixelcnn.configs import PixelCNNConfig, config_from_dict, grid_sizes
from pixelcnn.models import logistic
from pixelcnn.models.attention import CausalSelfAttention
from pixelcnn.models.layers import Downsample, GatedBlock, MaskedConv2d, Upsample

__all__ = ["Layer", "PixelCNN", "PixelCNNConfig", "Stage", "network_layout"]


class Layer(Enum):
    """Kinds of stage in the network."""

    BLOCK = "block"  # a GatedBlock
    ATTENTION = "attention"  # a CausalSelfAttention on the horizontal stack
    DOWN = "down"  # a Downsample from ``resolution`` to ``resolution + 1``
    UP = "up"  # an Upsample from ``resolution + 1`` to ``resolution``


@dataclass(frozen=True)
class Stage:
    """One stage of the network, in execution order."""

    kind: Layer
    index: int  # into the model's ModuleList of that kind
    resolution: int  # 0 is the finest (H × W); each next one halves H and W
    shortcut: int = -1  # a BLOCK of the up pass: the down-pass block whose outputs it reads; -1 none


def network_layout(config: PixelCNNConfig) -> tuple[Stage, ...]:
    """The stages of the network for ``config``, in execution order.

    One resolution: ``layers`` gated blocks. Several: a down pass (``layers``
    blocks per resolution, then a Downsample) and an up pass (``layers``
    blocks per resolution, reading the down pass's blocks of that resolution
    in reverse order through shortcuts, then an Upsample). An attention block
    follows every ``attention_every``-th gated block but the last.
    """
    stages: list[Stage] = []
    counts = dict.fromkeys(Layer, 0)
    total, every = config.gated_blocks, config.attention_every

    def add(kind: Layer, resolution: int, shortcut: int = -1) -> int:
        index = counts[kind]
        stages.append(Stage(kind, index, resolution, shortcut))
        counts[kind] += 1
        if kind is Layer.BLOCK and every and counts[kind] % every == 0 and counts[kind] < total:
            add(Layer.ATTENTION, resolution)
        return index

    n, r = config.layers, config.resolutions
    down: list[list[int]] = []
    for res in range(r):
        down.append([add(Layer.BLOCK, res) for _ in range(n)])
        if res < r - 1:
            add(Layer.DOWN, res)
    if r > 1:
        for res in reversed(range(r)):
            for m in range(n):
                add(Layer.BLOCK, res, shortcut=down[res][n - 1 - m])
            if res > 0:
                add(Layer.UP, res - 1)
    return tuple(stages)


def downsample_map(cond: torch.Tensor) -> torch.Tensor:
    """A conditioning map at the next coarser resolution: 2×2 means. (B, D, H, W) → (B, D, h, w), h = ceil(H / 2).

    An odd last row or column is averaged over the values it has (as if repeated;
    ``ceil_mode`` without padding counts), which torch.compile handles where the
    backward of a replicate padding crashed its inductor.
    """
    return F.avg_pool2d(cond, 2, ceil_mode=True, count_include_pad=False)


class PixelCNN(nn.Module):
    """Gated PixelCNN with vertical/horizontal stacks, residual and skip connections, and the options of its config."""

    CHECKPOINT_KIND: ClassVar[str] = "pixelcnn"

    def __init__(self, config: PixelCNNConfig | None = None, **fields: Any) -> None:
        if fields or not isinstance(config, PixelCNNConfig):  # PixelCNN(in_channels=3, ...): say how it is written here
            raise config_required("PixelCNN", PixelCNNConfig, config, fields)
        super().__init__()
        self.config = config
        c = config
        in_features = c.channels * (c.embed_dim or 1)
        self.embedding = nn.Embedding(c.levels, c.embed_dim) if c.embed_dim else None
        # Position (and the class) is known before any value is drawn, so conditioning on it keeps
        # the model causal; it lets a network with a local receptive field place a global shape.
        # With position_per_class a class-conditional model learns one map per class: (classes, P, H, W).
        shape = ((c.label_count,) if self.class_positions else ()) + (c.position_channels, c.height, c.width)
        self.position = nn.Parameter(0.1 * torch.randn(shape)) if c.position_channels else None
        self.layout = network_layout(c)
        stages = {kind: [s for s in self.layout if s.kind is kind] for kind in Layer}
        self.blocks = nn.ModuleList(
            GatedBlock(
                c,
                in_features if s.index == 0 else c.hidden,
                first=s.index == 0,
                skip=s.resolution == 0,
                shortcut=s.shortcut >= 0,
            )
            for s in stages[Layer.BLOCK]
        )
        out_features = c.channels * c.levels if c.output == "categorical" else logistic.head_size(c.channels, c.n_mix)
        self.head_hidden = MaskedConv2d(c.skip, c.skip, (1, 1), "B", c.colours)
        self.head_out = MaskedConv2d(c.skip, out_features, (1, 1), "B", c.colours)
        sizes = grid_sizes(c.height, c.width, c.resolutions)
        self.attention = nn.ModuleList(CausalSelfAttention(c, sizes[s.resolution]) for s in stages[Layer.ATTENTION])
        self.down = nn.ModuleList(Downsample(c.hidden, c.colours) for _ in stages[Layer.DOWN])
        self.up = nn.ModuleList(Upsample(c.hidden, c.colours) for _ in stages[Layer.UP])
        self.shortcut_sources = frozenset(s.shortcut for s in self.layout if s.shortcut >= 0)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> PixelCNN:
        return cls(config_from_dict(PixelCNNConfig, config))

    generate = renamed_method("generate", "PixelCNN")  # pixelcnn.generate(model, n, ...): models do not sample themselves
    generate_samples = renamed_method("generate_samples")
    sample = renamed_method("sample")

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """x: int64 (B, C, H, W) in [0, K) → float (B, C·E, H, W) in C contiguous groups."""
        if self.embedding is None:
            dtype = self.head_out.weight.dtype
            return x.to(dtype) * (2.0 / (self.config.levels - 1)) - 1.0
        b, ch, h, w = x.shape
        e = self.embedding(x)  # (B, C, H, W, E)
        return e.permute(0, 1, 4, 2, 3).reshape(b, ch * self.config.embed_dim, h, w)  # (B, C·E, H, W)

    @property
    def class_positions(self) -> bool:
        """Whether the position map is one per class: ``position_per_class`` on a class-conditional model."""
        return bool(self.config.position_per_class and self.config.num_classes)

    @property
    def per_image_cond(self) -> bool:
        """Whether the blocks' conditioning map differs between images (a ``cond`` map or per-class position maps)."""
        return bool(self.config.cond_channels or self.class_positions)

    def block_cond(self, cond: torch.Tensor | None, batch: int, labels: torch.Tensor | None = None) -> torch.Tensor | None:
        """The map every block is conditioned on: ``cond`` (B, D, H, W) and the position map (of each label's class), stacked."""
        if self.position is None:
            return cond
        if self.class_positions:
            if labels is None:
                raise ValueError("this model has a position map per class: pass labels")
            # index_select, not self.position[labels]: the gradient of advanced indexing is an accumulating
            # index_put_ whose CPU kernel adds repeated labels in a thread-dependent order (two runs at 2 threads
            # differed); index_select's gradient, index_add_, adds the rows of each label in batch order.
            position = self.position.index_select(0, labels)  # (B, P, H, W)
        else:
            position = self.position[None].expand(batch, -1, -1, -1)  # (B, P, H, W)
        return position if cond is None else torch.cat([cond, position.to(cond.dtype)], dim=1)  # (B, D+P, H, W)

    def resolution_conds(
        self, cond: torch.Tensor | None, batch: int, labels: torch.Tensor | None = None
    ) -> list[torch.Tensor | None]:
        """``block_cond`` at every resolution, finest first: (B, D+P, H_r, W_r) each, or None."""
        conds = [self.block_cond(cond, batch, labels)]
        for _ in range(self.config.resolutions - 1):
            conds.append(None if conds[-1] is None else downsample_map(conds[-1]))
        return conds

    def stage_module(self, stage: Stage) -> GatedBlock | CausalSelfAttention | Downsample | Upsample:
        """The module that runs ``stage`` (of ``self.layout``)."""
        kinds = {Layer.BLOCK: self.blocks, Layer.ATTENTION: self.attention, Layer.DOWN: self.down, Layer.UP: self.up}
        module = kinds[stage.kind][stage.index]
        assert isinstance(module, (GatedBlock, CausalSelfAttention, Downsample, Upsample))  # a ModuleList types items nn.Module
        return module

    def trunk(self, e: torch.Tensor, labels: torch.Tensor | None, cond: torch.Tensor | None) -> torch.Tensor:
        """Every stage from the embedded input e (B, C·E, H, W) to the summed skip features (B, S, H, W)."""
        sizes = grid_sizes(e.shape[2], e.shape[3], self.config.resolutions)
        conds = self.resolution_conds(cond, e.shape[0], labels)
        v = h = e
        skip = 0.0
        saved: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}  # outputs of the down pass's blocks
        for stage in self.layout:
            stage_cond = conds[stage.resolution]
            if stage.kind is Layer.BLOCK:
                v, h, s = self.blocks[stage.index](v, h, labels, stage_cond, saved.get(stage.shortcut))
                if stage.index in self.shortcut_sources:
                    saved[stage.index] = (v, h)
                if s is not None:
                    skip = skip + s
            elif stage.kind is Layer.ATTENTION:
                h = self.attention[stage.index](h, stage_cond)
            elif stage.kind is Layer.DOWN:
                v, h = self.down[stage.index](v, h)
            else:
                v, h = self.up[stage.index](v, h, sizes[stage.resolution])
        assert isinstance(skip, torch.Tensor)  # every layout has blocks with a skip output (the last one at least)
        return skip

    def head(self, skip: torch.Tensor) -> torch.Tensor:
        """skip: (B, S, H, W) → head outputs (B, Q, H, W): C·K logits, or the mixture's parameters."""
        return self.head_out(F.relu(self.head_hidden(F.relu(skip))))

    def logits(self, out: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        """Head outputs (B, Q, H, W) and the embedded input e (B, C·E, H, W) → logits (B, K, C, H, W).

        Categorical: the head's logits. Logistic: the exact log-probabilities of each
        channel given the pixel's earlier channels (read from e), in fp32 at least.
        """
        c = self.config
        b, _, h, w = out.shape
        if c.output == "categorical":
            out = out.reshape(b, c.channels, c.levels, h, w)  # (B, C, K, H, W)
            return out.transpose(1, 2)  # (B, K, C, H, W)
        mix = logistic.mixture(out.permute(0, 2, 3, 1), c.channels, c.n_mix)  # (B, H, W, ...)
        table = logistic.tables(mix, e.permute(0, 2, 3, 1), c.levels)  # (B, H, W, K, C)
        return table.permute(0, 3, 4, 1, 2)  # (B, K, C, H, W)

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
        self.check_inputs(x, labels, cond)
        e = self.embed(x)
        return self.logits(self.head(self.trunk(e, labels, cond)), e)

    def position_logits(
        self,
        x: torch.Tensor,
        i: int,
        j: int,
        labels: torch.Tensor | None = None,
        cond: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``forward(x, labels, cond)[..., i, j]``, (B, K, C), from a full pass of the network.

        The naive sampler's step: the logistic output's K-way tables are computed
        at (i, j) only, not at every position.
        """
        self.check_inputs(x, labels, cond)
        e = self.embed(x)
        out = self.head(self.trunk(e, labels, cond))
        return self.logits(out[:, :, i : i + 1, j : j + 1], e[:, :, i : i + 1, j : j + 1])[..., 0, 0]

    def check_inputs(self, x: torch.Tensor, labels: torch.Tensor | None, cond: torch.Tensor | None) -> None:
        """Raise a ValueError naming what is wrong with the inputs of ``forward``."""
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
        """Negative log-likelihood in nats per image: float (B,), fp32 at least.

        The logistic output evaluates the mixture at x only (the K-way tables
        are never built); it equals the categorical gather of ``forward``.
        """
        if self.config.output == "categorical":
            logits = self(x, labels, cond)
            return F.cross_entropy(logits.float(), x, reduction="none").flatten(1).sum(1)
        self.check_inputs(x, labels, cond)
        c, e = self.config, self.embed(x)
        out = self.head(self.trunk(e, labels, cond))
        mix = logistic.mixture(out.permute(0, 2, 3, 1), c.channels, c.n_mix)  # (B, H, W, ...)
        return -logistic.log_prob(mix, e.permute(0, 2, 3, 1), c.levels).flatten(1).sum(1)

    def bits_per_dim(
        self,
        x: torch.Tensor,
        labels: torch.Tensor | None = None,
        cond: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Mean NLL in bits per dimension (per channel value) of the batch: scalar."""
        return self.nll(x, labels, cond).mean() / (x[0].numel() * math.log(2))
