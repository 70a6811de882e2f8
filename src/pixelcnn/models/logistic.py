"""The discretized logistic mixture output of PixelCNN++ (Salimans et al., 2017).

Legend: ``...`` any leading shape (batch, positions), C channels, K levels
per channel, M mixture components, Q = M·(1 + 2C + C(C-1)/2) head outputs.

Value k of a channel sits at x_k = 2k / (K - 1) - 1 in [-1, 1] (the scalar
the network reads), its bin spans x_k ± 1 / (K - 1), and the first and last
bins extend to ∓∞: each component's K probabilities sum to one, so bits/dim
of 8-bit data are exact and comparable with the categorical output's.

The channels of a pixel share one mixture: component m has weight π_m, and
channel c is logistic with mean μ_mc + Σ_{c'<c} a_mcc' x_c' (the linear
R → G → B coupling of the means) and scale exp(s_mc). Given the pixel's
earlier channels, channel c is a mixture with posterior weights
∝ π_m Π_{c'<c} P_m(x_c'): ``tables`` gives these K-way log-probabilities,
whose sum over the channels at the observed values is the joint
``log_prob``. Everything here runs in fp32 (fp64 for fp64 inputs), also
under autocast.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

LOG_SCALE_MIN = -7.0  # log-scales are clamped from below (PixelCNN++), scale >= e^-7


def head_size(channels: int, n_mix: int) -> int:
    """Q, the head outputs per position: mixture logits, means, log-scales, coupling coefficients."""
    return n_mix * (1 + 2 * channels + channels * (channels - 1) // 2)


class Mixture(NamedTuple):
    """The mixture at each position, in fp32 or wider."""

    log_weights: torch.Tensor  # (..., M) log π, normalised
    means: torch.Tensor  # (..., M, C) before coupling
    log_scales: torch.Tensor  # (..., M, C), >= LOG_SCALE_MIN
    coeffs: torch.Tensor  # (..., M, C(C-1)/2) in (-1, 1), pairs (c, c') = (1, 0), (2, 0), (2, 1), ...


def mixture(params: torch.Tensor, channels: int, n_mix: int) -> Mixture:
    """params: (..., Q) head outputs, [logits M | means M·C | log-scales M·C | coefficients], component-major."""
    params = params.to(torch.promote_types(params.dtype, torch.float32))
    m, c = n_mix, channels
    logits, means, log_scales, coeffs = params.split([m, m * c, m * c, m * (c * (c - 1) // 2)], dim=-1)
    lead = params.shape[:-1]
    return Mixture(
        log_weights=torch.log_softmax(logits, dim=-1),
        means=means.reshape(*lead, m, c),  # (..., M, C)
        log_scales=log_scales.reshape(*lead, m, c).clamp(min=LOG_SCALE_MIN),  # (..., M, C)
        coeffs=torch.tanh(coeffs).reshape(*lead, m, c * (c - 1) // 2),  # (..., M, C(C-1)/2)
    )


def channel_mean(mix: Mixture, c: int, x: torch.Tensor) -> torch.Tensor:
    """Mean of channel c per component, coupled to the earlier channels' values x: (..., C) → (..., M)."""
    mean = mix.means[..., c]
    first = c * (c - 1) // 2  # index of the pair (c, 0)
    for prev in range(c):
        mean = torch.addcmul(mean, mix.coeffs[..., first + prev], x[..., prev, None])
    return mean


def bin_log_prob(x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor, levels: int) -> torch.Tensor:
    """log P_m(value at x) of each component: x (...,) in [-1, 1] on the level grid; mean, log_scale (..., M) → (..., M).

    log(σ(z_hi) - σ(z_lo)) = -softplus(-z_hi) - softplus(z_lo) + log(1 - exp(z_lo - z_hi)), stable
    everywhere; the first and last bins keep only their inner edge. No infinities, so no NaN gradients.
    """
    half = 1.0 / (levels - 1)
    x = x[..., None]  # (..., 1)
    inv_scale = torch.exp(-log_scale)
    z_hi = (x + half - mean) * inv_scale
    z_lo = (x - half - mean) * inv_scale
    below = F.softplus(-z_hi)  # -log σ(z_hi): mass below the upper edge
    above = F.softplus(z_lo)  # -log(1 - σ(z_lo)): mass above the lower edge
    width = torch.log(-torch.expm1(-2 * half * inv_scale))
    first = x < -1 + half  # value 0: the bin reaches -∞
    last = x > 1 - half  # value K-1: the bin reaches +∞
    return torch.where(first, -below, torch.where(last, -above, width - below - above))


