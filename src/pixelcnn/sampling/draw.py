"""How every sampler turns logits into values: options, filters, inverse-CDF draws, canvases.

Legend: B batch, C channels, K categories, H W positions, D conditioning features.

Every sampler in the project draws its randomness the same way, so that the
cached sampler (``pixelcnn.sampling.cached``) and the naive one
(``pixelcnn.sampling.naive``) give identical samples for the same generator: one
uniform per image at each (row, column, channel) step, in raster-then-channel
order, turned into a category by inverse-CDF lookup in the filtered
distribution. Classifier-free guidance (``guided_inputs``, ``guide``) runs
the model on the images twice, with their labels and with the "no class"
label, and draws from ``uncond + s · (cond − uncond)`` of the per-channel
log-probabilities, before temperature, top-k and top-p.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypedDict

import torch

from pixelcnn.configs import SamplingOptions

if TYPE_CHECKING:
    from pixelcnn.models.pixelcnn import PixelCNN

# Called after each completed row: (row index, canvas int64 (B, C, H, W)).
RowCallback = Callable[[int, torch.Tensor], None]


class SamplerInputs(TypedDict, total=False):
    """The keywords both samplers take (``sample_naive``, ``sample_cached``, which declare their defaults), passed
    through ``pixelcnn.sampling.api.sample``."""

    options: SamplingOptions  # temperature, top-k, top-p, guidance
    labels: torch.Tensor | None  # int64 (n,) when the model is class-conditional
    cond: torch.Tensor | None  # (n, D, H, W) when it is map-conditional
    shape: tuple[int, int] | None  # (H, W) of the canvas; None: the model's
    init: torch.Tensor | None  # int64 (n, C, H, W): an image to complete
    start_row: int  # rows of init kept above it
    generator: torch.Generator | None  # the only source of randomness
    on_row: RowCallback | None  # called after each sampled row


def filter_logits(logits: torch.Tensor, options: SamplingOptions) -> torch.Tensor:
    """Temperature, then top-k, then top-p. logits: (B, K) → fp32 (B, K), removed = -inf."""
    logits = logits.float()
    if options.temperature != 1.0:  # dividing by 1 would change nothing but cost a pass
        logits = logits / options.temperature
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


def guided_inputs(
    model: PixelCNN, labels: torch.Tensor | None, cond: torch.Tensor | None, options: SamplingOptions
) -> tuple[torch.Tensor | None, torch.Tensor | None, int]:
    """The labels and conditioning map of the images a sampler runs for ``options.guidance``, and their copies.

    Guidance 1: the inputs as given (1 copy). Guidance 0: every label is the
    model's "no class" label (1 copy: unconditional sampling). Otherwise 2
    copies: the n images with their labels, then the same n with the "no
    class" label (the map repeated); ``guide`` combines their logits.
    labels: int64 (n,); cond: (n, D, H, W).
    """
    if not options.guided:
        return labels, cond, 1
    config = model.config
    if not config.null_class:
        raise ValueError(f"guidance {options.guidance} needs a model trained with a 'no class' label (cond_dropout > 0)")
    if labels is None:
        raise ValueError(f"guidance {options.guidance} needs the class labels it guides towards")
    null = torch.full_like(labels, config.num_classes)
    if options.guidance == 0:
        return null, cond, 1
    return torch.cat([labels, null]), None if cond is None else torch.cat([cond, cond]), 2


def guide(logits: torch.Tensor, scale: float, copies: int) -> torch.Tensor:
    """Classifier-free guidance of one step's logits.

    logits: (copies·B, K), the conditional images first; with 2 copies the
    per-image log-probabilities become ``uncond + scale · (cond − uncond)``
    (fp32 at least; ``draw`` renormalises). One copy passes through unchanged.
    """
    if copies == 1:
        return logits
    log_probs = torch.log_softmax(logits.to(torch.promote_types(logits.dtype, torch.float32)), dim=-1)
    cond, uncond = log_probs.chunk(2)  # (B, K) each
    return torch.lerp(uncond, cond, scale)


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
    config = model.config
    height, width = shape or (config.height, config.width)
    x = torch.zeros(n, config.channels, height, width, dtype=torch.long, device=device)
    if start_row:
        if init is None or init.shape != x.shape:
            got = None if init is None else tuple(init.shape)
            raise ValueError(f"completion needs init of shape {tuple(x.shape)}, got {got}")
        if not 0 <= start_row <= height:
            raise ValueError(f"start_row must be in [0, {height}], got {start_row}")
        x[:, :, :start_row] = init[:, :, :start_row].to(device)
    return x
