"""Exact cached sampling of the gated PixelCNN (Fast PixelCNN++ style).

Legend: B batch, C channels (= colour groups), K categories, E input features
per channel (embedding size, 1 for scalar pixels), F hidden features, S skip
features, L gated blocks, H W positions, p = kernel // 2, g = F / C features
per colour group.

The naive sampler runs the whole network once per (row, column, channel)
step. This one keeps each block's activations and computes, at each step,
only what the new position needs; it draws its randomness exactly like the
naive sampler (one ``uniforms(B, generator)`` per step, raster-then-channel
order, ``draw``), so the two return the same samples for the same generator
up to float rounding of the logits (a draw can differ only if a uniform lands
within rounding of a CDF boundary).

What is cached, per block l (input features F_l: C·E for the first, F after):

- ``v[l]``: the vertical stack's input rows, channels-last and zero-padded
  (B, H + p, W + 2p, F_l). Once row i is complete, each block's vertical
  convolution is evaluated for that one output row from rows i-p .. i (an
  im2col of (p + 1) × k windows and one matmul), gated into ``v[l + 1]``;
- ``vh[l]``: the vertical stack's contribution to the horizontal stack of the
  next row, ``v_to_h(v_pre[row i])`` plus every bias that reaches ``h_pre``
  (h_conv, v_to_h, class, conditioning map at row i + 1): (B, W, 2F);
- ``h[l]``: the horizontal stack's input of the current row, zero-padded on
  the left (B, p + W, F_l), so the 1 × (p + 1) masked convolution at pixel j
  is one matmul over the contiguous window ``h[l][:, j : j + p + 1]``.

Per pixel and channel c only colour group c is computed: group c of every
block depends on the pixel's channels < c only, so groups < c computed at
earlier channel steps are final. Masked 1×1 layers (h_out, h_skip, the head)
are accumulated forward: when group c is known, its contribution to groups
>= c is added; the horizontal convolution and the last head layer read the
prefix of groups <= c. A pixel costs about one network evaluation at one
position, whatever C is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from pixelcnn.layers import GatedBlock
from pixelcnn.model import PixelCNN
from pixelcnn.sampling import RowCallback, SamplingOptions, draw, prepare_canvas, sample_naive, uniforms


# How a block writes its horizontal output at the current pixel (see ``_Cache._plan_step``).
_MM, _ADDMM, _ACC = 0, 1, 2


@dataclass
class _BlockWeights:
    """One gated block's weights, masked, transposed for ``x @ w`` and split by colour group."""

    wv: torch.Tensor  # vertical conv ((p+1)·k·F_l, 2F), rows in (tap row, tap column, feature) order
    vbias: torch.Tensor  # v_conv bias + class / map conditioning, (B, H, W, 2F) (expanded view)
    wvh: torch.Tensor  # v_to_h (2F, 2F)
    hbias: torch.Tensor  # every bias reaching h_pre (h_conv, v_to_h, conditioning, beta), (B, H, W, 2F)
    wh: list[torch.Tensor]  # [c] horizontal conv (p·F_l + visible centre, 2g): output group c
    wo: list[torch.Tensor]  # [c] h_out (g, (C - c)·g): input group c → output groups >= c
    wskip: torch.Tensor  # h_skip (F, S)


