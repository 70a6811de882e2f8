"""Exact cached sampling of the PixelCNN (Fast PixelCNN++ style), for every option of its config.

Legend: B batch, C channels, G colour groups (C with the categorical output,
1 with the logistic one), K categories, Q head outputs, E input features per
channel (embedding size, 1 for scalar pixels), F hidden features (F_in of a
block's input: C·E for the first, F after), S skip features, g = F / G and
gs = S / G features per colour group, p = kernel // 2, r resolutions,
H_k W_k the grid of resolution k (H_0 W_0 = H W; coarse (I, J) is anchored at
fine (2^k·I, 2^k·J)), N_k = H_k·W_k, nh heads, dk key features per head.

The naive sampler runs the whole network once per (row, column, channel)
step. This one keeps every stage's activations and computes, at each step,
only what the new position needs; it draws its randomness exactly like the
naive sampler (one ``uniforms(B, generator)`` per step, raster-then-channel
order, ``draw``), so the two return the same samples for the same generator
up to float rounding of the logits (a draw can differ only if a uniform lands
within rounding of a CDF boundary).

What is cached, per resolution k and stage (``pixelcnn.models.pixelcnn.network_layout``):

- vertical stacks, channels-last and zero-padded, (B, H_k + p, W_k + 2p, F):
  once row I of a resolution is complete (fine row 2^k·I), each stage
  computes that one output row: a gated block's vertical convolution from
  rows I-p .. I (one convolution of that (p + 1)-row band), a Downsample's
  row from two finer rows, an Upsample's from one coarser row;
- ``vh``: a gated block's terms of the next row's horizontal pre-activation,
  ``v_to_h(v_pre[row I])`` plus every bias that reaches it (convolution
  biases, class, conditioning map, shortcut, folded offsets), (B, W_k, 2F).
  The step at (I, J) turns ``vh[:, J]`` into the pre-activation in place;
- horizontal stacks: the current row of every stage's output, zero-padded on
  the left, (B, p + W_k, F) (the row before as well where a Downsample reads
  it), so a masked 1 × (p + 1) convolution at column J is one matmul over the
  contiguous window ``row[:, J : J + p + 1]``. A row holds ``h - beta``: beta
  (1, F, H_k, W_k) is the sum of the biases that reached the stream (block
  outputs, attention, down/up sampling), folded into the biases of whatever
  reads the stream, so residual connections cost one ``addmm`` per step;
- attention: keys and values of every position so far (and a null one),
  (B, 1 + N_k, nh·dk + F), one row appended per position;
- the head (categorical): the current pixel's skip and hidden features.

A step at pixel (i, j) runs the stages of each resolution k where (i, j) is
an anchor (i and j multiples of 2^k). Per channel c only colour group c is
computed: group c of every stage depends on the pixel's channels < c only,
so groups < c computed at earlier channel steps are final. Masked 1×1 maps
(h_out, h_skip, the head) are accumulated forward: when group c is known, its
contribution to groups >= c is added; convolutions and the last head layer
read the prefix of groups <= c. A pixel costs about one network evaluation at
one position, whatever C is. With the logistic output (one colour group) the
network runs once per pixel, then each channel is drawn from its exact
distribution given the channels drawn before it (the coupled means and
posterior mixture weights of ``pixelcnn.models.logistic``): from its K-way table
when the sampling options filter it (temperature, top-k, top-p), else by
``logistic.PixelSampler``'s search of the same CDF at the bin edges, which
returns what ``draw`` would from the table.

A completion's kept rows warm the cache: the vertical stacks only, or, where
later rows read earlier horizontal stacks (a U-Net's down-sampling,
attention), every step as well, teacher-forced.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from functools import partial
from typing import NamedTuple

import torch
import torch.nn.functional as F

from pixelcnn.configs import SamplingOptions, grid_sizes
from pixelcnn.models import logistic
from pixelcnn.models.attention import CausalSelfAttention
from pixelcnn.models.layers import Downsample, GatedBlock, Upsample
from pixelcnn.models.pixelcnn import Layer, PixelCNN
from pixelcnn.sampling.draw import RowCallback, draw, prepare_canvas, uniforms


def _channels_last(x: torch.Tensor | float) -> torch.Tensor | float:
    """(B, F, H|1, W|1) → (B, H|1, W|1, F); a float stays a float."""
    return x.permute(0, 2, 3, 1) if isinstance(x, torch.Tensor) else x  # (B, H, W, F)


def _map(bias: torch.Tensor) -> torch.Tensor:
    """A bias vector (F,) as a constant map (1, F, 1, 1)."""
    return bias[None, :, None, None]


@dataclass
class _Stream:
    """A horizontal stream at one resolution: the current row of ``h - beta`` (and the row before)."""

    row: torch.Tensor  # (B, p + W_k, F), p zero columns on the left
    beta: torch.Tensor  # (1, F, H_k, W_k): the offset the row omits
    prev: torch.Tensor | None = None  # (B, p + W_k, F): the row before, for a Downsample


class Write(Enum):
    """How a gated block writes its horizontal output at the current position (group c)."""

    NONE = 0  # the output is never read (the last block)
    MM = 1  # out = gated @ h_out: the first block, or group 0 with colour groups (overwrites every group)
    ADDMM = 2  # out = input + gated @ h_out: one colour group
    ACC = 3  # out += gated @ h_out: group c > 0 adds its share to groups >= c


class BlockStep(NamedTuple):
    """What a gated block reads and writes at one step, as views into the cache."""

    hpre: torch.Tensor  # (B, 2g) [a | b] of group c; the vh entry, turned into the pre-activation in place
    a: torch.Tensor  # (B, g) hpre[:, :g]
    b: torch.Tensor  # (B, g) hpre[:, g:]
    window: torch.Tensor  # (B, p·F_in + visible centre) the input row at columns J-p .. J
    wh: torch.Tensor  # (p·F_in + visible centre, 2g) the horizontal convolution, output group c
    short: torch.Tensor | None  # (B, (c+1)·g) the shortcut's stream at J, groups <= c
    wsh: torch.Tensor | None  # ((c+1)·g, 2g)
    gated: torch.Tensor  # (B, g) the gate's output
    write: Write
    out: torch.Tensor | None  # (B, (G-c)·g) the output stream at J, groups >= c
    wo: torch.Tensor | None  # (g, (G-c)·g) h_out from group c
    residual: torch.Tensor | None  # (B, F) ADDMM: the input stream at J
    carry: tuple[torch.Tensor, torch.Tensor] | None  # colour groups: (output, input) at J, group c

    def compile(self) -> list[Callable[[], object]]:
        """The step as calls of no arguments, its tensors bound (cheaper per step than reading the fields)."""
        ops = [partial(self.hpre.addmm_, self.window, self.wh)]
        if self.short is not None:
            ops.append(partial(self.hpre.addmm_, self.short, self.wsh))
        ops += [self.a.tanh_, self.b.sigmoid_, partial(torch.mul, self.a, self.b, out=self.gated)]  # tanh(a) * sigmoid(b)
        if self.write is Write.ADDMM:
            ops.append(partial(torch.addmm, self.residual, self.gated, self.wo, out=self.out))
        elif self.write is Write.MM:
            ops.append(partial(torch.mm, self.gated, self.wo, out=self.out))
        elif self.write is Write.ACC:
            ops.append(partial(self.out.addmm_, self.gated, self.wo))
        if self.carry is not None:
            ops.append(partial(self.carry[0].add_, self.carry[1]))
        return ops


class DownStep(NamedTuple):
    """A Downsample's horizontal output at coarse (I, J), group c, from fine rows 2I-1 .. 2I."""

    out: torch.Tensor  # (B, g) the coarse stream at J, group c
    prev: torch.Tensor  # (B, 2F) fine row 2I-1, columns 2J-1 .. 2J
    w_prev: torch.Tensor  # (2F, g)
    cur: torch.Tensor  # (B, F + (c+1)·g) fine row 2I, columns 2J-1 .. 2J (the anchor's groups <= c)
    w_cur: torch.Tensor  # (F + (c+1)·g, g)

    def compile(self) -> list[Callable[[], object]]:
        return [self.run]

    def run(self) -> None:
        torch.mm(self.prev, self.w_prev, out=self.out)
        self.out.addmm_(self.cur, self.w_cur)


