"""The cached sampler equals the naive one: logits, samples, completion, callbacks.

Tiny random-weight models in float64 on 6×6 grids, so the naive reference
(one full forward pass per step) stays fast and rounding never flips a draw.
"""

from __future__ import annotations

import pytest
import torch

from pixelcnn.fast_sampling import cached_logits, sample, sample_cached
from pixelcnn.model import PixelCNN, PixelCNNConfig
from pixelcnn.sampling import SamplingOptions, sample_naive

H, W, N = 6, 6, 3

# name → (channels, embed_dim, num_classes, cond_channels, kernel, layers[, position_channels])
USES = {
    "pixels_grey_class_position": (1, 0, 3, 0, 5, 3, 2),
    "pixels_rgb_position": (3, 0, 0, 0, 3, 3, 3),
    "codes_cond_position": (1, 4, 0, 5, 3, 3, 2),
    "pixels_grey": (1, 0, 0, 0, 3, 4),
    "pixels_rgb": (3, 0, 0, 0, 3, 4),
    "pixels_rgb_class": (3, 0, 4, 0, 3, 3),
    "codes": (1, 4, 0, 0, 3, 4),
    "codes_class": (1, 4, 3, 0, 3, 3),
    "codes_cond": (1, 4, 0, 5, 3, 3),
    "codes_cond_class": (1, 4, 3, 5, 3, 4),
    "pixels_rgb_kernel5": (3, 0, 0, 0, 5, 3),
    "pixels_grey_one_layer": (1, 0, 0, 0, 3, 1),
}
OPTIONS = [
    SamplingOptions(),
    SamplingOptions(temperature=0.7, top_k=3),
    SamplingOptions(temperature=1.3, top_p=0.8),
    SamplingOptions(temperature=0.9, top_k=5, top_p=0.7),
]


def build(use: str, seed: int = 0, levels: int = 9) -> tuple[PixelCNN, dict]:
    """A float64 model for ``use`` and its conditioning inputs for N images."""
    channels, embed_dim, num_classes, cond_channels, kernel, layers, *position = USES[use]
    torch.manual_seed(seed)
    cfg = PixelCNNConfig(
        channels=channels, levels=levels, height=H, width=W, hidden=4 * channels, skip=6 * channels,
        layers=layers, kernel=kernel, embed_dim=embed_dim, num_classes=num_classes, cond_channels=cond_channels,
        position_channels=position[0] if position else 0,
    )
    model = PixelCNN(cfg).double().eval()
    with torch.no_grad():
        model.head_out.weight.mul_(4)  # peakier distributions, so top-k / top-p cut something
    inputs = {
        "labels": torch.arange(N) % num_classes if num_classes else None,
        "cond": torch.randn(N, cond_channels, H, W, dtype=torch.float64) if cond_channels else None,
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
@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: f"t{o.temperature}-k{o.top_k}-p{o.top_p}")
def test_sample_cached_equals_naive(use, options):
    model, inputs = build(use)
    fast = sample_cached(model, N, options=options, generator=torch.Generator().manual_seed(1), **inputs)
    slow = sample_naive(model, N, options=options, generator=torch.Generator().manual_seed(1), **inputs)
    assert fast.dtype == torch.int64 and fast.shape == (N, model.config.channels, H, W)
    assert torch.equal(fast, slow)


@pytest.mark.parametrize("use", ["pixels_rgb_class", "codes_cond_class"])
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


def test_sample_cached_calls_on_row_after_each_row_like_naive():
    model, inputs = build("pixels_rgb")
    seen: dict[str, list] = {"cached": [], "naive": []}

    def recorder(name):
        return lambda i, canvas: seen[name].append((i, canvas.clone()))

    sample_cached(model, N, start_row=0, generator=torch.Generator().manual_seed(3), on_row=recorder("cached"))
    final = sample_naive(model, N, generator=torch.Generator().manual_seed(3), on_row=recorder("naive"))
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


def test_sample_cached_float32_model_equals_naive():
    torch.manual_seed(4)
    cfg = PixelCNNConfig(channels=3, levels=16, height=5, width=5, hidden=12, skip=12, layers=3, num_classes=2)
    model = PixelCNN(cfg).eval()
    labels = torch.tensor([0, 1])
    x = torch.randint(0, 16, (2, 3, 5, 5))
    torch.testing.assert_close(cached_logits(model, x, labels), model(x, labels).detach(), rtol=1e-5, atol=1e-5)
    options = SamplingOptions(temperature=0.9, top_p=0.95)
    fast = sample_cached(model, 2, options=options, labels=labels, generator=torch.Generator().manual_seed(0))
    slow = sample_naive(model, 2, options=options, labels=labels, generator=torch.Generator().manual_seed(0))
    assert torch.equal(fast, slow)


def test_sample_cached_with_shape_override_equals_naive():
    model, inputs = build("pixels_grey")
    kw = dict(shape=(4, 7), options=SamplingOptions(top_k=4))
    fast = sample_cached(model, 2, generator=torch.Generator().manual_seed(6), **kw)
    slow = sample_naive(model, 2, generator=torch.Generator().manual_seed(6), **kw)
    assert fast.shape == (2, 1, 4, 7)
    assert torch.equal(fast, slow)


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
