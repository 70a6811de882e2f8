"""The public Python API: load a trained generator, then sample, complete and score.

Legend: N images, B batch, C channels, H W pixels, K categories per value,
h w a code grid.

    pipe = pixelcnn.load("models/pixelcnn.pt")                      # pixel PixelCNN
    pipe = pixelcnn.load("models/prior.pt", vqvae="models/vqvae.pt")  # VQ-VAE-2 + PixelCNN priors
    out = pipe(16, labels=3, temperature=0.8, generator=torch.Generator().manual_seed(0))
    out.images                       # uint8 (16, C, H, W); out.pil(), out.grid()
    pipe.complete(images, rows=16)   # keep the top 16 rows, sample the rest
    pipe.score(images, labels)       # float64 (N,) bits per dimension

Both pipelines share one interface (``Pipeline``): ``sample`` (also
``__call__``), ``complete``, ``score``, ``to``, and the properties
``num_classes``, ``image_shape`` and ``device``. Randomness comes only from
``generator=`` (a ``torch.Generator``; None uses torch's global one): the same
generator state gives the same images, equal to what the low-level samplers
return, since the pipelines only batch, label and convert around them.

Everything this module needs from the rest of the library goes through the
adapter section below, so that the library can change underneath without the
public surface moving. Bad input raises ``pixelcnn.errors.UserError``
subclasses whose message is one sentence naming the culprit and the fix.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Union

import numpy as np
import torch

from pixelcnn.checkpoints import kind_of, load_model
from pixelcnn.configs import SamplingOptions
from pixelcnn.data.pixels import dequantise, quantise, to_float, to_uint8
from pixelcnn.errors import CheckpointError, InputError, InvalidValue
from pixelcnn.evaluation.images import grid_array
from pixelcnn.models.pixelcnn import PixelCNN
from pixelcnn.runtime import resolve_device
from pixelcnn.sampling.naive import class_labels, sample

if TYPE_CHECKING:
    from PIL import Image as PILImage

    from pixelcnn.models.prior import CodePrior
    from pixelcnn.models.vqvae import VQVAE

Sampler = Literal["cached", "naive"]
# Images the pipelines accept: uint8 array/tensor (N, C, H, W), (C, H, W) or (H, W); PIL image(s).
ImageInput = Union[np.ndarray, torch.Tensor, "PILImage.Image", Sequence["PILImage.Image"]]  # noqa: UP007  (string forward refs)
LabelInput = int | Sequence[int] | np.ndarray | torch.Tensor | None

TRAIN_HINT = "train the models first with `uv run dvc repro`, or pass the path of a trained checkpoint"


# ----------------------------------------------------------------------------- adapter
# The only place this module reaches the rest of the library (loaders, sampler,
# quantisation, likelihood). When the library changes, re-point these. What every
# pipeline runs is imported at the top (so it is a dep of the stages that use the
# API); the VQ models only here, so sampling the pixel model does not depend on them.


def _checkpoint_kind(path: Path) -> str:
    """The ``kind`` a checkpoint was saved as ("pixelcnn", "prior", "vqvae", ...)."""
    return kind_of(path, TRAIN_HINT)


def _load_pixel_model(path: Path, device: torch.device) -> PixelCNN:
    return load_model(path, PixelCNN, device)


def _load_prior_and_vqvae(prior_path: Path, vqvae_path: Path, device: torch.device) -> tuple[CodePrior, VQVAE]:
    from pixelcnn.models.prior import CodePrior, check_pairing
    from pixelcnn.models.vqvae import VQVAE

    prior, vqvae = load_model(prior_path, CodePrior, device), load_model(vqvae_path, VQVAE, device)
    check_pairing(prior, str(prior_path), vqvae.fingerprint(), str(vqvae_path))
    return prior, vqvae


def _draw(model: PixelCNN, n: int, options: SamplingOptions, sampler: Sampler, **kwargs) -> torch.Tensor:
    """The project's sampler: int64 (n, C, H, W) in [0, K). kwargs: labels, cond, init, start_row, generator, on_row."""
    return sample(model, n, sampler=sampler, options=options, **kwargs)


def _cycled_labels(n: int, num_classes: int, pool: list[int] | None) -> torch.Tensor | None:
    """``pool`` cycled over n images (every class in turn when None); None for an unconditional model."""
    return class_labels(n, num_classes, pool or ())


