"""The pixel-space branch: params, training and sampling of the pixel PixelCNN.

Legend: N images, B batch, C channels, H W pixels, K = ``levels`` values per channel.

Pixels are uint8 in [0, 255]; the model sees them quantised to ``levels``
values (``levels = 256`` is lossless). Bits per dimension are reported for the
quantised data, per channel value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from tqdm import tqdm

from pixelcnn.fast_sampling import sample
from pixelcnn.io import load_checkpoint
from pixelcnn.model import PixelCNN, PixelCNNConfig
from pixelcnn.params import check
from pixelcnn.sampling import SampleParams, class_labels
from pixelcnn.training import TrainParams


@dataclass(frozen=True)
class PixelModelParams:
    """Architecture of the pixel PixelCNN (read by train_pixelcnn)."""

    SECTION: ClassVar[str] = "pixelcnn"
    levels: int = 256  # values per channel; 256 = 8 bits, fewer quantise the data
    hidden: int = 24  # features per stack, divisible by the image's channels
    skip: int = 64  # skip-connection features, divisible by the image's channels
    layers: int = 8  # gated blocks
    kernel: int = 5  # odd kernel width of both stacks
    conditional: bool = True  # condition on the class label when the data has labels
    position_channels: int = 8  # learned map of where each pixel is, fed to every block; 0 turns it off

    def __post_init__(self) -> None:
        check(self.position_channels >= 0, f"pixelcnn.position_channels must be >= 0, got {self.position_channels}")
        check(2 <= self.levels <= 256, f"pixelcnn.levels must be in [2, 256], got {self.levels}")
        check(self.hidden >= 3, f"pixelcnn.hidden must be >= 3, got {self.hidden}")
        check(self.skip >= 3, f"pixelcnn.skip must be >= 3, got {self.skip}")
        check(self.layers >= 1, f"pixelcnn.layers must be >= 1, got {self.layers}")
        check(self.kernel >= 3 and self.kernel % 2 == 1, f"pixelcnn.kernel must be odd and >= 3, got {self.kernel}")

    def model_config(self, channels: int, height: int, width: int, num_classes: int) -> PixelCNNConfig:
        """The model config for data of this shape; checks divisibility by the channel count."""
        for name in ("hidden", "skip"):
            value = getattr(self, name)
            check(value % channels == 0, f"pixelcnn.{name} must be divisible by the data's {channels} channels, got {value}")
        return PixelCNNConfig(
            channels=channels,
            levels=self.levels,
            height=height,
            width=width,
            hidden=self.hidden,
            skip=self.skip,
            layers=self.layers,
            kernel=self.kernel,
            num_classes=num_classes if self.conditional else 0,
            position_channels=self.position_channels,
        )


@dataclass(frozen=True)
class PixelTrainParams(TrainParams):
    """Optimisation of the pixel PixelCNN (read by train_pixelcnn)."""

    SECTION: ClassVar[str] = "pixelcnn"


@dataclass(frozen=True)
class PixelSampleParams(SampleParams):
    """Sampling from the pixel PixelCNN (read by sample_pixelcnn)."""

    SECTION: ClassVar[str] = "pixelcnn"
    progress_every: int = 4  # rows between frames of the progressive-generation strip/GIF
    complete_rows: int = 16  # completions of test images keep this many top rows and sample the rest

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.progress_every >= 1, f"pixelcnn.progress_every must be >= 1, got {self.progress_every}")
        check(self.complete_rows >= 1, f"pixelcnn.complete_rows must be >= 1, got {self.complete_rows}")


def quantise(images: np.ndarray | torch.Tensor, levels: int) -> torch.Tensor:
    """uint8 [0, 255] → int64 in [0, levels): value * levels // 256."""
    x = torch.from_numpy(np.array(images, dtype=np.int64))  # a copy: prepared data is a read-only memmap
    return x if levels == 256 else (x * levels) // 256


