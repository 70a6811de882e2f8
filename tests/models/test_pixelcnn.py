"""Causality, blind spots, outputs and options of the PixelCNN.

Every option of ``PixelCNNConfig`` (categorical or logistic output, U-Net
resolutions, attention, dropout) and their combinations, with 1 and 3
channels and every kind of conditioning, must keep each output (i, j, c)
a function of inputs strictly before it, and see all of them.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import pytest
import torch

from pixelcnn.models import logistic
from pixelcnn.models.layers import MaskedConv2d
from pixelcnn.models.pixelcnn import Layer, PixelCNN, PixelCNNConfig, network_layout

from causality import dependency_map, perturbation_map, strictly_before

# name → config overrides of a tiny model (see ``tiny``); every option, alone and combined,
# with 1 and 3 channels and class / map / position conditioning.
CASES = {
    "grey_class_position": dict(num_classes=4, position_channels=3),
    "grey_class_position_per_class": dict(num_classes=4, position_channels=3, position_per_class=True),
    "rgb_class_cond_position_per_class": dict(channels=3, num_classes=3, cond_channels=2, position_channels=2,
                                              position_per_class=True),
    "unet3_attention_rgb_class_position_per_class": dict(
        channels=3, resolutions=3, layers=2, attention_every=3, num_classes=3, position_channels=2,
        position_per_class=True, height=6, width=6, kernel=5,
    ),
    "rgb_cond_position": dict(channels=3, cond_channels=2, position_channels=2),
    "grey": dict(),
    "rgb": dict(channels=3),
    "rgb_class": dict(channels=3, num_classes=4),
    "codes": dict(embed_dim=4),
    "codes_class_cond": dict(embed_dim=4, num_classes=3, cond_channels=5),
    "logistic_grey_class": dict(output="logistic", num_classes=4),
    "logistic_rgb": dict(output="logistic", channels=3),
    "logistic_rgb_cond_position": dict(output="logistic", channels=3, cond_channels=2, position_channels=2),
    "unet2_grey_cond": dict(resolutions=2, layers=2, cond_channels=2),
    "unet2_rgb_class": dict(channels=3, resolutions=2, layers=2, num_classes=3),
    "unet3_rgb_position_7x6": dict(channels=3, resolutions=3, layers=2, position_channels=2, height=7, width=6),
    "unet2_codes_cond": dict(embed_dim=4, resolutions=2, layers=2, cond_channels=3),
    "attention_grey_class": dict(attention_every=2, num_classes=3),
    "attention_rgb_cond": dict(channels=3, attention_every=2, cond_channels=2),
    "attention_rgb_position_2heads": dict(channels=3, attention_every=1, attention_heads=2, position_channels=2),
    "attention_codes_class_cond": dict(embed_dim=4, attention_every=3, num_classes=3, cond_channels=5),
    "unet_attention_rgb_class_cond": dict(channels=3, resolutions=2, layers=2, attention_every=3, num_classes=3, cond_channels=2),
    "unet_attention_codes_class_cond": dict(embed_dim=4, resolutions=2, layers=2, attention_every=2, num_classes=2, cond_channels=3),
    "logistic_unet_grey_cond": dict(output="logistic", resolutions=2, layers=2, cond_channels=2),
    "logistic_unet_attention_grey_class_cond": dict(
        output="logistic", resolutions=2, layers=2, attention_every=2, num_classes=2, cond_channels=2
    ),
    "logistic_attention_rgb_class": dict(output="logistic", channels=3, attention_every=2, num_classes=3),
    "logistic_unet_attention_rgb_position_5x6": dict(
        output="logistic", channels=3, resolutions=2, layers=2, attention_every=2, position_channels=2, width=6
    ),
    "logistic_unet3_attention_rgb_class_cond": dict(
        output="logistic", channels=3, resolutions=3, layers=2, attention_every=3, num_classes=2, cond_channels=2,
        height=6, width=6, kernel=5,
    ),
}


def tiny(**overrides) -> PixelCNNConfig:
    """A tiny config: 5×5 grid, 7 levels, 6 blocks of 8 features per colour group."""
    channels = overrides.get("channels", 1)
    groups = channels if overrides.get("output", "categorical") == "categorical" else 1
    base = dict(channels=channels, levels=7, height=5, width=5, hidden=8 * groups, skip=8 * groups, layers=6, kernel=3)
    return PixelCNNConfig(**{**base, **overrides})


def inputs(config: PixelCNNConfig, batch: int = 1, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, config.levels, (batch, config.channels, config.height, config.width), generator=g)
    labels = torch.arange(1, batch + 1) % config.num_classes if config.num_classes else None
    cond = (
        torch.randn(batch, config.cond_channels, config.height, config.width, generator=g, dtype=torch.float64)
        if config.cond_channels else None
    )
    return x, labels, cond


def assert_causal_without_blind_spot(dep: torch.Tensor) -> None:
    n = dep.shape[0]
    future = torch.triu(torch.ones(n, n, dtype=torch.bool))  # p >= o: at or after the output
    assert not (dep & future).any(), f"outputs depend on current/future inputs at {torch.nonzero(dep & future)[:5].tolist()}"
    # every output but the first depends on some earlier input
    assert dep[1:].any(dim=1).all()
    # no blind spot: the last output sees every earlier input
    assert dep[-1, :-1].all(), f"blind spot: {torch.nonzero(~dep[-1, :-1]).flatten().tolist()}"


def open_relus(model: PixelCNN) -> PixelCNN:
    """Make the head's ReLUs the identity on these inputs (shift their inputs far positive, and back after).

    A gradient of exactly zero then means no path, never a dead unit. The outputs stay the same.
    """
    with torch.no_grad():
        skip_blocks = [block for block in model.blocks if block.h_skip is not None]
        for block in skip_blocks:
            block.h_skip.bias.add_(10.0)
        offset = torch.full_like(model.head_hidden.bias, 10.0 * len(skip_blocks))
        model.head_hidden.bias.sub_(model.head_hidden.masked_weight()[:, :, 0, 0] @ offset).add_(1e3)
        model.head_out.bias.sub_(model.head_out.masked_weight()[:, :, 0, 0] @ torch.full_like(offset, 1e3))
    return model


@pytest.mark.parametrize("case", list(CASES))
def test_pixelcnn_causal_at_every_position(case):
    config = tiny(**CASES[case])
    torch.manual_seed(0)
    model = open_relus(PixelCNN(config).double().eval())
    x, labels, cond = inputs(config)
    assert_causal_without_blind_spot(dependency_map(model, x, labels, cond))


@pytest.mark.parametrize("case", list(CASES))
def test_pixelcnn_with_context_every_output_sees_every_earlier_input(case):
    """With ``context``, the dependencies are exactly the strict past, exhaustively (perturbation, float64)."""
    config = tiny(**CASES[case], context=True)
    torch.manual_seed(0)
    model = PixelCNN(config).double().eval()
    x, labels, cond = inputs(config)
    dep = perturbation_map(model, x, labels, cond)
    expected = strictly_before(dep.shape[0])
    missing, leaks = (expected & ~dep).nonzero().tolist(), (dep & ~expected).nonzero().tolist()
    assert not leaks, f"{case}: outputs depend on inputs at or after them, (output, input) {leaks[:5]}"
    assert not missing, f"{case}: {len(missing)} (output, input) pairs unseen, e.g. {missing[:5]}"


DEFAULT_FIELD_CASES = {  # the defaults' grids, depths, kernels and resolutions (params.yaml), narrow for speed
    "pixel_unet3": dict(height=32, width=32, resolutions=3, layers=2, kernel=5, position_channels=8, position_per_class=True,
                        num_classes=10, null_class=True),
    "pixel_gated": dict(height=32, width=32, resolutions=1, layers=8, kernel=5, position_channels=8, num_classes=10),
    "pixel_unet3_attention": dict(height=32, width=32, resolutions=3, layers=2, kernel=5, attention_every=3,
                                  num_classes=10),
    "pixel_unet3_rgb_logistic_16x16": dict(height=16, width=16, channels=3, output="logistic", resolutions=3, layers=2,
                                           kernel=5, num_classes=10),
    "prior_bottom": dict(height=8, width=8, embed_dim=8, layers=8, kernel=3, num_classes=10, cond_channels=8, null_class=True),
    "prior_top": dict(height=4, width=4, embed_dim=8, layers=8, kernel=3, num_classes=10, null_class=True),
}


@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.slow) if c.startswith("pixel") else c
                                  for c in DEFAULT_FIELD_CASES])  # the quick loop checks the pixel models at 8×8 only
def test_pixelcnn_with_context_at_default_sizes_sees_the_whole_past(case):
    """At the sizes the default models are used at (32×32 pixels, 8×8 and 4×4 codes), by gradients."""
    overrides = DEFAULT_FIELD_CASES[case]
    channels = overrides.get("channels", 1)
    config = PixelCNNConfig(**{"levels": 16, "hidden": 3 * channels if channels == 3 else 4, "skip": 6, "context": True,
                               **overrides})
    torch.manual_seed(0)
    model = open_relus(PixelCNN(config).double().eval())
    x, labels, cond = inputs(config)
    dep = dependency_map(model, x, labels, cond, chunk=256)
    expected = strictly_before(dep.shape[0])
    assert not (dep & ~expected).any(), f"{case}: an output depends on an input at or after it"
    missing = (expected & ~dep).nonzero()
    assert len(missing) == 0, f"{case}: {len(missing)} (output, input) pairs unseen, e.g. {missing[:5].tolist()}"


def test_pixelcnn_dropout_keeps_training_mode_causal_and_eval_deterministic():
    config = tiny(channels=3, resolutions=2, layers=2, attention_every=2, dropout=0.3, num_classes=2)
    torch.manual_seed(0)
    model = open_relus(PixelCNN(config).double())
    x, labels, cond = inputs(config)
    dep = dependency_map(model.train(), x, labels, cond)
    n = dep.shape[0]
    assert not (dep & torch.triu(torch.ones(n, n, dtype=torch.bool))).any()
    torch.manual_seed(1)
    a = model(x, labels)
    torch.manual_seed(2)
    assert not torch.equal(a, model(x, labels)), "dropout draws nothing in training mode"
    model.eval()
    torch.manual_seed(1)
    b = model(x, labels)
    torch.manual_seed(2)
    assert torch.equal(b, model(x, labels))
    assert_causal_without_blind_spot(dependency_map(model, x, labels, cond))


def test_pixelcnn_perturbing_an_input_changes_nothing_before_it():
    torch.manual_seed(1)
    config = PixelCNNConfig(channels=3, levels=16, height=6, width=6, hidden=12, skip=12, layers=4)
    model = PixelCNN(config).double().eval()
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
    config = PixelCNNConfig(channels=3, levels=256, height=4, width=4, hidden=6, skip=6, layers=2)
    model = PixelCNN(config)
    torch.nn.init.zeros_(model.head_out.weight)
    torch.nn.init.zeros_(model.head_out.bias)
    x = torch.randint(0, 256, (2, 3, 4, 4))
    assert model(x).shape == (2, 256, 3, 4, 4)
    assert model.bits_per_dim(x).item() == pytest.approx(8.0, abs=1e-5)  # uniform over 256 levels


def test_pixelcnn_config_rejects_hidden_not_divisible_by_channels():
    with pytest.raises(ValueError, match="hidden must be divisible by the 3 channels"):
        PixelCNNConfig(channels=3, hidden=64)
    PixelCNNConfig(channels=3, hidden=64, skip=64, output="logistic")  # no colour groups: any width


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(output="logistic", embed_dim=4), r"pixel values fed as scalars \(embed_dim 0\), got embed_dim 4"),
        (dict(output="softmax"), "output must be 'categorical' or 'logistic', got 'softmax'"),
        (dict(layers=4, attention_every=4), "places no attention block"),
        (dict(attention_every=2, attention_heads=3), "attention_heads must divide hidden 64, got 3"),
        (dict(resolutions=0), "resolutions must be >= 1"),
        (dict(dropout=1.0), r"dropout must be in \[0, 1\)"),
        (dict(n_mix=0), "n_mix must be >= 1"),
    ],
)
def test_pixelcnn_config_rejects_bad_options_with_a_sentence(overrides, message):
    with pytest.raises(ValueError, match=message):
        PixelCNNConfig(**overrides)


# Outputs of the default-option model, written by the code before the options existed:
# old checkpoints must load into the same model and give the same logits.
REFERENCE = {
    "pixels_rgb_class_position": (
        dict(channels=3, levels=16, height=5, width=6, hidden=12, skip=9, layers=3, kernel=5, num_classes=4,
             position_channels=2),
        (8.708431957827099, 568.3942300083476, -0.18072502121048192, 16065),
    ),
    "codes_cond": (
        dict(channels=1, levels=9, height=4, width=5, hidden=8, skip=6, layers=2, kernel=3, embed_dim=3, cond_channels=2),
        (-16.32508602423847, 66.58577116749485, -0.20697331428527832, 2592),
    ),
}


@pytest.mark.parametrize("name", list(REFERENCE))
def test_pixelcnn_default_options_rebuild_the_original_model(name):
    kwargs, (total, absolute, last, parameters) = REFERENCE[name]
    torch.manual_seed(0)
    model = PixelCNN(PixelCNNConfig(**kwargs)).double()
    g = torch.Generator().manual_seed(1)
    c = model.config
    x = torch.randint(0, c.levels, (2, c.channels, c.height, c.width), generator=g)
    labels = torch.tensor([1, 3]) if c.num_classes else None
    cond = torch.randn(2, c.cond_channels, c.height, c.width, generator=g, dtype=torch.float64) if c.cond_channels else None
    out = model(x, labels, cond).detach()
    assert sum(p.numel() for p in model.parameters()) == parameters
    assert not any(k.startswith(("attention", "down", "up")) or "short" in k for k in model.state_dict())
    torch.testing.assert_close(out.sum().item(), total, rtol=0, atol=1e-9)
    torch.testing.assert_close(out.abs().sum().item(), absolute, rtol=0, atol=1e-9)
    torch.testing.assert_close(out[1, 2, -1, -1, -1].item(), last, rtol=0, atol=1e-12)


def test_network_layout_pairs_up_pass_shortcuts_with_the_down_pass_in_reverse():
    layout = network_layout(tiny(resolutions=3, layers=2, attention_every=3))
    kinds = [(s.kind, s.resolution) for s in layout]
    B, A, D, U = Layer.BLOCK, Layer.ATTENTION, Layer.DOWN, Layer.UP
    assert kinds == [
        (B, 0), (B, 0), (D, 0), (B, 1), (A, 1), (B, 1), (D, 1), (B, 2), (B, 2),
        (A, 2), (B, 2), (B, 2), (U, 1), (B, 1), (A, 1), (B, 1), (U, 0), (B, 0), (B, 0),
    ]
    blocks = [s for s in layout if s.kind is B]
    assert [s.index for s in blocks] == list(range(12))
    assert [s.shortcut for s in blocks] == [-1] * 6 + [5, 4, 3, 2, 1, 0]
    assert [s.kind for s in network_layout(tiny(layers=3))] == [B, B, B]  # one resolution: today's stack


def test_position_logits_equal_the_full_forward_pass():
    for case in ("logistic_unet_attention_rgb_position_5x6", "unet_attention_rgb_class_cond"):
        config = tiny(**CASES[case])
        torch.manual_seed(0)
        model = PixelCNN(config).double().eval()
        x, labels, cond = inputs(config, batch=2)
        full = model(x, labels, cond)
        for i, j in [(0, 0), (2, 3), (4, 4)]:
            # The same network on a one-position slice: equal up to the rounding of a different summation
            # order (on AMD EPYC 5 of 42 float64 logits differ by 4.4e-16), so a few ulps, not bit-exact.
            torch.testing.assert_close(model.position_logits(x, i, j, labels, cond), full[..., i, j], rtol=1e-13, atol=1e-13)


def test_position_per_class_reads_the_map_of_each_images_class():
    """Each image's logits are those of a shared-map model whose map is its class's; other classes' maps are unread."""
    config = tiny(**CASES["unet3_attention_rgb_class_position_per_class"])
    torch.manual_seed(0)
    model = PixelCNN(config).double().eval()
    assert model.position.shape == (3, 2, 6, 6)
    shared = PixelCNN(dataclasses.replace(config, position_per_class=False)).double().eval()
    x, _, _ = inputs(config, batch=3)
    labels = torch.tensor([2, 0, 2])
    out = model(x, labels)
    for k in range(3):
        state = {**model.state_dict(), "position": model.position[labels[k]].detach()}
        shared.load_state_dict(state)
        torch.testing.assert_close(out[k : k + 1], shared(x[k : k + 1], labels[k : k + 1]), rtol=0, atol=1e-12)
    out.sum().backward()
    assert model.position.grad[1].abs().sum() == 0 and model.position.grad[[0, 2]].abs().sum() > 0
    with pytest.raises(ValueError, match="pass labels"):
        model.block_cond(None, 1)
    # unconditional models have one map whatever the option says
    assert PixelCNN(tiny(position_channels=2, position_per_class=True)).position.shape == (2, 5, 5)


