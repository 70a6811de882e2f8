"""Causal self-attention over raster order (PixelSNAIL style) for the gated PixelCNN.

Legend: B batch, C colour groups, F hidden features, D conditioning
features, H W positions, N = H·W positions in raster order, nh heads, dk
query/key features per head, dv = F / nh value features per head.

The block updates the horizontal stack ``h``, whose features at position n
depend only on inputs strictly before n (colour group g also on channels < g
of n itself). So that this stays true after the block:

- the query at n comes from colour group 0 of ``h`` at n, which depends on
  positions before n only;
- keys and values come from all of ``h`` at positions m <= n with one colour
  group (``h`` at n depends on earlier inputs only), and m < n with several
  (``h`` at n mixes the channels of n);
- a learned null key and value are always visible, so the first position
  has something to attend to;
- the result, which depends on positions before n only, is added to every
  feature of ``h`` at n.

The conditioning map (class-free: the ``cond`` map and the learned position
map) is projected into the queries and the keys, so attention can use where
a position is. Scores and softmax run in fp32 (fp64 for fp64 models) even
under autocast.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from pixelcnn.configs import PixelCNNConfig


def attention_mask(height: int, width: int, strict: bool, device: torch.device | None = None) -> torch.Tensor:
    """Which keys each query sees: bool (N, 1 + N), key 0 the null, key 1 + m position m."""
    n = height * width
    return torch.ones(n, 1 + n, dtype=torch.bool, device=device).tril(0 if strict else 1)


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention on the horizontal stack, with a residual connection."""

    mask: torch.Tensor  # the buffer, declared for the type checker

    def __init__(self, config: PixelCNNConfig, size: tuple[int, int]) -> None:
        super().__init__()
        hidden, colours = config.hidden, config.colours
        self.heads, self.key_dim = config.attention_heads, config.attention_dim
        self.value_dim = hidden // self.heads
        self.group = hidden // colours  # features of colour group 0, the queries' input
        self.strict = colours > 1
        self.scale = 1.0 / math.sqrt(self.key_dim)
        keys = self.heads * self.key_dim
        self.query = nn.Linear(self.group, keys)
        self.key_value = nn.Linear(hidden, keys + hidden)  # [keys nh·dk | values nh·dv]
        self.null = nn.Parameter(0.02 * torch.randn(keys + hidden))  # the null key and value
        self.out = nn.Linear(hidden, hidden)
        cond_channels = config.cond_channels + config.position_channels
        self.cond_proj = nn.Linear(cond_channels, 2 * keys) if cond_channels else None  # [queries | keys]
        self.size = size
        self.register_buffer("mask", attention_mask(*size, self.strict), persistent=False)

    def forward(self, h: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """h: (B, F, H, W); cond: (B, D, H, W) when the model has a conditioning map → (B, F, H, W)."""
        b, f, height, width = h.shape
        keys = self.heads * self.key_dim
        x = h.flatten(2).transpose(1, 2)  # (B, N, F)
        q = self.query(x[..., : self.group])  # (B, N, nh·dk)
        kv = self.key_value(x)  # (B, N, nh·dk + F)
        if self.cond_proj is not None:
            if cond is None:
                raise ValueError("this model is conditioned on a feature map: pass cond")
            qk = self.cond_proj(cond.flatten(2).transpose(1, 2))  # (B, N, 2·nh·dk)
            q = q + qk[..., :keys]
            kv = torch.cat([kv[..., :keys] + qk[..., keys:], kv[..., keys:]], dim=-1)  # (B, N, nh·dk + F)
        kv = torch.cat([self.null.to(kv.dtype).expand(b, 1, -1), kv], dim=1)  # (B, 1 + N, nh·dk + F)
        mask = self.mask if (height, width) == self.size else attention_mask(height, width, self.strict, h.device)
        attended = self.attend(q, kv, mask)  # (B, N, F)
        out = self.out(attended.to(q.dtype))  # (B, N, F)
        return h + out.transpose(1, 2).reshape(b, f, height, width)  # (B, F, H, W)

    def attend(self, q: torch.Tensor, kv: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """q: (B, N, nh·dk); kv: (B, 1 + M, nh·dk + F); mask: bool (N, 1 + M), None: all visible → (B, N, F).

        Runs in fp32 at least, also under autocast.
        """
        b, n, _ = q.shape
        m = kv.shape[1]
        nh, dk, dv = self.heads, self.key_dim, self.value_dim
        dtype = torch.promote_types(q.dtype, torch.float32)
        with torch.autocast(q.device.type, enabled=False):
            q = q.to(dtype).view(b, n, nh, dk).transpose(1, 2)  # (B, nh, N, dk)
            k = kv[..., : nh * dk].to(dtype).view(b, m, nh, dk).permute(0, 2, 3, 1)  # (B, nh, dk, 1 + M)
            v = kv[..., nh * dk :].to(dtype).view(b, m, nh, dv).transpose(1, 2)  # (B, nh, 1 + M, dv)
            scores = (q @ k) * self.scale  # (B, nh, N, 1 + M)
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            weights = torch.softmax(scores, dim=-1)
            return (weights @ v).transpose(1, 2).reshape(b, n, nh * dv)  # (B, N, F)
