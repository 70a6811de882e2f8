"""Train the VQ-VAE / VQ-VAE-2 autoencoder (params.yaml `vqvae`) on the prepared images.

Writes the checkpoint (config, weights, fingerprint) and test images beside
their reconstructions; logs per-epoch figures, the test MSE / PSNR and
per-level perplexity and usage, and the curves through DVCLive (--live).
Resumes from its saved state (--state) after an interruption; with
train.processes > 1 it runs under torchrun.
"""

import _checkout  # noqa: F401  (this checkout's src/ first on sys.path)

import argparse

from pixelcnn import checkpoints, distributed
from pixelcnn.configs import OptimConfig, ReconstructionGrid, RunConfig, VQVAEConfig
from pixelcnn.data.prepared import load_split
from pixelcnn.models.vqvae import VQVAE, reconstruction_pairs
from pixelcnn.project import params
from pixelcnn.project.stage import stage_main
from pixelcnn.training.api import train
from pixelcnn.training.live import TrainingLog
from pixelcnn.training.objectives.vqvae import VQVAEObjective
from pixelcnn.training.session import training_run
from pixelcnn.visuals.images import save_grid


def main(argv: list[str]) -> int | None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--data", required=True, help="prepared data dir (prepare's output)")
    p.add_argument("--out", required=True, help="checkpoint path")
    p.add_argument("--live", required=True, help="DVCLive folder: per-epoch figures, final metrics.json, curves")
    p.add_argument("--grid", required=True, help="PNG of test images beside their reconstructions")
    p.add_argument("--state", required=True, help="folder of the resumable training state (kept until the outputs are written)")
    args = p.parse_args(argv)
    settings = params.load_file(args.params)
    run = settings.load("train", RunConfig)
    if distributed.needs_launch(run.processes):
        return distributed.launch(run.processes)
    architecture = settings.load_partial("vqvae", VQVAEConfig)
    optim = settings.load("vqvae", OptimConfig)
    grid = settings.load("vqvae", ReconstructionGrid)
    test = load_split(args.data, "test")
    config = architecture.build(channels=test.meta.channels, image_size=test.meta.image_size)

    with (settings.naming("train", RunConfig), settings.naming("vqvae", OptimConfig),
          training_run(run, optim.device, settings.seed, args.state) as session):
        model = VQVAE(config)
        log = TrainingLog(args.live) if session.ctx.main else None
        result = train(VQVAEObjective(model), args.data, optim=optim, run=run, seed=settings.seed, state=args.state,
                       log=log, desc="train_vqvae", keys=params.field_keys("vqvae", OptimConfig))
        if session.ctx.main:
            checkpoints.save(args.out, model, fingerprint=model.fingerprint(), data=test.meta.name)
            levels, m = model.level_names, result.metrics
            log.finish({
                "test_mse": m["test_mse"],
                "test_psnr": m["test_psnr"],
                "epochs": int(m["epoch"]),
                **{name: {"perplexity": m[f"test_{name}_perplexity"], "usage": m[f"test_{name}_usage"]} for name in levels},
            }, {
                "MSE ([0, 1] pixels)": ["train_mse", "val_mse", "test_mse"],
                "codebook perplexity": [f"test_{name}_perplexity" for name in levels],
            }, "VQ-VAE")
            save_grid(args.grid, reconstruction_pairs(model, test.images[: grid.grid_images]), nrow=8)
            print(f"train_vqvae: test PSNR {m['test_psnr']:.2f} dB → {args.out} ({model.fingerprint()})")
        session.finish()


if __name__ == "__main__":
    stage_main(main)
