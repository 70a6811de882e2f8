"""One cache per stage of the network (gated block, attention, down- and up-sampling), behind one protocol.

Legend: B batch, G colour groups, F hidden features (F_in of a block's input:
C·E for the first, F after), g = F / G features per colour group, p =
kernel // 2, H_k W_k the grid of resolution k, N_k = H_k·W_k, nh heads, dk
key features per head.

Every stage cache keeps its weights (masked, transposed for ``x @ w``, biases
folded in) and answers two questions of the sampling loop
(``pixelcnn.sampling.cached.loop``):

- ``vertical(row)``: row ``row`` of its input's vertical stack is complete;
  compute the stage's vertical output for that row (and whatever the next
  row's horizontal steps need from it);
- ``step(row, col, c)``: the kernel calls, bound to views of the cache, that
  compute colour group c of the stage's horizontal output at (row, col) of its
  resolution. The loop calls them in order at every step; the rows share
  buffers, so the calls depend on the row only through its phase.

See docs/cached_sampling.md for what each cache holds and why the result
equals the full forward pass.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import NamedTuple, Protocol

import torch
import torch.nn.functional as F

from pixelcnn.models.attention import CausalSelfAttention
from pixelcnn.models.layers import Downsample, GatedBlock, Upsample, left_in_row
from pixelcnn.sampling.cached.streams import Stream, bias_map, bias_of, channels_last

Op = Callable[[], object]  # one bound kernel call of a step


class StageCache(Protocol):
    """What the sampling loop asks of every stage's cache."""

    def vertical(self, row: int) -> None:
        """Row ``row`` of the stage's vertical input is complete: compute its vertical output for that row."""

    def step(self, row: int, col: int, c: int) -> list[Op]:
        """The calls computing colour group c of the stage's horizontal output at (row, col) of its resolution."""
        ...


class Shortcut(NamedTuple):
    """An up-pass block's shortcut: the down pass's output stacks and the block's 1×1 maps of them."""

    v: torch.Tensor  # (B, H_k + p, W_k + 2p, F): the down pass's vertical stack
    h: Stream  # its horizontal stream
    wv: torch.Tensor  # (F, 2F): v_short, transposed
    wh: torch.Tensor  # (F, 2F): h_short, masked and transposed


class Context(NamedTuple):
    """A block's causal context: its 1×1 maps of the two running means, and the running sums."""

    wv: torch.Tensor  # (F_in, 2F): v_context, transposed
    wh: torch.Tensor  # (F_in, 2F): h_context, transposed
    vsum: torch.Tensor  # (B, F_in): the sum of the row means so far
    hsum: torch.Tensor  # (B, F_in): the current row's inputs left of the step


