"""PixelCNN priors over VQ-VAE code grids: top prior, then bottom prior given the top.

Legend: N code grids, B batch, K codebook size, E code embedding size,
D conditioning features, ht wt top grid, hb wb bottom grid.

A prior is built from the same gated PixelCNN as the pixel model: codes are
embedded (K categories in, K-way logits out). With two levels the bottom
prior is conditioned on the *whole* top grid through a conditioning network
(embedding → convolutions with residual blocks → upsampling to the bottom
grid); the PixelCNN adds that map to every gated block, so the bottom prior
is causal in the bottom codes and free to use any top code.

Codebook size, grid shapes and number of classes come from the extracted
codes' metadata (and through it from the autoencoder checkpoint), never from
params.yaml. ``CodePrior.config`` records them with the fingerprint of the
autoencoder whose codes the priors model; ``check_pairing`` is the one check
that a prior meets the autoencoder it was trained with.

What the public API uses of the priors is small and documented on
``CodePrior``: ``num_classes``, ``code_shapes``, ``codebook_size``, ``sample``
(every level given the grids above, each grid drawn by a sampler the caller
passes in, so this module needs none) and ``nll``. Decoded images come from
``pixelcnn.generate(prior, n, vqvae=vqvae)`` (``pixelcnn.pipelines.generate``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from pixelcnn.compat import config_required, renamed_method
from pixelcnn.configs import CondNetConfig, PixelCNNConfig, config_from_dict
from pixelcnn.errors import CheckpointError
from pixelcnn.models.pixelcnn import PixelCNN


@dataclass(frozen=True)
class LevelConfig:
    """One level's prior: its name, its PixelCNN, and its view of the level above (None at the top)."""

    name: str
    pixelcnn: PixelCNNConfig
    cond: CondNetConfig | None = None


@dataclass(frozen=True)
class CodePriorConfig:
    """Everything that rebuilds the priors of every level; stored in their checkpoint."""

    vqvae_fingerprint: str  # the autoencoder whose codes these priors model
    levels: tuple[LevelConfig, ...]  # coarse → fine


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
    """The prior of one level: a PixelCNN over its codes, conditioned on the level above's codes if any."""

    def __init__(self, config: LevelConfig) -> None:
        super().__init__()
        self.config = config
        self.pixelcnn = PixelCNN(config.pixelcnn)
        self.cond_net = CondNet(config.cond) if config.cond is not None else None

    def condition(self, top_codes: torch.Tensor | None) -> torch.Tensor | None:
        """The conditioning map (B, D, h, w) from the level above's codes int64 (B, ht, wt); None at the top."""
        if self.cond_net is None:
            return None
        if top_codes is None:
            raise ValueError("the bottom prior needs the top codes")
        return self.cond_net(top_codes)

    def forward(self, codes: torch.Tensor, labels: torch.Tensor | None, top_codes: torch.Tensor | None) -> torch.Tensor:
        """codes int64 (B, h, w) → logits (B, K, 1, h, w)."""
        return self.pixelcnn(codes[:, None], labels, self.condition(top_codes))

    def bits_per_code(self, codes: torch.Tensor, labels: torch.Tensor | None, top_codes: torch.Tensor | None) -> torch.Tensor:
        """Negative log-likelihood in bits per code of each grid: float (B,)."""
        nats = self.pixelcnn.nll(codes[:, None], labels, self.condition(top_codes))  # (B,)
        return nats / (codes[0].numel() * math.log(2))


def level_config(
    template: PixelCNNConfig,
    cond_template: CondNetConfig,
    name: str,
    codebook_size: int,
    shape: tuple[int, int],
    num_classes: int,
    top_shape: tuple[int, int] | None,
) -> LevelConfig:
    """The config of a level of grid ``shape``; ``top_shape`` is the top grid's shape for the bottom level.

    ``template`` and ``cond_template`` carry the params (architecture); the
    codebook size, grid shapes and classes come from the codes.
    """
    cond = None
    if top_shape is not None:
        scale = shape[0] // top_shape[0]
        if scale * top_shape[0] != shape[0] or scale * top_shape[1] != shape[1]:
            raise CheckpointError(f"bottom code grid {shape} is not an integer multiple of the top grid {top_shape}")
        cond = replace(cond_template, codebook_size=codebook_size, embed_dim=template.embed_dim,
                       out_channels=template.hidden, scale=scale)
    pixelcnn = replace(template, channels=1, levels=codebook_size, height=shape[0], width=shape[1],
                       num_classes=num_classes, cond_channels=cond.out_channels if cond else 0)
    return LevelConfig(name, pixelcnn, cond)


