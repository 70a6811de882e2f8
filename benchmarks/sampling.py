"""Seconds to sample a batch: naive loop vs cached sampler vs one forward pass.

Random-weight models (float32, eval) of the sizes of today's params.yaml
defaults, written out here as numbers (``FAMILIES``), with the options of
``PixelCNNConfig`` on top (``CASES``):

- ``pixel_*``: the pixel model at 32×32 (hidden 24, skip 64, 8 gated blocks,
  kernel 5, a position map of 8 channels, 10 classes; RGB with the
  categorical output rounds skip up to 66, a multiple of 3), ``grey`` or
  ``rgb``, and its options: ``logistic`` (10 mixture components), ``unet``
  (3 resolutions 32, 16, 8 with 2 blocks each per pass: 12 blocks),
  ``attention`` (an attention block after block 4, over the 1024 positions),
  ``recommended`` (logistic + unet + attention after every 4th block, which
  puts it at 16×16 and 8×8, + dropout 0.1, a training-only knob);
- ``prior_bottom``: the bottom code prior (hidden 64, skip 128, 8 blocks,
  kernel 3, embedding 32, 64 codes, 10 classes) on an 8×8 grid conditioned on
  a (B, 64, 8, 8) map; ``prior_top``: the top prior on 4×4; ``*_attention``:
  with an attention block after every 4th block.

Per case and batch size it prints one JSON line: ``naive_s`` (the naive
sampler, run for the last rows only when the grid has more than
``--naive-steps`` steps, and extrapolated per row:
``naive_extrapolated_from_rows``), ``cached_s`` (a full cached run),
``forward_s`` (one forward pass of the batch: the logits for the categorical
output; the network and the log-likelihood at x for the logistic one, whose
full (B, K, C, H, W) table is never needed at once: ``forward`` says which),
``speedup`` = naive / cached and ``cached_over_forward`` = cached / forward;
``guided_s``, the cached sampler with classifier-free guidance (scale 3: the
conditional and the unconditional stream, a batch of 2B), and
``guided_over_cached`` (every model here learns the "no class" label).
``--set context=true`` adds the causal context to every case.
Cached and forward times are the minimum of ``--repeats`` runs; the naive run
is long and timed once. The first line gives the machine's thread counts and
load: on a shared CPU, compare numbers of one run only.

    uv run python benchmarks/sampling.py --threads 2 --output benchmarks/sampling_results.jsonl
    uv run python benchmarks/sampling.py --cases pixel_grey pixel_rgb_logistic --batches 64 --set n_mix=5
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import time
from collections.abc import Callable
from typing import Any

import torch

from pixelcnn.configs import SamplingOptions
from pixelcnn.models.pixelcnn import PixelCNN, PixelCNNConfig
from pixelcnn.sampling.cached import sample_cached
from pixelcnn.sampling.naive import sample_naive

NUM_CLASSES = 10
GUIDANCE = 3.0  # the guided run's scale (any scale other than 0 and 1 runs both streams)
FAMILIES = {  # today's params.yaml defaults, as numbers
    "pixel": dict(levels=256, height=32, width=32, hidden=24, skip=64, layers=8, kernel=5, position_channels=8,
                  num_classes=NUM_CLASSES, null_class=True),
    "prior_bottom": dict(channels=1, levels=64, height=8, width=8, hidden=64, skip=128, layers=8, kernel=3, embed_dim=32,
                         num_classes=NUM_CLASSES, null_class=True, cond_channels=64),
    "prior_top": dict(channels=1, levels=64, height=4, width=4, hidden=64, skip=128, layers=8, kernel=3, embed_dim=32,
                      num_classes=NUM_CLASSES, null_class=True),
}
LOGISTIC = dict(output="logistic", n_mix=10)
UNET = dict(resolutions=3, layers=2)
CASES = {  # name → (family, options)
    "pixel_grey": ("pixel", dict(channels=1)),
    "pixel_rgb": ("pixel", dict(channels=3, skip=66)),
    "pixel_grey_logistic": ("pixel", dict(channels=1, **LOGISTIC)),
    "pixel_rgb_logistic": ("pixel", dict(channels=3, **LOGISTIC)),
    "pixel_grey_unet": ("pixel", dict(channels=1, **UNET)),
    "pixel_rgb_unet": ("pixel", dict(channels=3, skip=66, **UNET)),
    "pixel_grey_attention": ("pixel", dict(channels=1, attention_every=4)),
    "pixel_rgb_attention": ("pixel", dict(channels=3, skip=66, attention_every=4)),
    "pixel_grey_recommended": ("pixel", dict(channels=1, **LOGISTIC, **UNET, attention_every=4, dropout=0.1)),
    "pixel_rgb_recommended": ("pixel", dict(channels=3, **LOGISTIC, **UNET, attention_every=4, dropout=0.1)),
    "prior_bottom": ("prior_bottom", dict()),
    "prior_top": ("prior_top", dict()),
    "prior_bottom_attention": ("prior_bottom", dict(attention_every=4)),
    "prior_top_attention": ("prior_top", dict(attention_every=4)),
}


def case_config(case: str, overrides: dict[str, Any]) -> PixelCNNConfig:
    family, options = CASES[case]
    return PixelCNNConfig(**{**FAMILIES[family], **options, **overrides})


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``key=value`` pairs; values parsed as JSON where they can be (numbers), else kept as strings."""
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in PixelCNNConfig.__dataclass_fields__:
            raise SystemExit(f"--set {item!r}: expected key=value with key a PixelCNNConfig field")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    return overrides


