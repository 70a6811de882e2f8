"""The pixel-space branch: pixels ↔ model values, the model's shape from the data, and the sampling stage's draws.

Legend: N images, B batch, C channels, H W pixels, K = ``levels`` values per channel.

Pixels are uint8 in [0, 255]; the model sees them quantised to ``levels``
values (``levels = 256`` is lossless). Bits per dimension are reported for the
quantised data, per channel value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import torch
from tqdm import tqdm

from pixelcnn.configs import ClassConditioning, PixelCNNConfig, PixelSampleRun, SamplingOptions
from pixelcnn.errors import ConfigError
from pixelcnn.fast_sampling import sample
from pixelcnn.model import PixelCNN
from pixelcnn.params import Partial
from pixelcnn.sampling import class_labels


def quantise(images: np.ndarray | torch.Tensor, levels: int) -> torch.Tensor:
    """uint8 [0, 255] → int64 in [0, levels): value * levels // 256."""
    if isinstance(images, torch.Tensor):
        x = images.long()
    else:
        x = torch.from_numpy(np.array(images, dtype=np.int64))  # a copy: prepared data is a read-only memmap
    return x if levels == 256 else (x * levels) // 256


def dequantise(x: torch.Tensor, levels: int) -> np.ndarray:
    """int64 in [0, levels) → uint8 [0, 255], spreading the levels over the range."""
    x = x.long().cpu()
    if levels != 256:
        x = (x * 255 + (levels - 1) // 2) // (levels - 1)
    return x.to(torch.uint8).numpy()


def model_config(architecture: Partial[PixelCNNConfig], conditioning: ClassConditioning, meta: Mapping[str, Any]) -> PixelCNNConfig:
    """The pixel model's config for prepared data described by ``meta`` (from ``data.load_split``)."""
    if not 2 <= architecture["levels"] <= 256:
        raise ConfigError(f"params.yaml: pixelcnn.levels must be in [2, 256] for 8-bit pixels, got {architecture['levels']}")
    size = int(meta["image_size"])
    return architecture.build(channels=int(meta["channels"]), height=size, width=size, embed_dim=0,
                              num_classes=conditioning.num_classes(int(meta["num_classes"])), cond_channels=0)


@dataclass
class PixelSamples:
    """What sample_pixelcnn writes: images and their labels, progressive frames, completions."""

    images: np.ndarray  # uint8 (N, C, H, W)
    labels: np.ndarray  # int64 (N,), -1 when unconditional
    frames: list[np.ndarray]  # uint8 (n_show, C, H, W) canvases of the first batch as rows fill in
    completions: np.ndarray  # uint8 (3, n_show, C, H, W): original, its kept top rows, completion


def draw_samples(
    model: PixelCNN,
    options: SamplingOptions,
    run: PixelSampleRun,
    generator: torch.Generator,
    completion_source: tuple[np.ndarray, np.ndarray],
    n_show: int = 10,
) -> PixelSamples:
    """Draw ``run.num_samples`` images in batches with the chosen sampler.

    Frames of the first ``n_show`` images of the first batch are kept every
    ``progress_every`` rows; ``n_show`` images of ``completion_source``
    (test images, labels) are completed from their top ``complete_rows`` rows.
    """
    c = model.config
    if run.complete_rows >= c.height:
        raise ConfigError(f"params.yaml: pixelcnn.complete_rows must be < the image height {c.height}, got {run.complete_rows}")
    labels = class_labels(run.num_samples, c.num_classes, run.labels, "pixelcnn.labels")
    device = next(model.parameters()).device
    frames: list[np.ndarray] = []
    out = []
    bar = tqdm(total=run.num_samples * c.height, desc="sample_pixelcnn rows", unit="row")

    def on_row(first_batch: bool, size: int):
        def callback(i: int, canvas: torch.Tensor) -> None:
            bar.update(size)
            if first_batch and ((i + 1) % run.progress_every == 0 or i + 1 == c.height):
                frames.append(dequantise(canvas[:n_show], c.levels))
        return callback

    for start in range(0, run.num_samples, run.sample_batch_size):
        size = min(run.sample_batch_size, run.num_samples - start)
        batch_labels = None if labels is None else labels[start : start + size].to(device)
        x = sample(model, size, sampler=run.sampler, options=options, labels=batch_labels,
                   generator=generator, on_row=on_row(start == 0, size))
        out.append(dequantise(x, c.levels))
    bar.close()

    images, src_labels = completion_source
    originals = np.asarray(images[:n_show])
    init = quantise(originals, c.levels).to(device)
    lab = torch.as_tensor(np.asarray(src_labels[:n_show])).long().to(device) if c.num_classes else None
    done = sample(model, len(originals), sampler=run.sampler, options=options, labels=lab,
                  init=init, start_row=run.complete_rows, generator=generator)
    kept = originals.copy()
    kept[:, :, run.complete_rows :] = 0
    completions = np.stack([originals, kept, dequantise(done, c.levels)])

    all_labels = labels.numpy() if labels is not None else np.full(run.num_samples, -1, dtype=np.int64)
    return PixelSamples(np.concatenate(out), all_labels, frames, completions)
