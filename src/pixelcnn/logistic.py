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
        mean = mean + mix.coeffs[..., first + prev] * x[..., prev, None]
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
