"""``sample``: draw with the sampler a ``configs.Sampler`` names, the one way the pipelines run a sampler.

Legend: C channels, K categories, H W positions.

Both samplers take the same arguments and draw their randomness the same way
(``pixelcnn.sampling.draw``), so they return the same values for the same
generator: ``Sampler.CACHED`` (``pixelcnn.sampling.cached``, the fast one)
and ``Sampler.NAIVE`` (``pixelcnn.sampling.naive``, the reference).
"""

from __future__ import annotations

from typing import Unpack

import torch

from pixelcnn.configs import Sampler
from pixelcnn.models.pixelcnn import PixelCNN
from pixelcnn.sampling.cached import sample_cached
from pixelcnn.sampling.draw import SamplerInputs
from pixelcnn.sampling.naive import sample_naive


def sample(model: PixelCNN, n: int, *, sampler: Sampler = Sampler.CACHED, **inputs: Unpack[SamplerInputs]) -> torch.Tensor:
    """Sample ``n`` with the chosen ``sampler``; the inputs as ``sample_naive``'s. Returns int64 (n, C, H, W) in [0, K)."""
    if sampler == Sampler.CACHED:
        return sample_cached(model, n, **inputs)
    if sampler == Sampler.NAIVE:
        return sample_naive(model, n, **inputs)
    raise ValueError(f"sampler must be {Sampler.choices()}, got {sampler!r}")
