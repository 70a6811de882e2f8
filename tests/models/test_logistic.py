"""The discretized logistic mixture: exact bin masses, stable gradients, and the sampler's edge search."""

from __future__ import annotations

import math

import pytest
import torch

from pixelcnn.configs import SamplingOptions
from pixelcnn.models import logistic
from pixelcnn.sampling.draw import draw


def random_params(batch: int, channels: int, n_mix: int, seed: int, spread: float = 2.0) -> torch.Tensor:
    """Head outputs (B, Q) in float64: means over the range, log-scales from very narrow to wide."""
    g = torch.Generator().manual_seed(seed)
    params = torch.randn(batch, logistic.head_size(channels, n_mix), generator=g, dtype=torch.float64)
    m, c = n_mix, channels
    params[:, m : m + m * c] *= 0.6  # means
    params[:, m + m * c : m + 2 * m * c] = spread * params[:, m + m * c : m + 2 * m * c] - 2.5  # log-scales
    return params


@pytest.mark.parametrize("levels", [2, 5, 256])
def test_bin_table_is_a_distribution_and_matches_bin_log_prob(levels):
    g = torch.Generator().manual_seed(0)
    mean = torch.rand(4, 3, generator=g, dtype=torch.float64) * 2.4 - 1.2
    log_scale = torch.tensor([-7.0, -2.0, 1.0], dtype=torch.float64).expand(4, 3)
    table = logistic.bin_table(mean, log_scale, levels)  # (4, 3, K)
    torch.testing.assert_close(table.logsumexp(-1), torch.zeros(4, 3, dtype=torch.float64), rtol=0, atol=1e-12)
    values = torch.linspace(-1, 1, levels, dtype=torch.float64)
    for k in range(levels):
        at = logistic.bin_log_prob(values[k].expand(4), mean, log_scale, levels)
        torch.testing.assert_close(at, table[..., k], rtol=1e-10, atol=1e-12)


def test_log_prob_gradients_are_finite_at_the_outer_bins_and_extreme_scales():
    params = random_params(6, 3, 4, seed=1, spread=8.0).requires_grad_(True)  # scales from e^-30 (clamped) to e^+20
    x = torch.tensor([0, 255, 1, 254, 128, 0], dtype=torch.float64)[:, None].expand(6, 3) * (2 / 255) - 1
    mix = logistic.mixture(params, 3, 4)
    log_p = logistic.log_prob(mix, x, 256)
    assert torch.isfinite(log_p).all() and (log_p <= 0).all()
    log_p.sum().backward()
    assert torch.isfinite(params.grad).all()


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("levels", [2, 3, 9, 256])
def test_pixel_sampler_draws_what_draw_returns_from_the_tables(channels, levels):
    """The edge search (with its posterior updates) and the K-way tables give the same value for each uniform."""
    n, n_mix = 64, 5
    params = random_params(n, channels, n_mix, seed=levels + channels)
    sampler = logistic.PixelSampler(channels, n_mix, levels, torch.float64, torch.device("cpu"))
    mix = logistic.mixture(params, channels, n_mix)
    g = torch.Generator().manual_seed(7)
    for _ in range(6):  # several pixels' worth of uniforms on the same parameters
        sampler.start(params)
        values = torch.zeros(n, channels, dtype=torch.float64)
        log_weights = mix.log_weights
        for c in range(channels):
            u = torch.rand(n, generator=g)
            mean = logistic.channel_mean(mix, c, values)
            table = logistic.channel_table(log_weights, mean, mix.log_scales[..., c], levels)
            expected = draw(table, SamplingOptions(), u)
            got = sampler.draw(c, values, u)
            assert torch.equal(got, expected)
            sampler.observe(c, got)
            values[:, c] = got * (2 / (levels - 1)) - 1
            log_weights = log_weights + logistic.bin_log_prob(values[:, c], mean, mix.log_scales[..., c], levels)


def test_pixel_sampler_reaches_both_outer_values():
    """u near 0 and near 1 land on the first and the last value of a wide component."""
    params = torch.zeros(2, logistic.head_size(1, 1), dtype=torch.float64)
    params[:, 2] = 3.0  # log-scale 3: most mass beyond the outer edges
    sampler = logistic.PixelSampler(1, 1, 256, torch.float64, torch.device("cpu"))
    sampler.start(params)
    got = sampler.draw(0, torch.zeros(2, 1, dtype=torch.float64), torch.tensor([1e-6, 1 - 1e-6]))
    assert got.tolist() == [0, 255]
    half = 1 / 255
    cdf_first = torch.sigmoid(torch.tensor((-1 + half) / math.exp(3.0)))
    assert cdf_first > 0.4  # the first bin alone holds this much of the mass