def logistic_model(channels: int, levels: int = 7, seed: int = 0) -> PixelCNN:
    torch.manual_seed(seed)
    config = tiny(output="logistic", channels=channels, levels=levels, n_mix=3, layers=3, num_classes=2)
    model = PixelCNN(config).double().eval()
    with torch.no_grad():  # spread the means and scales over the range, some narrow, some wide
        model.head_out.weight.mul_(3)
    return model


@pytest.mark.parametrize("channels", [1, 3])
def test_logistic_tables_are_distributions_and_nll_is_their_gather(channels):
    model = logistic_model(channels)
    x, labels, _ = inputs(model.config, batch=3)
    table = model(x, labels)  # (B, K, C, H, W) log-probabilities
    assert table.dtype == torch.float64
    torch.testing.assert_close(table.logsumexp(1), torch.zeros_like(table[:, 0]), rtol=0, atol=1e-12)
    gathered = -table.gather(1, x[:, None]).flatten(1).sum(1)  # (B,)
    torch.testing.assert_close(model.nll(x, labels), gathered, rtol=1e-12, atol=1e-10)
    bits = gathered.mean() / (x[0].numel() * math.log(2))
    torch.testing.assert_close(model.bits_per_dim(x, labels), bits, rtol=1e-12, atol=0)


