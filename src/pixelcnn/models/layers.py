"""Masked convolutions and the gated PixelCNN block.

Legend: B batch, C colour groups (the channels with the categorical output,
1 with the logistic one), F hidden features, S skip features, D conditioning
features, H W spatial positions, h w the grid of the next coarser resolution.

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

With ``context`` each block also reads a causal summary of the whole past,
so that every output depends on every earlier input whatever the depth,
kernel and resolutions (a stack of local kernels alone leaves far corners
unseen, and a U-Net's coarse grids skip the rows between their anchors):

- the vertical stack at row i adds a 1×1 map of ``rows_so_far``: the mean of
  its input over rows 0 .. i, every column (rows <= i: allowed, as the stack
  reaches the horizontal one only shifted down);
- the horizontal stack at (i, j) adds a 1×1 map of ``left_in_row``: the mean
  of its input over columns 0 .. j-1 of row i, every channel of those
  complete pixels (no colour mask needed).

The U-Net of PixelCNN++ moves both stacks between resolutions causally
(``Downsample``, ``Upsample``): coarse position (I, J) is anchored at fine
(2I, 2J). The coarse vertical row I reads fine vertical rows 2I-1 .. 2I (so
it depends on input rows <= 2I); the coarse horizontal (I, J) reads the fine
horizontal stack at rows 2I-1 .. 2I, columns 2J-1 .. 2J, the anchor through
the colour-group mask (so group g depends on inputs strictly before
(2I, 2J, g)). On the way up, fine (i, j) reads coarse (i // 2, j // 2): the
vertical row i // 2 depends on input rows <= i, and the anchor is at or
before (i, j), through the colour-group mask again.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from pixelcnn.configs import PixelCNNConfig


def colour_groups(n_channels: int, colours: int) -> torch.Tensor:
    """Colour group of each of ``n_channels`` feature channels: int64 (n,) in [0, colours)."""
    if n_channels % colours:
        raise ValueError(f"{n_channels} channels cannot be split into {colours} colour groups")
    return torch.arange(n_channels) * colours // n_channels


def group_mask(in_channels: int, out_channels: int, colours: int, mask_type: Literal["A", "B"] = "B") -> torch.Tensor:
    """What the current pixel's features may read: (out, in), 1 where input group < (A) or <= (B) output group."""
    out_g = colour_groups(out_channels, colours)[:, None]
    in_g = colour_groups(in_channels, colours)[None, :]
    return (in_g < out_g if mask_type == "A" else in_g <= out_g).float()


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

    mask: torch.Tensor  # the buffer, declared for the type checker (nn.Module types registered attributes Tensor | Module)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: tuple[int, int],
        mask_type: Literal["A", "B"],
        colours: int = 1,
        right: int = 0,
        stride: int = 1,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=0)
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
        mask[:, :, kh - 1, centre] = group_mask(in_channels, out_channels, colours, mask_type)
        self.register_buffer("mask", mask, persistent=False)

    def masked_weight(self) -> torch.Tensor:
        return self.weight * self.mask

    def forward(self, input: torch.Tensor) -> torch.Tensor:  # nn.Conv2d's name for the argument
        return F.conv2d(F.pad(input, self.pad), self.masked_weight(), self.bias, self.stride)




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


def rows_so_far(v: torch.Tensor) -> torch.Tensor:
    """Row i of the result: the mean of v over rows 0 .. i and every column. v: (B, F, H, W) → (B, F, H, 1)."""
    count = torch.arange(1, v.shape[2] + 1, device=v.device, dtype=v.dtype).view(1, 1, -1, 1)  # (1, 1, H, 1)
    return v.mean(3, keepdim=True).cumsum(2) / count


def left_in_row(h: torch.Tensor) -> torch.Tensor:
    """(i, j) of the result: the mean of h over columns 0 .. j-1 of row i (0 at j = 0). h: (B, F, H, W) → same."""
    before = F.pad(h.cumsum(3), (1, 0))[..., :-1]  # (B, F, H, W): sums over columns < j
    count = torch.arange(h.shape[3], device=h.device, dtype=h.dtype).clamp(min=1)  # (W,)
    return before / count


