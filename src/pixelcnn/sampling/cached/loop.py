"""The cached sampling loop: every stage's cache tied together, and the samplers built on it.

Legend: B batch, C channels, G colour groups, K categories, E input features
per channel (embedding size, 1 for scalar pixels), F hidden features, g = F / G,
p = kernel // 2, r resolutions, H W the grid, L0 the full-resolution blocks.

``Cache`` builds one stage cache per stage of ``model.layout``
(``pixelcnn.sampling.cached.stages``), connects their vertical stacks and
horizontal streams (``pixelcnn.sampling.cached.streams``), and plans each step
once: the bound kernel calls of every stage whose resolution has an anchor at
pixel (i, j) (i and j multiples of 2^k), for colour group c. A step at (i, j, c)
then runs its plan and the head (``pixelcnn.sampling.cached.head``); when row i
is complete, ``advance_row`` runs every vertical stack for it.

``sample_cached`` draws its randomness exactly like the naive sampler (one
``uniforms(B, generator)`` per (row, column, channel) step, ``draw``), so the
two return the same samples for the same generator, up to float rounding of the
logits. With classifier-free guidance the cache holds 2B images, the B
conditional ones and the same B with the "no class" label; each step's two sets
of logits become one guided distribution (``pixelcnn.sampling.draw.guide``), and
the drawn value is fed to both. docs/cached_sampling.md derives why every cached
value equals the full forward pass's.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from pixelcnn.configs import SamplingOptions, grid_sizes
from pixelcnn.models.attention import CausalSelfAttention
from pixelcnn.models.layers import Downsample, GatedBlock
from pixelcnn.models.pixelcnn import PixelCNN
from pixelcnn.sampling.cached.head import CategoricalOutput, Head, LogisticOutput
from pixelcnn.sampling.cached.stages import AttentionCache, BlockCache, DownCache, Op, StageCache, UpCache
from pixelcnn.sampling.cached.streams import Stream
from pixelcnn.sampling.draw import RowCallback, draw, guide, guided_inputs, prepare_canvas, uniforms


class Placed(NamedTuple):
    """A stage's cache and the resolution its output lives at."""

    resolution: int  # 0 is the full grid; k halves it k times
    cache: StageCache


