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

from typing import Literal

import torch

from pixelcnn.model import PixelCNN
from pixelcnn.sampling import RowCallback, SamplingOptions, draw, prepare_canvas, sample_naive, uniforms


# How a block's horizontal output at the current pixel is written (see ``_Cache._plan_step``).
_MM, _ADDMM, _ACC = 0, 1, 2


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
        self.model = model
        self.n, self.height, self.width = n, height, width
        self.channels, self.levels, self.layers = cfg.channels, cfg.levels, cfg.layers
        C, K, F, S, L = cfg.channels, cfg.levels, cfg.hidden, cfg.skip, cfg.layers
        self.p = p = cfg.kernel // 2
        g, gs = F // C, S // C  # features per colour group: hidden, skip
        w = model.head_out.weight
        kw = dict(device=w.device, dtype=w.dtype)
        blocks = list(model.blocks)

        # Input features of one category, exactly as model.embed computes them: (K, E).
        cats = torch.arange(K, device=w.device).view(1, 1, K, 1)  # (1, 1, K, 1)
        self.table = model.embed(cats)[0, :, :, 0].t().contiguous()  # (K, E)
        self.e = e = self.table.shape[1]

        # Bias offsets of the stored horizontal inputs: beta[l - 1] belongs to block l >= 1.
        out_bias = [b.h_out.bias for b in blocks[:-1]]
        beta = torch.cumsum(torch.stack(out_bias), 0) if out_bias else None  # (L-1, F)

        self.v: list[torch.Tensor] = []  # vertical inputs (B, H + p, W + 2p, F_l)
        self.vh: list[torch.Tensor] = []  # vertical → horizontal terms of the current row (B, W, 2F)
        self.wv, self.vbias, self.wvh, self.hbias = [], [], [], []
        self.wh: list[list[torch.Tensor]] = []  # [l][c]: (p·F_l + visible part of the centre, 2g)
        self.wo: list[list[torch.Tensor]] = []  # [l][c]: (g, (C - c)·g), h_out of group c → groups >= c
        wskip = []
        for l, block in enumerate(blocks):
            fin = block.v_conv.in_channels
            self.v.append(torch.zeros(n, height + p, width + 2 * p, fin, **kw))
            self.vh.append(torch.empty(n, width, 2 * F, **kw))
            self.wv.append(block.v_conv.weight.permute(2, 3, 1, 0).reshape(-1, 2 * F).contiguous())  # ((p+1)·k·F_l, 2F)
            self.wvh.append(block.v_to_h.weight[:, :, 0, 0].t().contiguous())  # (2F, 2F)
            wh = block.h_conv.masked_weight()[:, :, 0, :].permute(2, 1, 0).reshape(-1, 2 * F)  # ((p+1)·F_l, 2F), taps left → centre
            v_cond, h_cond = block.conditioning(labels, cond)  # (B, 2F, H|1, W|1) each, or 0.0
            hb = block.v_to_h.bias + block.h_conv.bias + _channels_last(h_cond)
            if l > 0:
                hb = hb + beta[l - 1] @ wh.view(p + 1, fin, 2 * F).sum(0)  # beta_l through every tap
            self.vbias.append((block.v_conv.bias + _channels_last(v_cond)).expand(n, height, width, 2 * F))  # (B, H, W, 2F)
            self.hbias.append(hb.expand(n, height, width, 2 * F))  # (B, H, W, 2F)
            per_in = fin // C  # input features per colour group
            seen = [c if block.first else c + 1 for c in range(C)]  # centre groups visible: mask A < c, B <= c
            self.wh.append([wh[: p * fin + seen[c] * per_in, 2 * g * c : 2 * g * (c + 1)].contiguous() for c in range(C)])
            wo = block.h_out.masked_weight()[:, :, 0, 0].t()  # (F in, F out)
            self.wo.append([wo[g * c : g * (c + 1), g * c :].contiguous() for c in range(C)])
            wskip.append(block.h_skip.masked_weight()[:, :, 0, 0].t())  # (F, S)

        # Current row's horizontal inputs: block 0 (B, p + W, C·E); blocks 1 .. L-1 (L-1, B, p + W, F).
        self.h0 = torch.zeros(n, p + width, C * e, **kw)
        self.hr = torch.zeros(L - 1, n, p + width, F, **kw)
        if beta is not None:
            self.hr[:, :, :p] = -beta[:, None, None, :]
        # Gated features of the current pixel, colour-group major: (B, C, L, g).
        self.gated = torch.zeros(n, C, L, g, **kw)
        self.wskip = [torch.cat([ws[g * c : g * (c + 1), gs * c :] for ws in wskip]).contiguous() for c in range(C)]  # [c]: (L·g, (C-c)·gs)
        hh = model.head_hidden.masked_weight()[:, :, 0, 0].t()  # (S, S)
        self.whh = [hh[gs * c : gs * (c + 1), gs * c :].contiguous() for c in range(C)]  # [c]: (gs, (C-c)·gs)
        ho = model.head_out.masked_weight()[:, :, 0, 0].t()  # (S, C·K)
        self.who = [ho[: gs * (c + 1), K * c : K * (c + 1)].contiguous() for c in range(C)]  # [c]: ((c+1)·gs, K)
        self.bho = [model.head_out.bias[K * c : K * (c + 1)] for c in range(C)]
        self.skip_bias = sum(b.h_skip.bias for b in blocks)  # (S,)
        self.hh_bias = model.head_hidden.bias  # (S,)
        self.acc = torch.zeros(n, 2 * S, **kw)  # current pixel's [skip | head hidden], accumulated over groups
        self.hpre = [[torch.empty(n, 2 * g, **kw) for _ in range(C)] for _ in range(L)]
        self.logits = torch.empty(n, K, **kw)
        self._plan = [[self._plan_step(j, c) for c in range(C)] for j in range(width)]
        self._head = [self._plan_head(c) for c in range(C)]
        for vh, hb in zip(self.vh, self.hbias):
            vh.copy_(hb[:, 0])  # row 0 sees no vertical features: biases only

    def _plan_step(self, j: int, c: int) -> list[tuple]:
        """The tensor views that step (j, c) reads and writes, per block."""
        n, p, C, L = self.n, self.p, self.channels, self.layers
        g = self.hpre[0][0].shape[1] // 2
        plan = []
        for l in range(L):
            h_in = self.h0 if l == 0 else self.hr[l - 1]
            window = h_in[:, j : j + p + 1].reshape(n, -1)  # (B, (p+1)·F_l), a view
            hpre = self.hpre[l][c]  # (B, 2g): [a | b] of group c
            kind, res, out, extra = None, None, None, None
            if l < L - 1:  # blocks 0 .. L-2 feed the next block's horizontal input
                out = self.hr[l][:, p + j, g * c :]  # (B, (C - c)·g)
                own = h_in[:, p + j, g * c : g * (c + 1)]  # this block's input, group c
                if c > 0:
                    kind = _ACC
                elif C == 1 and l > 0:
                    kind, res = _ADDMM, own
                else:
                    kind = _MM
                if l > 0 and (C > 1):
                    extra = (out[:, :g], own)
            plan.append((
                self.vh[l][:, j, 2 * g * c : 2 * g * (c + 1)], window[:, : self.wh[l][c].shape[0]], self.wh[l][c],
                hpre, hpre[:, :g], self.gated[:, c, l], kind, res, out, self.wo[l][c], extra,
            ))
        return plan

    def _plan_head(self, c: int) -> tuple:
        S = self.acc.shape[1] // 2
        gs = S // self.channels
        acc = self.acc
        return (
            acc[:, gs * c : S], acc[:, gs * c : gs * (c + 1)],  # skip, groups >= c / group c
            acc[:, S + gs * c :], acc[:, S + gs * c : S + gs * (c + 1)],  # head hidden, groups >= c / group c
            acc[:, S : S + gs * (c + 1)],  # head hidden, groups <= c
            self.gated[:, c].reshape(self.n, -1),  # (B, L·g), a view
        )

    def advance_row(self, i: int, x: torch.Tensor) -> None:
        """Row i of the canvas x is complete: run it through every vertical stack (prepares row i + 1)."""
        p, n, W, L = self.p, self.n, self.width, self.layers
        if i + 1 == self.height:
            return
        F = self.wvh[0].shape[0] // 2
        row = self.model.embed(x[:, :, i : i + 1])[:, :, 0].transpose(1, 2)  # (B, W, C·E)
        self.v[0][:, p + i, p : p + W].copy_(row)
        for l, v in enumerate(self.v):
            cols = v[:, i : i + p + 1].unfold(2, 2 * p + 1, 1)  # (B, p+1, W, F_l, k)
            cols = cols.permute(0, 2, 1, 4, 3).reshape(n * W, -1)  # (B·W, (p+1)·k·F_l)
            v_pre = torch.addmm(self.vbias[l][:, i].reshape(n * W, 2 * F), cols, self.wv[l])  # (B·W, 2F)
            if l + 1 < L:
                new = torch.tanh(v_pre[:, :F]) * torch.sigmoid(v_pre[:, F:])  # (B·W, F)
                dest = self.v[l + 1][:, p + i, p : p + W]  # (B, W, F)
                if l == 0:
                    dest.copy_(new.view(n, W, F))
                else:
                    torch.add(v[:, p + i, p : p + W], new.view(n, W, F), out=dest)
            torch.mm(v_pre, self.wvh[l], out=self.vh[l].view(n * W, 2 * F))
            self.vh[l].add_(self.hbias[l][:, i + 1])

    def step(self, j: int, c: int) -> torch.Tensor:
        """Logits (B, K) of channel c at column j of the current row (a buffer, valid until the next step)."""
        for vh, window, wh, hpre, a, gated, kind, res, out, wo, extra in self._plan[j][c]:
            torch.addmm(vh, window, wh, out=hpre)
            a.tanh_()
            _glu(hpre, -1, out=gated)  # tanh(a) * sigmoid(b)
            if kind == _ADDMM:
                torch.addmm(res, gated, wo, out=out)
            elif kind == _MM:
                torch.mm(gated, wo, out=out)
            elif kind == _ACC:
                out.addmm_(gated, wo)
            if extra is not None:
                extra[0].add_(extra[1])
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
        cache = _Cache(model, n, height, width, labels, cond)
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
        cache = _Cache(model, n, height, width, labels, cond)
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