class GatedBlock(nn.Module):
    """One gated PixelCNN layer: vertical stack, horizontal stack, skip output.

    ``first`` blocks take the embedded input on both stacks and use mask A on
    the horizontal stack with no residual (the residual would leak the current
    pixel); later blocks use mask B and residual connections on both stacks.
    ``skip=False`` blocks (the coarse resolutions of a U-Net) have no skip
    output; ``shortcut=True`` blocks (the up pass of a U-Net) add 1×1 maps of
    the matching down-pass block's outputs to both pre-activations. Dropout
    (``config.dropout``, training only) acts on the gated features. With
    ``config.context`` both stacks add 1×1 maps of their causal summaries
    (``rows_so_far``, ``left_in_row``).
    """

    def __init__(
        self,
        config: PixelCNNConfig,
        in_channels: int,
        *,
        first: bool = False,
        skip: bool = True,
        shortcut: bool = False,
    ) -> None:
        super().__init__()
        hidden, kernel, colours = config.hidden, config.kernel, config.colours
        self.first = first
        self.colours = colours
        self.hidden = hidden
        self.kernel = kernel
        self.dropout = config.dropout
        self.v_conv = nn.Conv2d(in_channels, 2 * hidden, (kernel // 2 + 1, kernel))
        self.v_to_h = nn.Conv2d(2 * hidden, 2 * hidden, 1)
        self.h_conv = MaskedConv2d(in_channels, 2 * hidden, (1, kernel // 2 + 1), "A" if first else "B", colours)
        self.h_out = MaskedConv2d(hidden, hidden, (1, 1), "B", colours)
        self.h_skip = MaskedConv2d(hidden, config.skip, (1, 1), "B", colours) if skip else None
        # Conditioning biases for both stacks: [vertical 2F | horizontal 2F].
        cond_channels = config.cond_channels + config.position_channels
        self.class_bias = nn.Embedding(config.label_count, 4 * hidden) if config.num_classes else None
        self.cond_proj = nn.Conv2d(cond_channels, 4 * hidden, 1) if cond_channels else None
        self.v_short = nn.Conv2d(hidden, 2 * hidden, 1) if shortcut else None
        self.h_short = MaskedConv2d(hidden, 2 * hidden, (1, 1), "B", colours) if shortcut else None
        self.v_context = nn.Conv2d(in_channels, 2 * hidden, 1) if config.context else None
        self.h_context = nn.Conv2d(in_channels, 2 * hidden, 1) if config.context else None

    def v_pad(self, v: torch.Tensor) -> torch.Tensor:
        """Pad so the vertical conv covers rows i-k//2..i, columns j-k//2..j+k//2."""
        p = self.kernel // 2
        return F.pad(v, (p, p, p, 0))

    def conditioning_terms(self, labels: torch.Tensor | None, cond: torch.Tensor | None) -> list[torch.Tensor]:
        """The class and map biases of both stacks, [vertical 2F | horizontal 2F]: (B, 4F, 1, 1), (B, 4F, H, W)."""
        terms = []
        if self.class_bias is not None:
            if labels is None:
                raise ValueError("this model is class-conditional: pass labels")
            terms.append(self.class_bias(labels)[:, :, None, None])  # (B, 4F, 1, 1)
        if self.cond_proj is not None:
            if cond is None:
                raise ValueError("this model is conditioned on a feature map: pass cond")
            terms.append(self.cond_proj(cond))  # (B, 4F, H, W)
        return terms

    def conditioning(
        self, labels: torch.Tensor | None, cond: torch.Tensor | None
    ) -> tuple[torch.Tensor | float, torch.Tensor | float]:
        """Biases (vertical, horizontal), each broadcastable to (B, 2F, H, W)."""
        terms = self.conditioning_terms(labels, cond)
        if not terms:
            return 0.0, 0.0
        bias = terms[0]
        for term in terms[1:]:
            bias = bias + term
        return bias[:, : 2 * self.hidden], bias[:, 2 * self.hidden :]

    def forward(
        self,
        v: torch.Tensor,
        h: torch.Tensor,
        labels: torch.Tensor | None = None,
        cond: torch.Tensor | None = None,
        shortcut: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """v, h: (B, F_in, H, W); shortcut: the down pass's (v, h), (B, F, H, W) each.

        Returns (v', h', skip): (B, F, H, W), (B, F, H, W), (B, S, H, W) or None.
        """
        if (shortcut is None) != (self.v_short is None):
            raise ValueError("pass shortcut exactly when the block was built with shortcut=True")
        v_bias, h_bias = self.conditioning(labels, cond)
        v_pre = self.v_conv(self.v_pad(v)) + v_bias  # (B, 2F, H, W), rows <= i
        if shortcut is not None and self.v_short is not None:
            v_pre = v_pre + self.v_short(shortcut[0])
        if self.v_context is not None:
            v_pre = v_pre + self.v_context(rows_so_far(v))  # (B, 2F, H, 1): every column of rows <= i
        h_pre = self.h_conv(h) + self.v_to_h(shift_down(v_pre)) + h_bias  # rows < i from v
        if shortcut is not None and self.h_short is not None:
            h_pre = h_pre + self.h_short(shortcut[1])
        if self.h_context is not None:
            h_pre = h_pre + self.h_context(left_in_row(h))  # columns < j of row i
        v_new = self.drop(gate(v_pre))
        h_gated = self.drop(gate(h_pre, self.colours))  # (B, F, H, W)
        h_new = self.h_out(h_gated)
        if not self.first:
            v_new = v + v_new
            h_new = h + h_new
        return v_new, h_new, None if self.h_skip is None else self.h_skip(h_gated)

    def drop(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(x, self.dropout, self.training) if self.dropout else x


class Downsample(nn.Module):
    """Both stacks to the next coarser resolution, (B, F, H, W) → (B, F, h, w), h = ceil(H / 2).

    Coarse (I, J) is anchored at fine (2I, 2J): a 2×2 stride-2 convolution over
    fine rows 2I-1 .. 2I and columns 2J-1 .. 2J (one row and column of zero
    padding on top and left), the horizontal one with mask B at the anchor.
    """

    def __init__(self, features: int, colours: int) -> None:
        super().__init__()
        self.v = nn.Conv2d(features, features, 2, stride=2)
        self.h = MaskedConv2d(features, features, (2, 2), "B", colours, stride=2)

    def forward(self, v: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.v(F.pad(v, (1, 0, 1, 0))), self.h(h)


class Upsample(nn.Module):
    """Both stacks to the next finer resolution, (B, F, h, w) → (B, F, H, W).

    Fine (i, j) reads coarse (i // 2, j // 2) through weights of its phase
    (i % 2, j % 2): a 2×2 stride-2 transposed convolution, cropped to H × W;
    the horizontal one masks colour groups (mask B) at every phase. The mask
    is built once as a (non-persistent) buffer.
    """

    mask: torch.Tensor  # the buffer, declared for the type checker

    def __init__(self, features: int, colours: int) -> None:
        super().__init__()
        self.v = nn.ConvTranspose2d(features, features, 2, stride=2)
        self.h = nn.ConvTranspose2d(features, features, 2, stride=2)
        mask = group_mask(features, features, colours).t()[:, :, None, None].expand(-1, -1, 2, 2)  # (in, out, 2, 2)
        self.register_buffer("mask", mask.contiguous(), persistent=False)

    def masked_weight(self) -> torch.Tensor:
        return self.h.weight * self.mask

    def forward(
        self, v: torch.Tensor, h: torch.Tensor, size: tuple[int, int]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        height, width = size
        h = F.conv_transpose2d(h, self.masked_weight(), self.h.bias, stride=2)
        return self.v(v)[:, :, :height, :width], h[:, :, :height, :width]
