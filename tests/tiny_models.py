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
import yaml

from test_vqvae import TINY as TINY_VQVAE
from test_vqvae import blobs, stage

SIZE, CLASSES = 16, 10

PIXEL = dict(hidden=6, skip=6, layers=3, kernel=3, epochs=1, batch_size=8)
PRIOR = dict(hidden=8, skip=16, layers=3, embed_dim=4, cond_hidden=6, cond_blocks=1, epochs=1, batch_size=8)
EVAL = {
    "floor.fid": 0.7, "pixelcnn.fid": 13.0, "pixelcnn.is_mean": 3.8, "pixelcnn.precision": 0.47,
    "pixelcnn.recall": 0.76, "pixelcnn.test_bpd": 2.5, "prior.fid": 0.97, "prior.is_mean": 7.5,
    "prior.precision": 0.87, "prior.recall": 0.87, "prior.top.test_bits_per_code": 2.5,
    "prior.bottom.test_bits_per_code": 2.6,
}


def write_blobs(root: Path, n_train: int = 40, n_test: int = 20) -> Path:
    """A prepared data dir (pixelcnn.data's format) of SIZE×SIZE grey blobs, labels cycling over CLASSES."""
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
    p = work / "params.yaml"
    p.write_text(yaml.safe_dump({"seed": 0, "pixelcnn": PIXEL, "prior": PRIOR,
                                 "vqvae": {**TINY_VQVAE, "levels": 2, "epochs": 1, "batch_size": 8}}))
    w = lambda name: str(work / name)  # noqa: E731  (the stages' side outputs)
    stage("train_pixelcnn")(["--params", str(p), "--data", str(data), "--out", str(models / "pixelcnn.pt"),
                             "--metrics", w("p.json"), "--plots", w("p.csv")])
    stage("train_vqvae")(["--params", str(p), "--data", str(data), "--out", str(models / "vqvae.pt"),
                          "--metrics", w("v.json"), "--plots", w("v.csv"), "--grid", w("v.png")])
    stage("extract_codes")(["--params", str(p), "--data", str(data), "--model", str(models / "vqvae.pt"),
                            "--out", w("codes")])
    stage("train_prior")(["--params", str(p), "--codes", w("codes"), "--out", str(models / "prior.pt"),
                          "--metrics", w("prior.json"), "--plots", w("prior.csv")])
    (root / "metrics" / "eval.json").write_text(json.dumps(EVAL))
    return root


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    return build_tiny_run(tmp_path_factory.mktemp("tiny_run"))
