"""Train the PixelCNN priors over the extracted code grids (top, then bottom given top).

Codebook size, grid shapes and classes come from the codes' metadata; the
checkpoint records which autoencoder the codes came from.
"""

import argparse

from pixelcnn import params
from pixelcnn.io import save_checkpoint, write_csv, write_json
from pixelcnn.prior import PriorModelParams, PriorTrainParams, train_priors
from pixelcnn.runtime import resolve_device, seed_everything, stage_main
from pixelcnn.vqvae import load_codes


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--codes", required=True, help="extract_codes' output dir")
    p.add_argument("--out", required=True, help="checkpoint path")
    p.add_argument("--metrics", required=True, help="bits per code per level, JSON")
    p.add_argument("--plots", required=True, help="per-epoch curves CSV")
    args = p.parse_args(argv)
    model_params = params.load(args.params, PriorModelParams)
    train_params = params.load(args.params, PriorTrainParams)
    generator = seed_everything(params.load_seed(args.params))
    device = resolve_device(train_params.device)

    train_codes, train_labels, meta = load_codes(args.codes, "train")
    test_codes, test_labels, _ = load_codes(args.codes, "test")
    prior, rows, metrics = train_priors(model_params, train_params, (train_codes, train_labels),
                                        (test_codes, test_labels), meta, device, generator)

    save_checkpoint(args.out, "prior", prior.config(), prior.state_dict())
    write_csv(args.plots, rows)
    write_json(args.metrics, metrics)


if __name__ == "__main__":
    stage_main(main)
