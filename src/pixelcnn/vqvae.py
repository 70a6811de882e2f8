"""VQ-VAE and VQ-VAE-2: an autoencoder whose latents are grids of codebook indices.

Shapes: B batch, C channels, H W pixels, F ``hidden`` features, D ``code_dim``,
K ``codebook_size``, h w a code grid, N vectors to quantise (B·h·w).
Images enter as float (B, C, H, W) in [-1, 1] (``x_uint8 / 127.5 - 1``);
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
Distances and EMA updates run in fp32 even under autocast.

Also here: the training loop, checkpoints with a weight fingerprint, and the
streaming extraction of code grids to int16 ``.npy`` files (``extract_codes``,
``load_codes``).
"""

from __future__ import annotations

import hashlib
import math
import mmap
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pixelcnn import params
from pixelcnn.errors import CheckpointError, ConfigError, DataError
from pixelcnn.io import atomic_dir, load_checkpoint, save_checkpoint, write_json
from pixelcnn.runtime import autocast

LEVEL_NAMES = {1: ("top",), 2: ("top", "bottom")}
CODES_DTYPE = np.int16  # codes on disk; hence K <= 32768
EVAL_BATCH = 256  # images per forward pass when scoring (does not change results)


# ----------------------------------------------------------------------------- params


def _is_power_of_two(n: int) -> bool:
    return n >= 2 and n & (n - 1) == 0


@dataclass(frozen=True)
class VQVAEParams:
    """params.yaml ``vqvae``: the autoencoder's architecture and its training (stage ``train_vqvae``)."""

    SECTION: ClassVar[str] = "vqvae"

    levels: int = 2  # 1: VQ-VAE (one code grid); 2: VQ-VAE-2 (top + bottom grids)
    hidden: int = 32  # F: channels of the encoder and decoder convolutions
    res_blocks: int = 2  # residual blocks in each encoder and decoder
    res_hidden: int = 16  # channels inside a residual block
    codebook_size: int = 64  # K codes per level (<= 32768: codes are stored as int16)
    code_dim: int = 32  # D: size of one codebook vector
    bottom_downsample: int = 4  # image → finest code grid (32×32 → 8×8); a power of 2
    top_downsample: int = 2  # bottom grid → top grid (8×8 → 4×4); a power of 2; levels 2 only
    decay: float = 0.99  # EMA decay of the codebook statistics, in [0, 1)
    beta: float = 0.25  # weight of the commitment loss ||z - sg(e)||²
    dead_code_threshold: float = 1.0  # restart codes winning fewer vectors per batch (EMA) than this; 0: never
    epochs: int = 15  # passes over the train split
    batch_size: int = 32  # images per optimizer step
    lr: float = 2e-3  # peak Adam learning rate (one-cycle schedule)
    amp: bool = True  # bf16 autocast on CUDA (the quantiser stays fp32); no effect on the CPU
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto: CUDA when present
    grid_images: int = 16  # test images shown beside their reconstructions in the PNG grid

    def __post_init__(self) -> None:
        check = params.check
        check(self.levels in (1, 2), f"vqvae.levels must be 1 or 2, got {self.levels}")
        check(self.hidden >= 2, f"vqvae.hidden must be >= 2, got {self.hidden}")
        check(self.res_blocks >= 0, f"vqvae.res_blocks must be >= 0, got {self.res_blocks}")
        check(self.res_hidden >= 1, f"vqvae.res_hidden must be >= 1, got {self.res_hidden}")
        check(
            2 <= self.codebook_size <= 2**15,
            f"vqvae.codebook_size must be in [2, 32768] (codes are stored as int16), got {self.codebook_size}",
        )
        check(self.code_dim >= 1, f"vqvae.code_dim must be >= 1, got {self.code_dim}")
        for key in ("bottom_downsample", "top_downsample"):
            value = getattr(self, key)
            check(_is_power_of_two(value), f"vqvae.{key} must be a power of 2 (2, 4, 8, ...), got {value}")
        check(0 <= self.decay < 1, f"vqvae.decay must be in [0, 1), got {self.decay}")
        check(self.beta >= 0, f"vqvae.beta must be >= 0, got {self.beta}")
        check(self.dead_code_threshold >= 0, f"vqvae.dead_code_threshold must be >= 0, got {self.dead_code_threshold}")
        check(self.epochs >= 1, f"vqvae.epochs must be >= 1, got {self.epochs}")
        check(self.batch_size >= 1, f"vqvae.batch_size must be >= 1, got {self.batch_size}")
        check(self.lr > 0, f"vqvae.lr must be > 0, got {self.lr}")
        check(self.grid_images >= 1, f"vqvae.grid_images must be >= 1, got {self.grid_images}")

    def model_config(self, channels: int, image_size: int) -> VQVAEConfig:
        """The model config for images of ``channels`` × ``image_size`` × ``image_size``."""
        factor = self.bottom_downsample * (self.top_downsample if self.levels == 2 else 1)
        if image_size % factor:
            raise ConfigError(
                f"params.yaml: the image size {image_size} is not divisible by the total downsampling {factor} "
                f"of vqvae.bottom_downsample (× vqvae.top_downsample); choose smaller factors"
            )
        return VQVAEConfig(
            channels=channels,
            image_size=image_size,
            levels=self.levels,
            hidden=self.hidden,
            res_blocks=self.res_blocks,
            res_hidden=self.res_hidden,
            codebook_size=self.codebook_size,
            code_dim=self.code_dim,
            bottom_downsample=self.bottom_downsample,
            top_downsample=self.top_downsample,
            decay=self.decay,
            beta=self.beta,
            dead_code_threshold=self.dead_code_threshold,
        )


