"""The output head at the current pixel, and the two outputs it feeds: categorical logits or a logistic mixture.

Legend: B batch, C channels, G colour groups, K categories, Q head outputs
(mixture parameters), S skip features, gs = S / G, g = F / G, L0 the blocks
of the full resolution (those with a skip output), M mixture components.

The head's masked 1×1 maps are accumulated forward over colour groups: when
group c of the skip features is known, its contribution to the head's hidden
features of groups >= c is added, and the last layer reads the prefix of
groups <= c. Biases ride in the matmuls as an extra row of their weights,
multiplied by a constant 1 kept in the buffers.

An ``Output`` turns the head into what the sampling loop draws from:

- ``CategoricalOutput``: channel c's K logits, computed at channel step c;
- ``LogisticOutput``: the mixture's parameters once per pixel (one colour
  group), then each channel's exact K-way log-probabilities given the
  channels drawn before it (coupled means, posterior weights), or, when the
  draw is neither filtered nor guided, ``logistic.PixelSampler``'s search of
  the same CDF at the bin edges, which returns what ``draw`` would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch

from pixelcnn.models import logistic
from pixelcnn.models.layers import GatedBlock, MaskedConv2d
from pixelcnn.models.pixelcnn import PixelCNN
from pixelcnn.sampling.cached.streams import bias_of


@dataclass
class HeadWeights:
    """The head's weights, masked, transposed for ``x @ w`` and split by colour group; biases as a first row."""

    wskip_in: torch.Tensor  # (L0·g + 1, S): group 0 of h_skip of every full-resolution block, rows block-major, then the bias
    wskip: list[torch.Tensor]  # [c] (L0·g, (G-c)·gs): group c's share of the skip features (c > 0)
    whh_in: torch.Tensor  # (1 + gs, S): head_hidden's bias, then its weights from group 0
    whh: list[torch.Tensor]  # [c] (gs, (G-c)·gs) head_hidden from group c
    who: list[torch.Tensor]  # [c] (1 + (c+1)·gs, K or Q): head_out's bias for group c, then its weights from groups <= c

    @classmethod
    def of(cls, model: PixelCNN, skip_blocks: list[GatedBlock]) -> HeadWeights:
        G, S = model.config.colours, model.config.skip
        g, gs = model.config.hidden // G, S // G
        out = model.head_out.out_channels // G  # K, or Q with one group
        skips = [_skip_of(b) for b in skip_blocks]
        wskip = [s.masked_weight()[:, :, 0, 0].t() for s in skips]  # (F, S) each
        biases = [bias_of(s) for s in skips]
        skip_bias = sum(biases[1:], biases[0])  # (S,)
        hh = model.head_hidden.masked_weight()[:, :, 0, 0].t()  # (S, S)
        ho = model.head_out.masked_weight()[:, :, 0, 0].t()  # (S, G·out)
        bho = bias_of(model.head_out)
        group = [torch.cat([w[g * c : g * (c + 1), gs * c :] for w in wskip]) for c in range(G)]  # [c] (L0·g, (G-c)·gs)
        return cls(
            wskip_in=torch.cat([group[0], skip_bias[None]]).contiguous(),
            wskip=[w.contiguous() for w in group],
            whh_in=torch.cat([bias_of(model.head_hidden)[None], hh[:gs]]).contiguous(),
            whh=[hh[gs * c : gs * (c + 1), gs * c :].contiguous() for c in range(G)],
            who=[torch.cat([bho[None, out * c : out * (c + 1)], ho[: gs * (c + 1), out * c : out * (c + 1)]]).contiguous()
                 for c in range(G)],
        )


def _skip_of(block: GatedBlock) -> MaskedConv2d:
    """The skip output of a block the head reads (the loop passes only blocks that have one)."""
    if block.h_skip is None:
        raise ValueError("the head reads the skip outputs of blocks that have one; this block has none")
    return block.h_skip


class HeadViews(NamedTuple):
    """The views of the head's accumulator that group c's step reads and writes."""

    skip: torch.Tensor  # (B, (G-c)·gs) skip features, groups >= c
    skip_c: torch.Tensor  # (B, gs) skip features, group c
    skip_first: torch.Tensor  # (B, 1 + gs) [1 | skip group 0]
    hidden: torch.Tensor  # (B, (G-c)·gs) head hidden features, groups >= c
    hidden_c: torch.Tensor  # (B, gs) head hidden, group c
    hidden_seen: torch.Tensor  # (B, 1 + (c+1)·gs) [1 | head hidden, groups <= c]
    gated: torch.Tensor  # (B, L0·g [+ 1]) group c of every full-resolution block's gated features [and a 1]


