"""The VQ pipeline: PixelCNN priors over the code grids of a VQ-VAE (-2), decoded to images by the autoencoder.

Legend: B batch, C channels, H W pixels, h w a code grid, K codes.

It only batches, labels and converts around the library. What it reads of
the models: ``CodePrior.code_shapes``, ``num_classes``, ``codebook_size``,
``sample`` (every level, the bottom given the top, each grid drawn by the
sampler this module hands it) and ``nll``; ``VQVAE.image_shape``,
``fingerprint``, ``encode`` and ``decode_codes``; ``models.prior.check_pairing``,
the one check that a prior belongs to its autoencoder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from pixelcnn import checkpoints
from pixelcnn.data.pixels import to_float, to_uint8
from pixelcnn.models.pixelcnn import PixelCNN
from pixelcnn.models.prior import CodePrior, check_pairing
from pixelcnn.models.vqvae import VQVAE
from pixelcnn.pipelines.base import Pipeline, read_checkpoint
from pixelcnn.runtime import resolve_device
from pixelcnn.sampling.api import sample


class VQPriorPipeline(Pipeline):
    """PixelCNN priors over the code grids of a VQ-VAE (one level) or VQ-VAE-2 (top, then bottom), decoded to images."""

    name = "prior"

    def __init__(self, prior: CodePrior, vqvae: VQVAE, *, prior_name: str = "the prior",
                 vqvae_name: str = "the VQ-VAE") -> None:
        """Refuses a VQ-VAE other than the one the priors were trained on; the names word that sentence."""
        check_pairing(prior, prior_name, vqvae.fingerprint(), vqvae_name)
        self.prior, self.vqvae = prior.eval(), vqvae.eval()
        self.title = "VQ-VAE-2 + PixelCNN prior" if len(prior.code_shapes) == 2 else "VQ-VAE + PixelCNN prior"

    @classmethod
    def from_checkpoints(cls, prior: str | Path, vqvae: str | Path, *,
                         device: str | torch.device = "auto") -> VQPriorPipeline:
        """Rebuild the priors (``train_prior``) and their autoencoder (``train_vqvae``); refuses an unpaired VQ-VAE."""
        prior, vqvae = Path(prior), Path(vqvae)
        return cls.from_payloads(prior, read_checkpoint(prior, "prior"), vqvae, read_checkpoint(vqvae, "vqvae"),
                                 device=device)

    @classmethod
    def from_payloads(cls, prior: Path, prior_payload: dict, vqvae: Path, vqvae_payload: dict, *,
                      device: str | torch.device = "auto") -> VQPriorPipeline:
        """``from_checkpoints`` of the two checkpoints already read from ``prior`` and ``vqvae``."""
        device = resolve_device(device)
        return cls(checkpoints.model_from_payload(prior, prior_payload, CodePrior, device),
                   checkpoints.model_from_payload(vqvae, vqvae_payload, VQVAE, device),
                   prior_name=str(prior), vqvae_name=str(vqvae))

    @property
    def num_classes(self) -> int:
        return self.prior.num_classes

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.vqvae.image_shape

    @property
    def code_shapes(self) -> dict[str, tuple[int, int]]:
        return self.prior.code_shapes

    @property
    def values_per_step(self) -> int:
        return self.prior.codebook_size

    @property
    def guidable(self) -> bool:
        return self.prior.guidable

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for m in (self.prior, self.vqvae) for p in m.parameters())

    @property
    def device(self) -> torch.device:
        return next(self.prior.parameters()).device

    def to(self, device: str | torch.device) -> VQPriorPipeline:
        device = resolve_device(device)
        self.prior.to(device)
        self.vqvae.to(device)
        return self

    def _details(self) -> dict[str, str]:
        grids = ", ".join(f"{name} {h}×{w}" for name, (h, w) in self.code_shapes.items())
        return {"code grids": f"{grids}, {self.values_per_step} codes each"}

    def _grids(self, rows: int) -> list[tuple[str, int, int]]:
        height = self.image_shape[1]
        return [(name, rows * h // height, h) for name, (h, _) in self.code_shapes.items()]

    def _draw_batch(self, n, labels, images, rows, *, options, sampler, generator, report):
        given = None if images is None else dict(zip(self.code_shapes, self._encode(images)))
        plan = {name: (first, h) for name, first, h in self._grids(rows)}
        finest = list(plan)[-1]
        drawn: list[torch.Tensor] = []  # the grids of the levels done, coarse → fine: int64 (B, h, w)

        def draw_grid(name: str, model: PixelCNN, level_labels: torch.Tensor | None,
                      cond: torch.Tensor | None) -> torch.Tensor:
            first, h = plan[name]

            def on_row(i: int, canvas: torch.Tensor) -> None:
                preview = (lambda: self._partial_image(drawn, canvas[:, 0], i + 1, h)) if name == finest else (lambda: None)
                report(name, i, h, preview)

            init = given[name][:, None] if given is not None and first else None  # (B, 1, h, w)
            x = sample(model, n, sampler=sampler, options=options, labels=level_labels, cond=cond, init=init,
                       start_row=first, generator=generator, on_row=on_row)
            drawn.append(x[:, 0])  # (B, h, w)
            return x

        grids = self.prior.sample(labels, draw_grid)
        return self._decode(grids), {name: g.cpu().numpy() for name, g in zip(self.code_shapes, grids)}

    def _partial_image(self, coarser: list[torch.Tensor], codes: torch.Tensor, done: int, h: int) -> np.ndarray:
        """Decoded images with the finest grid's first ``done`` rows drawn; pixels below them black."""
        images = self._decode([*coarser, codes])
        images[:, :, done * self.image_shape[1] // h :] = 0
        return images

    def _score_batch(self, images, labels):
        return self.prior.nll(self._encode(images), labels)

    def _encode(self, images: np.ndarray) -> list[torch.Tensor]:
        """uint8 (B, C, H, W) → code grids int64 [(B, h, w)] coarse → fine."""
        return self.vqvae.encode(to_float(images, self.device))

    def _decode(self, codes: list[torch.Tensor]) -> np.ndarray:
        """Code grids int64 [(B, h, w)] coarse → fine → uint8 (B, C, H, W)."""
        return to_uint8(self.vqvae.decode_codes(codes))