class UpStep(NamedTuple):
    """An Upsample's horizontal output at fine (I, J), group c, from coarse (I // 2, J // 2)."""

    out: torch.Tensor  # (B, g) the fine stream at J, group c
    src: torch.Tensor  # (B, (c+1)·g) the coarse stream at J // 2, groups <= c
    w: torch.Tensor  # ((c+1)·g, g) the weights of phase (I % 2, J % 2)

    def compile(self) -> list[Callable[[], object]]:
        return [self.run]

    def run(self) -> None:
        torch.mm(self.src, self.w, out=self.out)


class AttentionStep(NamedTuple):
    """An attention block's step at the next position of its resolution."""

    cache: _AttentionCache
    h_in: torch.Tensor  # (B, F) the input stream at J
    h_out: torch.Tensor  # (B, F) the output stream at J
    c: int

    def compile(self) -> list[Callable[[], object]]:
        return [self.run]

    def run(self) -> None:
        self.cache.advance(self.h_in, self.h_out, self.c)


@dataclass
class _HeadWeights:
    """The head's weights, masked, transposed for ``x @ w`` and split by colour group.

    The biases ride in the matmuls as an extra first row (``*_in``: for inputs
    that end or start with a constant 1 in the cache), so no step copies a bias.
    """

    wskip_in: torch.Tensor  # (L0·g + 1, S): group 0 of h_skip of every full-resolution block, rows block-major, then the bias
    wskip: list[torch.Tensor]  # [c] (L0·g, (G-c)·gs): group c's share of the skip features (c > 0)
    whh_in: torch.Tensor  # (1 + gs, S): head_hidden's bias, then its weights from group 0
    whh: list[torch.Tensor]  # [c] (gs, (G-c)·gs) head_hidden from group c
    who: list[torch.Tensor]  # [c] (1 + (c+1)·gs, K or Q): head_out's bias for group c, then its weights from groups <= c