def test_logistic_tables_match_a_direct_computation_of_the_mixture():
    """Joint of the pixel by hand: Σ_m π_m Π_c (σ(upper edge) - σ(lower edge)), edges at ∓∞ for 0 and K-1."""
    model = logistic_model(3, levels=5)
    x, labels, _ = inputs(model.config, batch=2, seed=3)
    config = model.config
    e = model.embed(x)
    out = model.head(model.trunk(e, labels, None)).permute(0, 2, 3, 1)  # (B, H, W, Q)
    mix = logistic.mixture(out, 3, config.n_mix)
    values = torch.linspace(-1, 1, config.levels, dtype=torch.float64)
    half = 1.0 / (config.levels - 1)
    lower = torch.cat([torch.tensor([-math.inf], dtype=torch.float64), values[1:] - half])
    upper = torch.cat([values[:-1] + half, torch.tensor([math.inf], dtype=torch.float64)])
    b, i, j = 1, 2, 3
    pixel = e[b, :, i, j]  # (C,) the observed values
    scales = mix.log_scales[b, i, j].exp()  # (M, C)
    weights = mix.log_weights[b, i, j].exp()  # (M,)
    a = mix.coeffs[b, i, j]  # (M, 3)
    means = mix.means[b, i, j].clone()  # (M, C)
    means[:, 1] += a[:, 0] * pixel[0]
    means[:, 2] += a[:, 1] * pixel[0] + a[:, 2] * pixel[1]

    def mass(c: int, k: torch.Tensor) -> torch.Tensor:  # (M,) per component
        return torch.sigmoid((upper[k] - means[:, c]) / scales[:, c]) - torch.sigmoid((lower[k] - means[:, c]) / scales[:, c])

    index = ((pixel + 1) / (2 * half)).round().long()
    table = model(x, labels)[b, :, :, i, j].exp()  # (K, C)
    for c in range(3):
        prefix = weights.clone()
        for prev in range(c):
            prefix = prefix * mass(prev, index[prev])
        direct = torch.stack([(prefix * mass(c, torch.tensor(k))).sum() for k in range(config.levels)]) / prefix.sum()
        torch.testing.assert_close(table[:, c], direct, rtol=1e-10, atol=1e-14)


