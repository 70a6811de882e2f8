"""The cached sampler equals the naive one: logits, samples, completion, callbacks, for every model option.

Tiny random-weight models in float64 on 6×6 grids, so the naive reference
(one full forward pass per step) stays fast and rounding never flips a draw.
"""

from __future__ import annotations

import pytest
import torch

from pixelcnn.configs import SamplingOptions
from pixelcnn.models.pixelcnn import PixelCNN, PixelCNNConfig
from pixelcnn.sampling.api import sample
from pixelcnn.sampling.cached import cached_logits, sample_cached
from pixelcnn.sampling.naive import sample_naive

H, W, N = 6, 6, 3

# name → config overrides: channels, embedding, conditioning, kernel, layers, and the options
# (output, resolutions, attention, dropout) alone and combined.
USES = {
    "pixels_grey_class_position": dict(num_classes=3, kernel=5, layers=3, position_channels=2),
    "pixels_rgb_class_position_per_class": dict(channels=3, num_classes=3, layers=3, position_channels=2,
                                                position_per_class=True),
    "unet3_attention_grey_class_position_per_class": dict(
        resolutions=3, layers=1, attention_every=2, kernel=5, num_classes=3, position_channels=2, position_per_class=True
    ),
    "codes_cond_class_position_per_class": dict(embed_dim=4, cond_channels=5, num_classes=3, layers=3,
                                                position_channels=2, position_per_class=True),
    "pixels_rgb_position": dict(channels=3, layers=3, position_channels=3),
    "codes_cond_position": dict(embed_dim=4, cond_channels=5, layers=3, position_channels=2),
    "pixels_grey": dict(layers=4),
    "pixels_rgb": dict(channels=3, layers=4),
    "pixels_rgb_class": dict(channels=3, num_classes=4, layers=3),
    "codes": dict(embed_dim=4, layers=4),
    "codes_class": dict(embed_dim=4, num_classes=3, layers=3),
    "codes_cond": dict(embed_dim=4, cond_channels=5, layers=3),
    "codes_cond_class": dict(embed_dim=4, num_classes=3, cond_channels=5, layers=4),
    "pixels_rgb_kernel5": dict(channels=3, kernel=5, layers=3),
    "pixels_grey_one_layer": dict(layers=1),
    "logistic_grey_class": dict(output="logistic", num_classes=3, layers=3),
    "logistic_rgb_position": dict(output="logistic", channels=3, layers=3, position_channels=2),
    "unet2_rgb_class": dict(channels=3, resolutions=2, layers=2, num_classes=3),
    "unet3_grey_position": dict(resolutions=3, layers=1, kernel=5, position_channels=2),
    "unet2_codes_cond": dict(embed_dim=4, resolutions=2, layers=2, cond_channels=5),
    "attention_rgb_class": dict(channels=3, attention_every=1, layers=3, num_classes=4),
    "attention_grey_position_2heads": dict(attention_every=2, attention_heads=2, layers=3, position_channels=2),
    "attention_codes_cond_class": dict(embed_dim=4, attention_every=2, layers=3, num_classes=3, cond_channels=5),
    "unet_attention_rgb_cond": dict(channels=3, resolutions=2, layers=2, attention_every=3, cond_channels=2),
    "logistic_unet_attention_rgb_class": dict(
        output="logistic", channels=3, resolutions=2, layers=2, attention_every=2, num_classes=3, dropout=0.2
    ),
    "logistic_unet3_attention_grey_position": dict(
        output="logistic", resolutions=3, layers=1, attention_every=2, kernel=5, position_channels=2
    ),
    # the causal context (every block reads the means of the rows so far and of the row to the left)
    "context_pixels_grey_class_position": dict(context=True, num_classes=3, layers=3, position_channels=2),
    "context_pixels_rgb_class": dict(context=True, channels=3, num_classes=3, layers=3),
    "context_unet3_attention_grey_class_position_per_class": dict(
        context=True, resolutions=3, layers=1, attention_every=2, kernel=5, num_classes=3, position_channels=2,
        position_per_class=True,
    ),
    "context_unet2_rgb_cond": dict(context=True, channels=3, resolutions=2, layers=2, cond_channels=2),
    "context_codes_cond_class": dict(context=True, embed_dim=4, cond_channels=5, num_classes=3, layers=3),
    "context_logistic_unet_attention_rgb_class": dict(
        context=True, output="logistic", channels=3, resolutions=2, layers=2, attention_every=2, num_classes=3
    ),
}
# Models with a "no class" label (classifier-free guidance), each option among them.
GUIDED = {
    "pixels_grey_class_position": dict(num_classes=3, null_class=True, layers=3, position_channels=2),
    "pixels_rgb_class_position_per_class": dict(channels=3, num_classes=3, null_class=True, layers=3,
                                                position_channels=2, position_per_class=True),
    "context_unet3_attention_grey_class": dict(context=True, resolutions=3, layers=1, attention_every=2, kernel=5,
                                               num_classes=3, null_class=True),
    "context_codes_cond_class": dict(context=True, embed_dim=4, cond_channels=5, num_classes=3, null_class=True, layers=3),
    "logistic_unet_attention_rgb_class": dict(output="logistic", channels=3, resolutions=2, layers=2, attention_every=2,
                                              num_classes=3, null_class=True),
    "context_unet2_rgb_class_cond": dict(context=True, channels=3, resolutions=2, layers=2, num_classes=2,
                                         null_class=True, cond_channels=2),
}
USES.update({f"guided_{name}": overrides for name, overrides in GUIDED.items()})
GUIDANCE = [
    SamplingOptions(guidance=3.0),
    SamplingOptions(guidance=0.0),
    SamplingOptions(guidance=1.5, temperature=0.8, top_k=5, top_p=0.9),
]
OPTIONS = [
    SamplingOptions(),
    SamplingOptions(temperature=0.7, top_k=3),
    SamplingOptions(temperature=1.3, top_p=0.8),
    SamplingOptions(temperature=0.9, top_k=5, top_p=0.7),
]


