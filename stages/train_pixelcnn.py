"""Train the pixel-space PixelCNN on the prepared images.

Writes the checkpoint (with its own config); logs per-epoch bits/dim, the
final bits/dim and the curves through DVCLive (--live: metrics.json,
plots/). Resumes from its saved state (--state) after an interruption; with
train.processes > 1 it runs under torchrun.
"""

import _checkout  # noqa: F401  (this checkout's src/ first on sys.path)

import argparse

from pixelcnn import checkpoints, distributed
from pixelcnn.configs import ClassConditioning, OptimConfig, PixelCNNConfig, RunConfig
from pixelcnn.data import pixels as pixel
from pixelcnn.data.prepared import load_split
from pixelcnn.models.pixelcnn import PixelCNN
from pixelcnn.project import params
from pixelcnn.project.stage import stage_main
from pixelcnn.training.api import train
from pixelcnn.training.live import TrainingLog
from pixelcnn.training.objectives.pixel import PixelObjective
from pixelcnn.training.session import training_run


def main(argv: list[str]) -> int | None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--data", required=True, help="prepared data dir (prepare's output)")
    p.add_argument("--out", required=True, help="checkpoint path")
    p.add_argument("--live", required=True, help="DVCLive folder: per-epoch figures, final metrics.json, curves")
    p.add_argument("--state", required=True, help="folder of the resumable training state (kept until the outputs are written)")
    args = p.parse_args(argv)
    settings = params.load_file(args.params)
    run = settings.load("train", RunConfig)
    if distributed.needs_launch(run.processes):
        return distributed.launch(run.processes)
    architecture = settings.load_partial("pixelcnn", PixelCNNConfig)
    conditioning = settings.load("pixelcnn", ClassConditioning)
    optim = settings.load("pixelcnn", OptimConfig)
    meta = load_split(args.data, "train").meta  # the split's files checked against it before training
    with settings.naming("pixelcnn", PixelCNNConfig):
        config = pixel.model_config(architecture.build(), meta.channels, meta.image_size, conditioning.num_classes(meta.num_classes),
                                    conditioning.null_class(meta.num_classes))

    with (settings.naming("train", RunConfig), settings.naming("pixelcnn", OptimConfig),
          training_run(run, optim.device, settings.seed, args.state) as session):
        model = PixelCNN(config)
        log = TrainingLog(args.live) if session.ctx.main else None
        result = train(PixelObjective(model, conditioning.cond_dropout), args.data, optim=optim, run=run, seed=settings.seed,
                       state=args.state, log=log, desc="train_pixelcnn", keys=params.field_keys("pixelcnn", OptimConfig))
        if session.ctx.main:
            checkpoints.save(args.out, model, data=meta.name)
            log.finish({
                "test_bpd": result.metrics["test_bpd"],
                "train_bpd": result.metrics["train_bpd"],
                "epochs": int(result.metrics["epoch"]),
                "levels": config.levels,
                "parameters": sum(t.numel() for t in model.parameters()),
            }, {"bits/dim": ["train_bpd", "val_bpd", "test_bpd"]}, "Pixel PixelCNN")
        session.finish()


if __name__ == "__main__":
    stage_main(main)