def bin_table(mean: torch.Tensor, log_scale: torch.Tensor, levels: int) -> torch.Tensor:
    """log P_m(k) for every value k: mean, log_scale (..., M) → (..., M, K); each row sums to 1 in probability."""
    half = 1.0 / (levels - 1)
    edges = torch.arange(levels - 1, device=mean.device, dtype=mean.dtype) * (2 * half) + (half - 1)  # (K-1,) inner edges
    inv_scale = torch.exp(-log_scale)[..., None]  # (..., M, 1)
    z = (edges - mean[..., None]) * inv_scale  # (..., M, K-1)
    below = F.softplus(-z)  # -log σ(z)
    above = z + below  # softplus(z) = -log(1 - σ(z))
    width = torch.log(-torch.expm1(-2 * half * inv_scale))  # (..., M, 1)
    inner = F.pad(width.expand(*width.shape[:-1], levels - 2), (1, 1))  # (..., M, K): 0 on the two outer bins
    return inner - F.pad(below, (0, 1)) - F.pad(above, (1, 0))  # (..., M, K)


def channel_table(log_weights: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor, levels: int) -> torch.Tensor:
    """log p(value k) of one channel under posterior weights: log_weights (..., M), any normalisation → (..., K)."""
    log_weights = torch.log_softmax(log_weights, dim=-1)
    return torch.logsumexp(log_weights[..., None] + bin_table(mean, log_scale, levels), dim=-2)  # (..., K)


def tables(mix: Mixture, x: torch.Tensor, levels: int) -> torch.Tensor:
    """log p(channel c = k | the pixel's channels < c at x) for every k and c: x (..., C) in [-1, 1] → (..., K, C)."""
    out = []
    log_weights = mix.log_weights
    for c in range(x.shape[-1]):
        mean, log_scale = channel_mean(mix, c, x), mix.log_scales[..., c]
        out.append(channel_table(log_weights, mean, log_scale, levels))
        log_weights = log_weights + bin_log_prob(x[..., c], mean, log_scale, levels)
    return torch.stack(out, dim=-1)  # (..., K, C)


def log_prob(mix: Mixture, x: torch.Tensor, levels: int) -> torch.Tensor:
    """log p(x) of each pixel under the mixture: x (..., C) in [-1, 1] on the level grid → (...,)."""
    joint = mix.log_weights
    for c in range(x.shape[-1]):
        joint = joint + bin_log_prob(x[..., c], channel_mean(mix, c, x), mix.log_scales[..., c], levels)
    return torch.logsumexp(joint, dim=-1)