def _head_weights(model: PixelCNN, skip_blocks: list[GatedBlock]) -> _HeadWeights:
    G, S = model.config.colours, model.config.skip
    g, gs = model.config.hidden // G, S // G
    out = model.head_out.out_channels // G  # K, or Q with one group
    wskip = [b.h_skip.masked_weight()[:, :, 0, 0].t() for b in skip_blocks]  # (F, S) each
    skip_bias = sum(b.h_skip.bias for b in skip_blocks)  # (S,)
    hh = model.head_hidden.masked_weight()[:, :, 0, 0].t()  # (S, S)
    ho = model.head_out.masked_weight()[:, :, 0, 0].t()  # (S, G·out)
    bho = model.head_out.bias
    group = [torch.cat([w[g * c : g * (c + 1), gs * c :] for w in wskip]) for c in range(G)]  # [c] (L0·g, (G-c)·gs)
    return _HeadWeights(
        wskip_in=torch.cat([group[0], skip_bias[None]]).contiguous(),
        wskip=[w.contiguous() for w in group],
        whh_in=torch.cat([model.head_hidden.bias[None], hh[:gs]]).contiguous(),
        whh=[hh[gs * c : gs * (c + 1), gs * c :].contiguous() for c in range(G)],
        who=[torch.cat([bho[None, out * c : out * (c + 1)], ho[: gs * (c + 1), out * c : out * (c + 1)]]).contiguous()
             for c in range(G)],
    )


