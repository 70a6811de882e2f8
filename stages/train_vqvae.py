"""Train the VQ-VAE / VQ-VAE-2 autoencoder (params.yaml `vqvae`) on the prepared data.

Inputs: --data (prepared dir). Outputs: --out checkpoint (config, weights, fingerprint),
--metrics JSON (test MSE/PSNR, per-level perplexity and usage), --plots per-epoch CSV,
--grid PNG of test images beside their reconstructions.
"""

import argparse

from pixelcnn import params
from pixelcnn.data import load_split
from pixelcnn.images import save_grid
from pixelcnn.io import write_csv, write_json
from pixelcnn.runtime import resolve_device, seed_everything, stage_main
from pixelcnn.vqvae import VQVAEParams, reconstruction_pairs, save_vqvae, train_vqvae


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--data", required=True)  # the paths exactly as dvc.yaml lists them
    p.add_argument("--out", required=True)
    p.add_argument("--metrics", required=True)
    p.add_argument("--plots", required=True)
    p.add_argument("--grid", required=True)
    args = p.parse_args(argv)
    cfg = params.load(args.params, VQVAEParams)
    generator = seed_everything(params.load_seed(args.params))
    train_images, _, _ = load_split(args.data, "train")
    test_images, _, _ = load_split(args.data, "test")
    model, history, metrics = train_vqvae(cfg, train_images, test_images, resolve_device(cfg.device), generator)
    fingerprint = save_vqvae(args.out, model)
    write_csv(args.plots, history)
    write_json(args.metrics, metrics)
    save_grid(args.grid, reconstruction_pairs(model, test_images[: cfg.grid_images]), nrow=8)
    levels = ", ".join(f"{k} perplexity {metrics[k]['perplexity']:.1f} usage {metrics[k]['usage']:.2f}" for k in model.level_names)
    print(f"train_vqvae: test PSNR {metrics['test_psnr']:.2f} dB, {levels} → {args.out} ({fingerprint})")


if __name__ == "__main__":
    stage_main(main)
