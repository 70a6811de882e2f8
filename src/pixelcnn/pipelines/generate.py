"""``generate``: images from a model held in memory (a ``PixelCNN``, or a ``CodePrior`` with its ``VQVAE``).

Legend: N images, C channels, H W pixels.

    model = pixelcnn.PixelCNN(config); pixelcnn.train(model, images, labels, epochs=5)
    pixelcnn.generate(model, 16, labels=3, temperature=0.8).images         # uint8 (16, C, H, W)
    pixelcnn.generate(prior, 16, vqvae=vqvae, labels=3).codes["bottom"]   # the codes too, per level

Models know nothing of sampling (``pixelcnn.models`` sits below
``pixelcnn.sampling`` and the pipelines): ``generate`` builds the pipeline a
model needs (``PixelCNNPipeline``, ``VQPriorPipeline``) around it and
samples with the exact cached sampler, so it returns what ``pipe.sample``
returns for the same arguments, and what ``pixelcnn.load`` of the model's
checkpoint would draw. The models run in eval mode; their training modes are
restored after.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Unpack

import torch
from torch import nn

from pixelcnn.errors import InputError
from pixelcnn.models.pixelcnn import PixelCNN
from pixelcnn.models.prior import CodePrior
from pixelcnn.models.vqvae import VQVAE
from pixelcnn.pipelines.base import Pipeline, Samples, SamplingKeywords
from pixelcnn.pipelines.inputs import LabelInput
from pixelcnn.pipelines.pixel import PixelCNNPipeline
from pixelcnn.pipelines.vq import VQPriorPipeline


@torch.no_grad()
def generate(model: PixelCNN | CodePrior, n: int = 1, *, vqvae: VQVAE | None = None, labels: LabelInput = None,
             **keywords: Unpack[SamplingKeywords]) -> Samples:
    """Draw ``n`` images from ``model``: a pixel-space ``PixelCNN``, or a ``CodePrior`` with ``vqvae``, the
    autoencoder its priors were trained on (another is refused). ``Samples``: ``images`` uint8 (n, C, H, W) in
    [0, 255], ``labels`` int64 (n,), ``codes`` per level (prior), ``.grid()``, ``.pil()``.

    labels and the keywords (``SamplingKeywords``: temperature, top_k, top_p,
    guidance or options, generator, batch_size, callback, frames_every,
    sampler) are those of ``pixelcnn.Pipeline.sample``. Runs on the model's
    device in eval mode; the models' training modes are restored after.
    """
    with _modes_restored(model, vqvae):
        pipe = _pipeline(model, vqvae, n)  # puts the models in eval mode
        return pipe.sample(n, labels=labels, **keywords)


def _pipeline(model: Any, vqvae: Any, n: Any) -> Pipeline:
    """The pipeline that samples ``model`` (with ``vqvae``), or one sentence why none does."""
    if isinstance(model, PixelCNN):
        c = model.config
        if c.embed_dim or c.cond_channels:
            raise InputError("this PixelCNN draws code grids (one level of a CodePrior): draw images with "
                             "pixelcnn.generate(prior, n, vqvae=vqvae)")
        if vqvae is not None:
            raise InputError("a pixel PixelCNN draws the pixels itself: drop vqvae=")
        _check_count(n, f"{c.channels}×{c.height}×{c.width}", "pixelcnn.generate(model, n, temperature=...)")
        return PixelCNNPipeline(model)
    if isinstance(model, CodePrior):
        if not isinstance(vqvae, VQVAE):
            got = "nothing" if vqvae is None else type(vqvae).__name__
            raise InputError(f"a CodePrior draws code grids, which the VQ-VAE it was trained with decodes: pass it as "
                             f"vqvae= (a pixelcnn.VQVAE), got {got}")
        _check_count(n, "×".join(map(str, vqvae.image_shape)), "pixelcnn.generate(prior, n, vqvae=vqvae)")
        return VQPriorPipeline(model, vqvae, vqvae_name="vqvae")
    if isinstance(model, VQVAE):
        raise InputError("a VQVAE is an autoencoder and does not sample on its own: draw images with its prior, "
                         "pixelcnn.generate(prior, n, vqvae=vqvae)")
    raise InputError(f"generate takes a pixelcnn.PixelCNN, or a pixelcnn.CodePrior with vqvae=, got {type(model).__name__}")


def _check_count(n: Any, shape: str, write: str) -> None:
    """``generate(shape, n)`` of other repositories: the shape is the model's, ``n`` a number."""
    if isinstance(n, (tuple, list, torch.Size)):
        raise InputError(f"generate takes the number of images, not a shape (got {tuple(n)}): the model draws {shape} "
                         f"images; write {write}")


@contextlib.contextmanager
def _modes_restored(*models: Any) -> Iterator[None]:
    """Each module among ``models`` back in its training mode after the block (which may switch it to eval)."""
    modules = [m for m in models if isinstance(m, nn.Module)]
    modes = [m.training for m in modules]
    try:
        yield
    finally:
        for module, mode in zip(modules, modes):
            module.train(mode)
