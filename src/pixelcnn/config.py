"""The PixelCNN's architecture: one frozen dataclass, stored in every checkpoint.

Legend: C channels, K categories per channel, F hidden features, S skip
features, M mixture components, r resolutions.

Every default rebuilds the gated PixelCNN of van den Oord et al. (2016) that
this project started with, so a checkpoint written before a field existed
loads into the same model. The newer options combine freely:

- ``output="logistic"``: the discretized logistic mixture of PixelCNN++
  (pixel models only); the network then has no colour-group masks;
- ``resolutions > 1``: a U-Net of gated blocks (PixelCNN++), a down pass and
  an up pass with shortcut connections, each resolution halving H and W;
- ``attention_every > 0``: causal self-attention blocks (PixelSNAIL) between
  the gated blocks;
- ``dropout > 0``: dropout on the gated features while training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

OUTPUTS = ("categorical", "logistic")


@dataclass(frozen=True)
class PixelCNNConfig:
    """Everything needed to rebuild a PixelCNN; stored in its checkpoint."""

    channels: int = 1  # C: 1 (grey or codes) or 3 (RGB, generated R → G → B)
    levels: int = 256  # K: categories per channel (256 for 8-bit pixels, codebook size for codes)
    height: int = 32  # H of the grids the model is trained on (the sampler's default shape)
    width: int = 32  # W
    hidden: int = 64  # F: features per stack, divisible by channels (categorical output)
    skip: int = 128  # S: skip-connection features, divisible by channels (categorical output)
    layers: int = 8  # gated blocks (per resolution and pass when resolutions > 1); the field grows by kernel//2 per block
    kernel: int = 3  # odd kernel width of the vertical and horizontal stacks
    embed_dim: int = 0  # E: 0 → scalar input in [-1, 1]; > 0 → learned embedding per category
    num_classes: int = 0  # 0 → unconditional; else a class label per image
    cond_channels: int = 0  # D: 0 → none; else a (B, D, H, W) conditioning map per image
    position_channels: int = 0  # P: 0 → none; else a learned (P, H, W) map of where each position is
    output: Literal["categorical", "logistic"] = "categorical"  # categorical: K logits per channel; logistic: mixture of discretized logistics (pixels)
    n_mix: int = 10  # M: components of the logistic mixture (output="logistic" only)
    resolutions: int = 1  # 1: one stack of `layers` blocks; r > 1: U-Net over r resolutions, each halving H and W
    dropout: float = 0.0  # dropout rate on the gated features of every block while training; 0 turns it off
    attention_every: int = 0  # 0: no attention; n: a causal self-attention block after every n gated blocks (not after the last)
    attention_heads: int = 1  # heads of each attention block; divides hidden
    attention_dim: int = 16  # query and key features per head (values get hidden / attention_heads)

    def __post_init__(self) -> None:
        if self.output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {self.output!r}")
        if self.output == "logistic" and self.embed_dim:
            raise ValueError(
                f"output='logistic' models pixel values fed as scalars (embed_dim=0), got embed_dim={self.embed_dim}; "
                "code priors use output='categorical'"
            )
        for name in ("hidden", "skip"):
            if getattr(self, name) % self.colours:
                raise ValueError(f"{name}={getattr(self, name)} must be divisible by channels={self.channels}")
        if self.kernel < 3 or self.kernel % 2 == 0:
            raise ValueError(f"kernel must be odd and >= 3, got {self.kernel}")
        if self.levels < 2:
            raise ValueError(f"levels must be >= 2, got {self.levels}")
        for name in ("layers", "n_mix", "resolutions", "attention_heads", "attention_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.attention_every < 0:
            raise ValueError(f"attention_every must be >= 0 (0 turns attention off), got {self.attention_every}")
        if self.attention_every and self.attention_every >= self.gated_blocks:
            raise ValueError(
                f"attention_every={self.attention_every} places no attention block among {self.gated_blocks} gated blocks "
                f"(none follows the last): use a value below {self.gated_blocks}, or 0"
            )
        if self.attention_every and self.hidden % self.attention_heads:
            raise ValueError(f"hidden={self.hidden} must be divisible by attention_heads={self.attention_heads}")

    @property
    def colours(self) -> int:
        """Colour groups of the network: C with the categorical output, 1 with the logistic one."""
        return self.channels if self.output == "categorical" else 1

    @property
    def gated_blocks(self) -> int:
        """Gated blocks in all: ``layers`` in one stack, or per resolution in each of two passes."""
        return self.layers if self.resolutions == 1 else 2 * self.resolutions * self.layers


def grid_sizes(height: int, width: int, resolutions: int) -> list[tuple[int, int]]:
    """(H, W) of each resolution, finest first; each halves the one before, rounding up."""
    sizes = [(height, width)]
    for _ in range(resolutions - 1):
        h, w = sizes[-1]
        sizes.append(((h + 1) // 2, (w + 1) // 2))
    return sizes