def test_logistic_bits_per_dim_is_exact_for_8_bit_data():
    """A single wide logistic centred at 0: bits/dim is the entropy-free log-loss of its exact bin masses."""
    torch.manual_seed(0)
    config = PixelCNNConfig(channels=1, levels=256, height=2, width=2, hidden=4, skip=4, layers=1, output="logistic", n_mix=1)
    model = PixelCNN(config).double()
    torch.nn.init.zeros_(model.head_out.weight)
    torch.nn.init.zeros_(model.head_out.bias)  # mean 0, log-scale 0
    x = torch.tensor([0, 1, 128, 255]).view(1, 1, 2, 2)
    t = torch.linspace(-1, 1, 256, dtype=torch.float64)[x.flatten()]
    half = 1 / 255
    cdf = torch.sigmoid
    probs = torch.stack([cdf(t[0] + half), cdf(t[1] + half) - cdf(t[1] - half),
                         cdf(t[2] + half) - cdf(t[2] - half), 1 - cdf(t[3] - half)])
    expected = -probs.log2().mean()
    torch.testing.assert_close(model.bits_per_dim(x), expected, rtol=1e-12, atol=0)


@pytest.mark.parametrize(
    "overrides",
    [
        dict(),
        dict(output="logistic", channels=3, resolutions=2, layers=2, attention_every=2, dropout=0.1, position_channels=2),
        dict(channels=3, resolutions=2, layers=2, attention_every=3, num_classes=2, cond_channels=2),
        dict(embed_dim=4, attention_every=2, cond_channels=3),
    ],
    ids=["default", "logistic_unet_attention", "rgb_unet_attention", "codes_attention"],
)
def test_pixelcnn_trains_under_cpu_bf16_autocast(overrides):
    config = tiny(**overrides)
    torch.manual_seed(0)
    model = PixelCNN(config)
    x, labels, cond = inputs(config, batch=2)
    cond = None if cond is None else cond.float()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model.bits_per_dim(x, labels, cond)
        logits = model(x, labels, cond)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    if config.output == "logistic":
        assert logits.dtype == torch.float32  # log-probabilities stay in fp32
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    if config.attention_every:
        assert model.attention[0].key_value.weight.grad.abs().sum() > 0