@dataclass(frozen=True)
class ExtractParams:
    """params.yaml ``vqvae``: the keys stage ``extract_codes`` reads (they never retrain the autoencoder)."""

    SECTION: ClassVar[str] = "vqvae"

    extract_batch_size: int = 256  # images per encoder pass while extracting codes (memory, not results)
    extract_device: Literal["auto", "cpu", "cuda"] = "auto"  # auto: CUDA when present

    def __post_init__(self) -> None:
        params.check(
            self.extract_batch_size >= 1, f"vqvae.extract_batch_size must be >= 1, got {self.extract_batch_size}"
        )


@dataclass(frozen=True)
class VQVAEConfig:
    """What rebuilds a trained autoencoder; stored in its checkpoint."""

    channels: int = 1  # C of the images
    image_size: int = 32  # H = W of the images
    levels: int = 2  # 1: VQ-VAE; 2: VQ-VAE-2
    hidden: int = 32  # F: encoder/decoder channels
    res_blocks: int = 2  # residual blocks per encoder/decoder
    res_hidden: int = 16  # channels inside a residual block
    codebook_size: int = 64  # K codes per level
    code_dim: int = 32  # D: codebook vector size
    bottom_downsample: int = 4  # image → finest grid
    top_downsample: int = 2  # bottom grid → top grid (levels 2)
    decay: float = 0.99  # codebook EMA decay
    beta: float = 0.25  # commitment loss weight
    dead_code_threshold: float = 1.0  # EMA count per batch below which a code restarts

    def __post_init__(self) -> None:
        if self.levels not in LEVEL_NAMES:
            raise ValueError(f"levels must be 1 or 2, got {self.levels}")
        if not (_is_power_of_two(self.bottom_downsample) and _is_power_of_two(self.top_downsample)):
            raise ValueError("bottom_downsample and top_downsample must be powers of 2")
        if self.image_size % (self.bottom_downsample * self.top_downsample ** (self.levels - 1)):
            raise ValueError(f"image_size {self.image_size} is not divisible by the total downsampling")

    @property
    def level_names(self) -> tuple[str, ...]:
        """``("top",)`` or ``("top", "bottom")``: the levels, coarse → fine."""
        return LEVEL_NAMES[self.levels]

    @property
    def code_shapes(self) -> list[tuple[int, int]]:
        """(h, w) of each level's code grid, coarse → fine."""
        bottom = self.image_size // self.bottom_downsample
        if self.levels == 1:
            return [(bottom, bottom)]
        top = bottom // self.top_downsample
        return [(top, top), (bottom, bottom)]


# ----------------------------------------------------------------------------- quantiser


