"""Seconds to sample a batch: naive loop vs cached sampler vs one forward pass.

Random-weight models (float32, eval) of the sizes params.yaml gives:

- ``pixel_grey`` / ``pixel_rgb``: the ``pixelcnn`` section's model for 1 or 3
  channels at 32×32, class-conditional with 10 classes;
- ``prior_bottom``: the bottom code prior (codebook ``vqvae.codebook_size``,
  ``prior`` architecture, grid ``data.image_size / vqvae.bottom_downsample``),
  conditioned on a (B, prior.hidden, h, w) map as the top codes' network gives
  it, and on 10 classes;
- ``prior_top``: the top prior (grid divided by ``vqvae.top_downsample``).

Per case and batch size it prints one JSON line: ``naive_s`` (the naive
sampler, run for the last rows only when the grid has more than
``--naive-steps`` steps, and extrapolated per row: ``naive_extrapolated_from_rows``), ``cached_s`` (a
full cached run), ``forward_s`` (one full forward pass of the batch),
``speedup`` = naive / cached and ``cached_over_forward`` = cached / forward.
Cached and forward times are the minimum of ``--repeats`` runs; the naive run
is long and timed once. The first line gives the machine's thread counts: on a
shared CPU, compare numbers of one run only.

    uv run python benchmarks/sampling.py
    uv run python benchmarks/sampling.py --cases pixel_grey --batches 1 64 --threads 1
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from collections.abc import Callable
from typing import Any

import torch

from pixelcnn import params
from pixelcnn.data import DataParams
from pixelcnn.fast_sampling import sample_cached
from pixelcnn.model import PixelCNN, PixelCNNConfig
from pixelcnn.pixel import PixelModelParams
from pixelcnn.prior import PriorModelParams
from pixelcnn.sampling import SamplingOptions, sample_naive
from pixelcnn.vqvae import VQVAEParams

CASES = ("pixel_grey", "pixel_rgb", "prior_bottom", "prior_top")
NUM_CLASSES = 10


def case_config(case: str, path: str) -> PixelCNNConfig:
    if case.startswith("pixel"):
        model = params.load(path, PixelModelParams)
        channels = 1 if case == "pixel_grey" else 3
        # RGB needs widths divisible by 3: round the grey defaults up (the config line printed says so).
        widths = {k: -(-getattr(model, k) // channels) * channels for k in ("hidden", "skip")}
        return dataclasses.replace(model, **widths).model_config(channels, 32, 32, num_classes=NUM_CLASSES)
    prior, vq, data = params.load(path, PriorModelParams), params.load(path, VQVAEParams), params.load(path, DataParams)
    side = data.image_size // vq.bottom_downsample
    if case == "prior_top" and vq.levels == 2:
        side //= vq.top_downsample
    bottom = case == "prior_bottom" and vq.levels == 2
    return PixelCNNConfig(
        channels=1, levels=vq.codebook_size, height=side, width=side, hidden=prior.hidden, skip=prior.skip,
        layers=prior.layers, kernel=prior.kernel, embed_dim=prior.embed_dim,
        num_classes=NUM_CLASSES if prior.conditional else 0, cond_channels=prior.hidden if bottom else 0,
    )


def best_of(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def run_case(case: str, cfg: PixelCNNConfig, batch: int, repeats: int, naive_steps: int) -> dict[str, Any]:
    torch.manual_seed(0)
    model = PixelCNN(cfg).eval()
    inputs = {
        "labels": torch.arange(batch) % cfg.num_classes if cfg.num_classes else None,
        "cond": torch.randn(batch, cfg.cond_channels, cfg.height, cfg.width) if cfg.cond_channels else None,
    }
    options = SamplingOptions()
    x = torch.randint(0, cfg.levels, (batch, cfg.channels, cfg.height, cfg.width))
    with torch.inference_mode():
        model(x, **inputs)  # warm-up
        forward_s = best_of(lambda: model(x, **inputs), repeats)
    cached_s = best_of(
        lambda: sample_cached(model, batch, options=options, generator=torch.Generator().manual_seed(0), **inputs),
        repeats,
    )
    rows = max(1, min(cfg.height, naive_steps // (cfg.width * cfg.channels)))
    start_row = cfg.height - rows  # the naive loop over the last rows: every step is one full forward pass
    naive_part = best_of(
        lambda: sample_naive(model, batch, options=options, init=x, start_row=start_row,
                             generator=torch.Generator().manual_seed(0), **inputs),
        1,
    )
    naive_s = naive_part * cfg.height / rows
    out = {
        "case": case,
        "batch": batch,
        "grid": f"{cfg.channels}x{cfg.height}x{cfg.width}",
        "naive_s": round(naive_s, 4),
        "cached_s": round(cached_s, 4),
        "forward_s": round(forward_s, 5),
        "speedup": round(naive_s / cached_s, 1),
        "cached_over_forward": round(cached_s / forward_s, 2),
        "cached_ms_per_step": round(1e3 * cached_s / (cfg.height * cfg.width * cfg.channels), 4),
    }
    if rows < cfg.height:
        out["naive_extrapolated_from_rows"] = rows
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    p.add_argument("--batches", nargs="+", type=int, default=[1, 16, 64])
    p.add_argument("--repeats", type=int, default=3, help="runs of the cached sampler and the forward pass; the min counts")
    p.add_argument("--naive-steps", type=int, default=64,
                   help="the naive sampler runs the whole rows that fit in this many steps (at least one); "
                   "its time is extrapolated to the grid")
    p.add_argument("--threads", type=int, default=0, help="torch intra-op threads; 0 keeps torch's default")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(json.dumps({"torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
                      "torch": torch.__version__, "load_average_1m": round(os.getloadavg()[0], 2)}), flush=True)
    for case in args.cases:
        cfg = case_config(case, args.params)
        print(json.dumps({"case": case, "config": {k: v for k, v in vars(cfg).items()}}), flush=True)
        for batch in args.batches:
            print(json.dumps(run_case(case, cfg, batch, args.repeats, args.naive_steps)), flush=True)


if __name__ == "__main__":
    main()