def build(use: str, seed: int = 0, levels: int = 9) -> tuple[PixelCNN, dict]:
    """A float64 model for ``use`` (in eval mode) and its conditioning inputs for N images."""
    overrides = USES[use]
    channels = overrides.get("channels", 1)
    groups = channels if overrides.get("output", "categorical") == "categorical" else 1
    torch.manual_seed(seed)
    config = PixelCNNConfig(**{
        "levels": levels, "height": H, "width": W, "hidden": 4 * groups, "skip": 6 * groups, "kernel": 3, **overrides,
    })
    model = PixelCNN(config).double().eval()
    with torch.no_grad():
        model.head_out.weight.mul_(4)  # peakier distributions, so top-k / top-p cut something
    inputs = {
        "labels": torch.arange(N) % config.num_classes if config.num_classes else None,
        "cond": torch.randn(N, config.cond_channels, H, W, dtype=torch.float64) if config.cond_channels else None,
    }
    return model, inputs


@pytest.mark.parametrize("use", list(USES))
def test_cached_logits_match_full_forward_at_every_position(use):
    model, inputs = build(use)
    x = torch.randint(0, model.config.levels, (N, model.config.channels, H, W))
    cached = cached_logits(model, x, **inputs)
    full = model(x, **inputs).detach()
    assert cached.shape == full.shape
    torch.testing.assert_close(cached, full, rtol=0, atol=1e-11)


@pytest.mark.parametrize("use", list(USES))
@pytest.mark.parametrize("options", [o if o.top_k and o.top_p < 1 else pytest.param(o, marks=pytest.mark.slow) for o in OPTIONS],
                         ids=lambda o: f"t{o.temperature}-k{o.top_k}-p{o.top_p}")  # the quick loop: every filter at once
def test_sample_cached_equals_naive(use, options):
    model, inputs = build(use)
    fast = sample_cached(model, N, options=options, generator=torch.Generator().manual_seed(1), **inputs)
    slow = sample_naive(model, N, options=options, generator=torch.Generator().manual_seed(1), **inputs)
    assert fast.dtype == torch.int64 and fast.shape == (N, model.config.channels, H, W)
    assert torch.equal(fast, slow)


@pytest.mark.parametrize(
    "use",
    ["pixels_rgb_class", "codes_cond_class", "unet_attention_rgb_cond", "logistic_unet_attention_rgb_class",
     "attention_codes_cond_class", "unet3_grey_position"],
)
def test_sample_cached_completion_equals_naive_and_keeps_given_rows(use):
    model, inputs = build(use, seed=2)
    c = model.config
    init = torch.randint(0, c.levels, (N, c.channels, H, W))
    options = SamplingOptions(temperature=0.8, top_k=6)
    kw = dict(options=options, init=init, start_row=3, **inputs)
    fast = sample_cached(model, N, generator=torch.Generator().manual_seed(5), **kw)
    slow = sample_naive(model, N, generator=torch.Generator().manual_seed(5), **kw)
    assert torch.equal(fast, slow)
    assert torch.equal(fast[:, :, :3], init[:, :, :3])
    # the kept rows warm the cache: other kept rows, the naive sampler's other completions
    other = init.clone()
    other[:, :, :3] = (other[:, :, :3] + 1) % c.levels
    kw["init"] = other
    moved = sample_cached(model, N, generator=torch.Generator().manual_seed(5), **kw)
    assert torch.equal(moved, sample_naive(model, N, generator=torch.Generator().manual_seed(5), **kw))