def _quantise(images: np.ndarray, levels: int) -> torch.Tensor:
    return quantise(images, levels)


def _dequantise(x: torch.Tensor, levels: int) -> np.ndarray:
    return dequantise(x, levels)


def _decode(vqvae: VQVAE, codes: list[torch.Tensor]) -> np.ndarray:
    """Code grids int64 [(B, h, w)] coarse → fine → uint8 (B, C, H, W)."""
    return to_uint8(vqvae.decode_codes(codes))


def _encode(vqvae: VQVAE, images: np.ndarray, device: torch.device) -> list[torch.Tensor]:
    """uint8 (B, C, H, W) → code grids int64 [(B, h, w)] coarse → fine."""
    return vqvae.encode(to_float(images, device))


def _nll(model: PixelCNN, x: torch.Tensor, labels: torch.Tensor | None, cond: torch.Tensor | None) -> torch.Tensor:
    """Negative log-likelihood in nats per image, float (B,); mean / (dims · ln 2) is ``model.bits_per_dim``."""
    return model.nll(x, labels, cond)


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

    nrow = nrow or max(1, math.ceil(math.sqrt(len(images))))
    picture = Image.fromarray(_hwc(grid_array(np.asarray(images), nrow)))
    if scale > 1:
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
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


# ----------------------------------------------------------------------------- pipelines


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
    def device(self) -> torch.device:
        raise NotImplementedError

    def to(self, device: str | torch.device) -> Pipeline:
        """Move the models to ``device`` ("auto", "cpu", "cuda", ...); returns self."""
        raise NotImplementedError

    def _grids(self, rows: int) -> list[tuple[str, int, int]]:
        """(level, first row to draw, rows) of each grid drawn in turn, when the top ``rows`` image rows are kept."""
        raise NotImplementedError

    def _draw_batch(self, n: int, labels: torch.Tensor | None, images: np.ndarray | None, rows: int,
                    draw: dict, report: Callable) -> tuple[np.ndarray, dict[str, np.ndarray] | None]:
        raise NotImplementedError

    def _score_batch(self, images: np.ndarray, labels: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """Nats per image (B,) of each grid of uint8 images (B, C, H, W)."""
        raise NotImplementedError

    # --- the public surface

    def sample(
        self,
        n: int = 1,
        *,
        labels: LabelInput = None,
        temperature: float = 1.0,
        top_k: int = 0,
        top_p: float = 1.0,
        generator: torch.Generator | None = None,
        batch_size: int = 64,
        callback: ProgressCallback | None = None,
        frames_every: int = 0,
        sampler: Sampler = "cached",
    ) -> Samples:
        """Draw ``n`` images.

        labels: one class for all, or a list cycled over the images; None
        draws every class in turn (class-conditional models; must be None for
        unconditional ones). temperature > 0 (below 1 sharpens), top_k >= 0
        (0 keeps all), 0 < top_p <= 1 (nucleus; 1 keeps all) shape each step's
        distribution. ``callback(progress)`` runs after every row;
        ``frames_every=k`` keeps the first batch's canvas every k rows and at
        the end (``Samples.frames``). ``sampler="naive"`` runs the reference
        sampler (same images, far slower). Returns ``Samples`` with uint8
        images (n, C, H, W).
        """
        _check_count("n", n)
        pool = self._label_pool(labels)
        draw = _draw_arguments(temperature, top_k, top_p, generator, sampler)
        return self._run(n, _cycled_labels(n, self.num_classes, pool), None, 0, draw, batch_size, callback, frames_every)

    __call__ = sample

    def complete(
        self,
        images: ImageInput,
        rows: int,
        *,
        labels: LabelInput = None,
        temperature: float = 1.0,
        top_k: int = 0,
        top_p: float = 1.0,
        generator: torch.Generator | None = None,
        batch_size: int = 64,
        callback: ProgressCallback | None = None,
        frames_every: int = 0,
        sampler: Sampler = "cached",
    ) -> Samples:
        """Keep the top ``rows`` rows of each image and sample the rest.

        images: uint8 (N, C, H, W), (C, H, W) or (H, W), or PIL image(s) of
        the model's size. labels: one class for all or one per image
        (class-conditional models need them). The pixel pipeline returns the
        kept rows unchanged; the VQ pipeline keeps the code rows that lie
        wholly inside them (``rows · h // H`` of each level) and returns the
        decoded image, whose kept rows are the autoencoder's reconstruction.
        Other arguments as ``sample``.
        """
        x = self._images(images)
        height = self.image_shape[1]
        if isinstance(rows, bool) or not isinstance(rows, (int, np.integer)) or not 0 <= rows < height:
            raise InputError(f"rows must be a whole number in [0, {height - 1}] (the top rows to keep of {height}), got {rows!r}")
        draw = _draw_arguments(temperature, top_k, top_p, generator, sampler)
        return self._run(len(x), self._image_labels(len(x), labels), x, int(rows), draw, batch_size, callback, frames_every)

    @torch.no_grad()
    def score(self, images: ImageInput, labels: LabelInput = None, *, batch_size: int = 256) -> np.ndarray:
        """Bits per dimension of each image: float64 (N,); their mean is the set's bits/dim.

        The pixel pipeline gives -log2 p(x) / (C·H·W) of the images (quantised
        to the model's levels). The VQ pipeline gives the bits its priors spend
        on the images' codes, summed over levels, per pixel dimension: a
        compression rate of the codes, not a likelihood of the pixels (see
        ``VQPriorPipeline.bits_per_code``). Class-conditional models need labels.
        """
        nats = self._nats(images, labels, batch_size)
        total = sum(nats.values())
        return total / (math.prod(self.image_shape) * math.log(2))

    # --- shared machinery

    @torch.no_grad()
    def _nats(self, images: ImageInput, labels: LabelInput, batch_size: int) -> dict[str, np.ndarray]:
        _check_count("batch_size", batch_size)
        x = self._images(images)
        y = self._image_labels(len(x), labels)
        parts: dict[str, list[np.ndarray]] = {}
        for start in range(0, len(x), batch_size):
            batch_labels = None if y is None else y[start : start + batch_size].to(self.device)
            for level, nats in self._score_batch(x[start : start + batch_size], batch_labels).items():
                parts.setdefault(level, []).append(nats.double().cpu().numpy())
        return {level: np.concatenate(chunks) for level, chunks in parts.items()}

    @torch.no_grad()
    def _run(self, n: int, labels: torch.Tensor | None, images: np.ndarray | None, rows: int, draw: dict,
             batch_size: int, callback: ProgressCallback | None, frames_every: int) -> Samples:
        """Draw n images in batches (completing ``images`` below ``rows`` when given); ``draw``: the sampler's knobs."""
        _check_count("batch_size", batch_size)
        if isinstance(frames_every, bool) or not isinstance(frames_every, (int, np.integer)) or frames_every < 0:
            raise InputError(f"frames_every must be a whole number >= 0 (0 keeps no frames), got {frames_every!r}")
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
            pictures, codes = self._draw_batch(size, batch_labels, batch_images, rows, draw, report)
            out_images.append(pictures)
            if codes is not None:
                out_codes.append(codes)

        all_labels = labels.numpy() if labels is not None else np.full(n, -1, dtype=np.int64)
        codes = {k: np.concatenate([c[k] for c in out_codes]) for k in out_codes[0]} if out_codes else None
        return Samples(np.concatenate(out_images), all_labels, codes, frames)

    def _label_pool(self, labels: LabelInput) -> list[int] | None:
        """Labels of ``sample``: None, one class or a list, checked against the model's classes."""
        if labels is None:
            return None
        pool = _as_label_list(labels)
        if not pool:
            raise InputError("labels is empty: pass a class, a list of classes, or None for every class in turn")
        self._check_label_values(pool)
        return pool

    def _image_labels(self, n: int, labels: LabelInput) -> torch.Tensor | None:
        """Labels of ``complete`` / ``score``: one class for all or one per image; None only if unconditional."""
        if labels is None:
            if self.num_classes:
                raise InputError(
                    f"the {self.title} is conditioned on {self.num_classes} classes: pass labels= (one class, or one per image)"
                )
            return None
        values = _as_label_list(labels)
        if isinstance(labels, (int, np.integer)) or (len(values) == 1 and n != 1):
            values = values * n
        if len(values) != n:
            raise InputError(f"labels has {len(values)} entries for {n} images: pass one class, or one per image")
        self._check_label_values(values)
        return torch.tensor(values, dtype=torch.long)

    def _check_label_values(self, values: list[int]) -> None:
        if not self.num_classes:
            raise InputError(f"the {self.title} is unconditional (trained without labels): drop labels")
        for label in values:
            if not 0 <= label < self.num_classes:
                raise InputError(
                    f"label {label} is out of range: the {self.title} knows {self.num_classes} classes "
                    f"(0..{self.num_classes - 1})"
                )

    def _images(self, images: ImageInput) -> np.ndarray:
        """Any accepted image input → uint8 (N, C, H, W) of the model's shape, or one sentence why not."""
        return as_images(images, self.image_shape)


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
        kind = _checkpoint_kind(path)
        if kind != "pixelcnn":
            raise CheckpointError(_wrong_kind(path, kind, "pixelcnn"))
        return cls(_load_pixel_model(path, resolve_device(device)))

    @property
    def num_classes(self) -> int:
        return self.config.num_classes

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.config.channels, self.config.height, self.config.width)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def to(self, device: str | torch.device) -> PixelCNNPipeline:
        self.model.to(resolve_device(device))
        return self

    def _grids(self, rows: int) -> list[tuple[str, int, int]]:
        return [("pixels", rows, self.config.height)]

    def _draw_batch(self, n, labels, images, rows, draw, report):
        levels, height = self.config.levels, self.config.height
        init = None if images is None else _quantise(images, levels).to(self.device)

        def on_row(i: int, canvas: torch.Tensor) -> None:
            report("pixels", i, height, lambda: _dequantise(canvas, levels))

        x = _draw(self.model, n, labels=labels, init=init, start_row=rows if init is not None else 0,
                  on_row=on_row, **draw)
        return _dequantise(x, levels), None

    def _score_batch(self, images, labels):
        x = _quantise(images, self.config.levels).to(self.device)
        return {"pixels": _nll(self.model, x, labels, None)}


