"""Sample images from the trained pixel PixelCNN.

Writes the samples (uint8 .npy, with their class labels) for `evaluate`, a PNG
grid, progressive generation as a strip PNG and an animated GIF, and
completions of test images from their top rows.
"""

import _checkout  # noqa: F401  (this checkout's src/ first on sys.path)

import argparse

import numpy as np

from pixelcnn import checkpoints, params
from pixelcnn.configs import PixelSampleRun, SamplingOptions
from pixelcnn.data import load_split
from pixelcnn.images import progress_strip, save_gif, save_grid
from pixelcnn.io import atomic_dir
from pixelcnn.model import PixelCNN
from pixelcnn.pixel import draw_samples
from pixelcnn.runtime import resolve_device, seed_everything, stage_main


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--model", required=True, help="train_pixelcnn's checkpoint")
    p.add_argument("--data", required=True, help="prepared data dir (test images to complete)")
    p.add_argument("--out", required=True, help="samples dir: samples.npy, labels.npy")
    p.add_argument("--grid", required=True, help="PNG grid of samples")
    p.add_argument("--progress", required=True, help="progressive generation as a PNG strip")
    p.add_argument("--gif", required=True, help="progressive generation as an animated GIF")
    p.add_argument("--completion", required=True, help="PNG: originals, kept rows, completions")
    args = p.parse_args(argv)
    options = params.load(args.params, "pixelcnn", SamplingOptions)
    run = params.load(args.params, "pixelcnn", PixelSampleRun)
    generator = seed_everything(params.load_seed(args.params))
    model = checkpoints.load_model(args.model, PixelCNN, resolve_device(run.device, "pixelcnn.device"))

    test_x, test_y, _ = load_split(args.data, "test")
    result = draw_samples(model, options, run, generator, completion_source=(test_x, test_y))

    with atomic_dir(args.out) as tmp:
        np.save(tmp / "samples.npy", result.images)
        np.save(tmp / "labels.npy", result.labels)
    save_grid(args.grid, result.images[:100], nrow=10)
    save_grid(args.progress, progress_strip(result.frames), nrow=len(result.frames))
    save_gif(args.gif, result.frames, nrow=len(result.frames[0]))
    save_grid(args.completion, result.completions.reshape(-1, *result.images.shape[1:]), nrow=result.completions.shape[1])


if __name__ == "__main__":
    stage_main(main)
