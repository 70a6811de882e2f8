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
from typing import Callable, ClassVar, Literal

import torch

from pixelcnn.errors import ConfigError
from pixelcnn.model import PixelCNN
from pixelcnn.params import check

# Called after each completed row: (row index, canvas int64 (B, C, H, W)).
RowCallback = Callable[[int, torch.Tensor], None]


@dataclass(frozen=True)
class SamplingOptions:
    """How logits become a category at each step."""

    temperature: float = 1.0  # > 0; below 1 sharpens, above 1 flattens
    top_k: int = 0  # keep the k most likely categories; 0 keeps all
    top_p: float = 1.0  # keep the smallest set whose probability reaches p (nucleus); 1 keeps all

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0, got {self.top_k}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")


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
                logits = model(x, labels, cond)[:, :, ch, i, j]  # (n, K)
                x[:, ch, i, j] = draw(logits, options, uniforms(n, generator))
        if on_row is not None:
            on_row(i, x)
    return x
