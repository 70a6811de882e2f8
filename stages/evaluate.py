"""Score every generator's samples against the test split, and the train split as the floor.

FID, IS, KID, precision/recall (torch-fidelity, one call per set), LPIPS
diversity (null when its AlexNet weights cannot be had), class accuracy (the
share of a generator's samples that the classifier puts in the class they
were drawn for; the floor's is the classifier's test accuracy), and the
bits/dim or bits/code carried from the training metrics, all through
``pixelcnn.evaluate``. With evaluate.features: classifier, the classifier's
test accuracy is measured first (below evaluate.min_classifier_accuracy the
stage stops) and recorded as `classifier.test_accuracy`. Writes flat JSON
metrics (`<set>.<metric>`) and a markdown table. A set is named after its
dir (`data/samples/prior` → `prior`); a bits file after its DVCLive folder
(`metrics/prior/metrics.json` → `prior`).

With --vqvae, the autoencoder's reconstructions of a seeded subset of the
test images (evaluate.num_samples of them) are scored like a generator's
samples, drawn for their own labels, as `reconstruction`: the best its prior
can reach (a prior that drew the test images' own codes), so a gap between
`prior` and `floor` splits into the autoencoder's share (`reconstruction`)
and the prior's. When the test split has no more images than num_samples,
the reconstructions are of the reference images themselves and their FID can
fall below the floor's (train vs test).
"""

import _checkout  # noqa: F401  (this checkout's src/ first on sys.path)

import argparse
from pathlib import Path

import torch

from pixelcnn import checkpoints
from pixelcnn.atomic import write_json, write_text
from pixelcnn.configs import EvaluateConfig, Features
from pixelcnn.data.prepared import load_split
from pixelcnn.evaluation import report
from pixelcnn.evaluation.api import evaluate
from pixelcnn.evaluation.metrics import CLASS_ACCURACY_KEY, subset_rows
from pixelcnn.models.vqvae import VQVAE, reconstruct
from pixelcnn.project import params
from pixelcnn.project.stage import stage_main
from pixelcnn.runtime import resolve_device, seed_everything

RECONSTRUCTION = "reconstruction"  # the set of the VQ-VAE's reconstructions of test images


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--data", required=True, help="prepared data dir (prepare's output)")
    p.add_argument("--classifier", help="train_classifier's checkpoint (for evaluate.features: classifier)")
    p.add_argument("--samples", nargs="*", default=[], help="sample dirs, one per generator")
    p.add_argument("--bpd", nargs="*", default=[], help="training metrics JSON to carry bits/dim from")
    p.add_argument("--vqvae", help="train_vqvae's checkpoint: score its reconstructions of test images as a set")
    p.add_argument("--out", required=True, help="metrics JSON")
    p.add_argument("--table", required=True, help="markdown table")
    args = p.parse_args(argv)
    settings = params.load_file(args.params)
    features = settings.load("evaluate", Features)
    config = settings.load("evaluate", EvaluateConfig)
    generator = seed_everything(settings.seed)

    with settings.naming("evaluate", Features, EvaluateConfig):  # a device, a weights file, a set too small
        test = load_split(args.data, "test")
        sets = report.collect_sets(args.data, args.samples)
        drawn_for = {Path(d).name: y for d in args.samples if (y := report.load_sample_labels(d)) is not None}
        carried = {report.likelihood_set(f): report.read_likelihoods(f) for f in args.bpd}
        if args.vqvae:  # last, so that every other set's seeded subset is what it was without it
            vqvae = checkpoints.load_model(args.vqvae, VQVAE, resolve_device(config.device))
            rows = subset_rows(len(test.images), config.num_samples, torch.Generator().manual_seed(settings.seed))
            rows = range(len(test.images)) if rows is None else rows
            sets[RECONSTRUCTION] = reconstruct(vqvae, test.images[rows], config.batch_size)
            drawn_for[RECONSTRUCTION] = test.labels[rows]
        classifier = args.classifier if features.features == "classifier" else None
        results = evaluate(sets, test.images, labels=drawn_for, reference_labels=test.labels, classifier=classifier,
                           features=features.features, config=config, generator=generator)
    accuracy = results.pop("classifier.test_accuracy", None)
    if accuracy is not None:  # what real, unseen images score: the floor of class accuracy
        results[f"{report.FLOOR}.{CLASS_ACCURACY_KEY}"] = accuracy
    results.update({f"{name}.{k}": v for name, bits in carried.items() for k, v in bits.items()})
    if accuracy is not None:
        results["classifier.test_accuracy"] = accuracy
    write_json(args.out, results)
    write_text(args.table, report.markdown_table(results))


if __name__ == "__main__":
    stage_main(main)
