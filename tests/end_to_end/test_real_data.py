"""The whole DAG with real DVC on real images: a seeded subset of Fashion-MNIST as Debian's dataset-fashion-mnist installs
it (the four .gz idx files in /usr/share/datasets/fashion-mnist), small models, a few epochs, and thresholds that only a
pipeline that learned from those images passes.

Each figure is held against a baseline computed here from the same prepared data, never against a constant alone:
the classifier against chance, the VQ-VAE's PSNR against predicting every test image by the mean training image,
the pixel model's bits/dim against the uniform 8 bits and against a model of independent pixels (each position's
training histogram: what a network that ignores every other pixel would reach), each prior's bits per code against
the uniform log2(K); and each likelihood from below too, since a causal mask that leaks the value being predicted
scores far better than any real model can. The samples of both generators must be varied images, not one constant.

Where the package is not installed the module is skipped with the sentence saying how to install it.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from end_to_end.test_pipeline import ran_stages, run

from pixelcnn.data.datasets import FASHION_MNIST_PACKAGE

from helpers import ROOT, default_params

PACKAGE = Path(FASHION_MNIST_PACKAGE)
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not (PACKAGE / "train-images-idx3-ubyte.gz").is_file(),
    reason=f"Debian's Fashion-MNIST is not installed ({PACKAGE} has no idx files): `apt-get install dataset-fashion-mnist` "
           "(as root) runs the real-data tests",
)]

# Small models that learn something in seconds an epoch; the data: 1,000 train and 300 test images (seeded subsets).
REAL = {
    "data": dict(name="fashion_mnist", root=str(PACKAGE), max_train=1000, max_test=300),
    "train": dict(checkpoint_every=0),
    "pixelcnn": dict(hidden=16, skip=32, layers=1, epochs=3, batch_size=32, lr=0.005, num_samples=30, sample_batch_size=30,
                     complete_rows=16),
    "vqvae": dict(hidden=32, res_blocks=1, res_hidden=16, codebook_size=32, code_dim=16, epochs=8, warmup_steps=30,
                  grid_images=8),
    "prior": dict(hidden=32, skip=32, layers=4, embed_dim=16, cond_hidden=16, cond_blocks=1, epochs=4, batch_size=32,
                  num_samples=30, sample_batch_size=30),
    "classifier": dict(width=16, feature_dim=32, epochs=6, warmup_steps=30),
    "evaluate": dict(num_samples=100, kid_subset_size=50, kid_subsets=10, lpips_pairs=10, min_classifier_accuracy=0.5),
}


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """A fresh DVC repository (no git) of the project's stages and library, its params the defaults with REAL's changes,
    reproduced once with `dvc repro`."""
    repo = tmp_path_factory.mktemp("real_data")
    for name in ("stages", "src"):
        shutil.copytree(ROOT / name, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "dvc.yaml", repo / "dvc.yaml")
    raw = default_params()
    for section, values in REAL.items():
        raw[section].update(values)
    (repo / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    run(["dvc", "init", "-q", "--no-scm"], repo)
    output = run(["dvc", "repro"], repo)
    assert ran_stages(output) == set(yaml.safe_load((repo / "dvc.yaml").read_text())["stages"])
    return repo


def metrics(repo: Path, name: str) -> dict:
    return json.loads((repo / "metrics" / name).read_text())


def prepared(repo: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    folder = repo / "data" / "prepared"
    return np.load(folder / f"{split}_images.npy"), np.load(folder / f"{split}_labels.npy")


def test_real_data_prepare_reads_the_package_as_installed(repo):
    train, train_labels = prepared(repo, "train")
    test, _ = prepared(repo, "test")
    assert train.shape == (1000, 1, 32, 32) and test.shape == (300, 1, 32, 32)
    assert np.bincount(train_labels, minlength=10).min() >= 70  # a seeded subset of every class
    assert json.loads((repo / "data" / "prepared" / "meta.json").read_text())["class_names"][9] == "Ankle boot"


def test_real_data_classifier_is_far_above_chance(repo):
    accuracy = metrics(repo, "classifier/metrics.json")["test_accuracy"]
    assert accuracy >= 0.6, f"classifier test accuracy {accuracy:.3f} on real images; chance is 0.10"


def test_real_data_vqvae_beats_the_mean_image_by_far(repo):
    train, _ = prepared(repo, "train")
    test, _ = prepared(repo, "test")
    mean = train.astype(np.float64).mean(0) / 255
    baseline = 10 * math.log10(1 / np.mean((test / 255 - mean) ** 2))
    psnr = metrics(repo, "vqvae/metrics.json")["test_psnr"]
    assert psnr >= baseline + 4, f"VQ-VAE test PSNR {psnr:.2f} dB; the mean training image scores {baseline:.2f} dB"


def independent_pixels_bpd(train: np.ndarray, test: np.ndarray) -> float:
    """Bits/dim of ``test`` under one categorical per position: the training histogram there, add-one smoothed."""
    flat_train, flat_test = train.reshape(len(train), -1), test.reshape(len(test), -1)  # (N, D)
    counts = np.stack([np.bincount(column, minlength=256) for column in flat_train.T]) + 1  # (D, 256)
    logp = np.log2(counts / counts.sum(1, keepdims=True))
    return float(-logp[np.arange(flat_test.shape[1]), flat_test].mean())


def test_real_data_pixel_model_beats_independent_pixels_and_leaks_nothing(repo):
    train, _ = prepared(repo, "train")
    test, _ = prepared(repo, "test")
    baseline = independent_pixels_bpd(train, test)
    bpd = metrics(repo, "pixelcnn/metrics.json")["test_bpd"]
    assert bpd <= baseline - 0.5 and bpd <= 8 - 3, f"pixel test bits/dim {bpd:.3f}; independent pixels {baseline:.3f}, uniform 8"
    assert bpd >= 1.0, f"pixel test bits/dim {bpd:.3f} is below what any model reaches on Fashion-MNIST: a causal leak?"


def test_real_data_priors_beat_uniform_codes_and_leak_nothing(repo):
    codes = json.loads((repo / "data" / "codes" / "meta.json").read_text())
    uniform = math.log2(codes["codebook_size"])
    for level, figures in metrics(repo, "prior/metrics.json").items():
        if level == "step":
            continue
        bits = figures["test_bits_per_code"]
        assert 0.2 <= bits <= 0.8 * uniform, f"{level} prior: {bits:.3f} test bits per code; uniform is {uniform:.2f}"


def test_real_data_samples_of_both_generators_are_varied_images(repo):
    border = np.ones((32, 32), dtype=bool)
    border[2:30, 2:30] = False  # the zero frame of every padded 28×28 image
    for name in ("pixelcnn", "prior"):
        samples = np.load(repo / "data" / "samples" / name / "samples.npy").astype(np.float64)  # (N, 1, 32, 32)
        assert samples.shape == (30, 1, 32, 32), name
        per_image = samples.reshape(30, -1)
        assert np.median(per_image.std(1)) >= 20, f"{name}: the samples are flat images"
        assert 10 <= per_image.mean() <= 160, f"{name}: mean grey level {per_image.mean():.1f}; the data's is 56"
        distinct = np.abs(per_image[:, None] - per_image[None]).mean(2)  # (N, N) mean absolute difference
        assert distinct[~np.eye(30, dtype=bool)].min() >= 1, f"{name}: two samples are the same image"
    pixel = np.load(repo / "data" / "samples" / "pixelcnn" / "samples.npy")[:, 0]  # (N, 32, 32)
    assert pixel[:, border].mean() < 0.1 * pixel[:, ~border].mean(), "the pixel model did not learn the data's zero frame"


def test_real_data_evaluation_scores_every_set_and_the_reconstruction_floor(repo):
    scores = metrics(repo, "eval.json")
    for name in ("floor", "pixelcnn", "prior", "reconstruction"):
        assert math.isfinite(scores[f"{name}.fid"]), name
    accuracy = scores["reconstruction.class_accuracy"]
    assert accuracy >= 0.3, f"the classifier finds the class of {accuracy:.0%} of the VQ-VAE's reconstructions; chance is 10 %"
    assert scores["floor.fid"] < scores["pixelcnn.fid"] and scores["floor.fid"] < scores["prior.fid"]