class Cache:
    """Every stage's activations for a batch of partial canvases; see the module docstring."""

    def __init__(self, model: PixelCNN, n: int, height: int, width: int,
                 labels: torch.Tensor | None, cond: torch.Tensor | None) -> None:
        config = model.config
        self.model, self.n, self.height, self.width = model, n, height, width
        self.channels, self.groups, self.p = config.channels, config.colours, config.kernel // 2
        w = model.head_out.weight
        self.like = w  # new buffers take its dtype and device
        self.sizes = grid_sizes(height, width, config.resolutions)
        conds = model.resolution_conds(cond, n if model.per_image_cond else 1, labels)  # a shared position map: once, not per image
        # Input features of one category, exactly as model.embed computes them.
        cats = torch.arange(config.levels, device=w.device).view(1, 1, config.levels, 1)  # (1, 1, K, 1)
        self.table = model.embed(cats)[0, :, :, 0].t().contiguous()  # (K, E)
        self.e = self.table.shape[1]
        self.v0 = self._vertical(0, config.channels * self.e)  # the embedded canvas
        self.h0 = self._stream(0, config.channels * self.e)
        skip_blocks = self._build(labels, conds)
        # The current pixel's gated features of the full-resolution blocks, colour-group major, and a 1
        # (for the skip bias): group c of all of them is one (B, L0·g [+ 1]) view for the skip matmul.
        g = config.hidden // self.groups
        gated = self.like.new_ones(n, self.groups, len(skip_blocks) * g + 1)
        self._share_gated(skip_blocks, gated, g)
        head = Head(model, skip_blocks, gated)
        self.output = LogisticOutput(self.run, head, model) if config.output == "logistic" else CategoricalOutput(self.run, head)
        phases = 1 << (config.resolutions - 1)  # rows repeat their plans with this period
        # [row phase][column][group]: the calls of one step, every stage's in order.
        self._plan = [[[self._plan_step(i, j, c) for c in range(self.groups)] for j in range(width)]
                      for i in range(min(phases, height))]
        self.phases = phases
        self.history = config.resolutions > 1 or config.attention_every > 0  # later rows read earlier horizontal stacks

    def _vertical(self, res: int, features: int) -> torch.Tensor:
        """A vertical stack of resolution res: (B, H_k + p, W_k + 2p, F), zeros."""
        height, width = self.sizes[res]
        return self.like.new_zeros(self.n, height + self.p, width + 2 * self.p, features)

    def _stream(self, res: int, features: int) -> Stream:
        """A horizontal stream of resolution res: a (B, p + W_k, F) row, offset 0 until connected."""
        height, width = self.sizes[res]
        return Stream(self.like.new_zeros(self.n, self.p + width, features), self.like.new_zeros(1, features, height, width))

    def _build(self, labels: torch.Tensor | None, conds: list[torch.Tensor | None]) -> list[GatedBlock]:
        """Every stage's cache, in the order of the layout; returns the blocks with a skip output."""
        model, hidden, p, n = self.model, self.model.config.hidden, self.p, self.n
        v, h = self.v0, self.h0
        self.stages: list[Placed] = []  # in execution order
        self.streams: list[tuple[int, Stream, torch.Tensor]] = []  # (resolution, stream, its row before) a Downsample reads
        saved: dict[int, tuple[torch.Tensor, Stream]] = {}  # the down pass's block outputs, for shortcuts
        skip_blocks = []
        for number, stage in enumerate(model.layout):
            res, last = stage.resolution, number == len(model.layout) - 1
            module = model.stage_module(stage)
            cache: StageCache
            if isinstance(module, GatedBlock):
                cache = BlockCache(module, v, h, saved.get(stage.shortcut), labels, conds[res], n)
                if last:  # nothing reads the last block's stacks
                    cache.connect(None, None)
                else:
                    v, h = self._vertical(res, hidden), self._stream(res, hidden)
                    cache.connect(v, h)
                    if stage.index in model.shortcut_sources:
                        saved[stage.index] = (v, h)
                if module.h_skip is not None:
                    skip_blocks.append(module)
            elif isinstance(module, CausalSelfAttention):
                cache = AttentionCache(module, h, p, conds[res], n)
                h = self._stream(res, hidden)
                cache.connect(h)
            elif isinstance(module, Downsample):
                cache = DownCache(module, v, h, p, self.groups)
                self.streams.append((res, h, cache.prev))
                res += 1
                v, h = self._vertical(res, hidden), self._stream(res, hidden)
                cache.connect(v, h)
            else:
                cache = UpCache(module, v, h, p, self.groups, self.sizes[res])
                v, h = self._vertical(res, hidden), self._stream(res, hidden)
                cache.connect(v, h)
            self.stages.append(Placed(res, cache))
        return skip_blocks

    def _share_gated(self, skip_blocks: list[GatedBlock], gated: torch.Tensor, g: int) -> None:
        """Point each block cache's gate output at its slice of ``gated`` (coarse blocks: a scratch buffer)."""
        scratch = self.like.new_zeros(self.n, self.groups, g)
        skip_index = {id(b): i for i, b in enumerate(skip_blocks)}
        for _, cache in self.stages:
            if isinstance(cache, BlockCache):
                index = skip_index.get(id(cache.block))
                cache.gated = scratch if index is None else gated[:, :, g * index : g * (index + 1)]

    def _plan_step(self, i: int, j: int, c: int) -> list[Op]:
        """Every stage's calls at pixel (i, j), colour group c (i modulo the plan period)."""
        return [op for res, cache in self.stages if i % (1 << res) == 0 and j % (1 << res) == 0
                for op in cache.step(i >> res, j >> res, c)]

    def run(self, i: int, j: int, c: int) -> None:
        """Every stage's step at pixel (i, j) for colour group c (no head)."""
        for op in self._plan[i % self.phases][j][c]:
            op()

    def advance_row(self, i: int, x: torch.Tensor) -> None:
        """Row i of the canvas x is complete: run it through every vertical stack (prepares row i + 1)."""
        p, W = self.p, self.width
        if i + 1 == self.height:
            return
        for res, stream, prev in self.streams:
            if i % (1 << res) == 0:
                prev.copy_(stream.row)
        row = self.model.embed(x[:, :, i : i + 1])[:, :, 0].transpose(1, 2)  # (B, W, C·E)
        self.v0[:, p + i, p : p + W].copy_(row)
        for res, cache in self.stages:
            if i % (1 << res) == 0:
                cache.vertical(i >> res)

    def inputs(self, j: int) -> torch.Tensor:
        """The input features of column j of the current row (B, C·E): the pixel's values drawn so far."""
        return self.h0.row[:, self.p + j]

    def feed(self, j: int, c: int, value: torch.Tensor) -> torch.Tensor:
        """Channel c of column j is ``value`` (int64 (B,)): its input features (B, E), written into the cache."""
        e = self.e
        return torch.index_select(self.table, 0, value, out=self.h0.row[:, self.p + j, e * c : e * (c + 1)])

    def logits(self, i: int, j: int, c: int) -> torch.Tensor:
        """Logits (B, K) of channel c at pixel (i, j) (a buffer, valid until the next step)."""
        return self.output.logits(i, j, c, self.inputs(j))

    def commit(self, j: int, c: int, value: torch.Tensor) -> None:
        """Channel c of column j is now ``value`` (int64 (B,)): feed it to the next steps."""
        self.output.observe(c, value, self.feed(j, c, value))

    def warm_up(self, rows: int, x: torch.Tensor) -> None:
        """Feed rows ``< rows`` of the canvas x (a completion's kept rows) through the cache."""
        for i in range(rows):
            if self.history:  # down-sampling and attention read earlier rows of the horizontal stacks
                for j in range(self.width):
                    for c in range(self.channels):
                        if c < self.groups:
                            self.run(i, j, c)
                        self.feed(j, c, x[:, c, i, j])
            self.advance_row(i, x)


