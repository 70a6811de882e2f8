"""``sample``: draw with the sampler a ``configs.Sampler`` names, the one way the pipelines run a sampler.

Legend: B batch, C channels, H W positions, D conditioning features.

Both samplers take the same arguments and draw their randomness the same way
(``pixelcnn.sampling.draw``), so they return the same values for the same
generator: ``Sampler.CACHED`` (``pixelcnn.sampling.cached``, the fast one)
and ``Sampler.NAIVE`` (``pixelcnn.sampling.naive``, the reference).
"""

from __future__ import annotations

import torch

from pixelcnn.configs import Sampler, SamplingOptions
from pixelcnn.models.pixelcnn import PixelCNN
from pixelcnn.sampling.cached import sample_cached
from pixelcnn.sampling.draw import RowCallback
from pixelcnn.sampling.naive import sample_naive


def sample(
    model: PixelCNN,
    n: int,
    *,
    sampler: Sampler = Sampler.CACHED,
    options: SamplingOptions = SamplingOptions(),
    labels: torch.Tensor | None = None,
    cond: torch.Tensor | None = None,
    shape: tuple[int, int] | None = None,
    init: torch.Tensor | None = None,
    start_row: int = 0,
    generator: torch.Generator | None = None,
    on_row: RowCallback | None = None,
) -> torch.Tensor:
    """Sample with the chosen ``sampler``; the other arguments as ``sample_naive``. Returns int64 (n, C, H, W)."""
    if sampler == Sampler.CACHED:
        chosen = sample_cached
    elif sampler == Sampler.NAIVE:
        chosen = sample_naive
    else:
        raise ValueError(f"sampler must be {Sampler.choices()}, got {sampler!r}")
    return chosen(model, n, options=options, labels=labels, cond=cond, shape=shape, init=init, start_row=start_row,
                  generator=generator, on_row=on_row)