@pytest.mark.parametrize("use", ["pixels_rgb", "logistic_unet_attention_rgb_class"])
def test_sample_cached_calls_on_row_after_each_row_like_naive(use):
    model, inputs = build(use)
    seen: dict[str, list] = {"cached": [], "naive": []}

    def recorder(name):
        return lambda i, canvas: seen[name].append((i, canvas.clone()))

    sample_cached(model, N, start_row=0, generator=torch.Generator().manual_seed(3), on_row=recorder("cached"), **inputs)
    final = sample_naive(model, N, generator=torch.Generator().manual_seed(3), on_row=recorder("naive"), **inputs)
    assert [i for i, _ in seen["cached"]] == list(range(H))
    for (i, fast), (_, slow) in zip(seen["cached"], seen["naive"]):
        assert torch.equal(fast, slow)
        assert torch.equal(fast[:, :, : i + 1], final[:, :, : i + 1])
        assert not fast[:, :, i + 1 :].any()  # rows below i are not drawn yet


def test_sample_cached_on_row_counts_only_sampled_rows_in_completion():
    model, inputs = build("codes_cond_class")
    rows = []
    init = torch.zeros(N, 1, H, W, dtype=torch.long)
    sample_cached(model, N, init=init, start_row=4, on_row=lambda i, _: rows.append(i), **inputs)
    assert rows == [4, 5]


@pytest.mark.parametrize(
    "overrides",
    [dict(), dict(output="logistic", resolutions=2, layers=2, attention_every=2, hidden=8, skip=8)],
    ids=["categorical", "logistic_unet_attention"],
)
def test_sample_cached_float32_model_equals_naive(overrides):
    torch.manual_seed(4)
    config = PixelCNNConfig(**{**dict(channels=3, levels=16, height=5, width=5, hidden=12, skip=12, layers=3, num_classes=2), **overrides})
    model = PixelCNN(config).eval()
    labels = torch.tensor([0, 1])
    x = torch.randint(0, 16, (2, 3, 5, 5))
    torch.testing.assert_close(cached_logits(model, x, labels), model(x, labels).detach(), rtol=1e-5, atol=1e-5)
    options = SamplingOptions(temperature=0.9, top_p=0.95)
    fast = sample_cached(model, 2, options=options, labels=labels, generator=torch.Generator().manual_seed(0))
    slow = sample_naive(model, 2, options=options, labels=labels, generator=torch.Generator().manual_seed(0))
    assert torch.equal(fast, slow)


@pytest.mark.parametrize("use", ["pixels_grey", "unet_attention_rgb_cond", "logistic_unet3_attention_grey_position"])
def test_sample_cached_with_shape_override_equals_naive(use):
    model, inputs = build(use)
    if model.config.position_channels:  # a position map fixes the grid: rebuild without one
        config = model.config.__class__(**{**vars(model.config), "position_channels": 0})
        torch.manual_seed(0)
        model = PixelCNN(config).double().eval()
    shape = (5, 7)
    cond = None if inputs["cond"] is None else torch.randn(2, inputs["cond"].shape[1], *shape, dtype=torch.float64)
    kw = dict(shape=shape, options=SamplingOptions(top_k=4), labels=None if inputs["labels"] is None else inputs["labels"][:2], cond=cond)
    fast = sample_cached(model, 2, generator=torch.Generator().manual_seed(6), **kw)
    slow = sample_naive(model, 2, generator=torch.Generator().manual_seed(6), **kw)
    assert fast.shape == (2, model.config.channels, *shape)
    assert torch.equal(fast, slow)
    x = torch.randint(0, model.config.levels, (2, model.config.channels, *shape))
    torch.testing.assert_close(cached_logits(model, x, kw["labels"], cond), model(x, kw["labels"], cond), rtol=0, atol=1e-11)


