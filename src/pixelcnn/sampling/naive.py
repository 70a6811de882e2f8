"""The naive reference sampler: one full forward pass of the network per (row, column, channel) step.

Legend: B batch, C channels, K categories, H W positions, D conditioning features.

Every sampler draws its randomness the same way (``pixelcnn.sampling.draw``: one
uniform per image at each (row, column, channel) step, inverse-CDF lookup in
the filtered distribution), so the cached sampler
(``pixelcnn.sampling.cached``) and the naive one here give identical samples
for the same generator; ``pixelcnn.sampling.api.sample`` picks one by its ``configs.Sampler``.
"""

from __future__ import annotations

import torch

from pixelcnn.configs import SamplingOptions
from pixelcnn.models.pixelcnn import PixelCNN
from pixelcnn.sampling.draw import RowCallback, draw, guide, guided_inputs, prepare_canvas, uniforms


@torch.no_grad()
def sample_naive(
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
    """Reference sampler: one full forward pass per (row, column, channel).

    labels: int64 (n,) when the model is class-conditional; cond: (n, D, H, W)
    when it is map-conditional; ``init``/``start_row`` complete a partial image
    (rows ``< start_row`` are kept). Returns int64 (n, C, H, W) in [0, K).
    """
    device = next(model.parameters()).device
    x = prepare_canvas(model, n, shape, init, start_row, device)
    labels, cond, copies = guided_inputs(model, labels, cond, options)
    _, channels, height, width = x.shape
    for i in range(start_row, height):
        for j in range(width):
            for ch in range(channels):
                batch = x.repeat(copies, 1, 1, 1)  # (copies·n, C, H, W): guidance runs the images twice
                logits = model.position_logits(batch, i, j, labels, cond)[:, :, ch]  # (copies·n, K): a full pass
                x[:, ch, i, j] = draw(guide(logits, options.guidance, copies), options, uniforms(n, generator))
        if on_row is not None:
            on_row(i, x)
    return x
