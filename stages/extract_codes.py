"""Encode the prepared train and test images into code grids with the trained autoencoder.

Inputs: --data (prepared dir), --model (train_vqvae checkpoint). Output: --out dir with
{split}_{level}.npy int16 (N, h, w), {split}_labels.npy int64 (N,) and meta.json
(levels, grid shapes, codebook size, num_classes, the autoencoder's fingerprint),
streamed batch by batch and moved into place only when complete.
"""

import _checkout  # noqa: F401  (this checkout's src/ first on sys.path)

import argparse

from pixelcnn import checkpoints
from pixelcnn.configs import ExtractConfig
from pixelcnn.data.codes import extract_codes
from pixelcnn.data.prepared import SPLITS, load_split
from pixelcnn.models.vqvae import VQVAE
from pixelcnn.project import params
from pixelcnn.project.stage import stage_main
from pixelcnn.runtime import resolve_device


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--data", required=True)  # the paths exactly as dvc.yaml lists them
    p.add_argument("--model", required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    settings = params.load_file(args.params)
    config = settings.load("vqvae", ExtractConfig)  # no seed: extraction draws nothing
    with settings.naming("vqvae", ExtractConfig):
        device = resolve_device(config.extract_device, "extract_device")
    model = checkpoints.load_model(args.model, VQVAE, device)
    splits = {split: load_split(args.data, split) for split in SPLITS}
    meta = extract_codes(
        model,
        {split: (data.images, data.labels) for split, data in splits.items()},
        args.out,
        batch_size=config.extract_batch_size,
        data_meta=splits["train"].meta,
    )
    grids = ", ".join(f"{name} {h}×{w}" for name, (h, w) in meta.shapes.items())
    print(f"extract_codes: {meta.n_train} train, {meta.n_test} test images → {grids} codes in {args.out}")


if __name__ == "__main__":
    stage_main(main)