def cached_logits(
    model: PixelCNN,
    x: torch.Tensor,
    labels: torch.Tensor | None = None,
    cond: torch.Tensor | None = None,
) -> torch.Tensor:
    """Teacher-forced logits (B, K, C, H, W) of x, computed step by step through the cache.

    x: int64 (B, C, H, W) in [0, K). Equal to ``model(x, labels, cond)`` up to
    float rounding; it exercises every cached path the sampler uses.
    """
    model.check_inputs(x, labels, cond)
    n, channels, height, width = x.shape
    w = model.head_out.weight
    dtype = torch.promote_types(w.dtype, torch.float32) if model.config.output == "logistic" else w.dtype
    out = torch.empty(n, model.config.levels, channels, height, width, device=x.device, dtype=dtype)
    with torch.inference_mode():
        cache = Cache(model, n, height, width, labels, cond)
        for i in range(height):
            for j in range(width):
                for c in range(channels):
                    out[:, :, c, i, j] = cache.logits(i, j, c)
                    cache.commit(j, c, x[:, c, i, j])
            cache.advance_row(i, x)
    return out


@torch.no_grad()
def sample_cached(
    model: PixelCNN,
    n: int,
    *,
    options: SamplingOptions = SamplingOptions(),
    labels: torch.Tensor | None = None,
    cond: torch.Tensor | None = None,
    shape: tuple[int, int] | None = None,
    init: torch.Tensor | None = None,
    start_row: int = 0,
    generator: torch.Generator | None = None,
    on_row: RowCallback | None = None,
) -> torch.Tensor:
    """Cached sampler with the signature, randomness and results of ``sample_naive``.

    labels: int64 (n,) when the model is class-conditional; cond: (n, D, H, W)
    when it is map-conditional; ``init``/``start_row`` complete a partial image
    (rows ``< start_row`` are kept and warm the cache). ``on_row(i, canvas)``
    is called after each sampled row; it may read the canvas, not modify it.
    ``options.guidance`` other than 1 runs the unconditional stream beside
    (the model needs its "no class" label). Returns int64 (n, C, H, W) in [0, K).
    """
    device = next(model.parameters()).device
    x = prepare_canvas(model, n, shape, init, start_row, device)
    model.check_inputs(x, labels, cond)
    labels, cond, copies = guided_inputs(model, labels, cond, options)
    _, channels, height, width = x.shape
    canvas = x.repeat(copies, 1, 1, 1)  # (copies·n, C, H, W): the cache's images
    flat = canvas.view(copies, n, channels * height * width)  # writes land in canvas
    filtered = options.filters(model.config.levels)
    with torch.inference_mode():
        cache = Cache(model, copies * n, height, width, labels, cond)
        output = cache.output
        direct = output if isinstance(output, LogisticOutput) and output.draws_directly(options.guided, filtered) else None
        cache.warm_up(start_row, canvas)
        for i in range(start_row, height):
            for j in range(width):
                for c in range(channels):
                    u = uniforms(n, generator)
                    if direct is not None:
                        value = direct.draw(i, j, c, cache.inputs(j), u)
                    else:
                        value = draw(guide(cache.logits(i, j, c), options.guidance, copies), options, u)
                    value = value.repeat(copies)  # (copies·n,)
                    flat[:, :, (c * height + i) * width + j] = value.view(copies, n)
                    cache.commit(j, c, value)
            if on_row is not None:
                on_row(i, canvas[:n])
            cache.advance_row(i, canvas)
    return canvas[:n].clone() if copies > 1 else canvas
