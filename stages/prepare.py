"""Prepare the dataset named in params.yaml `data` into --out.

Output (see pixelcnn.data.prepared): train/test images uint8 (N, C, H, W) and labels int64 (N,)
as .npy, plus meta.json; written all at once, so a failure leaves no partial output.
"""

import _checkout  # noqa: F401  (this checkout's src/ first on sys.path)

import argparse

from pixelcnn.configs import DataConfig
from pixelcnn.data.datasets import prepare
from pixelcnn.data.prepared import save_prepared
from pixelcnn.project import params
from pixelcnn.project.stage import stage_main


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--out", required=True)  # the prepared data dir, as dvc.yaml lists under outs
    args = p.parse_args(argv)
    settings = params.load_file(args.params)
    config = settings.load("data", DataConfig)
    data = prepare(config)  # seeded by data.split_seed; draws nothing else
    save_prepared(data, args.out)
    meta = data.meta()
    print(
        f"prepare: {config.name} → {args.out}: {meta.n_train} train, {meta.n_test} test images of "
        f"{meta.channels}×{meta.image_size}×{meta.image_size}, {meta.num_classes} classes"
    )


if __name__ == "__main__":
    stage_main(main)