def test_sample_cached_is_deterministic_given_a_generator():
    model, _ = build("pixels_rgb")
    a = sample_cached(model, 2, generator=torch.Generator().manual_seed(9))
    b = sample_cached(model, 2, generator=torch.Generator().manual_seed(9))
    c = sample_cached(model, 2, generator=torch.Generator().manual_seed(10))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_sample_cached_returns_a_normal_tensor():
    model, _ = build("pixels_grey")
    x = sample_cached(model, 1, generator=torch.Generator().manual_seed(0))
    assert not x.is_inference()
    x[0, 0, 0, 0] = 1  # callers may edit the result in place


def test_sample_dispatches_to_the_chosen_sampler():
    model, inputs = build("codes_class")
    cached = sample(model, N, sampler="cached", generator=torch.Generator().manual_seed(2), **inputs)
    naive = sample(model, N, sampler="naive", generator=torch.Generator().manual_seed(2), **inputs)
    reference = sample_naive(model, N, generator=torch.Generator().manual_seed(2), **inputs)
    assert torch.equal(cached, reference) and torch.equal(naive, reference)
    with pytest.raises(ValueError, match="sampler must be 'cached' or 'naive', got 'fast'"):
        sample(model, N, sampler="fast", **inputs)


def test_sample_cached_rejects_missing_conditioning_like_naive():
    model, inputs = build("codes_cond_class")
    with pytest.raises(ValueError, match="pass labels"):
        sample_cached(model, N, cond=inputs["cond"])
    with pytest.raises(ValueError, match=r"expected cond of shape \(B, 5, 6, 6\), got None"):
        sample_cached(model, N, labels=inputs["labels"])
    with pytest.raises(ValueError, match="completion needs init"):
        sample_cached(model, N, start_row=2, **inputs)


@pytest.mark.parametrize("use", list(GUIDED))
@pytest.mark.parametrize("options", GUIDANCE, ids=lambda o: f"s{o.guidance}-t{o.temperature}-k{o.top_k}-p{o.top_p}")
def test_sample_cached_guided_equals_naive(use, options):
    model, inputs = build(f"guided_{use}")
    fast = sample_cached(model, N, options=options, generator=torch.Generator().manual_seed(1), **inputs)
    slow = sample_naive(model, N, options=options, generator=torch.Generator().manual_seed(1), **inputs)
    assert torch.equal(fast, slow)


@pytest.mark.parametrize("use", ["pixels_rgb_class_position_per_class", "context_codes_cond_class"])
def test_guidance_one_is_plain_conditional_sampling_and_zero_ignores_the_label(use):
    model, inputs = build(f"guided_{use}")
    options = SamplingOptions(temperature=0.9, top_k=6)
    plain = sample_cached(model, N, options=options, generator=torch.Generator().manual_seed(2), **inputs)
    one = sample_cached(model, N, options=SamplingOptions(temperature=0.9, top_k=6, guidance=1.0),
                        generator=torch.Generator().manual_seed(2), **inputs)
    assert torch.equal(plain, one)
    null = {**inputs, "labels": torch.full((N,), model.config.num_classes)}  # the "no class" label
    zero = sample_cached(model, N, options=SamplingOptions(guidance=0.0), generator=torch.Generator().manual_seed(3), **inputs)
    unconditional = sample_naive(model, N, generator=torch.Generator().manual_seed(3), **null)
    assert torch.equal(zero, unconditional)
    strong = sample_cached(model, N, options=SamplingOptions(guidance=4.0), generator=torch.Generator().manual_seed(3), **inputs)
    assert not torch.equal(strong, zero)


def test_guided_completion_equals_naive():
    model, inputs = build("guided_logistic_unet_attention_rgb_class", seed=2)
    c = model.config
    init = torch.randint(0, c.levels, (N, c.channels, H, W))
    kw = dict(options=SamplingOptions(guidance=2.0), init=init, start_row=2, **inputs)
    fast = sample_cached(model, N, generator=torch.Generator().manual_seed(5), **kw)
    assert torch.equal(fast, sample_naive(model, N, generator=torch.Generator().manual_seed(5), **kw))
    assert torch.equal(fast[:, :, :2], init[:, :, :2])


def test_guidance_needs_a_model_with_a_no_class_label():
    model, inputs = build("codes_cond_class")
    with pytest.raises(ValueError, match="guidance 2.0 needs a model trained with a 'no class' label"):
        sample_cached(model, N, options=SamplingOptions(guidance=2.0), **inputs)