def dequantise(x: torch.Tensor, levels: int) -> np.ndarray:
    """int64 in [0, levels) → uint8 [0, 255], spreading the levels over the range."""
    x = x.long().cpu()
    if levels != 256:
        x = (x * 255 + (levels - 1) // 2) // (levels - 1)
    return x.to(torch.uint8).numpy()


def pixel_loss(model: PixelCNN, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """Bits per dimension of a batch (x, labels); labels ignored by an unconditional model."""
    x, labels = batch
    return model.bits_per_dim(x, labels if model.config.num_classes else None)


def build_model(model_params: PixelModelParams, meta: dict) -> PixelCNN:
    """A fresh PixelCNN for prepared data described by ``meta`` (from ``load_split``)."""
    size = int(meta["image_size"])
    config = model_params.model_config(int(meta["channels"]), size, size, int(meta["num_classes"]))
    return PixelCNN(config)


def load_pixelcnn(path: str, device: torch.device) -> PixelCNN:
    """Rebuild the pixel PixelCNN from its checkpoint (its own config, never params.yaml)."""
    payload = load_checkpoint(path, "pixelcnn", map_location=device)
    model = PixelCNN(PixelCNNConfig(**payload["config"]))
    model.load_state_dict(payload["state_dict"])
    return model.to(device).eval()


@dataclass
class PixelSamples:
    """What sample_pixelcnn writes: images and their labels, progressive frames, completions."""

    images: np.ndarray  # uint8 (N, C, H, W)
    labels: np.ndarray  # int64 (N,), -1 when unconditional
    frames: list[np.ndarray]  # uint8 (n_show, C, H, W) canvases of the first batch as rows fill in
    completions: np.ndarray  # uint8 (3, n_show, C, H, W): original, its kept top rows, completion


def draw_samples(
    model: PixelCNN,
    sample_params: PixelSampleParams,
    generator: torch.Generator,
    completion_source: tuple[np.ndarray, np.ndarray],
    n_show: int = 10,
) -> PixelSamples:
    """Draw ``num_samples`` images in batches with the chosen sampler.

    Frames of the first ``n_show`` images of the first batch are kept every
    ``progress_every`` rows; ``n_show`` images of ``completion_source``
    (test images, labels) are completed from their top ``complete_rows`` rows.
    """
    c = model.config
    p = sample_params
    labels = class_labels(p.num_samples, c.num_classes, p.labels, "pixelcnn.labels")
    device = next(model.parameters()).device
    frames: list[np.ndarray] = []
    out = []
    bar = tqdm(total=p.num_samples * c.height, desc="sample_pixelcnn rows", unit="row")

    def on_row(first_batch: bool, size: int):
        def callback(i: int, canvas: torch.Tensor) -> None:
            bar.update(size)
            if first_batch and ((i + 1) % p.progress_every == 0 or i + 1 == c.height):
                frames.append(dequantise(canvas[:n_show], c.levels))
        return callback

    for start in range(0, p.num_samples, p.sample_batch_size):
        size = min(p.sample_batch_size, p.num_samples - start)
        batch_labels = None if labels is None else labels[start : start + size].to(device)
        x = sample(model, size, sampler=p.sampler, options=p.options, labels=batch_labels,
                   generator=generator, on_row=on_row(start == 0, size))
        out.append(dequantise(x, c.levels))
    bar.close()

    check(p.complete_rows < c.height, f"pixelcnn.complete_rows must be < the image height {c.height}, got {p.complete_rows}")
    images, src_labels = completion_source
    originals = np.asarray(images[:n_show])
    init = quantise(originals, c.levels).to(device)
    lab = torch.as_tensor(np.asarray(src_labels[:n_show])).long().to(device) if c.num_classes else None
    done = sample(model, len(originals), sampler=p.sampler, options=p.options, labels=lab,
                  init=init, start_row=p.complete_rows, generator=generator)
    kept = originals.copy()
    kept[:, :, p.complete_rows :] = 0
    completions = np.stack([originals, kept, dequantise(done, c.levels)])

    all_labels = labels.numpy() if labels is not None else np.full(p.num_samples, -1, dtype=np.int64)
    return PixelSamples(np.concatenate(out), all_labels, frames, completions)
