"""The pixel-space pipeline: a gated PixelCNN that draws the pixels themselves.

Legend: B batch, C channels, H W pixels, K values per channel (``levels``).

It only batches, labels and converts around the library: images are
quantised to the model's K values (``data.pixels``), drawn by the chosen
sampler (``sampling.api.sample``) and scored by ``PixelCNN.nll``. What it
reads of the model: its ``config`` (shape, levels, classes), ``nll`` and its
parameters.
"""

from __future__ import annotations

from pathlib import Path

import torch

from pixelcnn import checkpoints
from pixelcnn.data.pixels import dequantise, quantise
from pixelcnn.models.pixelcnn import PixelCNN
from pixelcnn.pipelines.base import Pipeline, read_checkpoint
from pixelcnn.runtime import resolve_device
from pixelcnn.sampling.api import sample


class PixelCNNPipeline(Pipeline):
    """The pixel-space gated PixelCNN: draws pixels, quantised to ``levels`` values per channel."""

    name = "pixelcnn"
    title = "pixel PixelCNN"

    def __init__(self, model: PixelCNN) -> None:
        self.model = model.eval()
        self.config = model.config

    @classmethod
    def from_checkpoint(cls, path: str | Path, *, device: str | torch.device = "auto") -> PixelCNNPipeline:
        """Rebuild the model from ``train_pixelcnn``'s checkpoint (its own config) on ``device``."""
        path = Path(path)
        return cls.from_payload(path, read_checkpoint(path, "pixelcnn"), device=device)

    @classmethod
    def from_payload(cls, path: Path, payload: dict, *, device: str | torch.device = "auto") -> PixelCNNPipeline:
        """``from_checkpoint`` of a pixelcnn checkpoint already read from ``path`` (``checkpoints.read_checkpoint``)."""
        device = resolve_device(device)
        return cls(checkpoints.model_from_payload(path, payload, PixelCNN, device))

    @property
    def num_classes(self) -> int:
        return self.config.num_classes

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.config.channels, self.config.height, self.config.width)

    @property
    def code_shapes(self) -> dict[str, tuple[int, int]]:
        return {}

    @property
    def values_per_step(self) -> int:
        return self.config.levels

    @property
    def guidable(self) -> bool:
        return self.config.null_class

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def to(self, device: str | torch.device) -> PixelCNNPipeline:
        self.model.to(resolve_device(device))
        return self

    def _details(self) -> dict[str, str]:
        return {"values": f"{self.config.levels} per channel"}

    def _grids(self, rows: int) -> list[tuple[str, int, int]]:
        return [("pixels", rows, self.config.height)]

    def _draw_batch(self, n, labels, images, rows, *, options, sampler, generator, report):
        levels, height = self.config.levels, self.config.height
        init = None if images is None else quantise(images, levels).to(self.device)

        def on_row(i: int, canvas: torch.Tensor) -> None:
            report("pixels", i, height, lambda: dequantise(canvas, levels))

        x = sample(self.model, n, sampler=sampler, options=options, labels=labels, init=init,
                   start_row=rows if init is not None else 0, generator=generator, on_row=on_row)
        return dequantise(x, levels), None

    def _score_batch(self, images, labels):
        x = quantise(images, self.config.levels).to(self.device)
        return {"pixels": self.model.nll(x, labels, None)}
