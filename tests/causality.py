"""Which inputs each output of a PixelCNN depends on: the tools of every causality test.

Positions are flattened in raster-then-channel order: index = (i * W + j) * C + c,
and ``dep[o, p]`` is True where output o (the logits of value o) depends on input p.
A causal model without blind spots has ``dep == strictly_before(n)``: every
output depends on every earlier input and on nothing at or after it.
"""

from __future__ import annotations

import torch

from pixelcnn.models.pixelcnn import PixelCNN


def strictly_before(n: int) -> torch.Tensor:
    """bool (n, n): True where input p comes strictly before output o (p < o)."""
    return torch.ones(n, n, dtype=torch.bool).tril(-1)


def dependency_map(model: PixelCNN, x: torch.Tensor, labels=None, cond=None, chunk: int | None = None) -> torch.Tensor:
    """dep[o, p] = True where output (i, j, c) = o has a non-zero gradient w.r.t. input position p.

    The input is replicated once per output, each copy's loss is its own
    output's logits sum, so one backward pass gives every output's gradient
    (``chunk`` outputs at a time, to bound memory at large grids). The
    logistic output reads the pixel's earlier channels too (coupling,
    posterior weights): through the same input.
    """
    _, ch, h, w = x.shape
    n_out = h * w * ch
    step = chunk or n_out
    rows = []
    for first in range(0, n_out, step):
        count = min(step, n_out - first)
        emb = model.embed(x.expand(count, -1, -1, -1).contiguous()).detach().requires_grad_(True)  # (count, C·E, H, W)
        lab = None if labels is None else labels.expand(count)
        cnd = None if cond is None else cond.expand(count, -1, -1, -1)
        logits = model.logits(model.head(model.trunk(emb, lab, cnd)), emb)  # (count, K, C, H, W)
        picked = logits.sum(1).permute(0, 2, 3, 1).reshape(count, n_out)  # (count, H·W·C) raster-then-channel
        picked[torch.arange(count), torch.arange(first, first + count)].sum().backward()
        grad = emb.grad.abs()  # (count, C·E, H, W)
        grad = grad.view(count, ch, -1, h, w).sum(2)  # (count, C, H, W)
        rows.append(grad.permute(0, 2, 3, 1).reshape(count, n_out) > 0)
    return torch.cat(rows)


@torch.no_grad()
def perturbation_map(model: PixelCNN, x: torch.Tensor, labels=None, cond=None, tolerance: float = 1e-12) -> torch.Tensor:
    """dep[o, p] = True where changing input value p changes output o's logits by more than ``tolerance``.

    Exhaustive and gradient-free: one forward pass of a batch holding the input
    and, for every position p, a copy with value p moved half the range. Run
    it in float64, where rounding never comes near the tolerance.
    """
    _, ch, h, w = x.shape
    n = h * w * ch
    levels = model.config.levels
    batch = x.expand(n + 1, -1, -1, -1).clone()  # (1 + n, C, H, W)
    flat = batch.permute(0, 2, 3, 1).reshape(n + 1, n)  # a copy in raster-then-channel order
    index = torch.arange(n)
    flat[1 + index, index] = (flat[1 + index, index] + levels // 2) % levels
    batch = flat.view(n + 1, h, w, ch).permute(0, 3, 1, 2).contiguous()
    lab = None if labels is None else labels.expand(n + 1)
    cnd = None if cond is None else cond.expand(n + 1, -1, -1, -1)
    out = model(batch, lab, cnd)  # (1 + n, K, C, H, W)
    change = (out[1:] - out[:1]).abs().amax(1)  # (n, C, H, W): [p, output]
    return (change.permute(0, 2, 3, 1).reshape(n, n) > tolerance).t()  # [o, p]
