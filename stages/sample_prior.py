"""Sample code grids from the priors (top, then bottom given top) and decode them to images
(through the public API, ``pixelcnn.VQPriorPipeline``).

Writes the images (uint8 .npy, with their class labels) and the sampled codes
for `evaluate`, and a PNG grid. Refuses a prior trained on another
autoencoder's codes.
"""

import _checkout  # noqa: F401  (this checkout's src/ first on sys.path)

import argparse

import numpy as np
from tqdm import tqdm

from pixelcnn.atomic import atomic_dir
from pixelcnn.configs import SampleRun, SamplingOptions
from pixelcnn.errors import require
from pixelcnn.pipelines.inputs import class_labels
from pixelcnn.pipelines.vq import VQPriorPipeline
from pixelcnn.project import params
from pixelcnn.project.stage import stage_main
from pixelcnn.runtime import resolve_device, seed_everything
from pixelcnn.visuals.images import save_grid


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--prior", required=True, help="train_prior's checkpoint")
    p.add_argument("--vqvae", required=True, help="train_vqvae's checkpoint (the decoder)")
    p.add_argument("--out", required=True, help="samples dir: samples.npy, labels.npy, codes_<level>.npy")
    p.add_argument("--grid", required=True, help="PNG grid of samples")
    args = p.parse_args(argv)
    settings = params.load_file(args.params)
    options = settings.load("prior", SamplingOptions)
    run = settings.load("prior", SampleRun)
    generator = seed_everything(settings.seed)
    with settings.naming("prior", SampleRun):  # the device, and the labels against the trained priors
        pipe = VQPriorPipeline.from_checkpoints(args.prior, args.vqvae, device=resolve_device(run.device))
        require(not run.labels or pipe.num_classes, "labels", f"is {list(run.labels)} but {args.prior} is unconditional; set it to []")
        labels = class_labels(run.num_samples, pipe.num_classes, run.labels)
    rows = sum(h for h, _ in pipe.code_shapes.values())

    with tqdm(total=run.num_samples * rows, desc="sample_prior rows", unit="row") as bar:
        out = pipe.sample(run.num_samples, labels=labels, batch_size=run.sample_batch_size,
                          options=options, sampler=run.sampler, generator=generator,
                          callback=lambda p: bar.update(p.batch_size))

    with atomic_dir(args.out) as tmp:
        np.save(tmp / "samples.npy", out.images)
        np.save(tmp / "labels.npy", out.labels)
        for name, codes in out.codes.items():
            np.save(tmp / f"codes_{name}.npy", codes.astype(np.int16))
    save_grid(args.grid, out.images[:100], nrow=10)


if __name__ == "__main__":
    stage_main(main)
