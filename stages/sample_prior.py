"""Sample code grids from the priors (top, then bottom given top) and decode them to images.

Writes the images (uint8 .npy, with their class labels) and the sampled codes
for `evaluate`, and a PNG grid. Refuses a prior trained on another
autoencoder's codes.
"""

import _checkout  # noqa: F401  (this checkout's src/ first on sys.path)

import argparse

import numpy as np

from pixelcnn import checkpoints, params
from pixelcnn.configs import SampleRun, SamplingOptions
from pixelcnn.images import save_grid
from pixelcnn.io import atomic_dir
from pixelcnn.prior import CodePrior, check_pairing, draw_samples
from pixelcnn.runtime import resolve_device, seed_everything, stage_main
from pixelcnn.vqvae import VQVAE


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--prior", required=True, help="train_prior's checkpoint")
    p.add_argument("--vqvae", required=True, help="train_vqvae's checkpoint (the decoder)")
    p.add_argument("--out", required=True, help="samples dir: samples.npy, labels.npy, codes_<level>.npy")
    p.add_argument("--grid", required=True, help="PNG grid of samples")
    args = p.parse_args(argv)
    options = params.load(args.params, "prior", SamplingOptions)
    run = params.load(args.params, "prior", SampleRun)
    generator = seed_everything(params.load_seed(args.params))
    device = resolve_device(run.device, "prior.device")
    prior = checkpoints.load_model(args.prior, CodePrior, device)
    vqvae = checkpoints.load_model(args.vqvae, VQVAE, device)
    check_pairing(prior, args.prior, vqvae.fingerprint(), args.vqvae)

    result = draw_samples(prior, vqvae, options, run, generator)

    with atomic_dir(args.out) as tmp:
        np.save(tmp / "samples.npy", result.images)
        np.save(tmp / "labels.npy", result.labels)
        for name, codes in result.codes.items():
            np.save(tmp / f"codes_{name}.npy", codes)
    save_grid(args.grid, result.images[:100], nrow=10)


if __name__ == "__main__":
    stage_main(main)