@dataclass
class QuantizerOutput:
    quantized: torch.Tensor  # float32 (B, D, h, w): codewords, with straight-through gradients to the input
    codes: torch.Tensor  # int64 (B, h, w) in [0, K)
    loss: torch.Tensor  # beta · commitment loss (scalar)
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
        on this batch, then restarts dead codes (random rows drawn with
        ``generator``, or the global RNG when ``None``). The returned codewords
        are those of the codebook before the step.
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
            loss = self.beta * F.mse_loss(flat, quant)  # commitment: pulls encoder outputs to their codes
            quant = quant + (flat - flat.detach())  # straight-through: value exactly quant, gradient identity
        return QuantizerOutput(
            quantized=quant.view(B, h, w, D).permute(0, 3, 1, 2),  # (B, D, h, w)
            codes=codes.view(B, h, w),  # (B, h, w)
            loss=loss,
            perplexity=perplexity(counts),
            usage=(counts > 0).float().mean(),
        )

    @torch.no_grad()
    def _ema_step(self, flat: torch.Tensor, codes: torch.Tensor, counts: torch.Tensor, generator) -> None:
        d = self.decay
        onehot = F.one_hot(codes, self.codebook_size).float()  # (N, K)
        self.cluster_size.mul_(d).add_(counts, alpha=1 - d)
        self.embed_sum.mul_(d).add_(onehot.t() @ flat, alpha=1 - d)  # (K, D)
        n = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.eps) / (n + self.codebook_size * self.eps) * n  # Laplace smoothing
        self.embed.copy_(self.embed_sum / smoothed.unsqueeze(1))
        self._restart_dead(flat, generator)

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
    commit_loss: torch.Tensor  # sum over levels of beta · commitment loss (scalar)
    codes: list[torch.Tensor]  # int64 (B, h, w) per level, coarse → fine
    perplexity: list[torch.Tensor]  # per level, of this batch's codes (scalar)
    usage: list[torch.Tensor]  # per level, fraction of codes used in this batch (scalar)


