"""Train the PixelCNN priors over the extracted code grids: top, then bottom given the top codes.

Codebook size, grid shapes and classes come from the codes' metadata; the
checkpoint records which autoencoder the codes came from. Resumes from its
saved states (--state, one per level) after an interruption; with
train.processes > 1 it runs under torchrun.
"""

import _checkout  # noqa: F401  (this checkout's src/ first on sys.path)

import argparse

from pixelcnn import checkpoints, distributed, params
from pixelcnn.atomic import write_csv, write_json
from pixelcnn.configs import ClassConditioning, CondNetConfig, OptimConfig, PixelCNNConfig, RunConfig
from pixelcnn.data.codes import load_codes, read_codes_meta
from pixelcnn.data.prepared import SPLITS
from pixelcnn.evaluation.plots import save_curves
from pixelcnn.models.prior import CodePrior, CodePriorConfig, level_config
from pixelcnn.runtime import stage_main
from pixelcnn.training.objectives.prior import PriorObjective
from pixelcnn.training.trainer import training_run


def main(argv: list[str]) -> int | None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--codes", required=True, help="extract_codes' output dir")
    p.add_argument("--out", required=True, help="checkpoint path")
    p.add_argument("--metrics", required=True, help="bits per code per level, JSON")
    p.add_argument("--plots", required=True, help="per-epoch curves CSV")
    p.add_argument("--curves", required=True, help="per-epoch curves PNG")
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
        rows, metrics = {}, {}
        for index, name in enumerate(names):
            top = names[index - 1] if index else None
            level = prior.levels[name]
            result = session.trainer(PriorObjective(level, name, top, conditioning.cond_dropout), args.codes, optim,
                                     name=name, configs={"level": level.config, "codes": meta, "conditioning": conditioning},
                                     desc=f"train_prior {name}",
                                     keys=params.field_keys("prior", OptimConfig)).fit()
            for row in result.history:
                entry = rows.setdefault(int(row["epoch"]), {"epoch": int(row["epoch"])})
                entry.update({f"{name}_{k}": v for k, v in row.items() if k != "epoch"})
            metrics[name] = {
                "train_bits_per_code": result.metrics["train_bits_per_code"],
                "test_bits_per_code": result.metrics["test_bits_per_code"],
                "epochs": int(result.metrics["epoch"]),
                "grid": "x".join(map(str, meta.shapes[name])),
            }
        if session.ctx.main:
            checkpoints.save(args.out, prior)
            history = [rows[e] for e in sorted(rows)]
            write_csv(args.plots, history)
            save_curves(args.curves, history, {
                f"{name} bits per code": [f"{name}_train_bits_per_code", f"{name}_val_bits_per_code",
                                          f"{name}_test_bits_per_code"] for name in names
            }, "VQ priors")
            write_json(args.metrics, metrics)
        session.finish()


if __name__ == "__main__":
    stage_main(main)
