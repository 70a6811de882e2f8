"""The interface every trained generator offers (``Pipeline``), what it returns, and its batching loop.

Legend: N images, B batch, C channels, H W pixels, h w a code grid.

``Pipeline`` holds everything the two generators share: the public methods
(``sample`` / ``__call__``, ``complete``, ``score``, ``bits_per_code``,
``describe``), the loop that draws in batches and reports progress, and the
scoring loop. A subclass (``pixel.PixelCNNPipeline``, ``vq.VQPriorPipeline``)
says what its model is (shape, classes, the grids it draws) and how one batch
is drawn and scored. Sampling settings travel as one ``SamplingOptions``, the
sampler as a ``Sampler``, and the ``torch.Generator`` as its own argument,
from the public call down to ``pixelcnn.sampling``.

The checkpoint reading the subclasses share is here too: each file is read
from disk once, its kind checked, and the model rebuilt from that payload.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict, Unpack

import numpy as np
import torch

from pixelcnn import checkpoints
from pixelcnn.configs import Sampler, SamplingOptions
from pixelcnn.errors import CheckpointError
from pixelcnn.pipelines import inputs
from pixelcnn.pipelines.inputs import ImageInput, LabelInput

if TYPE_CHECKING:
    from PIL import Image as PILImage

TRAIN_HINT = "train the models first with `uv run dvc repro`, or pass the path of a trained checkpoint"


# ----------------------------------------------------------------------------- outputs


@dataclass
class Samples:
    """What ``sample`` and ``complete`` return."""

    images: np.ndarray  # uint8 (N, C, H, W) in [0, 255]
    labels: np.ndarray  # int64 (N,): the class of each image, -1 when the model is unconditional
    codes: dict[str, np.ndarray] | None = None  # VQ pipeline: int64 (N, h, w) per level, coarse → fine
    frames: list[np.ndarray] = field(default_factory=list)  # uint8 (B, C, H, W) canvases of the first batch, see frames_every

    def __len__(self) -> int:
        return len(self.images)

    def pil(self) -> list[PILImage.Image]:
        """One PIL image per sample (mode L for grey, RGB for colour)."""
        from PIL import Image

        return [Image.fromarray(_hwc(x)) for x in self.images]

    def grid(self, nrow: int | None = None, scale: int = 1) -> PILImage.Image:
        """All samples tiled ``nrow`` per row (default: a square) with 2-pixel white gaps, enlarged ``scale`` times."""
        return grid_image(self.images, nrow, scale)


def grid_image(images: np.ndarray, nrow: int | None = None, scale: int = 1) -> PILImage.Image:
    """uint8 (N, C, H, W) → one PIL image, ``nrow`` images per row (default: a square), nearest-neighbour ``scale``."""
    from PIL import Image

    from pixelcnn.visuals.images import grid_array

    nrow = nrow or max(1, math.ceil(math.sqrt(len(images))))
    picture = Image.fromarray(_hwc(grid_array(np.asarray(images), nrow)))
    if scale > 1:
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.Resampling.NEAREST)
    return picture


def _hwc(x: np.ndarray) -> np.ndarray:
    """uint8 (C, H, W) → (H, W) for grey, (H, W, 3) for colour: what PIL takes."""
    return x[0] if x.shape[0] == 1 else x.transpose(1, 2, 0)


@dataclass(frozen=True)
class Progress:
    """Handed to ``callback`` after every sampled row (valid during the call only)."""

    level: str  # the grid being drawn: "pixels", or a code level ("top", "bottom")
    row: int  # rows of that grid now complete, 1 .. rows
    rows: int  # rows of that grid
    batch_start: int  # index of the batch's first image among all N
    batch_size: int  # images drawn together in this batch
    done: int  # image-rows drawn so far, over every batch and level
    total: int  # image-rows to draw in all
    _preview: Callable[[], np.ndarray | None] = field(repr=False, default=lambda: None)

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0

    def preview(self) -> np.ndarray | None:
        """uint8 (B, C, H, W): the batch's images as drawn so far (undrawn rows black).

        For the VQ pipeline, rows below the drawn codes of the finest level are
        black; while a coarser level is drawn there is no image yet (None).
        """
        return self._preview()


ProgressCallback = Callable[[Progress], None]


class SamplingKeywords(TypedDict, total=False):
    """The keywords of every sampling call, declared once: ``Pipeline.sample`` (and ``__call__``),
    ``Pipeline.complete`` and ``pixelcnn.generate``. Each is optional; the defaults are ``Request``'s."""

    temperature: float  # > 0; below 1 sharpens each step (default 1)
    top_k: int  # >= 0: keep the k most likely values per step; 0 keeps all (default)
    top_p: float  # in (0, 1]: keep the smallest set of mass >= top_p (nucleus); 1 keeps all (default)
    guidance: float  # >= 0, classifier-free guidance: 1 plain conditional sampling (default), 0 ignores the label
    options: SamplingOptions | None  # the four above as one value (what the stages pass), not with them
    generator: torch.Generator | None  # the only source of randomness; None: torch's global generator
    batch_size: int  # images drawn at once
    callback: ProgressCallback | None  # called with a Progress after every drawn row
    frames_every: int  # keep the first batch's canvas every k rows and at the end (Samples.frames); 0 keeps none
    sampler: Sampler | str  # "cached" or "naive" (Sampler): the same images, the naive one far slower