class VQPriorPipeline(Pipeline):
    """PixelCNN priors over the code grids of a VQ-VAE (one level) or VQ-VAE-2 (top, then bottom), decoded to images."""

    name = "prior"

    def __init__(self, prior: CodePrior, vqvae: VQVAE) -> None:
        if prior.config.vqvae_fingerprint != vqvae.fingerprint():
            raise CheckpointError(
                f"the prior was trained on codes of autoencoder {prior.config.vqvae_fingerprint}, not of this one "
                f"({vqvae.fingerprint()}); pass the VQ-VAE it was trained with"
            )
        self.prior, self.vqvae = prior.eval(), vqvae.eval()
        self.title = "VQ-VAE-2 + PixelCNN prior" if len(prior.levels) == 2 else "VQ-VAE + PixelCNN prior"

    @classmethod
    def from_checkpoints(cls, prior: str | Path, vqvae: str | Path, *,
                         device: str | torch.device = "auto") -> VQPriorPipeline:
        """Rebuild the priors (``train_prior``) and their autoencoder (``train_vqvae``); refuses an unpaired VQ-VAE."""
        prior, vqvae = Path(prior), Path(vqvae)
        for path, expected in ((prior, "prior"), (vqvae, "vqvae")):
            kind = _checkpoint_kind(path)
            if kind != expected:
                raise CheckpointError(_wrong_kind(path, kind, expected))
        return cls(*_load_prior_and_vqvae(prior, vqvae, resolve_device(device)))

    @property
    def num_classes(self) -> int:
        return next(iter(self.prior.levels.values())).pixelcnn.config.num_classes

    @property
    def image_shape(self) -> tuple[int, int, int]:
        c = self.vqvae.config
        return (c.channels, c.image_size, c.image_size)

    @property
    def code_shapes(self) -> dict[str, tuple[int, int]]:
        """(h, w) of each level's code grid, coarse → fine."""
        return {name: (lv.pixelcnn.config.height, lv.pixelcnn.config.width) for name, lv in self.prior.levels.items()}

    @property
    def device(self) -> torch.device:
        return next(self.prior.parameters()).device

    def to(self, device: str | torch.device) -> VQPriorPipeline:
        device = resolve_device(device)
        self.prior.to(device)
        self.vqvae.to(device)
        return self

    def _grids(self, rows: int) -> list[tuple[str, int, int]]:
        height = self.image_shape[1]
        return [(name, rows * h // height, h) for name, (h, _) in self.code_shapes.items()]

    def _draw_batch(self, n, labels, images, rows, draw, report):
        given = None if images is None else _encode(self.vqvae, images, self.device)
        grids: list[torch.Tensor] = []
        plan = self._grids(rows)
        for index, ((name, level), (_, first, h)) in enumerate(zip(self.prior.levels.items(), plan)):
            finest = index == len(plan) - 1

            def on_row(i: int, canvas: torch.Tensor, name=name, h=h, finest=finest) -> None:
                preview = (lambda: self._partial_image(grids, canvas[:, 0], i + 1, h)) if finest else (lambda: None)
                report(name, i, h, preview)

            x = _draw(
                level.pixelcnn, n,
                labels=labels if level.pixelcnn.config.num_classes else None,
                cond=level.condition(grids[-1] if grids else None),
                init=given[index][:, None] if given is not None and first else None,
                start_row=first, on_row=on_row, **draw,
            )
            grids.append(x[:, 0])  # (B, h, w)
        codes = {name: g.cpu().numpy() for name, g in zip(self.prior.levels, grids)}
        return _decode(self.vqvae, grids), codes

    def _partial_image(self, coarser: list[torch.Tensor], codes: torch.Tensor, done: int, h: int) -> np.ndarray:
        """Decoded images with the finest grid's first ``done`` rows drawn; pixels below them black."""
        images = _decode(self.vqvae, [*coarser, codes])
        images[:, :, done * self.image_shape[1] // h :] = 0
        return images

    def _score_batch(self, images, labels):
        codes = _encode(self.vqvae, images, self.device)
        nats = {}
        for index, (name, level) in enumerate(self.prior.levels.items()):
            cond = level.condition(codes[index - 1] if index else None)
            y = labels if level.pixelcnn.config.num_classes else None
            nats[name] = _nll(level.pixelcnn, codes[index][:, None], y, cond)
        return nats

    def bits_per_code(self, images: ImageInput, labels: LabelInput = None, *, batch_size: int = 256) -> dict[str, np.ndarray]:
        """Bits per code of each image's code grid, per level (coarse → fine): float64 (N,) each.

        The images are encoded by the VQ-VAE; each level's prior scores its
        grid (the bottom given the top), as ``train_prior`` reports bits per code.
        """
        nats = self._nats(images, labels, batch_size)
        return {name: nats[name] / (h * w * math.log(2)) for name, (h, w) in self.code_shapes.items()}


# ----------------------------------------------------------------------------- loading


def load(path: str | Path, vqvae: str | Path | None = None, *, device: str | torch.device = "auto") -> Pipeline:
    """A trained generator from its checkpoint(s); the checkpoints carry their own config.

    ``load("models/pixelcnn.pt")`` → ``PixelCNNPipeline``;
    ``load("models/prior.pt", vqvae="models/vqvae.pt")`` → ``VQPriorPipeline``.
    device: "auto" (CUDA when available), "cpu", "cuda" or a ``torch.device``.
    """
    path = Path(path)
    kind = _checkpoint_kind(path)
    if kind == "pixelcnn":
        if vqvae is not None:
            raise InputError(f"{path} is a pixel PixelCNN, which needs no autoencoder: drop vqvae=")
        return PixelCNNPipeline.from_checkpoint(path, device=device)
    if kind == "prior":
        if vqvae is None:
            raise InputError(f"{path} is a VQ prior: pass the autoencoder it was trained with too, vqvae='models/vqvae.pt'")
        return VQPriorPipeline.from_checkpoints(path, vqvae, device=device)
    if kind == "vqvae":
        raise CheckpointError(
            f"{path} is a VQ-VAE (an autoencoder; it does not sample on its own): "
            f"load its prior with load('models/prior.pt', vqvae='{path}')"
        )
    raise CheckpointError(f"{path} is a {kind!r} checkpoint: pass a pixelcnn checkpoint, or a prior checkpoint with vqvae=")


def _wrong_kind(path: Path, kind: str, expected: str) -> str:
    return f"{path} is a {kind!r} checkpoint, expected a {expected!r} checkpoint; pass the right file"


# ----------------------------------------------------------------------------- argument checks


def as_images(images: ImageInput, shape: tuple[int, int, int]) -> np.ndarray:
    """uint8 (N, C, H, W) of ``shape`` = (C, H, W) from an array, tensor, PIL image or list of PIL images."""
    c, h, w = shape
    array = _to_array(images, c)
    if array.dtype != np.uint8:
        raise InputError(f"images must be uint8 in [0, 255], got dtype {array.dtype}; convert them (e.g. (x * 255).round().astype(np.uint8))")
    if array.ndim == 2:
        array = array[None, None]  # (1, 1, H, W)
    elif array.ndim == 3:
        array = array[None]  # (1, C, H, W)
    if array.ndim != 4 or len(array) == 0:
        raise InputError(f"images must be (N, C, H, W), (C, H, W) or (H, W) with N >= 1, got shape {array.shape}")
    if array.shape[1] != c:
        fix = "convert them to grey (PIL: .convert('L'))" if c == 1 else "convert them to RGB (PIL: .convert('RGB'))"
        raise InputError(f"images have {array.shape[1]} channels but the model works on {c}; {fix}")
    if array.shape[2:] != (h, w):
        raise InputError(
            f"images are {array.shape[2]}×{array.shape[3]} but the model works on {h}×{w} images; resize them to {h}×{w}"
        )
    return np.ascontiguousarray(array)


def _to_array(images: ImageInput, channels: int) -> np.ndarray:
    from PIL import Image

    if isinstance(images, torch.Tensor):
        return images.detach().cpu().numpy()
    if isinstance(images, Image.Image):
        images = [images]
    if isinstance(images, (list, tuple)) and images and all(isinstance(i, Image.Image) for i in images):
        mode = "L" if channels == 1 else "RGB"
        arrays = [np.asarray(i.convert(mode)) for i in images]
        sizes = {a.shape for a in arrays}
        if len(sizes) > 1:
            raise InputError(f"the images differ in size ({sorted(sizes)}); resize them to one size first")
        stacked = np.stack(arrays)  # (N, H, W) or (N, H, W, 3)
        return stacked[:, None] if channels == 1 else stacked.transpose(0, 3, 1, 2)  # (N, C, H, W)
    if isinstance(images, np.ndarray):
        return images
    raise InputError(f"images must be a uint8 array or tensor (N, C, H, W), or PIL images, got {type(images).__name__}")


def _as_label_list(labels: LabelInput) -> list[int]:
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    values = np.asarray(labels).reshape(-1)
    if values.size == 0:
        return []
    if values.dtype.kind not in "iu":
        raise InputError(f"labels must be a class index or a list of class indices, got {labels!r}")
    return [int(v) for v in values]


def _draw_arguments(temperature: float, top_k: int, top_p: float, generator: torch.Generator | None,
                    sampler: str) -> dict:
    """The checked keyword arguments that every ``_draw`` call of one request shares."""
    return dict(options=_check_options(temperature, top_k, top_p), sampler=_check_sampler(sampler),
                generator=_check_generator(generator))


def _check_options(temperature: float, top_k: int, top_p: float) -> SamplingOptions:
    """The sampler's options; the types are checked here, the ranges by ``SamplingOptions`` itself."""
    for name, value, whole in (("temperature", temperature, False), ("top_k", top_k, True), ("top_p", top_p, False)):
        numbers = (int, np.integer) if whole else (int, float, np.integer, np.floating)
        if isinstance(value, bool) or not isinstance(value, numbers) or not math.isfinite(value):
            raise InputError(f"{name} must be {'a whole number' if whole else 'a finite number'}, got {value!r}")
    try:
        return SamplingOptions(float(temperature), int(top_k), float(top_p))
    except InvalidValue as exc:
        raise InputError(str(exc)) from None


def _check_sampler(sampler: str) -> Sampler:
    if sampler not in ("cached", "naive"):
        raise InputError(f"sampler must be 'cached' (fast, exact) or 'naive' (the slow reference), got {sampler!r}")
    return sampler  # type: ignore[return-value]


def _check_generator(generator: torch.Generator | None) -> torch.Generator | None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise InputError(
            f"generator must be a torch.Generator (e.g. torch.Generator().manual_seed(0)) or None, got {type(generator).__name__}"
        )
    return generator


def _check_count(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InputError(f"{name} must be a whole number >= 1, got {value!r}")
