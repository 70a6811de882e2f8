"""Train the small CNN classifier that is evaluate's feature extractor (when evaluate.features is classifier).

Writes the checkpoint (with its own config); logs per-epoch loss and
accuracy, the final test accuracy and the curves through DVCLive (--live).
With evaluate.features:
inception no classifier is needed: the stage trains nothing and records why
in its outputs (so unlabelled data needs that one setting). Resumes from its
saved state (--state); with train.processes > 1 it runs under torchrun.
"""

import _checkout  # noqa: F401  (this checkout's src/ first on sys.path)

import argparse

from pixelcnn import checkpoints, distributed
from pixelcnn.configs import Augmentation, ClassifierConfig, Features, OptimConfig, RunConfig
from pixelcnn.data.prepared import load_split
from pixelcnn.errors import DataError
from pixelcnn.models.classifier import Classifier
from pixelcnn.project import params
from pixelcnn.project.stage import stage_main
from pixelcnn.training.api import train
from pixelcnn.training.live import TrainingLog
from pixelcnn.training.objectives.classifier import ClassifierObjective
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
    features = settings.load("evaluate", Features)
    run = settings.load("train", RunConfig)
    meta = load_split(args.data, "train").meta  # the split's files checked against it before training
    if features.features != "classifier":
        reason = f"evaluate.features is {features.features!r}: evaluate does not use a classifier"
        checkpoints.save_unused(args.out, "classifier", reason)
        TrainingLog(args.live).finish({"trained": False}, None, "")
        print(f"train_classifier: nothing to train ({reason})")
        return None
    if meta.num_classes < 2:
        raise DataError(
            f"{args.data} has {meta.num_classes} classes, so there is no classifier to train as evaluate's feature "
            "extractor; for unlabelled data set evaluate.features: inception (with evaluate.inception_weights offline)"
        )
    if distributed.needs_launch(run.processes):
        return distributed.launch(run.processes)
    architecture = settings.load_partial("classifier", ClassifierConfig)
    augmentation = settings.load("classifier", Augmentation)
    optim = settings.load("classifier", OptimConfig)
    config = architecture.build(in_channels=meta.channels, num_classes=meta.num_classes)

    with (settings.naming("train", RunConfig), settings.naming("classifier", OptimConfig),
          training_run(run, optim.device, settings.seed, args.state) as session):
        model = Classifier(config)
        log = TrainingLog(args.live) if session.ctx.main else None
        result = train(ClassifierObjective(model, augmentation), args.data, optim=optim, run=run, seed=settings.seed,
                       state=args.state, log=log, desc="train_classifier", keys=params.field_keys("classifier", OptimConfig))
        if session.ctx.main:
            checkpoints.save(args.out, model, data=meta.name,
                             class_names=list(meta.class_names), image_size=meta.image_size)
            log.finish({
                "trained": True,
                "test_accuracy": result.metrics["test_accuracy"],
                "train_loss": result.metrics["train_loss"],
                "epochs": int(result.metrics["epoch"]),
                "parameters": sum(t.numel() for t in model.parameters()),
            }, {"loss": ["train_loss", "val_loss", "test_loss"], "accuracy": ["val_accuracy", "test_accuracy"]},
                "Feature-extractor classifier")
        session.finish()


if __name__ == "__main__":
    stage_main(main)
