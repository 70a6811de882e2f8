"""``load``: a trained generator from its checkpoint(s), each read from disk once.

The checkpoint says what it is (its ``kind``); ``load`` reads it once, picks
the pipeline from that kind and hands the same payload on to be rebuilt
(``checkpoints.model_from_payload``), so a pixel model costs one read and a
VQ prior with its autoencoder two.

A sentence about the autoencoder argument names ``vqvae=``; it carries the
same advice in the command line's words as ``error.cli`` (``--vqvae``),
which ``pixelcnn.cli`` prints instead.
"""

from __future__ import annotations

from pathlib import Path

import torch

from pixelcnn import checkpoints
from pixelcnn.errors import CheckpointError, InputError, UserError
from pixelcnn.pipelines.base import TRAIN_HINT, Pipeline, read_checkpoint
from pixelcnn.pipelines.pixel import PixelCNNPipeline
from pixelcnn.pipelines.vq import VQPriorPipeline


def load(path: str | Path, vqvae: str | Path | None = None, *, device: str | torch.device = "auto") -> Pipeline:
    """A trained generator from its checkpoint(s); the checkpoints carry their own config.

    ``load("models/pixelcnn.pt")`` → ``PixelCNNPipeline``;
    ``load("models/prior.pt", vqvae="models/vqvae.pt")`` → ``VQPriorPipeline``.
    device: "auto" (CUDA when available), "cpu", "cuda" or a ``torch.device``.
    """
    path = Path(path)
    payload = checkpoints.read_checkpoint(path, TRAIN_HINT)
    kind = payload["kind"]
    if kind == "pixelcnn":
        if vqvae is not None:
            problem = f"{path} is a pixel PixelCNN, which needs no autoencoder"
            raise _advice(InputError(f"{problem}: drop vqvae="), f"{problem}: drop --vqvae")
        return PixelCNNPipeline.from_payload(path, payload, device=device)
    if kind == "prior":
        if vqvae is None:
            problem = f"{path} is a VQ prior: pass the autoencoder it was trained with too"
            raise _advice(InputError(f"{problem}, vqvae='models/vqvae.pt'"), f"{problem}, --vqvae models/vqvae.pt")
        vqvae = Path(vqvae)
        return VQPriorPipeline.from_payloads(path, payload, vqvae, read_checkpoint(vqvae, "vqvae"), device=device)
    if kind == "vqvae":
        problem = f"{path} is a VQ-VAE (an autoencoder; it does not sample on its own)"
        raise _advice(CheckpointError(f"{problem}: load its prior with load('models/prior.pt', vqvae='{path}')"),
                      f"{problem}: pass its prior, --model models/prior.pt --vqvae {path}")
    raise _advice(CheckpointError(f"{path} is a {kind!r} checkpoint: pass a pixelcnn checkpoint, or a prior checkpoint with vqvae="),
                  f"{path} is a {kind!r} checkpoint: pass a pixelcnn checkpoint, or a prior checkpoint with --vqvae")


def _advice(error: UserError, cli: str) -> UserError:
    """``error`` with ``cli``: its sentence in the command line's words (flags instead of keyword arguments)."""
    error.cli = cli
    return error
