"""Masked convolutions and the gated PixelCNN block.

Legend: B batch, C colour channels (= colour groups), F hidden features,
S skip features, D conditioning features, H W spatial positions.

Generation order is raster order (row by row, left to right) and, inside a
pixel, channel 0 before 1 before 2 (R → G → B). Feature channels are split
into C contiguous colour groups: feature channel ``f`` of ``n`` belongs to
group ``f * C // n``. Group ``g`` at the current pixel may depend on input
channels ``< g`` (mask A, first layer) or ``<= g`` (mask B, later layers).

The gated block (van den Oord et al., 2016) keeps two stacks so the receptive
field has no blind spot:

- the vertical stack sees whole rows above: its convolution covers rows
  ``i - k//2 .. i`` and all columns ``j - k//2 .. j + k//2``; it reaches the
  horizontal stack only shifted down by one row, so row ``i`` of the
  horizontal stack sees vertical features of rows ``< i`` only;
- the horizontal stack sees the current row to the left, and the current
  pixel through the colour-group mask.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn


def colour_groups(n_channels: int, colours: int) -> torch.Tensor:
    """Colour group of each of ``n_channels`` feature channels: int64 (n,) in [0, colours)."""
    if n_channels % colours:
        raise ValueError(f"{n_channels} channels cannot be split into {colours} colour groups")
    return torch.arange(n_channels) * colours // n_channels


class MaskedConv2d(nn.Conv2d):
    """A causal convolution whose kernel ends at the current pixel.

    The kernel spans ``kernel_size = (kh, kw)``: rows ``i - kh + 1 .. i`` and
    columns ``j - (kw - 1 - right) .. j + right``. Rows above the current row
    are fully visible; in the current row, columns left of ``j`` are visible,
    column ``j`` by colour group (mask ``A``: input group < output group;
    ``B``: <=), and columns right of ``j`` are masked. Padding is applied
    inside, so the output has the input's H × W.

    The mask is built once as a (non-persistent) buffer.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: tuple[int, int],
        mask_type: Literal["A", "B"],
        colours: int = 1,
        right: int = 0,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, padding=0)
        kh, kw = kernel_size
        if mask_type not in ("A", "B"):
            raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
        if not 0 <= right < kw:
            raise ValueError(f"right must be in [0, {kw}), got {right}")
        self.mask_type = mask_type
        self.colours = colours
        self.pad = (kw - 1 - right, right, kh - 1, 0)  # (left, right, top, bottom)
        centre = kw - 1 - right
        mask = torch.zeros(out_channels, in_channels, kh, kw)
        mask[:, :, : kh - 1, :] = 1  # rows above
        mask[:, :, kh - 1, :centre] = 1  # current row, left of the pixel
        out_g = colour_groups(out_channels, colours)[:, None]
        in_g = colour_groups(in_channels, colours)[None, :]
        allowed = in_g < out_g if mask_type == "A" else in_g <= out_g  # (out, in)
        mask[:, :, kh - 1, centre] = allowed.float()
        self.register_buffer("mask", mask, persistent=False)

    def masked_weight(self) -> torch.Tensor:
        return self.weight * self.mask

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(x, self.pad), self.masked_weight(), self.bias)


def gate(x: torch.Tensor, colours: int = 1) -> torch.Tensor:
    """tanh(a) * sigmoid(b) where each colour group's channels are [a | b].

    x: (B, 2F, ...) in C contiguous colour groups → (B, F, ...) in the same groups.
    """
    b, two_f = x.shape[:2]
    rest = x.shape[2:]
    a, g = x.view(b, colours, 2, two_f // (2 * colours), *rest).unbind(2)  # (B, C, F/C, ...) each
    return (torch.tanh(a) * torch.sigmoid(g)).reshape(b, two_f // 2, *rest)  # (B, F, ...)


def shift_down(x: torch.Tensor) -> torch.Tensor:
    """Row i of the result is row i - 1 of x (zeros in row 0). x: (B, F, H, W)."""
    return F.pad(x, (0, 0, 1, 0))[:, :, :-1, :]


class GatedBlock(nn.Module):
    """One gated PixelCNN layer: vertical stack, horizontal stack, skip output.

    ``first`` blocks take the embedded input on both stacks and use mask A on
    the horizontal stack with no residual (the residual would leak the current
    pixel); later blocks use mask B and residual connections on both stacks.
    """

    def __init__(
        self,
        in_channels: int,
        hidden: int,
        skip: int,
        kernel: int,
        colours: int,
        first: bool,
        num_classes: int = 0,
        cond_channels: int = 0,
    ) -> None:
        super().__init__()
        self.first = first
        self.colours = colours
        self.hidden = hidden
        self.kernel = kernel
        self.v_conv = nn.Conv2d(in_channels, 2 * hidden, (kernel // 2 + 1, kernel))
        self.v_to_h = nn.Conv2d(2 * hidden, 2 * hidden, 1)
        self.h_conv = MaskedConv2d(in_channels, 2 * hidden, (1, kernel // 2 + 1), "A" if first else "B", colours)
        self.h_out = MaskedConv2d(hidden, hidden, (1, 1), "B", colours)
        self.h_skip = MaskedConv2d(hidden, skip, (1, 1), "B", colours)
        # Conditioning biases for both stacks: [vertical 2F | horizontal 2F].
        self.class_bias = nn.Embedding(num_classes, 4 * hidden) if num_classes else None
        self.cond_proj = nn.Conv2d(cond_channels, 4 * hidden, 1) if cond_channels else None

    def v_pad(self, v: torch.Tensor) -> torch.Tensor:
        """Pad so the vertical conv covers rows i-k//2..i, columns j-k//2..j+k//2."""
        p = self.kernel // 2
        return F.pad(v, (p, p, p, 0))

    def conditioning(
        self, labels: torch.Tensor | None, cond: torch.Tensor | None
    ) -> tuple[torch.Tensor | float, torch.Tensor | float]:
        """Biases (vertical, horizontal), each broadcastable to (B, 2F, H, W)."""
        bias: torch.Tensor | float = 0.0
        if self.class_bias is not None:
            if labels is None:
                raise ValueError("this model is class-conditional: pass labels")
            bias = bias + self.class_bias(labels)[:, :, None, None]  # (B, 4F, 1, 1)
        if self.cond_proj is not None:
            if cond is None:
                raise ValueError("this model is conditioned on a feature map: pass cond")
            bias = bias + self.cond_proj(cond)  # (B, 4F, H, W)
        if isinstance(bias, float):
            return 0.0, 0.0
        return bias[:, : 2 * self.hidden], bias[:, 2 * self.hidden :]

    def forward(
        self,
        v: torch.Tensor,
        h: torch.Tensor,
        labels: torch.Tensor | None = None,
        cond: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """v, h: (B, F_in, H, W) → (v', h', skip) with (B, F, H, W), (B, F, H, W), (B, S, H, W)."""
        v_bias, h_bias = self.conditioning(labels, cond)
        v_pre = self.v_conv(self.v_pad(v)) + v_bias  # (B, 2F, H, W), rows <= i
        h_pre = self.h_conv(h) + self.v_to_h(shift_down(v_pre)) + h_bias  # rows < i from v
        v_new = gate(v_pre)
        h_gated = gate(h_pre, self.colours)  # (B, F, H, W)
        h_new = self.h_out(h_gated)
        if not self.first:
            v_new = v + v_new
            h_new = h + h_new
        return v_new, h_new, self.h_skip(h_gated)
