"""Autoregressive sampling: logit filters and the naive reference sampler.

Legend: B batch, C channels, K categories, H W positions, D conditioning features.

Every sampler in the project draws its randomness the same way, so that the
cached sampler (``pixelcnn.fast_sampling``) and the naive one give identical
samples for the same generator: one uniform per image at each (row, column,
channel) step, in raster-then-channel order, turned into a category by
inverse-CDF lookup in the filtered distribution.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

import torch

from pixelcnn.configs import SampleRun, SamplingOptions
from pixelcnn.errors import ConfigError
from pixelcnn.model import PixelCNN

# Called after each completed row: (row index, canvas int64 (B, C, H, W)).
RowCallback = Callable[[int, torch.Tensor], None]


def filter_logits(logits: torch.Tensor, options: SamplingOptions) -> torch.Tensor:
    """Temperature, then top-k, then top-p. logits: (B, K) → (B, K), removed = -inf."""
    logits = logits.float() / options.temperature
    if options.top_k and options.top_k < logits.shape[-1]:
        kth = torch.topk(logits, options.top_k, dim=-1).values[:, -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if options.top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        before = torch.cumsum(probs, dim=-1) - probs  # mass strictly before each entry
        drop_sorted = before >= options.top_p  # the top entry is always kept
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def draw(logits: torch.Tensor, options: SamplingOptions, uniform: torch.Tensor) -> torch.Tensor:
    """Inverse-CDF draw. logits: (B, K); uniform: (B,) in [0, 1) → int64 (B,) in [0, K)."""
    probs = torch.softmax(filter_logits(logits, options), dim=-1)
    cdf = torch.cumsum(probs, dim=-1)  # (B, K)
    target = uniform.to(cdf.device, cdf.dtype)[:, None] * cdf[:, -1:]
    index = torch.searchsorted(cdf, target, right=True).squeeze(1)
    return index.clamp_(max=logits.shape[-1] - 1)


def uniforms(batch: int, generator: torch.Generator | None) -> torch.Tensor:
    """The (B,) uniforms of one step, drawn on the generator's device."""
    device = generator.device if generator is not None else torch.device("cpu")
    return torch.rand(batch, generator=generator, device=device)


def prepare_canvas(
    model: PixelCNN,
    n: int,
    shape: tuple[int, int] | None,
    init: torch.Tensor | None,
    start_row: int,
    device: torch.device,
) -> torch.Tensor:
    """An int64 (n, C, H, W) canvas holding rows ``< start_row`` of ``init`` (zeros elsewhere)."""
    c = model.config
    height, width = shape or (c.height, c.width)
    x = torch.zeros(n, c.channels, height, width, dtype=torch.long, device=device)
    if start_row:
        if init is None or init.shape != x.shape:
            got = None if init is None else tuple(init.shape)
            raise ValueError(f"completion needs init of shape {tuple(x.shape)}, got {got}")
        if not 0 <= start_row <= height:
            raise ValueError(f"start_row must be in [0, {height}], got {start_row}")
        x[:, :, :start_row] = init[:, :, :start_row].to(device)
    return x


def class_labels(n: int, num_classes: int, chosen: tuple[int, ...] | list[int] = (), key: str = "labels") -> torch.Tensor | None:
    """Labels int64 (n,): ``chosen`` cycled, or every class in turn when empty; None if unconditional."""
    if not num_classes:
        return None
    pool = list(chosen) or list(range(num_classes))
    for label in pool:
        if not 0 <= label < num_classes:
            raise ConfigError(
                f"params.yaml: {key} contains class {label}, but the model knows {num_classes} classes (0..{num_classes - 1})"
            )
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
    _, channels, height, width = x.shape
    for i in range(start_row, height):
        for j in range(width):
            for ch in range(channels):
                logits = model(x, labels, cond)[:, :, ch, i, j]  # (n, K)
                x[:, ch, i, j] = draw(logits, options, uniforms(n, generator))
        if on_row is not None:
            on_row(i, x)
    return x
