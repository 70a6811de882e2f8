"""Train the PixelCNN priors over the extracted code grids: top, then bottom given the top codes.

Codebook size, grid shapes and classes come from the codes' metadata; the
checkpoint records which autoencoder the codes came from. Logs per-epoch
bits per code of each level, the final ones and the curves through DVCLive
(--live; figures named top/..., bottom/...). Resumes from its saved states
(--state, one per level) after an interruption; with train.processes > 1 it
runs under torchrun.
"""

import _checkout  # noqa: F401  (this checkout's src/ first on sys.path)

import argparse

from pixelcnn import checkpoints, distributed
from pixelcnn.configs import ClassConditioning, CondNetConfig, OptimConfig, PixelCNNConfig, RunConfig
from pixelcnn.data.codes import load_codes, read_codes_meta
from pixelcnn.data.prepared import SPLITS
from pixelcnn.models.prior import CodePrior, CodePriorConfig, level_config
from pixelcnn.project import params
from pixelcnn.project.stage import stage_main
from pixelcnn.training.api import train
from pixelcnn.training.live import TrainingLog
from pixelcnn.training.objectives.prior import prior_objectives
from pixelcnn.training.session import training_run


def main(argv: list[str]) -> int | None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--codes", required=True, help="extract_codes' output dir")
    p.add_argument("--out", required=True, help="checkpoint path")
    p.add_argument("--live", required=True, help="DVCLive folder: per-epoch figures, final bits per code per level, curves")
    p.add_argument("--state", required=True, help="folder of the resumable training states (kept until the outputs are written)")
    args = p.parse_args(argv)
    settings = params.load_file(args.params)
    run = settings.load("train", RunConfig)
    if distributed.needs_launch(run.processes):
        return distributed.launch(run.processes)
    architecture = settings.load_partial("prior", PixelCNNConfig)
    cond_architecture = settings.load_partial("prior", CondNetConfig)
    conditioning = settings.load("prior", ClassConditioning)
    optim = settings.load("prior", OptimConfig)
    # Both splits' files are there and fit meta.json before training starts; their headers are enough (scan=False):
    # extract_codes writes each code as an index into the codebook, so [0, K) holds by construction.
    meta = read_codes_meta(args.codes)
    for split in SPLITS:
        load_codes(args.codes, split, scan=False)
    names = meta.level_names
    num_classes = conditioning.num_classes(meta.num_classes)
    template = architecture.build(channels=1, levels=meta.codebook_size, num_classes=num_classes,
                                  null_class=conditioning.null_class(meta.num_classes))
    cond_template = cond_architecture.build()
    config = CodePriorConfig(meta.vqvae_fingerprint, tuple(
        level_config(template, cond_template, name, meta.codebook_size, meta.shapes[name], num_classes,
                     meta.shapes[names[index - 1]] if index else None)
        for index, name in enumerate(names)
    ))

    with (settings.naming("train", RunConfig), settings.naming("prior", OptimConfig),
          training_run(run, optim.device, settings.seed, args.state) as session):
        prior = CodePrior(config)  # each level is trained in place, top first
        log = TrainingLog(args.live) if session.ctx.main else None
        result = train(prior_objectives(prior, conditioning.cond_dropout), args.codes, optim=optim, run=run,
                       seed=settings.seed, state=args.state, log=log, desc="train_prior",
                       keys=params.field_keys("prior", OptimConfig))
        if session.ctx.main:
            checkpoints.save(args.out, prior)
            log.finish({name: {
                "train_bits_per_code": fit.metrics["train_bits_per_code"],
                "test_bits_per_code": fit.metrics["test_bits_per_code"],
                "epochs": int(fit.metrics["epoch"]),
                "grid": "x".join(map(str, meta.shapes[name])),
            } for name, fit in result.runs.items()}, {
                f"{name} bits per code": [f"{name}/{split}_bits_per_code" for split in ("train", "val", "test")] for name in names
            }, "VQ priors")
        session.finish()


if __name__ == "__main__":
    stage_main(main)
