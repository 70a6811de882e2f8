"""Causality, blind spots and shapes of the gated PixelCNN."""

from __future__ import annotations

import itertools

import pytest
import torch

from pixelcnn.layers import MaskedConv2d
from pixelcnn.model import PixelCNN, PixelCNNConfig


def dependency_map(model: PixelCNN, x: torch.Tensor, labels=None, cond=None) -> torch.Tensor:
    """dep[o, p] = True where output (i, j, c) = o has a non-zero gradient w.r.t. input position p.

    Positions are flattened in raster-then-channel order: index = (i * W + j) * C + c.
    One backward pass: the input is replicated once per output, each copy's loss
    is its own output's logits sum.
    """
    _, ch, h, w = x.shape
    n_out = h * w * ch
    emb = model.embed(x.expand(n_out, -1, -1, -1).contiguous()).detach().requires_grad_(True)
    # (n_out, C*E, H, W): run the network from the embedded input.
    v = hid = emb
    skip = 0.0
    lab = None if labels is None else labels.expand(n_out)
    cnd = model.block_cond(None if cond is None else cond.expand(n_out, -1, -1, -1), n_out)
    for block in model.blocks:
        v, hid, s = block(v, hid, lab, cnd)
        skip = skip + s
    logits = model.head(skip)  # (n_out, K, C, H, W)
    picked = logits.sum(1).permute(0, 2, 3, 1).reshape(n_out, n_out)  # (n_out, H*W*C) raster-then-channel
    picked.diagonal().sum().backward()
    grad = emb.grad.abs()  # (n_out, C*E, H, W)
    e = grad.shape[1] // ch
    grad = grad.view(n_out, ch, e, h, w).sum(2)  # (n_out, C, H, W)
    return grad.permute(0, 2, 3, 1).reshape(n_out, n_out) > 0


CASES = [
    # channels, embed_dim, num_classes, cond_channels[, position_channels]
    (1, 0, 4, 0, 3),
    (3, 0, 0, 2, 2),
    (1, 0, 0, 0),
    (3, 0, 0, 0),
    (1, 0, 4, 0),
    (3, 0, 4, 0),
    (1, 4, 0, 0),
    (1, 4, 3, 5),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_pixelcnn_causal_at_every_position(case):
    channels, embed_dim, num_classes, cond_channels, *position = case
    torch.manual_seed(0)
    h = w = 5
    cfg = PixelCNNConfig(
        channels=channels, levels=7, height=h, width=w, hidden=8 * channels, skip=32 * channels,
        layers=6, kernel=3, embed_dim=embed_dim, num_classes=num_classes, cond_channels=cond_channels,
        position_channels=position[0] if position else 0,
    )
    model = PixelCNN(cfg).double()
    x = torch.randint(0, 7, (1, channels, h, w))
    labels = torch.tensor([1]) if num_classes else None
    cond = torch.randn(1, cond_channels, h, w, dtype=torch.double) if cond_channels else None
    dep = dependency_map(model, x, labels, cond)
    n = dep.shape[0]
    future = torch.triu(torch.ones(n, n, dtype=torch.bool))  # p >= o: at or after the output
    assert not (dep & future).any(), f"outputs depend on current/future inputs at {torch.nonzero(dep & future)[:5].tolist()}"
    # every output but the first depends on some earlier input
    assert dep[1:].any(dim=1).all()
    # no blind spot: with this many layers the last output sees every earlier input
    assert dep[-1, :-1].all(), f"blind spot: {torch.nonzero(~dep[-1, :-1]).flatten().tolist()}"


def test_pixelcnn_perturbing_an_input_changes_nothing_before_it():
    torch.manual_seed(1)
    cfg = PixelCNNConfig(channels=3, levels=16, height=6, width=6, hidden=12, skip=12, layers=4)
    model = PixelCNN(cfg).double().eval()
    x = torch.randint(0, 16, (1, 3, 6, 6))
    base = model(x).detach()
    for i, j, c in itertools.product(range(6), range(6), range(3)):
        y = x.clone()
        y[0, c, i, j] = (y[0, c, i, j] + 5) % 16
        out = model(y).detach()
        order = torch.arange(6 * 6 * 3).view(6, 6, 3).permute(2, 0, 1)  # (C, H, W) raster-then-channel index
        earlier_or_same = order <= (i * 6 + j) * 3 + c
        diff = (out - base).abs().amax(1)[0]  # (C, H, W)
        assert torch.all(diff[earlier_or_same] == 0)


def test_masked_conv_mask_a_hides_current_group_and_b_shows_it():
    conv_a = MaskedConv2d(3, 3, (1, 2), "A", colours=3)
    conv_b = MaskedConv2d(3, 3, (1, 2), "B", colours=3)
    centre_a = conv_a.mask[:, :, 0, 1]  # (out, in) at the current pixel
    centre_b = conv_b.mask[:, :, 0, 1]
    assert torch.equal(centre_a, torch.tensor([[0.0, 0, 0], [1, 0, 0], [1, 1, 0]]))
    assert torch.equal(centre_b, torch.tensor([[1.0, 0, 0], [1, 1, 0], [1, 1, 1]]))
    assert torch.all(conv_a.mask[:, :, 0, 0] == 1)  # the pixel to the left is fully visible


def test_pixelcnn_logits_shape_and_bits_per_dim_of_uniform_model():
    cfg = PixelCNNConfig(channels=3, levels=256, height=4, width=4, hidden=6, skip=6, layers=2)
    model = PixelCNN(cfg)
    torch.nn.init.zeros_(model.head_out.weight)
    torch.nn.init.zeros_(model.head_out.bias)
    x = torch.randint(0, 256, (2, 3, 4, 4))
    assert model(x).shape == (2, 256, 3, 4, 4)
    assert model.bits_per_dim(x).item() == pytest.approx(8.0, abs=1e-5)  # uniform over 256 levels


def test_pixelcnn_config_rejects_hidden_not_divisible_by_channels():
    with pytest.raises(ValueError, match="hidden must be divisible by the 3 channels"):
        PixelCNNConfig(channels=3, hidden=64)
