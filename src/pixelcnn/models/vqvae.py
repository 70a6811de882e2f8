"""VQ-VAE and VQ-VAE-2: an autoencoder whose latents are grids of codebook indices.

Shapes: B batch, C channels, H W pixels, F ``hidden`` features, D ``code_dim``,
K ``codebook_size``, h w a code grid, N vectors to quantise (B·h·w).
Images enter as float (B, C, H, W) in [-1, 1] (``pixelcnn.data.pixels.to_float``);
codes are int64 (B, h, w) in [0, K), one grid per level, ordered coarse → fine.

- ``levels: 1`` is a VQ-VAE (van den Oord et al., 2017): one code grid at
  ``H / bottom_downsample``, named ``"top"`` (it is the coarsest and only level).
- ``levels: 2`` is a VQ-VAE-2 (Razavi et al., 2019): the bottom encoder maps the
  image to the bottom grid, the top encoder maps that ``top_downsample`` times
  further down; the top codes are decoded back up and concatenated with the
  bottom encoding before the bottom codes are chosen; the decoder reads the
  upsampled top codes beside the bottom codes. Levels ``("top", "bottom")``.

Codebooks learn by exponential moving averages (no gradient), as k-means run
online: each code tracks an EMA of how many vectors it won per batch and of
their sum, and becomes their (Laplace-smoothed) mean. These statistics are
buffers that ``Quantizer.forward`` updates in training mode only, like
BatchNorm's running statistics; ``eval()`` mode, ``encode`` and
``decode_codes`` never change them. A code whose EMA count falls below
``dead_code_threshold`` is restarted at a random encoder output of the batch.
Distances and EMA updates run in fp32 even under autocast. Under
DistributedDataParallel the statistics and the restart candidates are summed
and gathered over processes, so every process keeps the codebook one process
would have.

Training (``pixelcnn.tasks.VQVAEObjective`` in the shared trainer), code
extraction (``pixelcnn.data.codes``) and checkpoints (``pixelcnn.checkpoints``)
live elsewhere.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pixelcnn import distributed
from pixelcnn.checkpoints import fingerprint
from pixelcnn.compat import config_required, renamed_method
from pixelcnn.configs import VQVAEConfig, config_from_dict
from pixelcnn.data.pixels import to_float, to_uint8

# ----------------------------------------------------------------------------- quantiser


@dataclass
class QuantizerOutput:
    quantized: torch.Tensor  # float32 (B, D, h, w): codewords, with straight-through gradients to the input
    codes: torch.Tensor  # int64 (B, h, w) in [0, K)
    loss: torch.Tensor  # beta · commitment loss per image (B,): mean squared distance of its vectors to their codes
    perplexity: torch.Tensor  # exp(entropy) of this batch's code histogram (scalar)
    usage: torch.Tensor  # fraction of the K codes used in this batch (scalar)


def perplexity(counts: torch.Tensor) -> torch.Tensor:
    """exp(entropy) of a histogram of code counts (K,): K when uniform, 1 when one code wins all."""
    p = counts.float() / counts.sum().clamp_min(1)
    return torch.exp(-(p * torch.log(p.clamp_min(1e-12))).sum())


class Quantizer(nn.Module):
    """Nearest-codeword quantisation with an EMA codebook and dead-code restarts.

    Buffers: ``embed`` (K, D) the codebook; ``cluster_size`` (K,) and
    ``embed_sum`` (K, D) the EMA of per-batch counts and sums of assigned
    vectors. They start consistent (``embed_sum = embed``, counts 1), so a code
    that is never used keeps its vector unless it is restarted.
    """

    embed: torch.Tensor  # buffers, declared for the type checker (nn.Module types attributes it registers as Tensor | Module)
    cluster_size: torch.Tensor
    embed_sum: torch.Tensor

    def __init__(self, codebook_size: int, dim: int, decay: float, beta: float, dead_threshold: float, eps: float = 1e-5):
        super().__init__()
        self.codebook_size, self.dim = codebook_size, dim
        self.decay, self.beta, self.dead_threshold, self.eps = decay, beta, dead_threshold, eps
        embed = torch.randn(codebook_size, dim)
        self.register_buffer("embed", embed)
        self.register_buffer("cluster_size", torch.ones(codebook_size))
        self.register_buffer("embed_sum", embed.clone())

    @torch.no_grad()
    def nearest(self, flat: torch.Tensor) -> torch.Tensor:
        """Index int64 (N,) of the nearest codeword to each row of ``flat`` (N, D), in fp32."""
        with torch.autocast(flat.device.type, enabled=False):
            flat = flat.float()
            dist = (
                flat.pow(2).sum(1, keepdim=True) - 2 * flat @ self.embed.t() + self.embed.pow(2).sum(1)
            )  # (N, K)
            return dist.argmin(1)

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """Codewords float32 (B, D, h, w) of int64 codes (B, h, w)."""
        return F.embedding(codes, self.embed).permute(0, 3, 1, 2)  # (B, D, h, w)

    def forward(
        self, z: torch.Tensor, update: bool | None = None, generator: torch.Generator | None = None
    ) -> QuantizerOutput:
        """Quantise encoder outputs ``z`` (B, D, h, w) (any float dtype).

        ``update`` (default: ``self.training``) runs one EMA step of the codebook
        on this batch (the batch of every process, under DistributedDataParallel),
        then restarts dead codes (random rows drawn with ``generator``, or the
        global RNG when ``None``). The returned codewords are those of the
        codebook before the step.
        """
        B, D, h, w = z.shape
        update = self.training if update is None else update
        with torch.autocast(z.device.type, enabled=False):
            flat = z.float().permute(0, 2, 3, 1).reshape(-1, D)  # (N, D)
            codes = self.nearest(flat)  # (N,)
            quant = F.embedding(codes, self.embed)  # (N, D), a copy: later EMA steps do not touch it
            counts = torch.bincount(codes, minlength=self.codebook_size).float()  # (K,)
            if update:
                self._ema_step(flat.detach(), codes, counts, generator)
            # commitment: pulls encoder outputs to their codes; per image, so batches can be split over processes
            loss = self.beta * (flat - quant).pow(2).reshape(B, h * w * D).mean(1)  # (B,); reshape: with B = 1, flat is a permuted view
            quant = quant + (flat - flat.detach())  # straight-through: value exactly quant, gradient identity
        return QuantizerOutput(
            quantized=quant.reshape(B, h, w, D).permute(0, 3, 1, 2),  # (B, D, h, w)
            codes=codes.view(B, h, w),  # (B, h, w)
            loss=loss,
            perplexity=perplexity(counts),
            usage=(counts > 0).float().mean(),
        )

    @torch.no_grad()
    def _ema_step(self, flat: torch.Tensor, codes: torch.Tensor, counts: torch.Tensor, generator) -> None:
        d = self.decay
        onehot = F.one_hot(codes, self.codebook_size).float()  # (N, K)
        counts = distributed.all_reduce_(counts.clone())  # (K,) of the global batch
        sums = distributed.all_reduce_(onehot.t() @ flat)  # (K, D)
        self.cluster_size.mul_(d).add_(counts, alpha=1 - d)
        self.embed_sum.mul_(d).add_(sums, alpha=1 - d)
        n = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.eps) / (n + self.codebook_size * self.eps) * n  # Laplace smoothing
        self.embed.copy_(self.embed_sum / smoothed.unsqueeze(1))
        self._restart_dead(distributed.all_gather_rows(flat), generator)

    @torch.no_grad()
    def _restart_dead(self, flat: torch.Tensor, generator: torch.Generator | None) -> None:
        """Move every code whose EMA count is below the threshold onto a random row of ``flat``."""
        if generator is None:
            pick = torch.randint(flat.shape[0], (self.codebook_size,), device=flat.device)
        else:
            pick = torch.randint(flat.shape[0], (self.codebook_size,), generator=generator, device=generator.device)
        dead = self.cluster_size < self.dead_threshold  # (K,)
        fresh = flat[pick.to(flat.device)]  # (K, D)
        self.embed.copy_(torch.where(dead[:, None], fresh, self.embed))
        self.embed_sum.copy_(torch.where(dead[:, None], fresh * self.dead_threshold, self.embed_sum))
        self.cluster_size.copy_(torch.where(dead, torch.full_like(self.cluster_size, self.dead_threshold), self.cluster_size))


# ----------------------------------------------------------------------------- model


class ResBlock(nn.Module):
    def __init__(self, channels: int, hidden: int):
        super().__init__()
        self.block = nn.Sequential(
            nn.ReLU(), nn.Conv2d(channels, hidden, 3, padding=1), nn.ReLU(), nn.Conv2d(hidden, channels, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


def _strided(c_in: int, c_mid: int, c_out: int, factor: int, transpose: bool) -> list[nn.Module]:
    """log2(factor) stride-2 4×4 (transposed) convolutions c_in → c_mid … → c_out, ReLU between."""
    n = int(math.log2(factor))
    chans = [c_in] + [c_mid] * (n - 1) + [c_out]
    conv = nn.ConvTranspose2d if transpose else nn.Conv2d
    layers: list[nn.Module] = []
    for a, b in zip(chans, chans[1:]):
        layers += [conv(a, b, 4, stride=2, padding=1), nn.ReLU()]
    return layers[:-1]


def encoder(c_in: int, hidden: int, res_blocks: int, res_hidden: int, factor: int) -> nn.Sequential:
    """(B, c_in, H, W) → (B, F, H / factor, W / factor)."""
    return nn.Sequential(
        *_strided(c_in, hidden // 2, hidden, factor, transpose=False),
        nn.ReLU(),
        nn.Conv2d(hidden, hidden, 3, padding=1),
        *[ResBlock(hidden, res_hidden) for _ in range(res_blocks)],
        nn.ReLU(),
    )


def decoder(c_in: int, c_out: int, hidden: int, res_blocks: int, res_hidden: int, factor: int) -> nn.Sequential:
    """(B, c_in, h, w) → (B, c_out, h · factor, w · factor)."""
    return nn.Sequential(
        nn.Conv2d(c_in, hidden, 3, padding=1),
        *[ResBlock(hidden, res_hidden) for _ in range(res_blocks)],
        nn.ReLU(),
        *_strided(hidden, hidden // 2, c_out, factor, transpose=True),
    )


@dataclass
class VQVAEOutput:
    recon: torch.Tensor  # float32 (B, C, H, W), unclamped (targets are in [-1, 1])
    commit_loss: torch.Tensor  # sum over levels of beta · commitment loss, per image (B,)
    codes: list[torch.Tensor]  # int64 (B, h, w) per level, coarse → fine
    perplexity: list[torch.Tensor]  # per level, of this batch's codes (scalar)
    usage: list[torch.Tensor]  # per level, fraction of codes used in this batch (scalar)


class VQVAE(nn.Module):
    """VQ-VAE (``levels=1``) or VQ-VAE-2 (``levels=2``); see the module docstring."""

    CHECKPOINT_KIND: ClassVar[str] = "vqvae"

    def __init__(self, config: VQVAEConfig | None = None, **fields: Any):
        if fields or not isinstance(config, VQVAEConfig):  # VQVAE(in_channels=3, ...): say how it is written here
            raise config_required("VQVAE", VQVAEConfig, config, fields)
        super().__init__()
        self.config = c = config
        hidden, D = c.hidden, c.code_dim
        self.enc_b = encoder(c.channels, hidden, c.res_blocks, c.res_hidden, c.bottom_downsample)
        self.quantizers = nn.ModuleDict(
            {name: Quantizer(c.codebook_size, D, c.decay, c.beta, c.dead_code_threshold) for name in c.level_names}
        )
        if c.levels == 2:
            self.enc_t = encoder(hidden, hidden, c.res_blocks, c.res_hidden, c.top_downsample)
            self.pre_t = nn.Conv2d(hidden, D, 1)
            self.dec_t = decoder(D, D, hidden, c.res_blocks, c.res_hidden, c.top_downsample)
            self.up_t = nn.Sequential(*_strided(D, D, D, c.top_downsample, transpose=True))
        self.pre_b = nn.Conv2d(hidden + (D if c.levels == 2 else 0), D, 1)  # (bottom encoding [+ decoded top]) → D
        self.dec = decoder(D * c.levels, c.channels, hidden, c.res_blocks, c.res_hidden, c.bottom_downsample)

    def quantizer(self, level: str) -> Quantizer:
        """The quantizer of a level (``top`` or ``bottom``)."""
        q = self.quantizers[level]
        assert isinstance(q, Quantizer)  # a ModuleDict's items are typed nn.Module; they are built as Quantizers above
        return q

    @property
    def level_names(self) -> tuple[str, ...]:
        return self.config.level_names

    @property
    def code_shapes(self) -> list[tuple[int, int]]:
        """(h, w) of each level's code grid, coarse → fine."""
        return self.config.code_shapes

    def _quantize(self, x: torch.Tensor, update: bool, generator: torch.Generator | None) -> list[QuantizerOutput]:
        q = self.quantizers
        h_b = self.enc_b(x)  # (B, F, H/b, W/b)
        if self.config.levels == 1:
            return [q["top"](self.pre_b(h_b), update, generator)]
        top = q["top"](self.pre_t(self.enc_t(h_b)), update, generator)  # codes (B, h_t, w_t)
        h_b = torch.cat([self.dec_t(top.quantized), h_b], dim=1)  # (B, D + F, H/b, W/b)
        return [top, q["bottom"](self.pre_b(h_b), update, generator)]

    def _decode(self, quantized: list[torch.Tensor]) -> torch.Tensor:
        if self.config.levels == 1:
            return self.dec(quantized[0]).float()
        z = torch.cat([self.up_t(quantized[0]), quantized[1]], dim=1)  # (B, 2D, H/b, W/b)
        return self.dec(z).float()

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> VQVAEOutput:
        """Reconstruct ``x`` float (B, C, H, W) in [-1, 1]; in training mode also one codebook EMA step per level."""
        levels = self._quantize(x, self.training, generator)
        losses = [lv.loss for lv in levels]
        return VQVAEOutput(
            recon=self._decode([lv.quantized for lv in levels]),
            commit_loss=sum(losses[1:], losses[0]),
            codes=[lv.codes for lv in levels],
            perplexity=[lv.perplexity for lv in levels],
            usage=[lv.usage for lv in levels],
        )

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Codes int64 (B, h, w) in [0, K) per level, coarse → fine, of ``x`` float (B, C, H, W) in [-1, 1].

        Never changes the codebooks, whatever the mode.
        """
        return [lv.codes for lv in self._quantize(x, False, None)]

    @torch.no_grad()
    def decode_codes(self, codes: list[torch.Tensor]) -> torch.Tensor:
        """Images float32 (B, C, H, W), roughly in [-1, 1], from int64 codes per level (coarse → fine)."""
        shapes = [tuple(c.shape[1:]) for c in codes]
        if shapes != self.code_shapes:
            raise ValueError(f"expected code grids {self.code_shapes} (coarse → fine), got {shapes}")
        return self._decode([self.quantizer(name).lookup(c.long()) for name, c in zip(self.level_names, codes)])

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> VQVAE:
        return cls(config_from_dict(VQVAEConfig, config))

    get_code_indices = renamed_method("get_code_indices")

    def fingerprint(self) -> str:
        """sha256 (16 hex) of the current weights: names codes of this exact autoencoder."""
        return fingerprint(self.state_dict())

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the images it encodes and decodes."""
        return (self.config.channels, self.config.image_size, self.config.image_size)




# ----------------------------------------------------------------------------- images


@torch.no_grad()
def reconstruct(model: VQVAE, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """uint8 (N, C, H, W): the reconstructions of the uint8 ``images`` (N, C, H, W), ``batch_size`` at a time (eval mode)."""
    model.eval()
    device = next(model.parameters()).device
    return np.concatenate([to_uint8(model(to_float(np.asarray(images[i : i + batch_size]), device)).recon)
                           for i in range(0, len(images), batch_size)])


@torch.no_grad()
def reconstruction_pairs(model: VQVAE, images: np.ndarray) -> np.ndarray:
    """uint8 (2N, C, H, W): each of the uint8 ``images`` (N, C, H, W) followed by its reconstruction."""
    pairs = np.stack([np.asarray(images), reconstruct(model, images)], axis=1)  # (N, 2, C, H, W)
    return pairs.reshape(-1, *pairs.shape[2:])  # (2N, C, H, W)