class CodePrior(nn.Module):
    """The priors of every level, coarse to fine, tied to the autoencoder whose codes they model."""

    CHECKPOINT_KIND: ClassVar[str] = "prior"

    def __init__(self, config: CodePriorConfig | None = None, **fields: Any) -> None:
        if fields or not isinstance(config, CodePriorConfig):
            raise config_required("CodePrior", CodePriorConfig, config, fields)
        super().__init__()
        self.config = config
        self.levels = nn.ModuleDict({level.name: LevelPrior(level) for level in config.levels})

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> CodePrior:
        return cls(config_from_dict(CodePriorConfig, config))

    def level_priors(self) -> dict[str, LevelPrior]:
        """The prior of each level, coarse → fine, by name (``top``, ``bottom``)."""
        priors: dict[str, LevelPrior] = {}
        for name, level in self.levels.items():
            assert isinstance(level, LevelPrior)  # a ModuleDict types its items nn.Module; they are built as LevelPriors
            priors[name] = level
        return priors

    @property
    def num_classes(self) -> int:
        return self.config.levels[0].pixelcnn.num_classes

    @property
    def guidable(self) -> bool:
        """Whether every level learned the "no class" label (trained with cond_dropout > 0): guidance works."""
        return all(level.pixelcnn.null_class for level in self.config.levels)

    # --- what the public API (``pixelcnn.pipelines.vq``) uses, besides ``num_classes`` and ``config.vqvae_fingerprint``

    @property
    def code_shapes(self) -> dict[str, tuple[int, int]]:
        """(h, w) of each level's code grid, coarse → fine."""
        return {level.name: (level.pixelcnn.height, level.pixelcnn.width) for level in self.config.levels}

    @property
    def codebook_size(self) -> int:
        """K: the codes each grid position takes."""
        return self.config.levels[0].pixelcnn.levels

    def sample(self, labels: torch.Tensor | None, draw_grid: GridDrawer) -> list[torch.Tensor]:
        """Code grids int64 [(B, h, w)] in [0, K), coarse → fine, each level drawn given the grids above it.

        ``draw_grid(name, pixelcnn, labels, cond)`` draws one level's grid,
        int64 (B, 1, h, w), by running a sampler (``pixelcnn.sampling``) on
        that level's PixelCNN with its labels (None for an unconditional
        level) and its conditioning map (None at the top). The sampler is
        passed in, so the priors (and training them) need none.
        """
        grids: list[torch.Tensor] = []
        for name, level in self.level_priors().items():
            cond = level.condition(grids[-1] if grids else None)
            grids.append(draw_grid(name, level.pixelcnn, _level_labels(level, labels), cond)[:, 0])  # (B, h, w)
        return grids

    generate = renamed_method("generate", "CodePrior")  # pixelcnn.generate(prior, n, vqvae=vqvae): models do not sample
    sample_with_vqvae2 = renamed_method("sample_with_vqvae2")

    def nll(self, codes: list[torch.Tensor], labels: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """Nats of each level's grid, float (B,) per level, of the codes int64 [(B, h, w)] coarse → fine.

        Each level is scored given the codes above it (the bottom given the
        top); divided by h·w·ln 2 it is ``LevelPrior.bits_per_code``.
        """
        above = [None, *codes[:-1]]
        return {name: level.pixelcnn.nll(grid[:, None], _level_labels(level, labels), level.condition(top))
                for (name, level), grid, top in zip(self.level_priors().items(), codes, above)}


# (level name, its PixelCNN, labels int64 (B,) or None, conditioning map (B, D, h, w) or None) → codes int64 (B, 1, h, w)
GridDrawer = Callable[[str, PixelCNN, torch.Tensor | None, torch.Tensor | None], torch.Tensor]


def _level_labels(level: LevelPrior, labels: torch.Tensor | None) -> torch.Tensor | None:
    return labels if level.config.pixelcnn.num_classes else None


def check_pairing(prior: CodePrior, prior_name: str, vqvae_fingerprint: str, vqvae_name: str) -> None:
    """Refuse a prior trained on the codes of another autoencoder; the names are the models' files, or words."""
    if prior.config.vqvae_fingerprint != vqvae_fingerprint:
        raise CheckpointError(
            f"{prior_name} was trained on codes of autoencoder {prior.config.vqvae_fingerprint}, but {vqvae_name} is "
            f"autoencoder {vqvae_fingerprint}; pass the VQ-VAE it was trained with, or re-run extract_codes and "
            f"train_prior for this autoencoder"
        )