class Head:
    """The head at the current pixel: logits (B, K) of channel c, or the mixture's parameters (B, Q)."""

    def __init__(self, model: PixelCNN, skip_blocks: list[GatedBlock], gated: torch.Tensor) -> None:
        """gated: (B, G, L0·g + 1), the current pixel's gated features of the full-resolution blocks, and a 1."""
        G, S = model.config.colours, model.config.skip
        w = model.head_out.weight
        n = gated.shape[0]
        self.weights = HeadWeights.of(model, skip_blocks)
        # The current pixel's [1 | skip S | 1 | head hidden S], accumulated over groups; the ones carry biases.
        self.acc = torch.ones(n, 2 * S + 2, device=w.device, dtype=w.dtype)
        self.out = torch.empty(n, model.head_out.out_channels // G, device=w.device, dtype=w.dtype)  # (B, K) or (B, Q)
        self.views = [self._views(c, G, S, gated) for c in range(G)]

    def _views(self, c: int, groups: int, S: int, gated: torch.Tensor) -> HeadViews:
        acc, gs, L0g = self.acc, S // groups, gated.shape[2] - 1
        skip, hidden = 1, S + 2  # where each starts in acc
        return HeadViews(
            skip=acc[:, skip + gs * c : skip + S],
            skip_c=acc[:, skip + gs * c : skip + gs * (c + 1)],
            skip_first=acc[:, : skip + gs],
            hidden=acc[:, hidden + gs * c :],
            hidden_c=acc[:, hidden + gs * c : hidden + gs * (c + 1)],
            hidden_seen=acc[:, hidden - 1 : hidden + gs * (c + 1)],
            gated=gated[:, c] if c == 0 else gated[:, c, :L0g],
        )

    def __call__(self, c: int) -> torch.Tensor:
        """Group c's head outputs (a buffer, valid until the next call): logits (B, K), or the mixture (B, Q)."""
        v, w = self.views[c], self.weights
        if c == 0:
            torch.mm(v.gated, w.wskip_in, out=v.skip)  # every group's skip features from group 0, and the bias
            v.skip_c.relu_()
            torch.mm(v.skip_first, w.whh_in, out=v.hidden)
        else:
            v.skip.addmm_(v.gated, w.wskip[c])
            v.skip_c.relu_()
            v.hidden.addmm_(v.skip_c, w.whh[c])
        v.hidden_c.relu_()
        return torch.mm(v.hidden_seen, w.who[c], out=self.out)


class CategoricalOutput:
    """Channel c's K logits at channel step c: the network's group c, then the head."""

    def __init__(self, run: Callable[[int, int, int], None], head: Head) -> None:
        self.run, self.head = run, head

    def logits(self, i: int, j: int, c: int, inputs: torch.Tensor) -> torch.Tensor:
        """Logits (B, K) of channel c at pixel (i, j); ``inputs`` (unused here) are the pixel's values so far."""
        self.run(i, j, c)
        return self.head(c)

    def observe(self, c: int, value: torch.Tensor, features: torch.Tensor) -> None:
        """Channel c was drawn: nothing to update (its input features are already in the cache)."""

    def draws_directly(self, guided: bool, filtered: bool) -> bool:
        return False


class LogisticOutput:
    """The logistic mixture: parameters once per pixel, then each channel given the ones drawn before it."""

    def __init__(self, run: Callable[[int, int, int], None], head: Head, model: PixelCNN) -> None:
        config, w = model.config, model.head_out.weight
        self.run, self.head = run, head
        self.channels, self.n_mix, self.levels = config.channels, config.n_mix, config.levels
        self.sampler = logistic.PixelSampler(config.channels, config.n_mix, config.levels,
                                             torch.promote_types(w.dtype, torch.float32), w.device)
        self.direct = False  # whether the current pixel's channels come from the sampler (else from tables)

    mixture: logistic.Mixture  # the current pixel's, set at its first channel

    def logits(self, i: int, j: int, c: int, inputs: torch.Tensor) -> torch.Tensor:
        """Channel c's exact log-probabilities (B, K) given the pixel's values so far ``inputs`` (B, C) in [-1, 1]."""
        self.direct = False
        if c == 0:
            self.run(i, j, 0)
            self.mixture = logistic.mixture(self.head(0), self.channels, self.n_mix)
            self.log_weights = self.mixture.log_weights  # (B, M), posterior given the channels drawn so far
        self.mean = logistic.channel_mean(self.mixture, c, inputs)
        return logistic.channel_table(self.log_weights, self.mean, self.mixture.log_scales[..., c], self.levels)

    def draws_directly(self, guided: bool, filtered: bool) -> bool:
        """Whether ``draw`` may replace the K-way table: an unguided, unfiltered draw of the mixture itself."""
        return not guided and not filtered

    def draw(self, i: int, j: int, c: int, inputs: torch.Tensor, uniform: torch.Tensor) -> torch.Tensor:
        """Channel c by ``PixelSampler``'s search of the CDF at the bin edges: int64 (B,), what ``draw`` gives from the table."""
        self.direct = True
        if c == 0:
            self.run(i, j, 0)
            self.sampler.start(self.head(0))
        return self.sampler.draw(c, inputs, uniform)

    def observe(self, c: int, value: torch.Tensor, features: torch.Tensor) -> None:
        """Channel c is ``value`` (B,) (input ``features`` (B, 1) in [-1, 1]): the next channel's posterior weights."""
        if c + 1 == self.channels:
            return
        if self.direct:
            self.sampler.observe(c, value)
            return
        log_prob = logistic.bin_log_prob(features[:, 0], self.mean, self.mixture.log_scales[..., c], self.levels)
        self.log_weights = self.log_weights + log_prob
