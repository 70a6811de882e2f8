"""Which inputs each output of a PixelCNN depends on: the tool of every causality test."""

from __future__ import annotations

import torch

from pixelcnn.models.pixelcnn import PixelCNN


def dependency_map(model: PixelCNN, x: torch.Tensor, labels=None, cond=None) -> torch.Tensor:
    """dep[o, p] = True where output (i, j, c) = o has a non-zero gradient w.r.t. input position p.

    Positions are flattened in raster-then-channel order: index = (i * W + j) * C + c.
    One backward pass: the input is replicated once per output, each copy's loss
    is its own output's logits sum. The logistic output reads the pixel's
    earlier channels too (coupling, posterior weights): through the same input.
    """
    _, ch, h, w = x.shape
    n_out = h * w * ch
    emb = model.embed(x.expand(n_out, -1, -1, -1).contiguous()).detach().requires_grad_(True)
    # (n_out, C*E, H, W): run the network from the embedded input.
    lab = None if labels is None else labels.expand(n_out)
    cnd = None if cond is None else cond.expand(n_out, -1, -1, -1)
    logits = model.logits(model.head(model.trunk(emb, lab, cnd)), emb)  # (n_out, K, C, H, W)
    picked = logits.sum(1).permute(0, 2, 3, 1).reshape(n_out, n_out)  # (n_out, H*W*C) raster-then-channel
    picked.diagonal().sum().backward()
    grad = emb.grad.abs()  # (n_out, C*E, H, W)
    e = grad.shape[1] // ch
    grad = grad.view(n_out, ch, e, h, w).sum(2)  # (n_out, C, H, W)
    return grad.permute(0, 2, 3, 1).reshape(n_out, n_out) > 0