@dataclass(frozen=True)
class Request:
    """A sampling call's settings, checked: what ``SamplingKeywords`` become, with their defaults."""

    options: SamplingOptions = SamplingOptions()  # temperature 1, top_k 0, top_p 1, guidance 1: the model as trained
    sampler: Sampler = Sampler.CACHED
    generator: torch.Generator | None = None
    batch_size: int = 64
    callback: ProgressCallback | None = None
    frames_every: int = 0


# report(level, row index i, rows of the grid, preview): a subclass calls it after each row it draws
Report = Callable[[str, int, int, Callable[[], "np.ndarray | None"]], None]


# ----------------------------------------------------------------------------- the interface


class Pipeline:
    """A trained generator of images: sample, complete from top rows, score in bits/dim.

    Subclasses: ``PixelCNNPipeline`` (pixel space) and ``VQPriorPipeline``
    (PixelCNN priors over VQ-VAE / VQ-VAE-2 codes, decoded by the autoencoder).
    """

    name: str  # "pixelcnn" or "prior": the prefix of this generator's keys in metrics/eval.json
    title: str  # for people: "pixel PixelCNN", "VQ-VAE-2 + PixelCNN prior"

    # --- what a subclass provides

    @property
    def num_classes(self) -> int:
        """Classes the model is conditioned on; 0 when unconditional."""
        raise NotImplementedError

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the images it draws."""
        raise NotImplementedError

    @property
    def code_shapes(self) -> dict[str, tuple[int, int]]:
        """(h, w) of each code grid it draws before decoding, coarse → fine; empty for a pixel-space model."""
        raise NotImplementedError

    @property
    def values_per_step(self) -> int:
        """K: the values each sampling step chooses among (pixel values per channel, or codes)."""
        raise NotImplementedError

    @property
    def guidable(self) -> bool:
        """Whether ``guidance`` other than 1 works: every network was trained with the "no class" label."""
        raise NotImplementedError

    @property
    def num_parameters(self) -> int:
        """Weights of every network the pipeline runs."""
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        raise NotImplementedError

    def to(self, device: str | torch.device) -> Pipeline:
        """Move the models to ``device`` ("auto", "cpu", "cuda", ...); returns self."""
        raise NotImplementedError

    def _details(self) -> dict[str, str]:
        """The lines of ``describe`` that only this kind of model has."""
        raise NotImplementedError

    def _grids(self, rows: int) -> list[tuple[str, int, int]]:
        """(level, first row to draw, rows) of each grid drawn in turn, when the top ``rows`` image rows are kept."""
        raise NotImplementedError

    def _draw_batch(self, n: int, labels: torch.Tensor | None, images: np.ndarray | None, rows: int, *,
                    options: SamplingOptions, sampler: Sampler, generator: torch.Generator | None,
                    report: Report) -> tuple[np.ndarray, dict[str, np.ndarray] | None]:
        """uint8 images (n, C, H, W) and the code grids int64 (n, h, w) per level (None in pixel space).

        ``images`` (n, C, H, W) are completed below ``rows`` when given;
        ``report`` is called after every drawn row.
        """
        raise NotImplementedError

    def _score_batch(self, images: np.ndarray, labels: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """Nats per image (B,) of each grid of uint8 images (B, C, H, W)."""
        raise NotImplementedError

    # --- the public surface

    def sample(self, n: int = 1, *, labels: LabelInput = None, **keywords: Unpack[SamplingKeywords]) -> Samples:
        """Draw ``n`` images: ``Samples`` with uint8 images (n, C, H, W).

        labels: one class for all, or a list cycled over the images; None
        draws every class in turn (class-conditional models; must be None for
        unconditional ones). The keywords (``SamplingKeywords``): temperature
        > 0 (below 1 sharpens), top_k >= 0 (0 keeps all), 0 < top_p <= 1
        (nucleus; 1 keeps all) shape each step's distribution; guidance >= 0
        is classifier-free guidance (1: plain conditional sampling; above 1
        the samples hold to their class more; 0 ignores the label; models
        trained with cond_dropout > 0, see ``guidable``); or pass them as one
        ``options=SamplingOptions(...)`` (what the stages do), not both.
        ``generator`` is the only source of randomness; ``batch_size`` images
        are drawn at once; ``callback(progress)`` runs after every row;
        ``frames_every=k`` keeps the first batch's canvas every k rows and at
        the end (``Samples.frames``). ``sampler="naive"`` (``Sampler.NAIVE``)
        runs the reference sampler (same images, far slower).
        """
        n = inputs.count("n", n)
        y = inputs.sample_labels(n, labels, self.num_classes, self.title)
        return self._run(n, y, None, 0, self._request(keywords))

    __call__ = sample

    def complete(self, images: ImageInput, rows: int, *, labels: LabelInput = None,
                 **keywords: Unpack[SamplingKeywords]) -> Samples:
        """Keep the top ``rows`` rows of each image and sample the rest.

        images: uint8 (N, C, H, W), (C, H, W) or (H, W), or PIL image(s) of
        the model's size. labels: one class for all or one per image
        (class-conditional models need them). The pixel pipeline returns the
        kept rows unchanged; the VQ pipeline keeps the code rows that lie
        wholly inside them (``rows · h // H`` of each level) and returns the
        decoded image, whose kept rows are the autoencoder's reconstruction.
        The keywords as ``sample``'s.
        """
        x = self._images(images)
        rows = inputs.kept_rows(rows, self.image_shape[1])
        request = self._request(keywords)
        y = inputs.image_labels(len(x), labels, self.num_classes, self.title)
        return self._run(len(x), y, x, rows, request)

    @torch.no_grad()
    def score(self, images: ImageInput, labels: LabelInput = None, *, batch_size: int = 256) -> np.ndarray:
        """Bits per dimension of each image: float64 (N,); their mean is the set's bits/dim.

        The pixel pipeline gives -log2 p(x) / (C·H·W) of the images (quantised
        to the model's levels). The VQ pipeline gives the bits its priors spend
        on the images' codes, summed over levels, per pixel dimension: a
        compression rate of the codes, not a likelihood of the pixels (see
        ``bits_per_code``). Class-conditional models need labels.
        """
        levels = list(self._nats(images, labels, batch_size).values())  # float64 (N,) each
        total = sum(levels[1:], levels[0])
        return total / (math.prod(self.image_shape) * math.log(2))

    def bits_per_code(self, images: ImageInput, labels: LabelInput = None, *,
                      batch_size: int = 256) -> dict[str, np.ndarray]:
        """Bits per code of each image's code grid, per level (coarse → fine): float64 (N,) each.

        The images are encoded by the VQ-VAE; each level's prior scores its
        grid (the bottom given the top), as ``train_prior`` reports bits per
        code. Empty for a pixel-space model, which draws no codes.
        """
        nats = self._nats(images, labels, batch_size) if self.code_shapes else {}
        return {name: nats[name] / (h * w * math.log(2)) for name, (h, w) in self.code_shapes.items()}

    def describe(self) -> dict[str, str]:
        """What the model is, for people (what ``pixelcnn info`` prints): label → text."""
        c, h, w = self.image_shape
        return {
            "images": f"{c}×{h}×{w}",
            "classes": str(self.num_classes or "unconditional"),
            **self._details(),
            "parameters": f"{self.num_parameters:,}",
            "device": str(self.device),
        }

    # --- shared machinery

    @torch.no_grad()
    def _nats(self, images: ImageInput, labels: LabelInput, batch_size: int) -> dict[str, np.ndarray]:
        batch_size = inputs.count("batch_size", batch_size)
        x = self._images(images)
        y = inputs.image_labels(len(x), labels, self.num_classes, self.title)
        parts: dict[str, list[np.ndarray]] = {}
        for start in range(0, len(x), batch_size):
            batch_labels = None if y is None else y[start : start + batch_size].to(self.device)
            for level, nats in self._score_batch(x[start : start + batch_size], batch_labels).items():
                parts.setdefault(level, []).append(nats.double().cpu().numpy())
        return {level: np.concatenate(chunks) for level, chunks in parts.items()}

    def _request(self, keywords: SamplingKeywords) -> Request:
        """The keywords of a sampling call, checked (guidance against this model), defaults from ``Request``."""
        inputs.known_keywords(keywords, SamplingKeywords.__annotations__)
        options = inputs.sampling_options(keywords)
        inputs.check_guidance(options, self.guidable, self.num_classes, self.title)
        default = Request()
        return Request(
            options,
            inputs.sampler(keywords.get("sampler", default.sampler)),
            inputs.generator(keywords.get("generator", default.generator)),
            inputs.count("batch_size", keywords.get("batch_size", default.batch_size)),
            inputs.callback(keywords.get("callback", default.callback)),
            inputs.frames_every(keywords.get("frames_every", default.frames_every)),
        )

    @torch.no_grad()
    def _run(self, n: int, labels: torch.Tensor | None, images: np.ndarray | None, rows: int, request: Request) -> Samples:
        """Draw n images in batches (completing ``images`` below ``rows`` when given)."""
        batch_size, callback, frames_every = request.batch_size, request.callback, request.frames_every
        grids = self._grids(rows)
        total, done = n * sum(h - first for _, first, h in grids), 0
        out_images, out_codes, frames = [], [], []

        for start in range(0, n, batch_size):
            size = min(batch_size, n - start)

            def report(level: str, i: int, height: int, preview: Callable[[], np.ndarray | None],
                       start: int = start, size: int = size) -> None:
                nonlocal done
                done += size
                if frames_every and start == 0 and level == grids[-1][0] and ((i + 1) % frames_every == 0 or i + 1 == height):
                    frames.append(preview())
                if callback is not None:
                    callback(Progress(level, i + 1, height, start, size, done, total, preview))

            batch_labels = None if labels is None else labels[start : start + size].to(self.device)
            batch_images = None if images is None else images[start : start + size]
            pictures, codes = self._draw_batch(size, batch_labels, batch_images, rows, options=request.options,
                                               sampler=request.sampler, generator=request.generator, report=report)
            out_images.append(pictures)
            if codes is not None:
                out_codes.append(codes)

        all_labels = labels.numpy() if labels is not None else np.full(n, -1, dtype=np.int64)
        codes = {k: np.concatenate([c[k] for c in out_codes]) for k in out_codes[0]} if out_codes else None
        return Samples(np.concatenate(out_images), all_labels, codes, frames)

    def _images(self, images: ImageInput) -> np.ndarray:
        """Any accepted image input → uint8 (N, C, H, W) of the model's shape, or one sentence why not."""
        return inputs.as_images(images, self.image_shape)


# ----------------------------------------------------------------------------- checkpoints


def read_checkpoint(path: Path, kind: str) -> dict:
    """The payload of the checkpoint at ``path``, read from disk once, if it is of ``kind``."""
    payload = checkpoints.read_checkpoint(path, TRAIN_HINT)
    if payload["kind"] != kind:
        raise CheckpointError(wrong_kind(path, payload["kind"], kind))
    return payload


def wrong_kind(path: Path, kind: str, expected: str) -> str:
    return f"{path} is a {kind!r} checkpoint, expected a {expected!r} checkpoint; pass the right file"
