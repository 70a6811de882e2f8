"""Tests of pixelcnn.classifier and stages/train_classifier.py on a tiny, easy problem.

Shape legend: N images, C channels, H W pixels, K classes, D features.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from pixelcnn.classifier import (
    Classifier,
    ClassifierConfig,
    ClassifierParams,
    accuracy,
    load_classifier,
    train_classifier,
)
from pixelcnn.data import PreparedData, save_prepared
from pixelcnn.errors import CheckpointError, ConfigError, DataError
from pixelcnn.io import save_checkpoint

REPO = Path(__file__).resolve().parents[1]
TINY = ClassifierParams(epochs=4, batch_size=32, lr=5e-3, width=8, feature_dim=8, augment_shift=1, device="cpu")


def quadrants(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (n, 1, 8, 8) noise with a bright 4×4 block in quadrant ``label`` ∈ [0, 4)."""
    rng = np.random.RandomState(seed)
    labels = np.arange(n) % 4
    images = rng.randint(0, 60, size=(n, 1, 8, 8))
    for i, c in enumerate(labels):
        r, q = divmod(int(c), 2)
        images[i, 0, 4 * r : 4 * r + 4, 4 * q : 4 * q + 4] += 180
    return images.astype(np.uint8), labels.astype(np.int64)


def train_tiny(seed: int, cfg: ClassifierParams = TINY) -> tuple[Classifier, list[dict[str, float]]]:
    (x, y), (tx, ty) = quadrants(160, 0), quadrants(80, 1)
    return train_classifier(x, y, tx, ty, 4, cfg, torch.device("cpu"), torch.Generator().manual_seed(seed))


def test_classifier_learns_easy_problem():
    model, rows = train_tiny(0)
    tx, ty = quadrants(80, 2)
    assert accuracy(model, tx, ty) >= 0.95
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]


def test_classifier_deterministic_for_seed():
    short = dataclasses.replace(TINY, epochs=2)
    a, rows_a = train_tiny(3, short)
    b, rows_b = train_tiny(3, short)
    c, _ = train_tiny(4, short)
    assert rows_a == rows_b
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key]), key
    assert not torch.equal(a.head.weight, c.head.weight)


def test_classifier_forward_shapes_any_image_size():
    model = Classifier(ClassifierConfig(in_channels=3, num_classes=5, width=4, feature_dim=6)).eval()
    for size in (5, 8, 32):
        features, logits = model(torch.zeros(2, 3, size, size, dtype=torch.uint8))
        assert features.shape == (2, 6) and logits.shape == (2, 5)


def test_classifier_checkpoint_round_trip_and_kind(tmp_path):
    model = Classifier(ClassifierConfig(1, 4, width=4, feature_dim=6)).eval()
    save_checkpoint(tmp_path / "c.pt", "classifier", model.config, model.state_dict())
    again = load_classifier(str(tmp_path / "c.pt"))
    x = torch.randint(0, 256, (3, 1, 8, 8), dtype=torch.uint8)
    assert again.config == model.config
    assert all(torch.equal(u, v) for u, v in zip(model(x), again(x)))
    save_checkpoint(tmp_path / "p.pt", "pixelcnn", model.config, model.state_dict())
    with pytest.raises(CheckpointError, match="is a 'pixelcnn' checkpoint, expected a 'classifier' checkpoint"):
        load_classifier(str(tmp_path / "p.pt"))


def test_classifier_refuses_unlabelled_data():
    x, y = quadrants(8, 0)
    with pytest.raises(DataError, match="needs labelled data with at least 2 classes, got 0"):
        train_classifier(x, -np.ones_like(y), x, y, 0, TINY, torch.device("cpu"))


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("epochs", 0, "classifier.epochs must be >= 1, got 0"),
        ("lr", 0.0, "classifier.lr must be > 0, got 0.0"),
        ("feature_dim", 1, "classifier.feature_dim must be >= 2, got 1"),
        ("augment_shift", -1, "classifier.augment_shift must be >= 0, got -1"),
    ],
)
def test_classifier_params_range_checks(key, value, message):
    with pytest.raises(ConfigError, match=f"^params.yaml: {message}$"):
        ClassifierParams(**{key: value})


def test_stage_train_classifier_writes_checkpoint_and_metrics(tmp_path):
    (x, y), (tx, ty) = quadrants(96, 0), quadrants(40, 1)
    save_prepared(PreparedData("quadrants", ["a", "b", "c", "d"], x, y, tx, ty), tmp_path / "prepared")
    (tmp_path / "params.yaml").write_text(
        "seed: 1\nclassifier:\n  epochs: 2\n  width: 4\n  feature_dim: 4\n  device: cpu\n"
    )
    spec = importlib.util.spec_from_file_location("stage_train_classifier", REPO / "stages" / "train_classifier.py")
    stage = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stage)
    out = tmp_path / "models" / "classifier.pt"
    stage.main(["--params", str(tmp_path / "params.yaml"), "--data", str(tmp_path / "prepared"), "--out", str(out),
                "--metrics", str(tmp_path / "classifier.json"), "--plots", str(tmp_path / "classifier.csv")])
    metrics = json.loads((tmp_path / "classifier.json").read_text())
    assert set(metrics) == {"test_accuracy", "train_loss", "parameters"}  # no timings: they would make every metrics diff noisy
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    model = load_classifier(str(out))
    assert model.config == ClassifierConfig(in_channels=1, num_classes=4, width=4, feature_dim=4)
    assert (tmp_path / "classifier.csv").read_text().splitlines()[0] == "epoch,train_loss,test_accuracy"
