"""What the evaluation tests share: a stubbed-out network, fake classifiers and images, damaged weights files,
and the evaluate stage's inputs on disk.

Shape legend: N images, C channels, H W pixels, K classes, D features.
"""

from __future__ import annotations

import json
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch

from pixelcnn import checkpoints
from pixelcnn.configs import EvaluateConfig, Features
from pixelcnn.data.prepared import PreparedData, save_prepared
from pixelcnn.evaluation import features
from pixelcnn.evaluation.features import FeatureSpace
from pixelcnn.models.classifier import Classifier, ClassifierConfig
from pixelcnn.project import params

from helpers import default_params, write_params

CPU = torch.device("cpu")


def as_the_stage():
    """What stages/evaluate.py wraps its library calls in: a field error names the params key."""
    return params.Params({}, "params.yaml").naming("evaluate", Features, EvaluateConfig)


TINY = EvaluateConfig(num_samples=400, kid_subset_size=50, kid_subsets=10, lpips_pairs=20, batch_size=200, device="cpu")
INCEPTION, CLASSIFIER = Features("inception"), Features("classifier")
METRICS = ["fid", "is_mean", "is_std", "kid_mean", "kid_std", "precision", "recall", "lpips_alex_diversity"]


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    """An empty torch hub cache and no network: downloads fail as they do on this machine (autouse: import it)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))

    def refuse(url, dst, *args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)


def blobs(n: int, seed: int, size: int = 8) -> np.ndarray:
    """uint8 (n, 1, size, size): a bright square at a random place on a dark background."""
    rng = np.random.RandomState(seed)
    images = rng.randint(0, 40, size=(n, 1, size, size))
    for i in range(n):
        r, c = rng.randint(0, size - 3, size=2)
        images[i, 0, r : r + 3, c : c + 3] += 200
    return images.astype(np.uint8)


def random_classifier(path: Path, num_classes: int = 4) -> FeatureSpace:
    torch.manual_seed(0)
    model = Classifier(ClassifierConfig(1, num_classes, width=4, feature_dim=8))
    checkpoints.save(path, model)
    return FeatureSpace(features.CLASSIFIER_EXTRACTOR, str(path), rgb=False)


def certain_classifier(path: Path, k: int, sharpness: float = 400.0) -> tuple[FeatureSpace, list[int]]:
    """A hand-built classifier checkpoint whose logits are one-hot-ish over k classes.

    A constant image of value ``levels[c]`` is class c: every conv copies the
    scaled pixel s = v / 127.5 - 1 (centre tap 1, BN the identity), so the
    pooled vector is s; the features are |s - m_c| split in two ReLUs and
    logit c = -sharpness · |s - m_c|.
    """
    levels = [130 + 30 * c for c in range(k)]
    centres = torch.tensor([v / 127.5 - 1 for v in levels])
    model = Classifier(ClassifierConfig(1, k, width=1, feature_dim=2 * k))
    state = {name: torch.zeros_like(t) for name, t in model.state_dict().items()}
    for block in range(3):
        state[f"trunk.{block}.0.weight"][:, 0, 1, 1] = 1.0  # every output channel copies input channel 0
        state[f"trunk.{block}.1.weight"].fill_(1.0)
        state[f"trunk.{block}.1.running_var"].fill_(1.0 - model.trunk[block][1].eps)
    state["to_features.weight"][:k, 0], state["to_features.bias"][:k] = 1.0, -centres  # relu(s - m_c)
    state["to_features.weight"][k:, 0], state["to_features.bias"][k:] = -1.0, centres  # relu(m_c - s)
    for c in range(k):
        state["head.weight"][c, c] = state["head.weight"][c, k + c] = -sharpness
    model.load_state_dict(state)
    checkpoints.save(path, model)
    return FeatureSpace(features.CLASSIFIER_EXTRACTOR, str(path), rgb=False), levels


def constant_images(levels: list[int], per_class: int, size: int = 4) -> np.ndarray:
    values = np.repeat(np.array(levels, dtype=np.uint8), per_class)
    return np.broadcast_to(values[:, None, None, None], (len(values), 1, size, size)).copy()


def levelled(labels: np.ndarray, seed: int, levels: list[int]) -> np.ndarray:
    """uint8 (N, 1, 8, 8): class c is level c plus noise in [0, 10], which certain_classifier gets right."""
    noise = np.random.RandomState(seed).randint(0, 11, size=(len(labels), 1, 8, 8))
    return (np.array(levels)[labels][:, None, None, None] + noise).astype(np.uint8)


def stage_inputs(tmp_path: Path, params_text: str, at_chance: bool = False) -> list[str]:
    """A tiny prepared dir, classifier, two sample dirs and their bits files; returns the stage's argv.

    The classifier is right on every test image, or, ``at_chance``, on a quarter of them
    (every test image looks like class 0).
    """
    labels = lambda n: np.arange(n) % 4  # noqa: E731
    _, levels = certain_classifier(tmp_path / "classifier.pt", 4)
    test_looks = np.zeros(40, np.int64) if at_chance else labels(40)
    data = PreparedData("levels", list("abcd"), levelled(labels(60), 0, levels), labels(60),
                        levelled(test_looks, 1, levels), labels(40))
    save_prepared(data, tmp_path / "prepared")
    for name, seed in (("pixelcnn", 2), ("prior", 3)):
        (tmp_path / "samples" / name).mkdir(parents=True)
        classes = np.random.RandomState(seed).randint(0, 4, 30)
        np.save(tmp_path / "samples" / name / "samples.npy", levelled(classes, seed, levels))
        # the class each sample was drawn for: the pixel model's all look like theirs, the prior's first 15 only
        drawn_for = classes if name == "pixelcnn" else np.concatenate([classes[:15], (classes[15:] + 1) % 4])
        np.save(tmp_path / "samples" / name / "labels.npy", drawn_for.astype(np.int64))
    (tmp_path / "pixelcnn").mkdir()  # a DVCLive folder, as train_pixelcnn writes it; the prior's as a flat file
    (tmp_path / "pixelcnn" / "metrics.json").write_text(json.dumps({"test_bpd": 1.5, "train_bpd": 1.4, "levels": 256, "step": 2}))
    (tmp_path / "prior.json").write_text(json.dumps({"top": {"test_bits_per_code": 3.0}, "bottom": {"test_bits_per_code": 2.0}}))
    import yaml

    write_params(tmp_path / "params.yaml", default_params(), evaluate=yaml.safe_load("x:\n" + params_text)["x"])
    return ["--params", str(tmp_path / "params.yaml"), "--data", str(tmp_path / "prepared"),
            "--classifier", str(tmp_path / "classifier.pt"),
            "--samples", str(tmp_path / "samples" / "pixelcnn"), str(tmp_path / "samples" / "prior"),
            "--bpd", str(tmp_path / "pixelcnn" / "metrics.json"), str(tmp_path / "prior.json"),
            "--out", str(tmp_path / "eval.json"), "--table", str(tmp_path / "eval.md")]


def fake_inception_state(path: Path) -> None:
    """A state dict with the two tensors resolve_feature_space checks (shapes of torch-fidelity's Inception-v3)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"Conv2d_1a_3x3.conv.weight": torch.zeros(32, 3, 3, 3), "fc.weight": torch.zeros(1008, 2048)}, path)


def garbage(path: Path) -> None:
    path.write_bytes(b"<html>404 Not Found</html>")


def _truncated_zip(path: Path) -> None:
    fake_inception_state(path)
    path.write_bytes(path.read_bytes()[:5000])


def _pickled_module(path: Path) -> None:
    torch.save(torch.nn.Linear(2, 2), path)  # a whole module, refused by weights_only


def _other_state_dict(path: Path) -> None:
    torch.save({"features.0.weight": torch.zeros(2)}, path)


CORRUPT = [garbage, _truncated_zip, _pickled_module, _other_state_dict]
