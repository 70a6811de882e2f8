"""Train the pixel-space PixelCNN on the prepared images.

Writes the checkpoint (with its own config), per-epoch bits/dim curves as CSV
for `dvc plots`, and the final train/test bits/dim as metrics.
"""

import argparse

import torch

from pixelcnn import params
from pixelcnn.data import load_split
from pixelcnn.io import save_checkpoint, write_csv, write_json
from pixelcnn.pixel import PixelModelParams, PixelTrainParams, build_model, pixel_loss, quantise
from pixelcnn.runtime import resolve_device, seed_everything, stage_main
from pixelcnn.training import fit


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--data", required=True, help="prepared data dir (prepare's output)")
    p.add_argument("--out", required=True, help="checkpoint path")
    p.add_argument("--metrics", required=True, help="final metrics JSON")
    p.add_argument("--plots", required=True, help="per-epoch curves CSV")
    args = p.parse_args(argv)
    model_params = params.load(args.params, PixelModelParams)
    train_params = params.load(args.params, PixelTrainParams)
    generator = seed_everything(params.load_seed(args.params))
    device = resolve_device(train_params.device)

    train_x, train_y, meta = load_split(args.data, "train")
    test_x, test_y, _ = load_split(args.data, "test")
    model = build_model(model_params, meta)
    levels = model.config.levels
    train = (quantise(train_x, levels), torch.as_tensor(train_y))
    test = (quantise(test_x, levels), torch.as_tensor(test_y))
    rows = fit(model, pixel_loss, train, test, train_params.fit_options, device, generator, desc="train_pixelcnn")

    save_checkpoint(args.out, "pixelcnn", model.config, model.cpu().state_dict(), data=meta["name"])
    write_csv(args.plots, rows)
    write_json(args.metrics, {
        "test_bpd": rows[-1]["test_bpd"],
        "train_bpd": rows[-1]["train_bpd"],
        "levels": levels,
        "parameters": sum(t.numel() for t in model.parameters()),
    })


if __name__ == "__main__":
    stage_main(main)
