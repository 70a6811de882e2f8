"""Train the small CNN classifier that is evaluate's feature extractor.

Reads the prepared train/test splits; writes the checkpoint (with its own
config), per-epoch loss/accuracy as CSV for `dvc plots`, and the final test
accuracy as metrics.
"""

import argparse
import time

from pixelcnn import params
from pixelcnn.classifier import ClassifierParams, train_classifier
from pixelcnn.data import load_split
from pixelcnn.io import save_checkpoint, write_csv, write_json
from pixelcnn.runtime import resolve_device, seed_everything, stage_main


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--data", required=True, help="prepared data dir (prepare's output)")
    p.add_argument("--out", required=True, help="checkpoint path")
    p.add_argument("--metrics", required=True, help="final metrics JSON")
    p.add_argument("--plots", required=True, help="per-epoch curves CSV")
    args = p.parse_args(argv)
    cfg = params.load(args.params, ClassifierParams)
    generator = seed_everything(params.load_seed(args.params))
    device = resolve_device(cfg.device)

    train_x, train_y, meta = load_split(args.data, "train")
    test_x, test_y, _ = load_split(args.data, "test")
    start = time.perf_counter()
    model, rows = train_classifier(train_x, train_y, test_x, test_y, meta["num_classes"], cfg, device, generator)
    print(f"train_classifier: {time.perf_counter() - start:.1f} s", flush=True)  # a timing, not a metric: it would make every metrics diff noisy

    save_checkpoint(args.out, "classifier", model.config, model.cpu().state_dict(),
                    data=meta["name"], class_names=meta["class_names"], image_size=meta["image_size"])
    write_csv(args.plots, rows)
    write_json(args.metrics, {
        "test_accuracy": rows[-1]["test_accuracy"],
        "train_loss": rows[-1]["train_loss"],
        "parameters": sum(t.numel() for t in model.parameters()),
    })


if __name__ == "__main__":
    stage_main(main)