class PixelSampler:
    """Draws a pixel's channels in order from the head's parameters, by inverse CDF at the bin edges.

    The sampler's unfiltered path: the same distributions as ``tables`` (the
    coupled means, the posterior weights given the channels drawn so far),
    never tabulated. The value drawn for a uniform u is the number of inner
    edges t_e (the upper edges of values 0 .. K-2) where the channel's CDF
    F(t) = Σ_m w_m σ((t - μ_m) / s_m) / Σ_m w_m is <= u: the smallest k with
    P(value <= k) > u, which ``pixelcnn.sampling.draw.draw`` returns from
    ``channel_table`` with unfiltered options (up to rounding). Two levels of
    search (blocks of about √K edges, then the edges of one block) evaluate
    the CDF at about 2√K edges instead of K. The posterior weights stay
    unnormalised probabilities, multiplied by each drawn value's exact mass
    σ(z_hi) σ(-z_lo) (1 - exp(z_lo - z_hi)) (``bin_log_prob``'s identity,
    free of cancellation; an outer bin's infinite edge makes its factors 1).
    """

    def __init__(self, channels: int, n_mix: int, levels: int, dtype: torch.dtype, device: torch.device) -> None:
        inner = levels - 1
        self.channels, self.n_mix, self.levels, self.dtype = channels, n_mix, levels, dtype
        self.size = size = math.ceil(math.sqrt(inner))  # edges per block
        self.blocks = blocks = math.ceil(inner / size)
        edges = torch.arange(inner, device=device, dtype=dtype) * (2.0 / inner) + (1.0 / inner - 1)  # (K-1,) inner edges
        self.coarse = edges[size - 1 : (blocks - 1) * size : size].view(1, 1, -1)  # the last edge of each block but the last
        inf = torch.tensor([math.inf], device=device, dtype=dtype)
        self.fine = torch.cat([edges, inf.expand(blocks * size - inner)])  # (blocks·size,): past the last edge, CDF 1
        self.offsets = torch.arange(size, device=device)  # (size,)
        self.bins = torch.stack([torch.cat([-inf, edges]), torch.cat([edges, inf])], dim=-1)  # (K, 2): each value's edges
        self.sign = torch.tensor([-1.0, 1.0], device=device, dtype=dtype)  # [-z_lo, z_hi]

    def start(self, params: torch.Tensor) -> None:
        """A new pixel: params (B, Q), the head's outputs at it."""
        m, c, n = self.n_mix, self.channels, params.shape[0]
        logits, means, log_scales, coeffs = params.to(self.dtype).split([m, m * c, m * c, m * (c * (c - 1) // 2)], dim=-1)
        neg_inv_scale = log_scales.view(n, m, c, 1).clamp(min=LOG_SCALE_MIN).neg().exp_().neg_()  # (B, M, C, 1): -1 / s
        self.neg_inv_scale = neg_inv_scale.unbind(2)  # [c] (B, M, 1)
        self.means = means.view(n, m, c, 1).unbind(2)  # [c] (B, M, 1)
        self.coeffs = torch.tanh(coeffs).view(n, m, -1, 1).unbind(2) if c > 1 else ()  # [pair] (B, M, 1)
        weights = torch.exp(logits - logits.amax(dim=-1, keepdim=True))  # (B, M), unnormalised
        self.weights = weights.view(n, 1, m)
        self.total = weights.sum(-1, keepdim=True)  # (B, 1)

    def draw(self, c: int, values: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Channel c given the earlier channels' values (B, C) in [-1, 1]; u: (B,) in [0, 1) → int64 (B,)."""
        n = u.shape[0]
        neg_inv, mean = self.neg_inv_scale[c], self.means[c]  # (B, M, 1) each
        first = c * (c - 1) // 2  # the pair (c, 0)
        for prev in range(c):  # the coupling of the means, as channel_mean
            mean = torch.addcmul(mean, self.coeffs[first + prev], values[:, prev].view(n, 1, 1))
        shift = self.shift = mean * neg_inv  # (B, M, 1): -μ / s
        target = self.total * u.to(self.total.device, self.total.dtype).view(n, 1)  # (B, 1): u of the unnormalised total
        # CDF at edges t (B|1, 1, e), unnormalised: Σ_m w_m σ((t - μ_m) / s_m) = bmm(w, σ(shift - t · (-1/s))).
        if self.blocks > 1:
            coarse = torch.bmm(self.weights, torch.addcmul(shift, neg_inv, self.coarse, value=-1).sigmoid_())  # (B, 1, blocks-1)
            block = torch.searchsorted(coarse.view(n, -1), target, right=True)  # (B, 1)
        else:  # one block: no coarse search
            block = torch.zeros(n, 1, dtype=torch.long, device=target.device)
        edges = self.fine[torch.add(self.offsets, block, alpha=self.size)].view(n, 1, -1)  # (B, 1, size): the block's edges
        fine = torch.bmm(self.weights, torch.addcmul(shift, neg_inv, edges, value=-1).sigmoid_())  # (B, 1, size)
        count = torch.searchsorted(fine.view(n, -1), target, right=True)  # (B, 1)
        return torch.add(count, block, alpha=self.size).view(n).clamp_(max=self.levels - 1)

    def observe(self, c: int, value: torch.Tensor) -> None:
        """Channel c (the last drawn) is ``value`` (B,): weigh each component by its mass there."""
        n = value.shape[0]
        z = torch.addcmul(self.shift, self.neg_inv_scale[c], self.bins[value].view(n, 1, 2), value=-1)  # (B, M, 2)
        gap = torch.expm1(z[..., 0] - z[..., 1]).neg_()  # 1 - exp(z_lo - z_hi)
        weights = self.weights.view(n, -1)
        weights.mul_(z.mul_(self.sign).sigmoid_().prod(-1)).mul_(gap)
        torch.sum(weights, -1, keepdim=True, out=self.total)
