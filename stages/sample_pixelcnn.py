"""Sample images from the trained pixel PixelCNN (through the public API, ``pixelcnn.PixelCNNPipeline``).

Writes the samples (uint8 .npy, with their class labels) for `evaluate`, a PNG
grid, progressive generation as a strip PNG and an animated GIF, and
completions of test images from their top rows.
"""

import _checkout  # noqa: F401  (this checkout's src/ first on sys.path)

import argparse

import numpy as np
from tqdm import tqdm

from pixelcnn.atomic import atomic_dir
from pixelcnn.configs import PixelSampleRun, SamplingOptions
from pixelcnn.data.prepared import load_split
from pixelcnn.errors import require
from pixelcnn.pipelines.inputs import class_labels
from pixelcnn.pipelines.pixel import PixelCNNPipeline
from pixelcnn.project import params
from pixelcnn.project.stage import stage_main
from pixelcnn.runtime import resolve_device, seed_everything
from pixelcnn.visuals.images import progress_strip, save_gif, save_grid

SHOWN = 10  # images in the progressive strip, the GIF and the completion grid


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
    settings = params.load_file(args.params)
    options = settings.load("pixelcnn", SamplingOptions)
    run = settings.load("pixelcnn", PixelSampleRun)
    generator = seed_everything(settings.seed)
    with settings.naming("pixelcnn", PixelSampleRun):  # the device, and the run against the trained model
        pipe = PixelCNNPipeline.from_checkpoint(args.model, device=resolve_device(run.device))
        height = pipe.image_shape[1]
        require(run.complete_rows < height, "complete_rows", f"must be < the image height {height}, got {run.complete_rows}")
        require(not run.labels or pipe.num_classes, "labels", f"is {list(run.labels)} but {args.model} is unconditional; set it to []")
        labels = class_labels(run.num_samples, pipe.num_classes, run.labels)

    with tqdm(total=run.num_samples * height, desc="sample_pixelcnn rows", unit="row") as bar:
        out = pipe.sample(run.num_samples, labels=labels, batch_size=run.sample_batch_size,
                          options=options, sampler=run.sampler, generator=generator,
                          frames_every=run.progress_every, callback=lambda p: bar.update(p.batch_size))
    test = load_split(args.data, "test")
    originals = np.asarray(test.images[:SHOWN])
    done = pipe.complete(originals, run.complete_rows, labels=test.labels[:SHOWN] if pipe.num_classes else None,
                         options=options, sampler=run.sampler, generator=generator)
    kept = originals.copy()
    kept[:, :, run.complete_rows :] = 0
    frames = [frame[:SHOWN] for frame in out.frames]

    with atomic_dir(args.out) as tmp:
        np.save(tmp / "samples.npy", out.images)
        np.save(tmp / "labels.npy", out.labels)
    save_grid(args.grid, out.images[:100], nrow=10)
    save_grid(args.progress, progress_strip(frames), nrow=len(frames))
    save_gif(args.gif, frames, nrow=len(frames[0]))
    save_grid(args.completion, np.concatenate([originals, kept, done.images]), nrow=len(originals))


if __name__ == "__main__":
    stage_main(main)
