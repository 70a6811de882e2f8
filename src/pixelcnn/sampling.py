"""Autoregressive sampling: the naive reference sampler and the choice of sampler.

Legend: B batch, C channels, K categories, H W positions, D conditioning features.

Every sampler draws its randomness the same way (``pixelcnn.drawing``: one
uniform per image at each (row, column, channel) step, inverse-CDF lookup in
the filtered distribution), so the cached sampler
(``pixelcnn.fast_sampling``) and the naive one here give identical samples
for the same generator. ``sample`` picks one by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from pixelcnn.drawing import RowCallback, SamplingOptions, draw, filter_logits, prepare_canvas, uniforms
from pixelcnn.errors import ConfigError
from pixelcnn.fast_sampling import sample_cached
from pixelcnn.model import PixelCNN
from pixelcnn.params import check

__all__ = [
    "RowCallback", "SampleParams", "SamplingOptions", "class_labels", "draw", "filter_logits",
    "prepare_canvas", "sample", "sample_naive", "uniforms",
]


@dataclass(frozen=True)
class SampleParams:
    """Sampling knobs shared by the pixel model and the priors; a subclass sets ``SECTION``."""

    SECTION: ClassVar[str] = ""
    num_samples: int = 500  # images to draw (evaluate scores them)
    temperature: float = 1.0  # > 0; below 1 sharpens every step's distribution
    top_k: int = 0  # keep the k most likely values per step; 0 keeps all
    top_p: float = 1.0  # nucleus: keep the smallest set of mass >= p; 1 keeps all
    labels: list[int] | None = None  # classes to draw, cycled; null: every class in turn
    sampler: Literal["cached", "naive"] = "cached"  # cached is exact and much faster; naive is the reference
    sample_batch_size: int = 100  # images sampled at once
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto: CUDA when present; read by training and sampling

    def __post_init__(self) -> None:
        s = self.SECTION
        check(self.num_samples >= 1, f"{s}.num_samples must be >= 1, got {self.num_samples}")
        check(self.temperature > 0, f"{s}.temperature must be > 0, got {self.temperature}")
        check(self.top_k >= 0, f"{s}.top_k must be >= 0 (0 keeps all), got {self.top_k}")
        check(0 < self.top_p <= 1, f"{s}.top_p must be in (0, 1], got {self.top_p}")
        check(self.sample_batch_size >= 1, f"{s}.sample_batch_size must be >= 1, got {self.sample_batch_size}")
        check(
            self.labels is None or (len(self.labels) > 0 and all(v >= 0 for v in self.labels)),
            f"{s}.labels must be null or a non-empty list of class indices >= 0, got {self.labels}",
        )

    @property
    def options(self) -> SamplingOptions:
        return SamplingOptions(self.temperature, self.top_k, self.top_p)


def class_labels(n: int, num_classes: int, chosen: list[int] | None, key: str) -> torch.Tensor | None:
    """Labels for ``n`` samples: ``chosen`` cycled, or every class in turn; None if unconditional."""
    if not num_classes:
        return None
    pool = chosen if chosen is not None else list(range(num_classes))
    for label in pool:
        if label >= num_classes:
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
                logits = model.position_logits(x, i, j, labels, cond)[:, :, ch]  # (n, K): a full pass
                x[:, ch, i, j] = draw(logits, options, uniforms(n, generator))
        if on_row is not None:
            on_row(i, x)
    return x


def sample(
    model: PixelCNN,
    n: int,
    *,
    sampler: Literal["cached", "naive"] = "cached",
    **kwargs,
) -> torch.Tensor:
    """Sample with the chosen sampler; keyword arguments as ``sample_naive``. Returns int64 (n, C, H, W)."""
    if sampler == "cached":
        return sample_cached(model, n, **kwargs)
    if sampler == "naive":
        return sample_naive(model, n, **kwargs)
    raise ValueError(f"sampler must be 'cached' or 'naive', got {sampler!r}")