class VQVAE(nn.Module):
    """VQ-VAE (``levels=1``) or VQ-VAE-2 (``levels=2``); see the module docstring."""

    def __init__(self, config: VQVAEConfig):
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
        return VQVAEOutput(
            recon=self._decode([lv.quantized for lv in levels]),
            commit_loss=sum(lv.loss for lv in levels),  # type: ignore[arg-type]
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
        return self._decode([q.lookup(c.long()) for q, c in zip(self.quantizers.values(), codes)])

    def fingerprint(self) -> str:
        """sha256 (16 hex) of the current weights: names codes of this exact autoencoder."""
        return state_fingerprint(self.state_dict())


# ----------------------------------------------------------------------------- checkpoints


def state_fingerprint(state_dict: Mapping[str, torch.Tensor]) -> str:
    """First 16 hex digits of sha256 over (name, dtype, shape, bytes) of each tensor, in sorted name order."""
    h = hashlib.sha256()
    for name in sorted(state_dict):
        t = state_dict[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def save_vqvae(path: str | Path, model: VQVAE) -> str:
    """Write ``model`` (config, CPU weights, fingerprint) to ``path`` atomically; returns the fingerprint."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    fingerprint = state_fingerprint(state)
    save_checkpoint(path, "vqvae", model.config, state, fingerprint=fingerprint)
    return fingerprint


def load_vqvae(path: str | Path, device: str | torch.device = "cpu") -> VQVAE:
    """Rebuild a trained autoencoder (eval mode, on ``device``) from its checkpoint; ``model.fingerprint()`` names it."""
    payload = load_checkpoint(path, "vqvae")
    try:
        model = VQVAE(VQVAEConfig(**payload["config"]))
        model.load_state_dict(payload["state_dict"])
    except (TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(
            f"{path}: its config or weights do not fit this version of the VQ-VAE ({exc.__class__.__name__}); "
            "re-run train_vqvae"
        ) from None
    if payload.get("fingerprint") != model.fingerprint():
        raise CheckpointError(f"{path}: its weights do not match the fingerprint stored with them; re-run train_vqvae")
    return model.to(device).eval()


# ----------------------------------------------------------------------------- data helpers


def to_float(images_uint8: np.ndarray | torch.Tensor, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 (B, C, H, W) → float32 (B, C, H, W) in [-1, 1] on ``device``."""
    if not isinstance(images_uint8, torch.Tensor):
        array = np.ascontiguousarray(images_uint8)
        images_uint8 = torch.from_numpy(array if array.flags.writeable else array.copy())
    return images_uint8.to(device).float() / 127.5 - 1


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """float (B, C, H, W) in [-1, 1] (clamped) → uint8 (B, C, H, W) NumPy array."""
    return ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu().numpy()


def read_rows(array: np.ndarray, start: int, stop: int) -> np.ndarray:
    """A copy of ``array[start:stop]``.

    A memory-mapped ``.npy`` (as ``np.load(..., mmap_mode="r")`` gives) is read
    through a fresh mapping of just these rows, unmapped on return, so reading
    a file of any size batch by batch keeps resident memory flat.
    """
    if isinstance(array, np.memmap) and isinstance(array.base, mmap.mmap) and array.flags.c_contiguous:
        row = array.itemsize * math.prod(array.shape[1:])
        window = np.memmap(
            array.filename, dtype=array.dtype, mode="r", offset=array.offset + start * row, shape=(stop - start, *array.shape[1:])
        )
        out = np.array(window)
        del window
        return out
    return np.array(array[start:stop])


class _NpyWriter:
    """A ``.npy`` file of known shape, created with ``open_memmap`` and filled row block by row block.

    Each block is written through its own small mapping, unmapped at once, so
    memory stays flat however large the file grows.
    """

    def __init__(self, path: Path, shape: tuple[int, ...], dtype: np.dtype):
        array = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
        self.path, self.shape, self.dtype, self.offset = path, shape, np.dtype(dtype), array.offset
        del array
        self.row = self.dtype.itemsize * math.prod(shape[1:])

    def write(self, start: int, rows: np.ndarray) -> None:
        window = np.memmap(self.path, dtype=self.dtype, mode="r+", offset=self.offset + start * self.row, shape=rows.shape)
        window[:] = rows
        window.flush()
        del window


# ----------------------------------------------------------------------------- training


@torch.no_grad()
def evaluate(model: VQVAE, images: np.ndarray, batch_size: int = EVAL_BATCH) -> dict:
    """Reconstruction and codebook statistics of ``model`` on uint8 images (N, C, H, W).

    ``mse``: mean squared error of clamped reconstructions on [0, 1]-scaled
    pixels; ``psnr`` = 10·log10(1 / mse) dB (peak 1, the same as peak 255 on
    [0, 255]); per level ``perplexity`` (exp entropy of the code histogram over
    all images) and ``usage`` (fraction of the K codes used at least once).
    """
    model.eval()
    device = next(model.parameters()).device
    counts = [torch.zeros(model.config.codebook_size, device=device) for _ in model.level_names]
    squared = 0.0
    for start in range(0, len(images), batch_size):
        x = to_float(read_rows(images, start, min(start + batch_size, len(images))), device)
        out = model(x)
        squared += float(((out.recon.clamp(-1, 1) - x) / 2).pow(2).sum())
        for total, codes in zip(counts, out.codes):
            total += torch.bincount(codes.flatten(), minlength=len(total))
    mse = squared / max(1, np.prod(images.shape))
    result: dict = {"mse": mse, "psnr": 10 * math.log10(1 / max(mse, 1e-12))}
    for name, total in zip(model.level_names, counts):
        result[name] = {"perplexity": float(perplexity(total)), "usage": float((total > 0).float().mean())}
    return result


def train_vqvae(
    cfg: VQVAEParams,
    train_images: np.ndarray,
    test_images: np.ndarray,
    device: torch.device,
    generator: torch.Generator | None = None,
    progress: bool = True,
) -> tuple[VQVAE, list[dict[str, float]], dict]:
    """Train an autoencoder on uint8 images (N, C, H, W) (arrays or memory maps).

    Loss: MSE of the reconstruction (on [-1, 1]) + the levels' β-weighted
    commitment losses; Adam with a one-cycle learning rate. Everything random
    (initialisation, shuffling, dead-code restarts) comes from ``generator``
    (CPU), so the same generator state gives the same weights.

    Returns the model (eval mode), one row per epoch (``epoch, train_mse,
    test_mse, test_psnr, <level>_perplexity, <level>_usage``; MSEs on
    [0, 1]-scaled pixels) and the final metrics (``test_mse``, ``test_psnr``,
    ``{level: {perplexity, usage}}``).
    """
    from tqdm.auto import tqdm

    if generator is None:
        generator = torch.Generator().manual_seed(0)
    n, channels, height, width = train_images.shape
    if height != width:
        raise DataError(f"the VQ-VAE needs square images, got {height}×{width}; resize them in the prepare stage")
    config = cfg.model_config(channels, height)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
        model = VQVAE(config).to(device)
    steps_per_epoch = -(-n // cfg.batch_size)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=cfg.epochs * steps_per_epoch)
    history: list[dict[str, float]] = []
    bar = tqdm(total=cfg.epochs * steps_per_epoch, desc="train_vqvae", disable=not progress, leave=False)
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        order = torch.randperm(n, generator=generator)
        total = 0.0
        for start in range(0, n, cfg.batch_size):
            idx = np.sort(order[start : start + cfg.batch_size].numpy())  # sorted: friendlier to a memmap
            x = to_float(train_images[idx], device)
            with autocast(device, cfg.amp):
                out = model(x, generator=generator)
            recon_loss = F.mse_loss(out.recon, x)
            loss = recon_loss + out.commit_loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(recon_loss.detach()) * len(idx)
            bar.update()
        scores = evaluate(model, test_images)
        row = {"epoch": epoch, "train_mse": total / n / 4, "test_mse": scores["mse"], "test_psnr": scores["psnr"]}
        for name in model.level_names:
            row[f"{name}_perplexity"] = scores[name]["perplexity"]
            row[f"{name}_usage"] = scores[name]["usage"]
        history.append(row)
        bar.set_postfix(epoch=epoch, psnr=f"{scores['psnr']:.2f}")
    bar.close()
    model.eval()
    final = {"test_mse": scores["mse"], "test_psnr": scores["psnr"], **{k: scores[k] for k in model.level_names}}
    return model, history, final


@torch.no_grad()
def reconstruction_pairs(model: VQVAE, images: np.ndarray) -> np.ndarray:
    """uint8 (2N, C, H, W): each of the uint8 ``images`` (N, C, H, W) followed by its reconstruction."""
    model.eval()
    device = next(model.parameters()).device
    recon = to_uint8(model(to_float(images, device)).recon)
    pairs = np.stack([np.asarray(images), recon], axis=1)  # (N, 2, C, H, W)
    return pairs.reshape(-1, *pairs.shape[2:])  # (2N, C, H, W)


# ----------------------------------------------------------------------------- codes on disk


@torch.no_grad()
def extract_codes(
    model: VQVAE,
    splits: Mapping[str, tuple[np.ndarray, np.ndarray]],
    out_dir: str | Path,
    batch_size: int = 256,
    data_meta: Mapping | None = None,
    progress: bool = True,
) -> dict:
    """Encode each split's uint8 images (N, C, H, W) and write ``out_dir`` as a whole, atomically.

    ``splits`` maps a split name to (images, int64 labels (N,)). Writes, per
    split and level, ``{split}_{level}.npy`` int16 (N, h, w) streamed batch by
    batch (memory stays flat however large N), ``{split}_labels.npy`` int64
    (N,) and ``meta.json`` (levels, level_names, codebook_size, shapes,
    num_classes, vqvae_fingerprint, n_<split>; class_names when
    ``data_meta`` has them). Returns the meta.
    """
    from tqdm.auto import tqdm

    model.eval()
    c = model.config
    device = next(model.parameters()).device
    data_meta = dict(data_meta or {})
    meta = {
        "levels": c.levels,
        "level_names": list(c.level_names),
        "codebook_size": c.codebook_size,
        "shapes": {name: list(shape) for name, shape in zip(c.level_names, c.code_shapes)},
        "num_classes": int(data_meta.get("num_classes", 0)),
        "vqvae_fingerprint": model.fingerprint(),
    }
    if "class_names" in data_meta:
        meta["class_names"] = list(data_meta["class_names"])
    with atomic_dir(out_dir) as tmp:
        for split, (images, labels) in splits.items():
            expected = (c.channels, c.image_size, c.image_size)
            if tuple(images.shape[1:]) != expected or len(labels) != len(images):
                raise DataError(
                    f"{split} split: images {tuple(images.shape)} with {len(labels)} labels do not fit the autoencoder's "
                    f"(N, {', '.join(map(str, expected))}) input; re-run train_vqvae on this data"
                )
            n = len(images)
            writers = [
                _NpyWriter(tmp / f"{split}_{name}.npy", (n, *shape), CODES_DTYPE)
                for name, shape in zip(c.level_names, c.code_shapes)
            ]
            for start in tqdm(range(0, n, batch_size), desc=f"extract {split}", disable=not progress, leave=False):
                x = to_float(read_rows(images, start, min(start + batch_size, n)), device)
                for writer, codes in zip(writers, model.encode(x)):
                    writer.write(start, codes.cpu().numpy().astype(CODES_DTYPE))
            np.save(tmp / f"{split}_labels.npy", np.asarray(labels, dtype=np.int64))
            meta[f"n_{split}"] = n
        write_json(tmp / "meta.json", meta)
    return meta


def read_codes_meta(codes_dir: str | Path) -> dict:
    """The ``meta.json`` of an ``extract_codes`` output directory."""
    import json

    path = Path(codes_dir) / "meta.json"
    if not path.is_file():
        raise DataError(f"{path}: not found; run the extract_codes stage first")
    return json.loads(path.read_text())


def check_codes_match(meta: Mapping, model: VQVAE, codes_dir: str | Path = "codes") -> None:
    """Refuse codes that were not extracted by ``model`` (levels, grids, K, fingerprint)."""
    c = model.config
    grids = {name: list(shape) for name, shape in zip(c.level_names, c.code_shapes)}
    if list(meta["level_names"]) != list(c.level_names) or dict(meta["shapes"]) != grids:
        raise CheckpointError(
            f"{codes_dir}: code grids {dict(meta['shapes'])} do not match the autoencoder's code grids {grids}; "
            "re-run extract_codes with this autoencoder"
        )
    if meta["codebook_size"] != c.codebook_size:
        raise CheckpointError(
            f"{codes_dir}: codes of a {meta['codebook_size']}-code codebook do not match the autoencoder's "
            f"{c.codebook_size} codes; re-run extract_codes with this autoencoder"
        )
    if meta["vqvae_fingerprint"] != model.fingerprint():
        raise CheckpointError(
            f"{codes_dir}: codes were extracted by autoencoder {meta['vqvae_fingerprint']}, not by this one "
            f"({model.fingerprint()}); re-run extract_codes"
        )


def load_codes(
    codes_dir: str | Path, split: str, model: VQVAE | None = None
) -> tuple[dict[str, np.ndarray], np.ndarray, dict]:
    """Codes of one split as written by ``extract_codes``.

    Returns ``({level: int16 memmap (N, h, w) in [0, K)}, int64 labels (N,), meta)``,
    levels in coarse → fine order (convert batches with ``torch.from_numpy(a[i:j].astype(np.int64))``).
    Files that are missing or whose shape disagrees with ``meta.json`` raise
    ``DataError``; with ``model``, codes of another autoencoder raise ``CheckpointError``.
    """
    codes_dir = Path(codes_dir)
    meta = read_codes_meta(codes_dir)
    if f"n_{split}" not in meta:
        raise DataError(f"{codes_dir}: has no {split!r} split; re-run extract_codes")
    n = meta[f"n_{split}"]
    codes = {}
    for name in meta["level_names"]:
        path = codes_dir / f"{split}_{name}.npy"
        if not path.is_file():
            raise DataError(f"{path}: not found; re-run extract_codes")
        array = np.load(path, mmap_mode="r")
        expected = (n, *meta["shapes"][name])
        if array.dtype != CODES_DTYPE or array.shape != expected:
            raise DataError(
                f"{path}: codes {array.dtype} {array.shape} do not match meta.json's int16 {expected}; re-run extract_codes"
            )
        codes[name] = array
    labels_path = codes_dir / f"{split}_labels.npy"
    if not labels_path.is_file():
        raise DataError(f"{labels_path}: not found; re-run extract_codes")
    labels = np.load(labels_path)
    if labels.shape != (n,):
        raise DataError(f"{labels_path}: {labels.shape[0] if labels.ndim else 0} labels for {n} code grids; re-run extract_codes")
    if model is not None:
        check_codes_match(meta, model, codes_dir)
    return codes, labels, meta