def _block_weights(
    block: GatedBlock,
    beta: torch.Tensor | None,
    labels: torch.Tensor | None,
    cond: torch.Tensor | None,
    shape: tuple[int, int, int],
) -> _BlockWeights:
    """``beta``: (F,) bias offset of the block's stored horizontal input (None for the first block)."""
    C, two_f = block.colours, 2 * block.hidden
    fin, g, p = block.v_conv.in_channels, block.hidden // C, block.kernel // 2
    wh = block.h_conv.masked_weight()[:, :, 0, :].permute(2, 1, 0).reshape(-1, two_f)  # ((p+1)·F_l, 2F), taps left → centre
    v_cond, h_cond = block.conditioning(labels, cond)  # (B, 2F, H|1, W|1) each, or 0.0
    hbias = block.v_to_h.bias + block.h_conv.bias + _channels_last(h_cond)
    if beta is not None:
        hbias = hbias + beta @ wh.view(p + 1, fin, two_f).sum(0)  # beta through every tap
    seen = [c if block.first else c + 1 for c in range(C)]  # centre groups visible: mask A < c, B <= c
    wo = block.h_out.masked_weight()[:, :, 0, 0].t()  # (F in, F out)
    return _BlockWeights(
        wv=block.v_conv.weight.permute(2, 3, 1, 0).reshape(-1, two_f).contiguous(),  # ((p+1)·k·F_l, 2F)
        vbias=(block.v_conv.bias + _channels_last(v_cond)).expand(*shape, two_f),  # (B, H, W, 2F)
        wvh=block.v_to_h.weight[:, :, 0, 0].t().contiguous(),  # (2F, 2F)
        hbias=hbias.expand(*shape, two_f),  # (B, H, W, 2F)
        wh=[wh[: p * fin + seen[c] * (fin // C), 2 * g * c : 2 * g * (c + 1)].contiguous() for c in range(C)],
        wo=[wo[g * c : g * (c + 1), g * c :].contiguous() for c in range(C)],
        wskip=block.h_skip.masked_weight()[:, :, 0, 0].t(),  # (F, S)
    )


class _Cache:
    """Per-block activations of a batch of partial canvases; see the module docstring.

    The horizontal inputs of blocks 1 .. L-1 are stored without their bias
    offsets: ``s_l = h_l - beta_l`` with ``beta_l`` the sum of the h_out biases
    of blocks < l, the left padding holding ``-beta_l`` and ``beta_l``'s share
    of the horizontal convolution folded into that block's bias. The residual
    stream then costs one ``addmm`` per block and pixel.
    """

    def __init__(
        self,
        model: PixelCNN,
        n: int,
        height: int,
        width: int,
        labels: torch.Tensor | None,
        cond: torch.Tensor | None,
    ) -> None:
        cfg = model.config
        self.model, self.n, self.height, self.width = model, n, height, width
        self.channels, self.layers, self.p = cfg.channels, cfg.layers, cfg.kernel // 2
        C, K, F, S, L, p = cfg.channels, cfg.levels, cfg.hidden, cfg.skip, cfg.layers, self.p
        self.g, self.gs = g, gs = F // C, S // C  # features per colour group: hidden, skip
        w = model.head_out.weight
        kw = dict(device=w.device, dtype=w.dtype)
        blocks = list(model.blocks)
        # Input features of one category, exactly as model.embed computes them.
        cats = torch.arange(K, device=w.device).view(1, 1, K, 1)  # (1, 1, K, 1)
        self.table = model.embed(cats)[0, :, :, 0].t().contiguous()  # (K, E)
        self.e = e = self.table.shape[1]
        # Bias offsets of the stored horizontal inputs: beta[l - 1] belongs to block l >= 1.
        beta = torch.cumsum(torch.stack([b.h_out.bias for b in blocks[:-1]]), 0) if L > 1 else None  # (L-1, F)
        self.blocks = [
            _block_weights(b, beta[l - 1] if l else None, labels, cond, (n, height, width)) for l, b in enumerate(blocks)
        ]
        wskip = [b.wskip for b in self.blocks]
        # [c]: (L·g, (C-c)·gs), rows block-major, matching gated[:, c] viewed as (B, L·g)
        self.wskip = [torch.cat([ws[g * c : g * (c + 1), gs * c :] for ws in wskip]).contiguous() for c in range(C)]
        hh = model.head_hidden.masked_weight()[:, :, 0, 0].t()  # (S, S)
        self.whh = [hh[gs * c : gs * (c + 1), gs * c :].contiguous() for c in range(C)]  # [c]: (gs, (C-c)·gs)
        ho = model.head_out.masked_weight()[:, :, 0, 0].t()  # (S, C·K)
        self.who = [ho[: gs * (c + 1), K * c : K * (c + 1)].contiguous() for c in range(C)]  # [c]: ((c+1)·gs, K)
        self.bho = [model.head_out.bias[K * c : K * (c + 1)] for c in range(C)]
        self.skip_bias = sum(b.h_skip.bias for b in blocks)  # (S,)
        self.hh_bias = model.head_hidden.bias  # (S,)

        # Vertical inputs (B, H + p, W + 2p, F_l) and their terms for the next row's h_pre (B, W, 2F).
        self.v = [torch.zeros(n, height + p, width + 2 * p, b.v_conv.in_channels, **kw) for b in blocks]
        # Row 0 sees no vertical features: its terms are the biases alone.
        self.vh = [bw.hbias[:, 0].clone(memory_format=torch.contiguous_format) for bw in self.blocks]
        # Current row's horizontal inputs: block 0 (B, p + W, C·E); blocks 1 .. L-1 (L-1, B, p + W, F).
        self.h0 = torch.zeros(n, p + width, C * e, **kw)
        self.hr = torch.zeros(L - 1, n, p + width, F, **kw)
        if beta is not None:
            self.hr[:, :, :p] = -beta[:, None, None, :]
        self.gated = torch.zeros(n, C, L, g, **kw)  # current pixel's gated features, colour-group major
        self.acc = torch.zeros(n, 2 * S, **kw)  # current pixel's [skip | head hidden], accumulated over groups
        self.hpre = [[torch.empty(n, 2 * g, **kw) for _ in range(C)] for _ in range(L)]
        self.logits = torch.empty(n, K, **kw)
        self._plan = [[self._plan_step(j, c) for c in range(C)] for j in range(width)]
        self._head = [self._plan_head(c) for c in range(C)]

    def _plan_step(self, j: int, c: int) -> list[tuple]:
        """The tensor views that step (j, c) reads and writes, per block.

        A block's horizontal output s_{l+1} = s_l + gated @ h_out is written at
        channel 0 by one ``mm`` (no residual: first block) or ``addmm`` (C = 1);
        with colour groups, channel 0 overwrites every group (``mm``), later
        channels add group c's share to groups >= c (``addmm_``), and the
        residual s_l of group c is added on its own.
        """
        n, p, C, L, g = self.n, self.p, self.channels, self.layers, self.g
        plan = []
        for l in range(L):
            h_in = self.h0 if l == 0 else self.hr[l - 1]
            window = h_in[:, j : j + p + 1].view(n, -1)  # (B, (p+1)·F_l): columns j-p .. j
            hpre = self.hpre[l][c]  # (B, 2g): [a | b] of group c
            kind, res, out, residual = None, None, None, None
            if l < L - 1:  # blocks 0 .. L-2 feed the next block's horizontal input
                out = self.hr[l][:, p + j, g * c :]  # (B, (C - c)·g)
                own = h_in[:, p + j, g * c : g * (c + 1)]  # this block's input, group c
                if c > 0:
                    kind = _ACC
                elif C == 1 and l > 0:
                    kind, res = _ADDMM, own
                else:
                    kind = _MM
                if l > 0 and C > 1:
                    residual = (out[:, :g], own)
            wh = self.blocks[l].wh[c]
            plan.append((
                self.vh[l][:, j, 2 * g * c : 2 * g * (c + 1)], window[:, : wh.shape[0]], wh,
                hpre, hpre[:, :g], self.gated[:, c, l], kind, res, out, self.blocks[l].wo[c], residual,
            ))
        return plan

    def _plan_head(self, c: int) -> tuple:
        acc, gs = self.acc, self.gs
        S = acc.shape[1] // 2
        return (
            acc[:, gs * c : S], acc[:, gs * c : gs * (c + 1)],  # skip, groups >= c / group c
            acc[:, S + gs * c :], acc[:, S + gs * c : S + gs * (c + 1)],  # head hidden, groups >= c / group c
            acc[:, S : S + gs * (c + 1)],  # head hidden, groups <= c
            self.gated[:, c].view(self.n, -1),  # (B, L·g): group c of every block
        )

    def advance_row(self, i: int, x: torch.Tensor) -> None:
        """Row i of the canvas x is complete: run it through every vertical stack (prepares row i + 1)."""
        p, n, W = self.p, self.n, self.width
        if i + 1 == self.height:
            return
        row = self.model.embed(x[:, :, i : i + 1])[:, :, 0].transpose(1, 2)  # (B, W, C·E)
        self.v[0][:, p + i, p : p + W].copy_(row)
        for l, (v, bw) in enumerate(zip(self.v, self.blocks)):
            F = bw.wvh.shape[0] // 2
            cols = v[:, i : i + p + 1].unfold(2, 2 * p + 1, 1)  # (B, p+1, W, F_l, k)
            cols = cols.permute(0, 2, 1, 4, 3).reshape(n * W, -1)  # (B·W, (p+1)·k·F_l)
            v_pre = torch.addmm(bw.vbias[:, i].reshape(n * W, 2 * F), cols, bw.wv)  # (B·W, 2F)
            if l + 1 < self.layers:
                new = (torch.tanh(v_pre[:, :F]) * torch.sigmoid(v_pre[:, F:])).view(n, W, F)  # (B, W, F)
                dest = self.v[l + 1][:, p + i, p : p + W]  # (B, W, F)
                if l == 0:
                    dest.copy_(new)
                else:
                    torch.add(v[:, p + i, p : p + W], new, out=dest)
            torch.mm(v_pre, bw.wvh, out=self.vh[l].view(n * W, 2 * F))
            self.vh[l].add_(bw.hbias[:, i + 1])

    def step(self, j: int, c: int) -> torch.Tensor:
        """Logits (B, K) of channel c at column j of the current row (a buffer, valid until the next step)."""
        for vh, window, wh, hpre, a, gated, kind, res, out, wo, residual in self._plan[j][c]:
            torch.addmm(vh, window, wh, out=hpre)
            a.tanh_()
            _glu(hpre, -1, out=gated)  # tanh(a) * sigmoid(b)
            if kind == _ADDMM:
                torch.addmm(res, gated, wo, out=out)
            elif kind == _MM:
                torch.mm(gated, wo, out=out)
            elif kind == _ACC:
                out.addmm_(gated, wo)
            if residual is not None:
                residual[0].add_(residual[1])
        skip, skip_c, hidden, hidden_c, hidden_seen, gated = self._head[c]
        if c == 0:
            torch.addmm(self.skip_bias, gated, self.wskip[0], out=skip)
            skip_c.relu_()
            torch.addmm(self.hh_bias, skip_c, self.whh[0], out=hidden)
        else:
            skip.addmm_(gated, self.wskip[c])
            skip_c.relu_()
            hidden.addmm_(skip_c, self.whh[c])
        hidden_c.relu_()
        return torch.addmm(self.bho[c], hidden_seen, self.who[c], out=self.logits)

    def commit(self, j: int, c: int, value: torch.Tensor) -> None:
        """Channel c of column j is now ``value`` (int64 (B,)): feed it to the next steps."""
        e = self.e
        torch.index_select(self.table, 0, value, out=self.h0[:, self.p + j, e * c : e * (c + 1)])


_glu = torch._C._nn.glu  # F.glu with out=


def _channels_last(bias: torch.Tensor | float) -> torch.Tensor | float:
    """(B, 2F, H|1, W|1) → (B, H|1, W|1, 2F); a float stays a float."""
    return bias.permute(0, 2, 3, 1) if isinstance(bias, torch.Tensor) else bias  # (B, H, W, 2F)


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
    model._check_inputs(x, labels, cond)
    n, channels, height, width = x.shape
    out = torch.empty(n, model.config.levels, channels, height, width, device=x.device,
                      dtype=model.head_out.weight.dtype)
    with torch.inference_mode():
        cache = _Cache(model, n, height, width, labels, model.block_cond(cond, n))
        for i in range(height):
            for j in range(width):
                for c in range(channels):
                    out[:, :, c, i, j] = cache.step(j, c)
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
    model._check_inputs(x, labels, cond)
    _, channels, height, width = x.shape
    flat = x.view(n, channels * height * width)  # (B, C·H·W), writes land in x
    with torch.inference_mode():
        cache = _Cache(model, n, height, width, labels, model.block_cond(cond, n))
        for i in range(start_row):
            cache.advance_row(i, x)
        for i in range(start_row, height):
            for j in range(width):
                for c in range(channels):
                    value = draw(cache.step(j, c), options, uniforms(n, generator))
                    flat[:, (c * height + i) * width + j] = value
                    cache.commit(j, c, value)
            if on_row is not None:
                on_row(i, x)
            cache.advance_row(i, x)
    return x


def sample(
    model: PixelCNN,
    n: int,
    *,
    sampler: Literal["cached", "naive"] = "cached",
    **kwargs,
) -> torch.Tensor:
    """Sample with the chosen sampler; keyword arguments as ``sample_naive``. Returns int64 (n, C, H, W)."""
    if sampler == "cached":
        return sample_cached(model, n, **kwargs)
    if sampler == "naive":
        return sample_naive(model, n, **kwargs)
    raise ValueError(f"sampler must be 'cached' or 'naive', got {sampler!r}")