class _BlockCache:
    """A gated block's weights (folded biases included), vertical state and step views."""

    def __init__(
        self,
        block: GatedBlock,
        v_in: torch.Tensor,
        h_in: _Stream,
        short: tuple[torch.Tensor, _Stream] | None,
        labels: torch.Tensor | None,
        cond: torch.Tensor | None,
        n: int,
    ) -> None:
        F2 = 2 * block.hidden
        height, width = h_in.beta.shape[2:]
        self.block, self.p, self.fin = block, block.kernel // 2, block.v_conv.in_channels
        self.v_in, self.h_in, self.short = v_in, h_in, short
        # Every bias that reaches the pre-activations: a map of positions (the convolutions' biases,
        # the folded stream offsets, the conditioning map: (1|B, 2F, H_k, W_k)) and the class bias
        # (B, 2F, 1, 1), kept apart so neither is materialised per image and position.
        h_conv = block.h_conv
        vmap = _map(block.v_conv.bias)
        hmap = _map(h_conv.bias + block.v_to_h.bias) + F.conv2d(F.pad(h_in.beta, h_conv.pad), h_conv.masked_weight())
        if short is not None:
            vmap = vmap + _map(block.v_short.bias)
            hmap = hmap + _map(block.h_short.bias) + F.conv2d(short[1].beta, block.h_short.masked_weight())
            self.wvs = block.v_short.weight[:, :, 0, 0].t().contiguous()  # (F, 2F)
        vterms, hterms = [vmap], [hmap]
        for term in block.conditioning_terms(labels, cond):  # (B, 4F, 1, 1) class, (1|B, 4F, H_k, W_k) map
            if term.shape[2:] == (1, 1):
                vterms.append(term[:, :F2])
                hterms.append(term[:, F2:])
            else:
                vterms[0] = vterms[0] + term[:, :F2]
                hterms[0] = hterms[0] + term[:, F2:]
        self.vterms = [_channels_last(t).expand(-1, height, width, -1) for t in vterms]  # (1|B, H_k, W_k, 2F) each
        self.hterms = [_channels_last(t).expand(-1, height, width, -1) for t in hterms]
        self.wvh = block.v_to_h.weight[:, :, 0, 0].t().contiguous()  # (2F, 2F)
        self.wh = h_conv.masked_weight()[:, :, 0, :].permute(2, 1, 0).reshape(-1, F2)  # ((p+1)·F_in, 2F), taps left → centre
        self.wo = block.h_out.masked_weight()[:, :, 0, 0].t()  # (F, F)
        self.wsh = block.h_short.masked_weight()[:, :, 0, 0].t() if short is not None else None  # (F, 2F)
        # Row 0 sees no vertical features: its terms are the biases alone.
        self.vh = torch.zeros(n, width, F2, dtype=hmap.dtype, device=hmap.device)  # (B, W_k, 2F)
        for term in self.hterms:
            self.vh.add_(term[:, 0])
        self.v_out: torch.Tensor | None = None
        self.h_out: _Stream | None = None
        self.gated: torch.Tensor | None = None  # (B, G, g): where the gate writes, set by the cache

    def connect(self, v_out: torch.Tensor | None, h_out: _Stream | None) -> None:
        """The block's output stacks: None where nothing reads them (the last block)."""
        self.v_out, self.h_out = v_out, h_out
        if h_out is not None:
            bias = _map(self.block.h_out.bias)
            h_out.beta = bias.expand_as(h_out.beta) if self.block.first else self.h_in.beta + bias

    def vertical(self, row: int) -> None:
        """Row ``row`` of the block's input is complete: its vertical output and the next row's ``vh``."""
        p, v, n = self.p, self.v_in, self.v_in.shape[0]
        height, width, F2 = self.hterms[0].shape[1:]
        window = v[:, row : row + p + 1].permute(0, 3, 1, 2)  # (B, F_in, p+1, W_k + 2p), channels-last strides
        v_pre = F.conv2d(window, self.block.v_conv.weight)[:, :, 0]  # (B, 2F, W_k), channels-last: a (B, W_k, 2F) buffer
        v_pre = v_pre.transpose(1, 2).reshape(n * width, F2)  # (B·W_k, 2F)
        for term in self.vterms:
            v_pre.view(n, width, F2).add_(term[:, row])
        if self.short is not None:
            v_pre.addmm_(self.short[0][:, p + row, p : p + width].reshape(n * width, -1), self.wvs)
        if row + 1 < height:
            torch.mm(v_pre, self.wvh, out=self.vh.view(n * width, F2))
            for term in self.hterms:
                self.vh.add_(term[:, row + 1])
        if self.v_out is not None:  # the gate, in place: v_pre is spent
            f = F2 // 2
            a, b = v_pre[:, :f].tanh_().view(n, width, f), v_pre[:, f:].sigmoid_().view(n, width, f)  # (B, W_k, F)
            dest = self.v_out[:, p + row, p : p + width]  # (B, W_k, F)
            if self.block.first:
                torch.mul(a, b, out=dest)
            else:
                torch.addcmul(v[:, p + row, p : p + width], a, b, out=dest)

    def step(self, row: int, col: int, c: int) -> BlockStep:
        """The views of group c's step at column ``col`` of any row (the rows share buffers)."""
        G, p, fin, g = self.block.colours, self.p, self.fin, self.block.hidden // self.block.colours
        gated = self.gated[:, c]  # (B, g): the gate's output
        n = self.vh.shape[0]
        seen = c if self.block.first else c + 1  # centre groups visible: mask A < c, B <= c
        wh = self.wh[: p * fin + seen * (fin // G), 2 * g * c : 2 * g * (c + 1)].contiguous()
        window = self.h_in.row[:, col : col + p + 1].reshape(n, -1)[:, : wh.shape[0]]  # (B, p·F_in + visible)
        short = wsh = None
        if self.short is not None:
            short = self.short[1].row[:, p + col, : g * (c + 1)]
            wsh = self.wsh[: g * (c + 1), 2 * g * c : 2 * g * (c + 1)].contiguous()
        write, out, wo, residual, carry = Write.NONE, None, None, None, None
        if self.h_out is not None:
            out = self.h_out.row[:, p + col, g * c :]  # (B, (G - c)·g)
            wo = self.wo[g * c : g * (c + 1), g * c :].contiguous()
            own = self.h_in.row[:, p + col]  # (B, F_in)
            if c > 0:
                write = Write.ACC
            elif G == 1 and not self.block.first:
                write, residual = Write.ADDMM, own
            else:
                write = Write.MM
            if G > 1 and not self.block.first:
                carry = (out[:, :g], own[:, g * c : g * (c + 1)])
        hpre = self.vh[:, col, 2 * g * c : 2 * g * (c + 1)]
        return BlockStep(hpre, hpre[:, :g], hpre[:, g:], window, wh, short, wsh, gated, write, out, wo, residual, carry)


class _DownCache:
    """A Downsample: the coarse vertical row from two fine rows, the coarse horizontal at anchors."""

    def __init__(self, down: Downsample, v_in: torch.Tensor, h_in: _Stream, p: int, colours: int) -> None:
        self.v_in, self.h_in, self.p, self.colours = v_in, h_in, p, colours
        self.wv = down.v.weight.permute(2, 3, 1, 0).reshape(-1, down.v.out_channels).contiguous()  # (4F, F), taps row-major
        self.bv = down.v.bias
        w = down.h.masked_weight().permute(2, 3, 1, 0)  # (2, 2, F_in, F_out): [tap row, tap column]
        self.w_prev = torch.cat([w[0, 0], w[0, 1]])  # (2F, F)
        self.w_cur = torch.cat([w[1, 0], w[1, 1]])  # (2F, F), the anchor's rows last
        h_in.prev = torch.zeros_like(h_in.row)
        self.beta = down.h(h_in.beta)  # (1, F, h, w): the coarse offset, conv of the fine one plus the bias
        self.v_out: torch.Tensor | None = None
        self.h_out: _Stream | None = None

    def connect(self, v_out: torch.Tensor, h_out: _Stream) -> None:
        self.v_out, self.h_out = v_out, h_out
        h_out.beta = self.beta

    def vertical(self, row: int) -> None:
        """Coarse row ``row`` from fine rows 2·row - 1 .. 2·row."""
        p, n = self.p, self.v_in.shape[0]
        width = self.h_out.row.shape[1] - p
        f = self.v_in.shape[3]
        rows = self.v_in[:, p + 2 * row - 1 : p + 2 * row + 1, p - 1 : p - 1 + 2 * width]  # (B, 2, 2w, F)
        cols = rows.reshape(n, 2, width, 2, f).permute(0, 2, 1, 3, 4).reshape(n * width, 4 * f)  # (B·w, 4F)
        out = torch.addmm(self.bv, cols, self.wv)  # (B·w, F)
        self.v_out[:, p + row, p : p + width].copy_(out.view(n, width, f))

    def step(self, row: int, col: int, c: int) -> DownStep:
        p, f = self.p, self.v_in.shape[3]
        g = f // self.colours
        first = p + 2 * col - 1  # fine column 2·col - 1 in the padded row
        return DownStep(
            out=self.h_out.row[:, p + col, g * c : g * (c + 1)],
            prev=self.h_in.prev[:, first : first + 2].flatten(1),  # (B, 2F)
            w_prev=self.w_prev[:, g * c : g * (c + 1)].contiguous(),
            cur=self.h_in.row[:, first : first + 2].flatten(1)[:, : f + g * (c + 1)],  # (B, F + (c+1)·g)
            w_cur=self.w_cur[: f + g * (c + 1), g * c : g * (c + 1)].contiguous(),
        )


class _UpCache:
    """An Upsample: fine vertical rows and horizontal positions from the coarse ones."""

    def __init__(self, up: Upsample, v_in: torch.Tensor, h_in: _Stream, p: int, colours: int, size: tuple[int, int]) -> None:
        self.v_in, self.h_in, self.p, self.colours, self.size = v_in, h_in, p, colours, size
        wv = up.v.weight  # (F_in, F_out, 2, 2)
        self.wv = [torch.cat([wv[:, :, a, 0], wv[:, :, a, 1]], dim=1).contiguous() for a in range(2)]  # [row phase] (F, 2F)
        self.bv = torch.cat([up.v.bias, up.v.bias])  # (2F,)
        self.wh = up.masked_weight()  # (F_in, F_out, 2, 2)
        height, width = size
        self.beta = F.conv_transpose2d(h_in.beta, self.wh, up.h.bias, stride=2)[:, :, :height, :width]  # (1, F, H_k, W_k)
        self.v_out: torch.Tensor | None = None
        self.h_out: _Stream | None = None

    def connect(self, v_out: torch.Tensor, h_out: _Stream) -> None:
        self.v_out, self.h_out = v_out, h_out
        h_out.beta = self.beta

    def vertical(self, row: int) -> None:
        """Fine row ``row`` from coarse row row // 2."""
        p, n, f = self.p, self.v_in.shape[0], self.v_in.shape[3]
        width, coarse = self.size[1], self.h_in.row.shape[1] - p
        src = self.v_in[:, p + row // 2, p : p + coarse].reshape(n * coarse, f)  # (B·w, F)
        out = torch.addmm(self.bv, src, self.wv[row % 2]).view(n, 2 * coarse, f)  # (B, 2w, F): columns 2J, 2J + 1
        self.v_out[:, p + row, p : p + width].copy_(out[:, :width])

    def step(self, row: int, col: int, c: int) -> UpStep:
        p, f = self.p, self.v_in.shape[3]
        g = f // self.colours
        return UpStep(
            out=self.h_out.row[:, p + col, g * c : g * (c + 1)],
            src=self.h_in.row[:, p + col // 2, : g * (c + 1)],
            w=self.wh[: g * (c + 1), g * c : g * (c + 1), row % 2, col % 2].contiguous(),
        )


class _AttentionCache:
    """An attention block's keys and values so far, and its step at the next position.

    Queries, keys and values carry every bias that reaches them (the linear
    maps', the conditioning map's, the input stream's folded offset) per position.
    """

    def __init__(self, module: CausalSelfAttention, h_in: _Stream, p: int, cond: torch.Tensor | None, n: int) -> None:
        self.module, self.h_in, self.p = module, h_in, p
        height, width = h_in.beta.shape[2:]
        keys = module.heads * module.key_dim
        beta = _channels_last(h_in.beta).reshape(height * width, -1)  # (N_k, F)
        qbias = module.query(beta[:, : module.group])  # (N_k, nh·dk): bias and folded offset
        kvbias = module.key_value(beta)  # (N_k, nh·dk + F)
        if module.cond_proj is not None:
            qk = module.cond_proj(cond.flatten(2).transpose(1, 2))  # (B, N_k, 2·nh·dk)
            qbias = qbias + qk[..., :keys]
            kvbias = kvbias + F.pad(qk[..., keys:], (0, kvbias.shape[-1] - keys))
        self.qbias = qbias.expand(n, height * width, keys)  # (B, N_k, nh·dk)
        self.kvbias = kvbias.expand(n, height * width, kvbias.shape[-1])  # (B, N_k, nh·dk + F)
        self.wq = module.query.weight.t().contiguous()  # (g, nh·dk)
        self.wkv = module.key_value.weight.t().contiguous()  # (F, nh·dk + F)
        self.wo = module.out.weight.t().contiguous()  # (F, F)
        self.kv = torch.empty(n, 1 + height * width, kvbias.shape[-1], dtype=beta.dtype, device=beta.device)
        self.kv[:, 0] = module.null
        self.attended = torch.empty(n, module.out.out_features, dtype=beta.dtype, device=beta.device)
        self.count = 0  # positions whose keys and values are cached
        self.groups = module.out.out_features // module.group
        self.h_out: _Stream | None = None

    def connect(self, h_out: _Stream) -> None:
        self.h_out = h_out
        h_out.beta = self.h_in.beta + _map(self.module.out.bias)

    def _attend(self, h_in: torch.Tensor, keys: int) -> torch.Tensor:
        """The attention output (B, F) of the current position's query over the first ``keys`` cached keys."""
        n = self.count
        q = torch.addmm(self.qbias[:, n], h_in[:, : self.module.group], self.wq)  # (B, nh·dk)
        return self.module.attend(q[:, None], self.kv[:, :keys], None)[:, 0]  # (B, F)

    def step(self, row: int, col: int, c: int) -> AttentionStep:
        p = self.p
        return AttentionStep(self, self.h_in.row[:, p + col], self.h_out.row[:, p + col], c)

    def vertical(self, row: int) -> None:
        """Attention reads no vertical stack."""

    def advance(self, h_in: torch.Tensor, h_out: torch.Tensor, c: int) -> None:
        """h_in, h_out: (B, F) the streams at the next position; group c of h_out is written."""
        n = self.count
        if not self.module.strict:  # one colour group: the position sees itself
            torch.addmm(self.kvbias[:, n], h_in, self.wkv, out=self.kv[:, 1 + n])
            torch.addmm(h_in, self._attend(h_in, 2 + n), self.wo, out=h_out)
            self.count += 1
            return
        g = self.module.group
        if c == 0:  # colour groups: earlier positions only, the same output for every group
            torch.mm(self._attend(h_in, 1 + n), self.wo, out=self.attended)
        torch.add(h_in[:, g * c : g * (c + 1)], self.attended[:, g * c : g * (c + 1)], out=h_out[:, g * c : g * (c + 1)])
        if c == self.groups - 1:  # the position is complete: its key and value join the cache
            torch.addmm(self.kvbias[:, n], h_in, self.wkv, out=self.kv[:, 1 + n])
            self.count += 1


class _Cache:
    """Every stage's activations for a batch of partial canvases; see the module docstring."""

    def __init__(
        self,
        model: PixelCNN,
        n: int,
        height: int,
        width: int,
        labels: torch.Tensor | None,
        cond: torch.Tensor | None,
    ) -> None:
        config = model.config
        self.model, self.n, self.height, self.width = model, n, height, width
        self.channels, self.groups, self.p = config.channels, config.colours, config.kernel // 2
        self.logistic = config.output == "logistic"
        G = self.groups
        w = model.head_out.weight
        self.kw = kw = dict(device=w.device, dtype=w.dtype)
        self.sizes = grid_sizes(height, width, config.resolutions)
        conds = model.resolution_conds(cond, n if model.per_image_cond else 1, labels)  # a shared position map: once, not per image
        # Input features of one category, exactly as model.embed computes them.
        cats = torch.arange(config.levels, device=w.device).view(1, 1, config.levels, 1)  # (1, 1, K, 1)
        self.table = model.embed(cats)[0, :, :, 0].t().contiguous()  # (K, E)
        self.e = self.table.shape[1]
        self.v0 = self._vertical(0, config.channels * self.e)  # the embedded canvas
        self.h0 = self._stream(0, config.channels * self.e)
        skip_blocks = self._build(labels, conds)
        g = config.hidden // G
        self.head = _head_weights(model, skip_blocks)
        # The current pixel's gated features of the full-resolution blocks, colour-group major, and a 1
        # (for the skip bias): group c of all of them is one (B, L0·g [+ 1]) view for the skip matmul.
        L0 = len(skip_blocks)
        self.gated = torch.ones(n, G, L0 * g + 1, **kw)
        scratch = torch.zeros(n, G, g, **kw)  # coarse blocks' gated features
        skip_index = {id(b): i for i, b in enumerate(skip_blocks)}
        for _, cache in self.stages:
            if isinstance(cache, _BlockCache):
                index = skip_index.get(id(cache.block))
                cache.gated = scratch if index is None else self.gated[:, :, g * index : g * (index + 1)]
        S = config.skip
        # The current pixel's [1 | skip S | 1 | head hidden S], accumulated over groups; the ones carry biases.
        self.acc = torch.ones(n, 2 * S + 2, **kw)
        self.out = torch.empty(n, model.head_out.out_channels // G, **kw)  # logits (B, K), or mixture parameters (B, Q)
        phases = 1 << (config.resolutions - 1)  # rows repeat their plans with this period
        # [row phase][column][group]: the calls of one step, every stage's in order.
        self._plan = [[[[op for part in self._plan_step(i, j, c) for op in part.compile()] for c in range(G)]
                       for j in range(width)] for i in range(min(phases, height))]
        self.phases = phases
        self._head = [self._plan_head(c) for c in range(G)]
        self.history = config.resolutions > 1 or config.attention_every > 0  # later rows read earlier horizontal stacks
        self.mixture: logistic.Mixture | None = None
        self.pixel_sampler = None
        if self.logistic:
            dtype = torch.promote_types(w.dtype, torch.float32)
            self.pixel_sampler = logistic.PixelSampler(config.channels, config.n_mix, config.levels, dtype, w.device)
        self.tabulated = True  # whether the current pixel's logistic channels come from tables (step) or the sampler

    def _vertical(self, res: int, features: int) -> torch.Tensor:
        """A vertical stack of resolution res: (B, H_k + p, W_k + 2p, F), zeros."""
        height, width = self.sizes[res]
        return torch.zeros(self.n, height + self.p, width + 2 * self.p, features, **self.kw)

    def _stream(self, res: int, features: int) -> _Stream:
        """A horizontal stream of resolution res: a (B, p + W_k, F) row, offset 0 until connected."""
        height, width = self.sizes[res]
        return _Stream(torch.zeros(self.n, self.p + width, features, **self.kw), torch.zeros(1, features, height, width, **self.kw))

    def _build(self, labels: torch.Tensor | None, conds: list[torch.Tensor | None]) -> list[GatedBlock]:
        """Every stage's cache, in the order of the layout; returns the blocks with a skip output."""
        model, hidden, p, n = self.model, self.model.config.hidden, self.p, self.n
        v, h = self.v0, self.h0
        self.stages: list[tuple[int, object]] = []  # (output resolution, stage cache) in execution order
        self.streams: list[tuple[int, _Stream]] = []  # streams a Downsample reads, by resolution
        saved: dict[int, tuple[torch.Tensor, _Stream]] = {}  # the down pass's block outputs, for shortcuts
        skip_blocks = []
        for number, stage in enumerate(model.layout):
            res, last = stage.resolution, number == len(model.layout) - 1
            if stage.kind is Layer.BLOCK:
                block = model.blocks[stage.index]
                cache = _BlockCache(block, v, h, saved.get(stage.shortcut), labels, conds[res], n)
                v, h = (None, None) if last else (self._vertical(res, hidden), self._stream(res, hidden))
                cache.connect(v, h)
                if stage.index in model.shortcut_sources:
                    saved[stage.index] = (v, h)
                if block.h_skip is not None:
                    skip_blocks.append(block)
            elif stage.kind is Layer.ATTENTION:
                cache = _AttentionCache(model.attention[stage.index], h, p, conds[res], n)
                h = self._stream(res, hidden)
                cache.connect(h)
            elif stage.kind is Layer.DOWN:
                cache = _DownCache(model.down[stage.index], v, h, p, self.groups)
                self.streams.append((res, h))
                res += 1
                v, h = self._vertical(res, hidden), self._stream(res, hidden)
                cache.connect(v, h)
            else:
                cache = _UpCache(model.up[stage.index], v, h, p, self.groups, self.sizes[res])
                v, h = self._vertical(res, hidden), self._stream(res, hidden)
                cache.connect(v, h)
            self.stages.append((res, cache))
        return skip_blocks

    def _plan_step(self, i: int, j: int, c: int) -> list:
        """Every stage's step at pixel (i, j), channel group c (i modulo the plan period)."""
        anchor = (1 << res for res, _ in self.stages)  # (i, j) is an anchor of resolution k if 2^k divides both
        return [cache.step(i >> res, j >> res, c) for (res, cache), stride in zip(self.stages, anchor)
                if i % stride == 0 and j % stride == 0]

    def _plan_head(self, c: int) -> tuple:
        acc, gs, L0g = self.acc, self.model.config.skip // self.groups, self.gated.shape[2] - 1
        S = (acc.shape[1] - 2) // 2
        skip, hidden = 1, S + 2  # where each starts in acc
        return (
            acc[:, skip + gs * c : skip + S],  # skip, groups >= c
            acc[:, skip + gs * c : skip + gs * (c + 1)],  # skip, group c
            acc[:, : skip + gs],  # [1 | skip group 0]
            acc[:, hidden + gs * c :],  # head hidden, groups >= c
            acc[:, hidden + gs * c : hidden + gs * (c + 1)],  # head hidden, group c
            acc[:, hidden - 1 : hidden + gs * (c + 1)],  # [1 | head hidden, groups <= c]
            self.gated[:, c] if c == 0 else self.gated[:, c, :L0g],  # (B, L0·g [+ 1]): group c of every block
        )

    def advance_row(self, i: int, x: torch.Tensor) -> None:
        """Row i of the canvas x is complete: run it through every vertical stack (prepares row i + 1)."""
        p, W = self.p, self.width
        if i + 1 == self.height:
            return
        for res, stream in self.streams:
            if i % (1 << res) == 0:
                stream.prev.copy_(stream.row)
        row = self.model.embed(x[:, :, i : i + 1])[:, :, 0].transpose(1, 2)  # (B, W, C·E)
        self.v0[:, p + i, p : p + W].copy_(row)
        for res, cache in self.stages:
            if i % (1 << res) == 0:
                cache.vertical(i >> res)

    def run(self, i: int, j: int, c: int) -> None:
        """Every stage's step at pixel (i, j) for colour group c (no head)."""
        for op in self._plan[i % self.phases][j][c]:
            op()

    def step(self, i: int, j: int, c: int) -> torch.Tensor:
        """Logits (B, K) of channel c at pixel (i, j) (a buffer, valid until the next step)."""
        if not self.logistic:
            self.run(i, j, c)
            return self._head_step(c)
        config = self.model.config
        if c == 0:
            self.run(i, j, 0)
            self.mixture = logistic.mixture(self._head_step(0), config.channels, config.n_mix)
            self.log_weights = self.mixture.log_weights  # (B, M), posterior given the channels drawn so far
        self.mean = logistic.channel_mean(self.mixture, c, self.h0.row[:, self.p + j])  # values so far, in [-1, 1]
        return logistic.channel_table(self.log_weights, self.mean, self.mixture.log_scales[..., c], config.levels)

    def sample(self, i: int, j: int, c: int, options: SamplingOptions, uniform: torch.Tensor) -> torch.Tensor:
        """Channel c at pixel (i, j), int64 (B,): ``draw(step(i, j, c), options, uniform)``.

        Unfiltered draws from the logistic output search the mixture's CDF at the
        bin edges (``logistic.PixelSampler``) instead of building the K-way table.
        """
        if self.pixel_sampler is None or options.filters(self.model.config.levels):
            self.tabulated = True
            return draw(self.step(i, j, c), options, uniform)
        self.tabulated = False
        if c == 0:
            self.run(i, j, 0)
            self.pixel_sampler.start(self._head_step(0))
        return self.pixel_sampler.draw(c, self.h0.row[:, self.p + j], uniform)  # (B, C): the values so far, in [-1, 1]

    def _head_step(self, c: int) -> torch.Tensor:
        """The head at the current pixel, group c: logits (B, K) of channel c, or the mixture's parameters (B, Q)."""
        skip, skip_c, skip_first, hidden, hidden_c, hidden_seen, gated = self._head[c]
        head = self.head
        if c == 0:
            torch.mm(gated, head.wskip_in, out=skip)  # every group's skip features from group 0, and the bias
            skip_c.relu_()
            torch.mm(skip_first, head.whh_in, out=hidden)
        else:
            skip.addmm_(gated, head.wskip[c])
            skip_c.relu_()
            hidden.addmm_(skip_c, head.whh[c])
        hidden_c.relu_()
        return torch.mm(hidden_seen, head.who[c], out=self.out)

    def commit(self, j: int, c: int, value: torch.Tensor) -> None:
        """Channel c of column j is now ``value`` (int64 (B,)): feed it to the next steps."""
        features = self._feed(j, c, value)
        if self.logistic and c + 1 < self.channels:  # the next channel's coupling and posterior weights
            if not self.tabulated:
                self.pixel_sampler.observe(c, value)
                return
            config = self.model.config
            log_prob = logistic.bin_log_prob(features[:, 0], self.mean, self.mixture.log_scales[..., c], config.levels)
            self.log_weights = self.log_weights + log_prob

    def warm_up(self, rows: int, x: torch.Tensor) -> None:
        """Feed rows ``< rows`` of the canvas x (a completion's kept rows) through the cache."""
        for i in range(rows):
            if self.history:  # down-sampling and attention read earlier rows of the horizontal stacks
                for j in range(self.width):
                    for c in range(self.channels):
                        if c < self.groups:
                            self.run(i, j, c)
                        self._feed(j, c, x[:, c, i, j])
            self.advance_row(i, x)

    def _feed(self, j: int, c: int, value: torch.Tensor) -> torch.Tensor:
        """The input features of ``value`` (int64 (B,)) at column j, channel c: (B, E), a view of the cache."""
        e = self.e
        return torch.index_select(self.table, 0, value, out=self.h0.row[:, self.p + j, e * c : e * (c + 1)])


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
    dtype = torch.promote_types(model.head_out.weight.dtype, torch.float32) if model.config.output == "logistic" else model.head_out.weight.dtype
    out = torch.empty(n, model.config.levels, channels, height, width, device=x.device, dtype=dtype)
    with torch.inference_mode():
        cache = _Cache(model, n, height, width, labels, cond)
        for i in range(height):
            for j in range(width):
                for c in range(channels):
                    out[:, :, c, i, j] = cache.step(i, j, c)
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
    Returns int64 (n, C, H, W) in [0, K).
    """
    device = next(model.parameters()).device
    x = prepare_canvas(model, n, shape, init, start_row, device)
    model.check_inputs(x, labels, cond)
    _, channels, height, width = x.shape
    flat = x.view(n, channels * height * width)  # (B, C·H·W), writes land in x
    with torch.inference_mode():
        cache = _Cache(model, n, height, width, labels, cond)
        cache.warm_up(start_row, x)
        for i in range(start_row, height):
            for j in range(width):
                for c in range(channels):
                    value = cache.sample(i, j, c, options, uniforms(n, generator))
                    flat[:, (c * height + i) * width + j] = value
                    cache.commit(j, c, value)
            if on_row is not None:
                on_row(i, x)
            cache.advance_row(i, x)
    return x
