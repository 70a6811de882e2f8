"""Score every generator's samples against the test split, and the train split as the floor.

FID, IS, KID, precision/recall (torch-fidelity, one call per set), LPIPS
diversity (null when its AlexNet weights cannot be had), and the bits/dim
or bits/code carried from the training metrics. With evaluate.features:
classifier, the classifier's test accuracy is measured first (below
evaluate.min_classifier_accuracy the stage stops) and recorded as
`classifier.test_accuracy`. Writes flat JSON metrics
(`<set>.<metric>`) and a markdown table. A set is named after its dir
(`data/samples/prior` → `prior`); a bits file after its stem.
"""

import _checkout  # noqa: F401  (this checkout's src/ first on sys.path)

import argparse
from pathlib import Path

from pixelcnn import params
from pixelcnn.atomic import write_json, write_text
from pixelcnn.configs import EvaluateConfig, Features
from pixelcnn.data.prepared import load_split
from pixelcnn.evaluation import metrics as evaluation
from pixelcnn.runtime import resolve_device, seed_everything, stage_main


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--data", required=True, help="prepared data dir (prepare's output)")
    p.add_argument("--classifier", help="train_classifier's checkpoint (for evaluate.features: classifier)")
    p.add_argument("--samples", nargs="*", default=[], help="sample dirs, one per generator")
    p.add_argument("--bpd", nargs="*", default=[], help="training metrics JSON to carry bits/dim from")
    p.add_argument("--out", required=True, help="metrics JSON")
    p.add_argument("--table", required=True, help="markdown table")
    args = p.parse_args(argv)
    settings = params.load_file(args.params)
    features = settings.load("evaluate", Features)
    config = settings.load("evaluate", EvaluateConfig)
    generator = seed_everything(settings.seed)

    with settings.naming("evaluate", Features, EvaluateConfig):  # a device, a weights file, a set too small
        device = resolve_device(config.device)
        test = load_split(args.data, "test")
        space = evaluation.resolve_feature_space(features, config, args.classifier, test.images, test.labels)
        lpips_trunk = evaluation.resolve_lpips_trunk(config)
        sets = evaluation.collect_sets(args.data, args.samples)
        carried = {Path(f).stem: evaluation.read_likelihoods(f) for f in args.bpd}
        results = evaluation.evaluate_sets(sets, test.images, space, lpips_trunk, config, device, generator)
    results.update({f"{name}.{k}": v for name, bits in carried.items() for k, v in bits.items()})
    if space.classifier_accuracy is not None:
        results["classifier.test_accuracy"] = space.classifier_accuracy
    write_json(args.out, results)
    write_text(args.table, evaluation.markdown_table(results))


if __name__ == "__main__":
    stage_main(main)
