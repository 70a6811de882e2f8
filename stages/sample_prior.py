"""Sample code grids from the priors (top, then bottom given top) and decode them to images.

Writes the images (uint8 .npy, with their class labels) and the sampled codes
for `evaluate`, and a PNG grid.
"""

import argparse

import numpy as np

from pixelcnn import params
from pixelcnn.images import save_grid
from pixelcnn.io import atomic_dir
from pixelcnn.pixel import class_labels
from pixelcnn.prior import PriorSampleParams, check_pairing, load_prior, sample_codes, to_uint8
from pixelcnn.runtime import resolve_device, seed_everything, stage_main
from pixelcnn.vqvae import load_vqvae


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--prior", required=True, help="train_prior's checkpoint")
    p.add_argument("--vqvae", required=True, help="train_vqvae's checkpoint (the decoder)")
    p.add_argument("--out", required=True, help="samples dir: samples.npy, labels.npy, codes_<level>.npy")
    p.add_argument("--grid", required=True, help="PNG grid of samples")
    args = p.parse_args(argv)
    cfg = params.load(args.params, PriorSampleParams)
    generator = seed_everything(params.load_seed(args.params))
    device = resolve_device(cfg.device)
    prior = load_prior(args.prior, device)
    vqvae = load_vqvae(args.vqvae, device)
    check_pairing(prior, args.prior, vqvae.fingerprint(), args.vqvae)

    num_classes = next(iter(prior.levels.values())).pixelcnn.config.num_classes
    labels = class_labels(cfg.num_samples, num_classes, cfg.labels, "prior.labels")
    images, grids = [], []
    for start in range(0, cfg.num_samples, cfg.sample_batch_size):
        size = min(cfg.sample_batch_size, cfg.num_samples - start)
        batch_labels = None if labels is None else labels[start : start + size].to(device)
        codes = sample_codes(prior, size, cfg, batch_labels, generator)
        images.append(to_uint8(vqvae.decode_codes(codes)))
        grids.append([c.cpu().numpy().astype(np.int16) for c in codes])
        print(f"sample_prior: {start + size}/{cfg.num_samples} images", flush=True)

    with atomic_dir(args.out) as tmp:
        np.save(tmp / "samples.npy", np.concatenate(images))
        np.save(tmp / "labels.npy", labels.numpy() if labels is not None else np.full(cfg.num_samples, -1))
        for index, name in enumerate(prior.levels):
            np.save(tmp / f"codes_{name}.npy", np.concatenate([g[index] for g in grids]))
    save_grid(args.grid, np.concatenate(images)[:100], nrow=10)


if __name__ == "__main__":
    stage_main(main)