class BlockCache:
    """A gated block: weights with every bias folded in, the vertical state, and its horizontal step.

    ``vh`` (B, W_k, 2F) holds, for the row being drawn, the vertical stack's
    terms of the horizontal pre-activation (``v_to_h`` of the row above) plus
    every bias that reaches it; a step turns ``vh[:, J]`` into the
    pre-activation in place. With ``context`` the block also keeps the running
    sums of its causal summaries: ``vsum`` (B, F_in), the row means of its
    vertical input so far, and ``hsum`` (B, F_in), the current row of its
    horizontal input left of the step.
    """

    def __init__(
        self,
        block: GatedBlock,
        v_in: torch.Tensor,
        h_in: Stream,
        short: tuple[torch.Tensor, Stream] | None,
        labels: torch.Tensor | None,
        cond: torch.Tensor | None,
        n: int,
    ) -> None:
        F2 = 2 * block.hidden
        height, width = h_in.beta.shape[2:]
        self.block, self.p, self.fin = block, block.kernel // 2, block.v_conv.in_channels
        self.v_in, self.h_in = v_in, h_in
        self.short: Shortcut | None = None
        if short is not None:
            if block.v_short is None or block.h_short is None:
                raise ValueError("a shortcut was given for a block built without one")
            self.short = Shortcut(short[0], short[1], block.v_short.weight[:, :, 0, 0].t().contiguous(),
                                  block.h_short.masked_weight()[:, :, 0, 0].t())  # (F, 2F) each
        self.vterms, self.hterms = self._bias_terms(labels, cond, height, width)
        self.wvh = block.v_to_h.weight[:, :, 0, 0].t().contiguous()  # (2F, 2F)
        self.wh = block.h_conv.masked_weight()[:, :, 0, :].permute(2, 1, 0).reshape(-1, F2)  # ((p+1)·F_in, 2F), taps left → centre
        self.wo = block.h_out.masked_weight()[:, :, 0, 0].t()  # (F, F)
        self.context: Context | None = None
        if block.v_context is not None and block.h_context is not None:
            self.context = Context(block.v_context.weight[:, :, 0, 0].t().contiguous(),  # (F_in, 2F)
                                   block.h_context.weight[:, :, 0, 0].t().contiguous(),  # (F_in, 2F)
                                   self.wvh.new_zeros(n, self.fin), self.wvh.new_zeros(n, self.fin))  # (B, F_in) each
        # Row 0 sees no vertical features: its terms are the biases alone.
        self.vh = self.wvh.new_zeros(n, width, F2)  # (B, W_k, 2F)
        for term in self.hterms:
            self.vh.add_(term[:, 0])
        self.v_out: torch.Tensor | None = None
        self.h_out: Stream | None = None

    gated: torch.Tensor  # (B, G, g): where the gate writes, set by the loop (Cache._share_gated) before any step

    def _bias_terms(self, labels: torch.Tensor | None, cond: torch.Tensor | None, height: int,
                    width: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Every bias of the vertical and horizontal pre-activations, channels-last (1|B, H_k, W_k, 2F) each.

        One map of positions (the convolutions' biases, the folded stream offsets,
        the conditioning map, the context of the offsets) and the class bias
        (B, 2F, 1, 1), kept apart so neither is materialised per image and position.
        """
        block, h_in, short = self.block, self.h_in, self.short
        F2 = 2 * block.hidden
        h_conv = block.h_conv
        vmap = bias_map(bias_of(block.v_conv))
        hmap = bias_map(bias_of(h_conv) + bias_of(block.v_to_h)) + F.conv2d(F.pad(h_in.beta, h_conv.pad), h_conv.masked_weight())
        if short is not None and block.v_short is not None and block.h_short is not None:
            vmap = vmap + bias_map(bias_of(block.v_short))
            hmap = hmap + bias_map(bias_of(block.h_short)) + F.conv2d(short.h.beta, block.h_short.masked_weight())
        if block.v_context is not None and block.h_context is not None:  # the stream's offset beta is part of the row the context averages
            vmap = vmap + bias_map(bias_of(block.v_context))
            hmap = hmap + block.h_context(left_in_row(h_in.beta))
        vterms, hterms = [vmap], [hmap]
        for term in block.conditioning_terms(labels, cond):  # (B, 4F, 1, 1) class, (1|B, 4F, H_k, W_k) map
            if term.shape[2:] == (1, 1):
                vterms.append(term[:, :F2])
                hterms.append(term[:, F2:])
            else:
                vterms[0] = vterms[0] + term[:, :F2]
                hterms[0] = hterms[0] + term[:, F2:]
        expand = [channels_last(t).expand(-1, height, width, -1) for t in vterms + hterms]
        return expand[: len(vterms)], expand[len(vterms) :]

    def connect(self, v_out: torch.Tensor | None, h_out: Stream | None) -> None:
        """The block's output stacks: None where nothing reads them (the last block)."""
        self.v_out, self.h_out = v_out, h_out
        if h_out is not None:
            bias = bias_map(bias_of(self.block.h_out))
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
            v_pre.addmm_(self.short.v[:, p + row, p : p + width].reshape(n * width, -1), self.short.wv)
        if self.context is not None:  # the mean of every row so far, every column
            self.context.vsum.add_(v[:, p + row, p : p + width].mean(1))
            v_pre.view(n, width, F2).add_(torch.mm(self.context.vsum / (row + 1), self.context.wv)[:, None])
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

    def step(self, row: int, col: int, c: int) -> list[Op]:
        """Group c's calls at column ``col`` of any row: pre-activation, gate, output (the rows share buffers)."""
        g = self.block.hidden // self.block.colours
        hpre = self.vh[:, col, 2 * g * c : 2 * g * (c + 1)]  # (B, 2g) [a | b] of group c
        gated = self.gated[:, c]  # (B, g)
        a, b = hpre[:, :g], hpre[:, g:]
        ops = self._pre_activation(hpre, col, c)
        ops += [a.tanh_, b.sigmoid_, partial(torch.mul, a, b, out=gated)]  # tanh(a) * sigmoid(b)
        return ops + self._output(gated, col, c)

    def _pre_activation(self, hpre: torch.Tensor, col: int, c: int) -> list[Op]:
        """Calls adding the horizontal convolution, the shortcut and the row context to ``hpre`` (B, 2g)."""
        G, p, fin, g = self.block.colours, self.p, self.fin, self.block.hidden // self.block.colours
        n = hpre.shape[0]
        groups = slice(2 * g * c, 2 * g * (c + 1))
        seen = c if self.block.first else c + 1  # centre groups visible: mask A < c, B <= c
        wh = self.wh[: p * fin + seen * (fin // G), groups].contiguous()
        window = self.h_in.row[:, col : col + p + 1].reshape(n, -1)[:, : wh.shape[0]]  # (B, p·F_in + visible)
        ops: list[Op] = [partial(hpre.addmm_, window, wh)]
        if self.short is not None:
            short = self.short.h.row[:, p + col, : g * (c + 1)]  # (B, (c+1)·g) the shortcut stream, groups <= c
            ops.append(partial(hpre.addmm_, short, self.short.wh[: g * (c + 1), groups].contiguous()))
        if self.context is not None:  # the mean of the row's complete pixels left of col
            hsum = self.context.hsum
            if c == 0:
                ops.append(hsum.zero_ if col == 0 else partial(hsum.add_, self.h_in.row[:, p + col - 1]))
            if col > 0:
                ops.append(partial(hpre.addmm_, hsum, self.context.wh[:, groups].contiguous(), alpha=1.0 / col))
        return ops

    def _output(self, gated: torch.Tensor, col: int, c: int) -> list[Op]:
        """Calls writing group c's share of the block's horizontal output (none for the last block)."""
        if self.h_out is None:
            return []
        G, p, g = self.block.colours, self.p, self.block.hidden // self.block.colours
        out = self.h_out.row[:, p + col, g * c :]  # (B, (G - c)·g): the output stream, groups >= c
        wo = self.wo[g * c : g * (c + 1), g * c :].contiguous()  # (g, (G - c)·g): h_out from group c
        own = self.h_in.row[:, p + col]  # (B, F_in): the input stream, for the residual
        if c > 0:  # group c adds its share to groups >= c
            ops: list[Op] = [partial(out.addmm_, gated, wo)]
        elif G == 1 and not self.block.first:  # out = input + gated @ h_out
            ops = [partial(torch.addmm, own, gated, wo, out=out)]
        else:  # the first block, or group 0 with colour groups: overwrites every group
            ops = [partial(torch.mm, gated, wo, out=out)]
        if G > 1 and not self.block.first:  # colour groups: group c's residual once it is final
            ops.append(partial(out[:, :g].add_, own[:, g * c : g * (c + 1)]))
        return ops


class ResamplingCache:
    """What a Downsample's and an Upsample's cache share: output stacks at the other resolution, offset ``beta``."""

    beta: torch.Tensor  # (1, F, H_k, W_k): the output stream's offset, the input's resampled plus the bias
    v_out: torch.Tensor  # the output stacks, set by connect before any row
    h_out: Stream

    def connect(self, v_out: torch.Tensor, h_out: Stream) -> None:
        self.v_out, self.h_out = v_out, h_out
        h_out.beta = self.beta


class DownCache(ResamplingCache):
    """A Downsample: the coarse vertical row from two fine rows, the coarse horizontal at anchors."""

    def __init__(self, down: Downsample, v_in: torch.Tensor, h_in: Stream, p: int, colours: int) -> None:
        self.v_in, self.h_in, self.p, self.colours = v_in, h_in, p, colours
        self.wv = down.v.weight.permute(2, 3, 1, 0).reshape(-1, down.v.out_channels).contiguous()  # (4F, F), taps row-major
        self.bv = bias_of(down.v)
        w = down.h.masked_weight().permute(2, 3, 1, 0)  # (2, 2, F_in, F_out): [tap row, tap column]
        self.w_prev = torch.cat([w[0, 0], w[0, 1]])  # (2F, F)
        self.w_cur = torch.cat([w[1, 0], w[1, 1]])  # (2F, F), the anchor's rows last
        self.prev = torch.zeros_like(h_in.row)  # (B, p + W_k, F): the input stream's row before, copied in by the loop
        self.beta = down.h(h_in.beta)  # (1, F, h, w): the coarse offset, conv of the fine one plus the bias

    def vertical(self, row: int) -> None:
        """Coarse row ``row`` from fine rows 2·row - 1 .. 2·row."""
        p, n = self.p, self.v_in.shape[0]
        width = self.h_out.row.shape[1] - p
        f = self.v_in.shape[3]
        rows = self.v_in[:, p + 2 * row - 1 : p + 2 * row + 1, p - 1 : p - 1 + 2 * width]  # (B, 2, 2w, F)
        cols = rows.reshape(n, 2, width, 2, f).permute(0, 2, 1, 3, 4).reshape(n * width, 4 * f)  # (B·w, 4F)
        out = torch.addmm(self.bv, cols, self.wv)  # (B·w, F)
        self.v_out[:, p + row, p : p + width].copy_(out.view(n, width, f))

    def step(self, row: int, col: int, c: int) -> list[Op]:
        """Group c of the coarse (row, col) from fine rows 2·row - 1 .. 2·row, columns 2·col - 1 .. 2·col."""
        p, f = self.p, self.v_in.shape[3]
        g = f // self.colours
        first = p + 2 * col - 1  # fine column 2·col - 1 in the padded row
        out = self.h_out.row[:, p + col, g * c : g * (c + 1)]  # (B, g)
        prev = self.prev[:, first : first + 2].flatten(1)  # (B, 2F): fine row 2·row - 1
        cur = self.h_in.row[:, first : first + 2].flatten(1)[:, : f + g * (c + 1)]  # (B, F + (c+1)·g): the anchor's groups <= c
        w_prev = self.w_prev[:, g * c : g * (c + 1)].contiguous()  # (2F, g)
        w_cur = self.w_cur[: f + g * (c + 1), g * c : g * (c + 1)].contiguous()  # (F + (c+1)·g, g)
        return [partial(torch.mm, prev, w_prev, out=out), partial(out.addmm_, cur, w_cur)]


class UpCache(ResamplingCache):
    """An Upsample: fine vertical rows and horizontal positions from the coarse ones."""

    def __init__(self, up: Upsample, v_in: torch.Tensor, h_in: Stream, p: int, colours: int, size: tuple[int, int]) -> None:
        self.v_in, self.h_in, self.p, self.colours, self.size = v_in, h_in, p, colours, size
        wv = up.v.weight  # (F_in, F_out, 2, 2)
        self.wv = [torch.cat([wv[:, :, a, 0], wv[:, :, a, 1]], dim=1).contiguous() for a in range(2)]  # [row phase] (F, 2F)
        self.bv = torch.cat([bias_of(up.v), bias_of(up.v)])  # (2F,)
        self.wh = up.masked_weight()  # (F_in, F_out, 2, 2)
        height, width = size
        self.beta = F.conv_transpose2d(h_in.beta, self.wh, bias_of(up.h), stride=2)[:, :, :height, :width]  # (1, F, H_k, W_k)

    def vertical(self, row: int) -> None:
        """Fine row ``row`` from coarse row row // 2."""
        p, n, f = self.p, self.v_in.shape[0], self.v_in.shape[3]
        width, coarse = self.size[1], self.h_in.row.shape[1] - p
        src = self.v_in[:, p + row // 2, p : p + coarse].reshape(n * coarse, f)  # (B·w, F)
        out = torch.addmm(self.bv, src, self.wv[row % 2]).view(n, 2 * coarse, f)  # (B, 2w, F): columns 2J, 2J + 1
        self.v_out[:, p + row, p : p + width].copy_(out[:, :width])

    def step(self, row: int, col: int, c: int) -> list[Op]:
        """Group c of the fine (row, col) from coarse (row // 2, col // 2), groups <= c, weights of its phase."""
        p, f = self.p, self.v_in.shape[3]
        g = f // self.colours
        out = self.h_out.row[:, p + col, g * c : g * (c + 1)]  # (B, g)
        src = self.h_in.row[:, p + col // 2, : g * (c + 1)]  # (B, (c+1)·g)
        w = self.wh[: g * (c + 1), g * c : g * (c + 1), row % 2, col % 2].contiguous()  # ((c+1)·g, g)
        return [partial(torch.mm, src, w, out=out)]


class AttentionCache:
    """An attention block's keys and values so far, and its step at the next position.

    Queries, keys and values carry every bias that reaches them (the linear
    maps', the conditioning map's, the input stream's folded offset) per position.
    """

    def __init__(self, module: CausalSelfAttention, h_in: Stream, p: int, cond: torch.Tensor | None, n: int) -> None:
        self.module, self.h_in, self.p = module, h_in, p
        height, width = h_in.beta.shape[2:]
        keys = module.heads * module.key_dim
        beta = channels_last(h_in.beta).reshape(height * width, -1)  # (N_k, F)
        qbias = module.query(beta[:, : module.group])  # (N_k, nh·dk): bias and folded offset
        kvbias = module.key_value(beta)  # (N_k, nh·dk + F)
        if module.cond_proj is not None:
            if cond is None:
                raise ValueError("this model is conditioned on a feature map: pass cond")
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

    h_out: Stream  # set by connect before any step

    def connect(self, h_out: Stream) -> None:
        self.h_out = h_out
        h_out.beta = self.h_in.beta + bias_map(bias_of(self.module.out))

    def vertical(self, row: int) -> None:
        """Attention reads no vertical stack."""

    def step(self, row: int, col: int, c: int) -> list[Op]:
        p = self.p
        return [partial(self.advance, self.h_in.row[:, p + col], self.h_out.row[:, p + col], c)]

    def _attend(self, h_in: torch.Tensor, keys: int) -> torch.Tensor:
        """The attention output (B, F) of the current position's query over the first ``keys`` cached keys."""
        n = self.count
        q = torch.addmm(self.qbias[:, n], h_in[:, : self.module.group], self.wq)  # (B, nh·dk)
        return self.module.attend(q[:, None], self.kv[:, :keys], None)[:, 0]  # (B, F)

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
