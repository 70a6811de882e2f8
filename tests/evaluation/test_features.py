"""Feature spaces (pixelcnn.evaluation.features): the classifier registered with torch-fidelity and gated by its
accuracy, Inception and AlexNet weights found, or refused in one sentence when missing, offline or damaged.

Shape legend: N images, C channels, H W pixels, K classes, D features.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scoring_fakes import (  # noqa: F401  (offline: autouse)
    CLASSIFIER,
    CORRUPT,
    CPU,
    INCEPTION,
    TINY,
    as_the_stage,
    blobs,
    certain_classifier,
    constant_images,
    fake_inception_state,
    offline,
    random_classifier,
)

from pixelcnn.configs import EvaluateConfig
from pixelcnn.errors import CheckpointError, ConfigError, InvalidValue, UserError
from pixelcnn.evaluation import features, metrics
from pixelcnn.evaluation.features import FeatureSpace


def test_classifier_extractor_is_registered_with_both_features(tmp_path):
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

    features.register_classifier_extractor()
    features.register_classifier_extractor()  # idempotent
    cls = FEATURE_EXTRACTORS_REGISTRY[features.CLASSIFIER_EXTRACTOR]
    assert cls.get_provided_features_list() == ("penultimate", "logits")
    assert [cls.get_default_feature_layer_for_metric(m) for m in ("isc", "fid", "kid", "prc")] == [
        "logits", "penultimate", "penultimate", "penultimate"
    ]
    space = random_classifier(tmp_path / "c.pt", num_classes=4)
    extractor = cls(features.CLASSIFIER_EXTRACTOR, ["logits", "penultimate"], feature_extractor_weights_path=space.weights_path)
    logits, penultimate = extractor(torch.zeros(2, 1, 8, 8, dtype=torch.uint8))
    assert logits.shape == (2, 4) and penultimate.shape == (2, 8)
    with pytest.raises(ValueError, match="Input is not Bx1xHxW"):
        extractor(torch.zeros(2, 3, 8, 8, dtype=torch.uint8))


def test_inception_weights_missing_file_is_one_sentence(tmp_path):
    cfg = EvaluateConfig(inception_weights=str(tmp_path / "nope.pth"))
    sentence = (r"^params.yaml: evaluate.inception_weights is '.*nope.pth', which does not exist; "
                r"put weights-inception-2015-12-05-6726825d.pth there or set it to \"\" \(the torch hub cache\)$")
    with pytest.raises(ConfigError, match=sentence), as_the_stage():
        features.resolve_feature_space(INCEPTION, cfg, None, blobs(4, 0), np.zeros(4, np.int64))


def test_inception_weights_offline_is_one_sentence(tmp_path):
    sentence = (r"^Inception-v3 weights could not be downloaded \(offline\?\) and evaluate.inception_weights is not set; "
                r"download .* or use evaluate.features: classifier$")
    with pytest.raises(UserError, match=sentence):
        features.resolve_feature_space(INCEPTION, EvaluateConfig(), None, blobs(4, 0), np.zeros(4, np.int64))


def test_inception_weights_in_hub_cache_are_used(tmp_path):
    cached = Path(torch.hub.get_dir()) / "checkpoints" / features.INCEPTION_FILE
    fake_inception_state(cached)
    space = features.resolve_feature_space(INCEPTION, EvaluateConfig(), None, blobs(4, 0), np.zeros(4, np.int64))
    assert space == FeatureSpace(features.INCEPTION_EXTRACTOR, str(cached), rgb=True)
    assert metrics.UInt8Images(blobs(2, 0), rgb=True)[0].shape == (3, 8, 8)


def test_lpips_without_trunk_weights_is_null_with_one_line(capsys):
    assert features.resolve_lpips_trunk(TINY) is None
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("evaluate: lpips_alex_diversity is missing: torchvision's AlexNet weights")


def test_lpips_with_a_local_trunk_file_is_computed(tmp_path):
    import torchvision

    trunk = torchvision.models.alexnet(weights=None).state_dict()
    torch.save(trunk, tmp_path / "alexnet.pth")
    cfg = EvaluateConfig(lpips_trunk_weights=str(tmp_path / "alexnet.pth"))
    model = features.lpips_model(features.resolve_lpips_trunk(cfg), CPU)
    assert torch.equal(model.net.state_dict()["slice2.3.weight"], trunk["features.3.weight"])  # the file's trunk, not a random one
    same = np.repeat(blobs(1, 0, size=16), 6, axis=0)
    g = torch.Generator().manual_seed(0)
    assert metrics.lpips_diversity(same, model, 10, 4, CPU, g) == 0.0
    assert metrics.lpips_diversity(blobs(6, 0, size=16), model, 10, 4, CPU, g) > 0.0
    with pytest.raises(ConfigError, match="lpips_trunk_weights: .* is not torchvision's AlexNet state dict"), as_the_stage():
        torch.save({"x": torch.zeros(1)}, tmp_path / "bad.pth")
        features.lpips_model(tmp_path / "bad.pth", CPU)


URL_INCEPTION = "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth"


@pytest.mark.parametrize("damage", CORRUPT)
def test_inception_weights_corrupt_configured_file_is_one_sentence(tmp_path, damage):
    path = tmp_path / "inception.pth"
    damage(path)
    cfg = EvaluateConfig(inception_weights=str(path))
    with pytest.raises(ConfigError) as err, as_the_stage():
        features.resolve_feature_space(INCEPTION, cfg, None, blobs(4, 0), np.zeros(4, np.int64))
    message = str(err.value)
    assert message.startswith(f"params.yaml: evaluate.inception_weights: {path} is not torch-fidelity's Inception-v3 state dict (")
    assert message.endswith(f"); download {URL_INCEPTION} to that path again, or use evaluate.features: classifier")
    assert "\n" not in message


@pytest.mark.parametrize("damage", CORRUPT)
def test_inception_weights_corrupt_hub_cache_file_is_one_sentence(tmp_path, damage):
    cached = tmp_path / "torch_home" / "hub" / "checkpoints" / features.INCEPTION_FILE  # TORCH_HOME is set by `offline`
    cached.parent.mkdir(parents=True)
    damage(cached)
    with pytest.raises(UserError) as err:
        features.resolve_feature_space(INCEPTION, EvaluateConfig(), None, blobs(4, 0), np.zeros(4, np.int64))
    message = str(err.value)
    assert message.startswith(f"{cached}: the torch hub cache's copy is not torch-fidelity's Inception-v3 state dict (")
    assert message.endswith(f"); delete it and download {URL_INCEPTION} there again, or use evaluate.features: classifier")


@pytest.mark.parametrize("damage", CORRUPT)
def test_lpips_trunk_corrupt_file_is_one_sentence(tmp_path, damage):
    path = tmp_path / "alexnet.pth"
    damage(path)
    with pytest.raises(InvalidValue) as err:
        features.resolve_lpips_trunk(EvaluateConfig(lpips_trunk_weights=str(path)))
    assert str(err.value).startswith(f"lpips_trunk_weights: {path} is not")  # the library names the field
    with pytest.raises(ConfigError) as err, as_the_stage():
        features.resolve_lpips_trunk(EvaluateConfig(lpips_trunk_weights=str(path)))
    message = str(err.value)
    assert message.startswith(f"params.yaml: evaluate.lpips_trunk_weights: {path} is not torchvision's AlexNet state dict (")
    assert message.endswith(f"); download {features.ALEXNET_URL} to that path again, or set lpips_trunk_weights to \"\" (the torch hub cache)")
    cached = tmp_path / "torch_home" / "hub" / "checkpoints" / features.ALEXNET_FILE
    cached.parent.mkdir(parents=True)
    damage(cached)
    with pytest.raises(UserError) as err:
        features.resolve_lpips_trunk(EvaluateConfig())
    message = str(err.value)
    assert message.startswith(f"{cached}: the torch hub cache's copy is not torchvision's AlexNet state dict (")
    assert message.endswith(f"); delete it and download {features.ALEXNET_URL} there again")


def test_classifier_gate_refuses_a_3_class_classifier_at_chance(tmp_path):
    space, levels = certain_classifier(tmp_path / "c.pt", 3)
    labels = np.arange(30) % 3
    images = constant_images(levels[:1], per_class=30)  # every image looks like class 0: right on a third
    with pytest.raises(CheckpointError, match=r"test accuracy is 0\.333 \(chance: 0\.333\), below evaluate\.min_classifier_accuracy 0\.8"):
        features.resolve_feature_space(CLASSIFIER, EvaluateConfig(), space.weights_path, images, labels)
    lenient = features.resolve_feature_space(CLASSIFIER, EvaluateConfig(min_classifier_accuracy=0.3), space.weights_path, images, labels)
    assert lenient.classifier_accuracy == pytest.approx(1 / 3)


def test_classifier_gate_passes_a_good_classifier_and_keeps_its_accuracy(tmp_path):
    space, levels = certain_classifier(tmp_path / "c.pt", 3)
    labels = np.repeat(np.arange(3), 10)
    resolved = features.resolve_feature_space(CLASSIFIER, EvaluateConfig(), space.weights_path, constant_images(levels, 10), labels)
    assert resolved == FeatureSpace(features.CLASSIFIER_EXTRACTOR, space.weights_path, rgb=False, classifier_accuracy=1.0)


def test_classifier_gate_refuses_labels_the_classifier_does_not_know(tmp_path):
    space, levels = certain_classifier(tmp_path / "c.pt", 3)
    with pytest.raises(CheckpointError, match=r"c\.pt: classifier has 3 classes but the test split's labels span -1\.\.-1; re-run train_classifier on this data"):
        features.resolve_feature_space(CLASSIFIER, EvaluateConfig(), space.weights_path, constant_images(levels, 2), np.full(6, -1))


def test_min_classifier_accuracy_range_is_one_sentence():
    with pytest.raises(ValueError, match=r"^min_classifier_accuracy must be in \[0, 1\], got 1.5$"):
        EvaluateConfig(min_classifier_accuracy=1.5)
