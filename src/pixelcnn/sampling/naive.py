"""Autoregressive sampling: the naive reference sampler and the choice of sampler.

Legend: B batch, C channels, K categories, H W positions, D conditioning features.

Every sampler draws its randomness the same way (``pixelcnn.sampling.draw``: one
uniform per image at each (row, column, channel) step, inverse-CDF lookup in
the filtered distribution), so the cached sampler
(``pixelcnn.sampling.cached``) and the naive one here give identical samples
for the same generator. ``sample`` picks one by its ``configs.Sampler``.
"""

from __future__ import annotations

import torch

from pixelcnn.configs import Sampler, SamplingOptions
from pixelcnn.errors import require
from pixelcnn.models.pixelcnn import PixelCNN
from pixelcnn.sampling.cached import sample_cached
from pixelcnn.sampling.draw import RowCallback, draw, filter_logits, guide, guided_inputs, prepare_canvas, uniforms

__all__ = [
    "RowCallback", "Sampler", "SamplingOptions", "class_labels", "draw", "filter_logits",
    "prepare_canvas", "sample", "sample_naive", "uniforms",
]


def class_labels(n: int, num_classes: int, labels: tuple[int, ...] | list[int] = ()) -> torch.Tensor | None:
    """Labels int64 (n,): ``labels`` cycled, or every class in turn when empty; None if unconditional.

    A class the model does not know raises ``errors.InvalidValue`` naming ``labels``.
    """
    if not num_classes:
        return None
    pool = list(labels) or list(range(num_classes))
    for label in pool:
        require(0 <= label < num_classes, "labels",
                f"contains class {label}, but the model knows {num_classes} classes (0..{num_classes - 1})")
    return torch.tensor([pool[i % len(pool)] for i in range(n)], dtype=torch.long)


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
