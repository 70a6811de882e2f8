"""The feature-extractor classifier and its stage, on a tiny, easy problem.

Shape legend: N images, C channels, H W pixels, K classes, D features.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from pixelcnn import checkpoints
from pixelcnn.data.prepared import PreparedData, save_prepared
from pixelcnn.errors import CheckpointError, ConfigError, DataError
from pixelcnn.models.classifier import Classifier, ClassifierConfig, accuracy

from helpers import logged, outputs, stage, train_args, write_params


def quadrants(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (n, 1, 8, 8) noise with a bright 4×4 block in quadrant ``label`` ∈ [0, 4)."""
    rng = np.random.RandomState(seed)
    labels = np.arange(n) % 4
    images = rng.randint(0, 60, size=(n, 1, 8, 8))
    for i, c in enumerate(labels):
        r, q = divmod(int(c), 2)
        images[i, 0, 4 * r : 4 * r + 4, 4 * q : 4 * q + 4] += 180
    return images.astype(np.uint8), labels.astype(np.int64)


def train(tmp_path: Path, seed: int = 0, labelled: bool = True, **classifier) -> dict[str, str]:
    data = tmp_path / "prepared"
    if not data.exists():
        (x, y), (tx, ty) = quadrants(160, 0), quadrants(80, 1)
        names = ["a", "b", "c", "d"] if labelled else []
        y, ty = (y, ty) if labelled else (np.full_like(y, -1), np.full_like(ty, -1))
        save_prepared(PreparedData("quadrants", names, x, y, tx, ty), data)
    p = write_params(tmp_path / f"params{seed}.yaml", seed=seed, classifier={
        "epochs": 4, "batch_size": 32, "lr": 1e-2, "warmup_steps": 4, "width": 8, "feature_dim": 8,
        "augment_shift": 1, "device": "cpu", **classifier})
    out = outputs(tmp_path / f"run{seed}", "classifier")
    stage("train_classifier")(train_args("train_classifier", p, data, out))
    return out


def test_classifier_stage_learns_an_easy_problem(tmp_path):
    out = train(tmp_path)
    model = checkpoints.load_model(out["out"], Classifier)
    assert model.config == ClassifierConfig(in_channels=1, num_classes=4, width=8, feature_dim=8)
    tx, ty = quadrants(80, 2)
    assert accuracy(model, tx, ty) >= 0.95
    metrics = json.loads(Path(out["metrics"]).read_text())
    assert set(metrics) == {"trained", "test_accuracy", "train_loss", "epochs", "parameters", "step"}  # no timings
    assert metrics["trained"] and metrics["test_accuracy"] >= 0.95 and metrics["epochs"] == metrics["step"] == 4
    figures = logged(out["live"])
    assert sorted(figures) == ["lr", "test_accuracy", "test_loss", "train_loss"]
    assert all([s for s, _ in v] == [1, 2, 3, 4] for v in figures.values())


def test_classifier_stage_deterministic_for_seed(tmp_path):
    a, b, c = train(tmp_path, 3, epochs=2), train(tmp_path / "again", 3, epochs=2), train(tmp_path, 4, epochs=2)
    assert Path(a["out"]).read_bytes() == Path(b["out"]).read_bytes()
    assert Path(a["out"]).read_bytes() != Path(c["out"]).read_bytes()


def test_classifier_forward_shapes_any_image_size():
    model = Classifier(ClassifierConfig(in_channels=3, num_classes=5, width=4, feature_dim=6)).eval()
    for size in (5, 8, 32):
        features, logits = model(torch.zeros(2, 3, size, size, dtype=torch.uint8))
        assert features.shape == (2, 6) and logits.shape == (2, 5)


def test_classifier_checkpoint_round_trip_device_and_kind(tmp_path):
    model = Classifier(ClassifierConfig(1, 4, width=4, feature_dim=6)).eval()
    checkpoints.save(tmp_path / "c.pt", model)
    again = checkpoints.load_model(tmp_path / "c.pt", Classifier, device="meta")
    assert again.config == model.config and next(again.parameters()).device.type == "meta"
    again = checkpoints.load_model(tmp_path / "c.pt", Classifier)
    x = torch.randint(0, 256, (3, 1, 8, 8), dtype=torch.uint8)
    assert all(torch.equal(u, v) for u, v in zip(model(x), again(x)))
    from pixelcnn.models.pixelcnn import PixelCNN

    with pytest.raises(CheckpointError, match="is a 'classifier' checkpoint, expected a 'pixelcnn' checkpoint"):
        checkpoints.load_model(tmp_path / "c.pt", PixelCNN)


def test_classifier_stage_refuses_unlabelled_data_with_advice_that_works(tmp_path):
    with pytest.raises(DataError, match=r"has 0 classes, .* for unlabelled data set evaluate.features: inception"):
        train(tmp_path, labelled=False)


def test_classifier_stage_with_inception_features_trains_nothing_and_says_so(tmp_path):
    data = tmp_path / "prepared"
    (x, y), (tx, ty) = quadrants(16, 0), quadrants(8, 1)
    save_prepared(PreparedData("flat", [], x, np.full_like(y, -1), tx, np.full_like(ty, -1)), data)
    p = write_params(tmp_path / "params.yaml", evaluate={"features": "inception"})
    out = outputs(tmp_path, "classifier")
    stage("train_classifier")(train_args("train_classifier", p, data, out))
    assert json.loads(Path(out["metrics"]).read_text()) == {"trained": False, "step": 0}
    assert logged(out["live"]) == {} and (Path(out["live"]) / "plots").is_dir()  # a DVC output, empty
    with pytest.raises(CheckpointError, match=r"no classifier was trained \(evaluate.features is 'inception'"):
        checkpoints.load_model(out["out"], Classifier)


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("epochs", 0, "classifier.epochs must be >= 1, got 0"),
        ("lr", 0.0, "classifier.lr must be > 0, got 0.0"),
        ("feature_dim", 1, "classifier.feature_dim must be >= 2, got 1"),
        ("augment_shift", -1, "classifier.augment_shift must be >= 0, got -1"),
    ],
)
def test_classifier_params_range_checks(tmp_path, key, value, message):
    with pytest.raises(ConfigError, match=f"params0.yaml: {message}$"):
        train(tmp_path, **{key: value})