def best_of(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def run_case(case: str, config: PixelCNNConfig, batch: int, repeats: int, naive_steps: int) -> dict[str, Any]:
    torch.manual_seed(0)
    model = PixelCNN(config).eval()
    inputs = {
        "labels": torch.arange(batch) % config.num_classes if config.num_classes else None,
        "cond": torch.randn(batch, config.cond_channels, config.height, config.width) if config.cond_channels else None,
    }
    options = SamplingOptions()
    x = torch.randint(0, config.levels, (batch, config.channels, config.height, config.width))
    forward = model if config.output == "categorical" else model.nll
    with torch.inference_mode():
        forward(x, **inputs)  # warm-up
        forward_s = best_of(lambda: forward(x, **inputs), repeats)
    cached_s = best_of(
        lambda: sample_cached(model, batch, options=options, generator=torch.Generator().manual_seed(0), **inputs),
        repeats,
    )
    guided_s = None
    if config.null_class:  # classifier-free guidance: the conditional and the unconditional stream together
        guided = SamplingOptions(guidance=GUIDANCE)
        guided_s = best_of(
            lambda: sample_cached(model, batch, options=guided, generator=torch.Generator().manual_seed(0), **inputs),
            repeats,
        )
    rows = max(1, min(config.height, naive_steps // (config.width * config.channels)))
    start_row = config.height - rows  # the naive loop over the last rows: every step is one full forward pass
    naive_part = best_of(
        lambda: sample_naive(model, batch, options=options, init=x, start_row=start_row,
                             generator=torch.Generator().manual_seed(0), **inputs),
        1,
    )
    naive_s = naive_part * config.height / rows
    out = {
        "case": case,
        "batch": batch,
        "grid": f"{config.channels}x{config.height}x{config.width}",
        "forward": "logits" if config.output == "categorical" else "nll",
        "naive_s": round(naive_s, 4),
        "cached_s": round(cached_s, 4),
        "forward_s": round(forward_s, 5),
        "speedup": round(naive_s / cached_s, 1),
        "cached_over_forward": round(cached_s / forward_s, 2),
        "cached_ms_per_step": round(1e3 * cached_s / (config.height * config.width * config.channels), 4),
        **({"guided_s": round(guided_s, 4), "guided_over_cached": round(guided_s / cached_s, 2)} if guided_s else {}),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    if rows < config.height:
        out["naive_extrapolated_from_rows"] = rows
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    p.add_argument("--batches", nargs="+", type=int, default=[1, 16, 64])
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="override config fields of every case, e.g. --set hidden=32 n_mix=5")
    p.add_argument("--repeats", type=int, default=3, help="runs of the cached sampler and the forward pass; the min counts")
    p.add_argument("--naive-steps", type=int, default=64,
                   help="the naive sampler runs the whole rows that fit in this many steps (at least one); "
                   "its time is extrapolated to the grid")
    p.add_argument("--threads", type=int, default=0, help="torch intra-op threads; 0 keeps torch's default")
    p.add_argument("--output", help="also append the JSON lines to this file")
    args = p.parse_args()
    overrides = parse_overrides(args.set)
    if args.threads:
        torch.set_num_threads(args.threads)
    with contextlib.ExitStack() as stack:
        sink = stack.enter_context(open(args.output, "a")) if args.output else None

        def emit(record: dict[str, Any]) -> None:
            line = json.dumps(record)
            print(line, flush=True)
            if sink is not None:
                sink.write(line + "\n")
                sink.flush()

        emit({"torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(), "torch": torch.__version__,
              "load_average_1m": round(os.getloadavg()[0], 2), "overrides": overrides})
        for case in args.cases:
            config = case_config(case, overrides)
            emit({"case": case, "config": dict(vars(config))})
            for batch in args.batches:
                emit(run_case(case, config, batch, args.repeats, args.naive_steps))

if __name__ == "__main__":
    main()
