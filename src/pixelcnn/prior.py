"""PixelCNN priors over VQ-VAE code grids: top prior, then bottom prior given the top.

Legend: N codes grids, B batch, K codebook size, E code embedding size,
D conditioning features, ht wt top grid, hb wb bottom grid.

A prior is built from the same gated blocks as the pixel model: codes are
embedded (K categories in, K-way logits out). With two levels the bottom
prior is conditioned on the *whole* top grid through a conditioning network
(embedding → convolutions with residual blocks → upsampling to the bottom
grid); the PixelCNN adds that map to every gated block, so the bottom prior
is causal in the bottom codes and free to use any top code.

Codebook size, grid shapes and number of classes come from the extracted
codes' metadata (and through it from the autoencoder checkpoint), never from
params.yaml.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from pixelcnn.errors import CheckpointError
from pixelcnn.fast_sampling import sample
from pixelcnn.io import load_checkpoint
from pixelcnn.model import PixelCNN, PixelCNNConfig
from pixelcnn.params import check
from pixelcnn.sampling import SampleParams, class_labels
from pixelcnn.training import TrainParams, fit
from pixelcnn.vqvae import to_uint8


@dataclass(frozen=True)
class PriorModelParams:
    """Architecture of the priors (read by train_prior); the same for every level."""

    SECTION: ClassVar[str] = "prior"
    hidden: int = 64  # features per stack
    skip: int = 128  # skip-connection features
    layers: int = 8  # gated blocks per prior
    kernel: int = 3  # odd kernel width of both stacks
    embed_dim: int = 32  # code embedding size at the prior's input
    cond_hidden: int = 64  # width of the bottom prior's conditioning network on the top codes
    cond_blocks: int = 2  # residual blocks of that network
    conditional: bool = True  # condition on the class label when the data has labels

    def __post_init__(self) -> None:
        for key in ("hidden", "skip", "layers", "embed_dim", "cond_hidden"):
            check(getattr(self, key) >= 1, f"prior.{key} must be >= 1, got {getattr(self, key)}")
        check(self.cond_blocks >= 0, f"prior.cond_blocks must be >= 0, got {self.cond_blocks}")
        check(self.kernel >= 3 and self.kernel % 2 == 1, f"prior.kernel must be odd and >= 3, got {self.kernel}")


@dataclass(frozen=True)
class PriorTrainParams(TrainParams):
    """Optimisation of the priors (read by train_prior); each level trains for ``epochs``."""

    SECTION: ClassVar[str] = "prior"


@dataclass(frozen=True)
class PriorSampleParams(SampleParams):
    """Sampling codes from the priors and decoding them (read by sample_prior)."""

    SECTION: ClassVar[str] = "prior"


@dataclass(frozen=True)
class CondNetConfig:
    """The bottom prior's view of the top codes."""

    codebook_size: int  # K of the top level
    embed_dim: int  # E
    hidden: int  # width of the convolutions
    blocks: int  # residual blocks
    out_channels: int  # D, handed to every gated block
    scale: int  # upsampling factor top grid → bottom grid (1 = same size)


class ResBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class CondNet(nn.Module):
    """Top codes int64 (B, ht, wt) → conditioning map (B, D, ht·s, wt·s)."""

    def __init__(self, config: CondNetConfig) -> None:
        super().__init__()
        c = config
        self.config = config
        self.embedding = nn.Embedding(c.codebook_size, c.embed_dim)
        self.inp = nn.Conv2d(c.embed_dim, c.hidden, 3, padding=1)
        self.blocks = nn.Sequential(*[ResBlock(c.hidden) for _ in range(c.blocks)])
        self.up = (
            nn.ConvTranspose2d(c.hidden, c.hidden, c.scale * 2, stride=c.scale, padding=c.scale // 2)
            if c.scale > 1
            else nn.Identity()
        )
        self.out = nn.Conv2d(c.hidden, c.out_channels, 1)

    def forward(self, top: torch.Tensor) -> torch.Tensor:
        e = self.embedding(top).permute(0, 3, 1, 2)  # (B, E, ht, wt)
        h = self.blocks(self.inp(e))
        return self.out(F.relu(self.up(F.relu(h))))  # (B, D, hb, wb)


class LevelPrior(nn.Module):
    """The prior of one level: a PixelCNN over its codes, conditioned on the level above if any."""

    def __init__(self, pixelcnn: PixelCNNConfig, cond: CondNetConfig | None) -> None:
        super().__init__()
        self.pixelcnn = PixelCNN(pixelcnn)
        self.cond_net = CondNet(cond) if cond is not None else None

    def condition(self, above: torch.Tensor | None) -> torch.Tensor | None:
        """The conditioning map from the level above's codes (None for the top level)."""
        if self.cond_net is None:
            return None
        if above is None:
            raise ValueError("the bottom prior needs the top codes")
        return self.cond_net(above)

    def forward(self, codes: torch.Tensor, labels: torch.Tensor | None, above: torch.Tensor | None) -> torch.Tensor:
        """codes int64 (B, h, w) → logits (B, K, 1, h, w)."""
        return self.pixelcnn(codes[:, None], labels, self.condition(above))


def prior_loss(model: LevelPrior, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """Bits per code of a batch (codes, labels, above); above is ignored at the top level."""
    codes, labels, above = batch
    cfg = model.pixelcnn.config
    return model.pixelcnn.bits_per_dim(
        codes[:, None], labels if cfg.num_classes else None, model.condition(above)
    )


def build_level(
    params: PriorModelParams,
    codebook_size: int,
    shape: tuple[int, int],
    num_classes: int,
    above: tuple[int, int] | None,
) -> LevelPrior:
    """A fresh prior for a level of grid ``shape``; ``above`` is the top grid's shape for the bottom level."""
    cond = None
    if above is not None:
        scale = shape[0] // above[0]
        if scale * above[0] != shape[0] or scale * above[1] != shape[1]:
            raise CheckpointError(f"bottom code grid {shape} is not an integer multiple of the top grid {above}")
        cond = CondNetConfig(codebook_size, params.embed_dim, params.cond_hidden, params.cond_blocks, params.hidden, scale)
    config = PixelCNNConfig(
        channels=1,
        levels=codebook_size,
        height=shape[0],
        width=shape[1],
        hidden=params.hidden,
        skip=params.skip,
        layers=params.layers,
        kernel=params.kernel,
        embed_dim=params.embed_dim,
        num_classes=num_classes if params.conditional else 0,
        cond_channels=cond.out_channels if cond else 0,
    )
    return LevelPrior(config, cond)


class CodePrior(nn.Module):
    """The priors of every level, coarse to fine, plus the autoencoder they belong to."""

    def __init__(self, levels: dict[str, LevelPrior], vqvae_fingerprint: str) -> None:
        super().__init__()
        self.levels = nn.ModuleDict(levels)
        self.vqvae_fingerprint = vqvae_fingerprint

    def config(self) -> dict:
        return {
            "vqvae_fingerprint": self.vqvae_fingerprint,
            "levels": {
                name: {
                    "pixelcnn": asdict(level.pixelcnn.config),
                    "cond": asdict(level.cond_net.config) if level.cond_net is not None else None,
                }
                for name, level in self.levels.items()
            },
        }

    @classmethod
    def from_config(cls, config: dict) -> "CodePrior":
        levels = {
            name: LevelPrior(
                PixelCNNConfig(**spec["pixelcnn"]), CondNetConfig(**spec["cond"]) if spec["cond"] else None
            )
            for name, spec in config["levels"].items()
        }
        return cls(levels, config["vqvae_fingerprint"])


def load_prior(path: str, device: torch.device) -> CodePrior:
    """Rebuild the priors from their checkpoint (their own config, never params.yaml)."""
    payload = load_checkpoint(path, "prior", map_location=device)
    model = CodePrior.from_config(payload["config"])
    model.load_state_dict(payload["state_dict"])
    return model.to(device).eval()


def check_pairing(prior: CodePrior, prior_path: str, vqvae_fingerprint: str, vqvae_path: str) -> None:
    """Refuse a prior trained on the codes of another autoencoder."""
    if prior.vqvae_fingerprint != vqvae_fingerprint:
        raise CheckpointError(
            f"{prior_path} was trained on codes of autoencoder {prior.vqvae_fingerprint}, but {vqvae_path} is "
            f"autoencoder {vqvae_fingerprint}; re-run extract_codes and train_prior for this autoencoder"
        )


@torch.no_grad()
def sample_codes(
    prior: CodePrior,
    n: int,
    params: PriorSampleParams,
    labels: torch.Tensor | None,
    generator: torch.Generator,
    on_row=None,
) -> list[torch.Tensor]:
    """Sample every level coarse to fine: int64 grids [(n, h, w), ...] in level order."""
    grids: list[torch.Tensor] = []
    for name, level in prior.levels.items():
        cfg = level.pixelcnn.config
        cond = level.condition(grids[-1] if grids else None)
        x = sample(
            level.pixelcnn, n, sampler=params.sampler, options=params.options,
            labels=labels if cfg.num_classes else None, cond=cond, generator=generator,
            on_row=on_row,
        )
        grids.append(x[:, 0])  # (n, h, w)
    return grids


def level_tensors(
    codes: dict[str, np.ndarray], labels: np.ndarray, name: str, above: str | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(codes int64 (N, h, w), labels int64 (N,), above int64 (N, ht, wt) or a dummy (N,)) of one level."""
    x = torch.from_numpy(np.asarray(codes[name]).astype(np.int64))
    y = torch.from_numpy(np.asarray(labels).astype(np.int64))
    a = torch.from_numpy(np.asarray(codes[above]).astype(np.int64)) if above else torch.zeros(len(x), dtype=torch.long)
    return x, y, a


def train_priors(
    model_params: PriorModelParams,
    train_params: PriorTrainParams,
    train_codes: tuple[dict[str, np.ndarray], np.ndarray],
    test_codes: tuple[dict[str, np.ndarray], np.ndarray],
    meta: dict,
    device: torch.device,
    generator: torch.Generator,
) -> tuple[CodePrior, list[dict[str, float]], dict[str, dict[str, float]]]:
    """Train one prior per level (top first); return the priors, curves rows and metrics.

    ``meta`` is the extracted codes' metadata: level names, grid shapes,
    codebook size, number of classes and the autoencoder's fingerprint.
    """
    names = list(meta["level_names"])
    num_classes = int(meta.get("num_classes") or 0)
    options = train_params.fit_options
    levels: dict[str, LevelPrior] = {}
    curves: dict[int, dict[str, float]] = {}
    metrics: dict[str, dict[str, float]] = {}
    for index, name in enumerate(names):
        above = names[index - 1] if index else None
        shape = tuple(meta["shapes"][name])
        level = build_level(model_params, int(meta["codebook_size"]), shape,
                            num_classes, tuple(meta["shapes"][above]) if above else None)
        train = level_tensors(*train_codes, name, above)
        test = level_tensors(*test_codes, name, above)
        rows = fit(level, prior_loss, train, test, options, device, generator, desc=f"train_prior {name}")
        levels[name] = level.cpu()
        for row in rows:
            entry = curves.setdefault(int(row["epoch"]), {"epoch": int(row["epoch"])})
            entry[f"{name}_train_bits_per_code"] = row["train_bpd"]
            entry[f"{name}_test_bits_per_code"] = row["test_bpd"]
        metrics[name] = {
            "train_bits_per_code": rows[-1]["train_bpd"],
            "test_bits_per_code": rows[-1]["test_bpd"],
            "grid": f"{shape[0]}x{shape[1]}",
        }
    return CodePrior(levels, str(meta["vqvae_fingerprint"])), list(curves.values()), metrics


@dataclass
class PriorSamples:
    """What sample_prior writes: decoded images, their labels, and the sampled codes per level."""

    images: np.ndarray  # uint8 (N, C, H, W)
    labels: np.ndarray  # int64 (N,), -1 when unconditional
    codes: dict[str, np.ndarray]  # level → int16 (N, h, w)


def draw_samples(prior: CodePrior, vqvae, params: PriorSampleParams, generator: torch.Generator) -> PriorSamples:
    """Sample ``num_samples`` code grids (every level, coarse to fine) in batches and decode them."""
    device = next(prior.parameters()).device
    num_classes = next(iter(prior.levels.values())).pixelcnn.config.num_classes
    labels = class_labels(params.num_samples, num_classes, params.labels, "prior.labels")
    rows_per_grid = sum(level.pixelcnn.config.height for level in prior.levels.values())
    bar = tqdm(total=params.num_samples * rows_per_grid, desc="sample_prior rows", unit="row")
    images, grids = [], []
    for start in range(0, params.num_samples, params.sample_batch_size):
        size = min(params.sample_batch_size, params.num_samples - start)
        batch_labels = None if labels is None else labels[start : start + size].to(device)
        codes = sample_codes(prior, size, params, batch_labels, generator, on_row=lambda i, x: bar.update(size))
        images.append(to_uint8(vqvae.decode_codes(codes)))
        grids.append([c.cpu().numpy().astype(np.int16) for c in codes])
    bar.close()
    all_labels = labels.numpy() if labels is not None else np.full(params.num_samples, -1, dtype=np.int64)
    codes_by_level = {name: np.concatenate([g[i] for g in grids]) for i, name in enumerate(prior.levels)}
    return PriorSamples(np.concatenate(images), all_labels, codes_by_level)
