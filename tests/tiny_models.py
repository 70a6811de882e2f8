"""A tiny trained run laid out like the default one, for the API, CLI and demo tests.

``tiny_run`` (session-scoped) trains, with the real stages and their real
checkpoint format, a pixel PixelCNN, a VQ-VAE-2 and its priors on 16×16 blobs
of 10 classes (a few seconds), under one root:

    root/data/prepared/     prepared data (train 40, test 20 images, classes "0" .. "9")
    root/models/pixelcnn.pt root/models/vqvae.pt root/models/prior.pt
    root/metrics/eval.json  made-up scores with the keys evaluate writes

so that code using the default relative paths works with ``cwd = root``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from helpers import blobs, outputs, stage, train_args, write_params

SIZE, CLASSES = 16, 10

PIXEL = dict(hidden=6, skip=6, layers=3, kernel=3, resolutions=1, position_channels=2, epochs=1, batch_size=8,
             cond_dropout=0.2)  # guidable; the prior is not
PRIOR = dict(hidden=8, skip=16, layers=3, embed_dim=4, cond_hidden=6, cond_blocks=1, epochs=1, batch_size=8,
             cond_dropout=0.0, guidance=1.0)  # not guidable (params.yaml's prior is): both kinds for the API, CLI and demo
VQVAE = dict(levels=2, hidden=8, res_blocks=1, res_hidden=4, codebook_size=8, code_dim=4, bottom_downsample=2,
             top_downsample=2, epochs=1, batch_size=8)
EVAL = {
    "floor.fid": 0.7, "pixelcnn.fid": 13.0, "pixelcnn.is_mean": 3.8, "pixelcnn.precision": 0.47,
    "pixelcnn.recall": 0.76, "pixelcnn.test_bpd": 2.5, "prior.fid": 0.97, "prior.is_mean": 7.5,
    "prior.precision": 0.87, "prior.recall": 0.87, "prior.top.test_bits_per_code": 2.5,
    "prior.bottom.test_bits_per_code": 2.6, "pixelcnn.class_accuracy": 0.34, "prior.class_accuracy": 0.97,
    "floor.class_accuracy": 0.99,
}


def write_blobs(root: Path, n_train: int = 40, n_test: int = 20) -> Path:
    """A prepared data dir (pixelcnn.data.prepared format) of SIZE×SIZE grey blobs, labels cycling over CLASSES."""
    root.mkdir(parents=True)
    for split, n, seed in (("train", n_train, 1), ("test", n_test, 2)):
        np.save(root / f"{split}_images.npy", blobs(n, seed, SIZE))
        np.save(root / f"{split}_labels.npy", np.arange(n, dtype=np.int64) % CLASSES)
    meta = {"name": "blobs", "channels": 1, "image_size": SIZE, "num_classes": CLASSES,
            "class_names": [str(c) for c in range(CLASSES)], "n_train": n_train, "n_test": n_test}
    (root / "meta.json").write_text(json.dumps(meta))
    return root


def build_tiny_run(root: Path) -> Path:
    """Train the tiny models under ``root`` (see the module docstring); returns root."""
    data = write_blobs(root / "data" / "prepared")
    models, work = root / "models", root / "work"
    (root / "metrics").mkdir(parents=True)
    models.mkdir()
    work.mkdir()
    p = write_params(work / "params.yaml", seed=0, pixelcnn=PIXEL, prior=PRIOR, vqvae=VQVAE)

    def train(name: str, data_dir: Path, model: Path) -> None:
        out = {**outputs(work, name), "out": str(model)}
        stage(name)(train_args(name, p, data_dir, out))

    train("train_pixelcnn", data, models / "pixelcnn.pt")
    train("train_vqvae", data, models / "vqvae.pt")
    stage("extract_codes")(["--params", str(p), "--data", str(data), "--model", str(models / "vqvae.pt"),
                            "--out", str(work / "codes")])
    train("train_prior", work / "codes", models / "prior.pt")
    (root / "metrics" / "eval.json").write_text(json.dumps(EVAL))
    return root


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    return build_tiny_run(tmp_path_factory.mktemp("tiny_run"))
