"""Tests of pixelcnn.evaluation.metrics and stages/evaluate.py: metric properties through torch-fidelity,
the offline paths (Inception, LPIPS), and the stage end to end on tiny fake inputs.

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
from pixelcnn.configs import EvaluateConfig, Features, VQVAEConfig
from pixelcnn.data.prepared import PreparedData, load_split, save_prepared
from pixelcnn.errors import CheckpointError, ConfigError, DataError, InvalidValue, UserError
from pixelcnn.evaluation import metrics as evaluation
from pixelcnn.evaluation.metrics import FeatureSpace
from pixelcnn.models.classifier import Classifier, ClassifierConfig
from pixelcnn.models.vqvae import VQVAE, reconstruct
from pixelcnn.project import params
from pixelcnn.runtime import stage_main

from helpers import TINY_VQVAE, default_params, stage, write_params

REPO = Path(__file__).resolve().parents[2]
CPU = torch.device("cpu")
def as_the_stage():
    """What stages/evaluate.py wraps its library calls in: a field error names the params key."""
    return params.Params({}, "params.yaml").naming("evaluate", Features, EvaluateConfig)


TINY = EvaluateConfig(num_samples=400, kid_subset_size=50, kid_subsets=10, lpips_pairs=20, batch_size=200, device="cpu")
INCEPTION, CLASSIFIER = Features("inception"), Features("classifier")
METRICS = ["fid", "is_mean", "is_std", "kid_mean", "kid_std", "precision", "recall", "lpips_alex_diversity"]


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    """An empty torch hub cache and no network: downloads fail as they do on this machine."""
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
    return FeatureSpace(evaluation.CLASSIFIER_EXTRACTOR, str(path), rgb=False)


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
    return FeatureSpace(evaluation.CLASSIFIER_EXTRACTOR, str(path), rgb=False), levels


def constant_images(levels: list[int], per_class: int, size: int = 4) -> np.ndarray:
    values = np.repeat(np.array(levels, dtype=np.uint8), per_class)
    return np.broadcast_to(values[:, None, None, None], (len(values), 1, size, size)).copy()


def test_fid_of_a_set_against_itself_is_zero_and_grows_with_noise(tmp_path):
    space = random_classifier(tmp_path / "c.pt")
    images = blobs(300, 0)
    z = np.random.RandomState(1).normal(size=images.shape)
    fids = []
    for sigma in (0, 10, 30, 90):
        noisy = np.clip(images + sigma * z, 0, 255).round().astype(np.uint8)
        fids.append(evaluation.fidelity_metrics(noisy, images, space, TINY, CPU, rng_seed=0)["fid"])
    assert abs(fids[0]) < 1e-4 * fids[1]
    assert fids[1] < fids[2] < fids[3]


def test_inception_score_of_a_certain_balanced_classifier_is_k(tmp_path):
    k = 5
    space, levels = certain_classifier(tmp_path / "certain.pt", k)
    images = constant_images(levels, per_class=400)
    m = evaluation.fidelity_metrics(images, images, space, TINY, CPU, rng_seed=0)
    assert m["is_mean"] == pytest.approx(k, abs=0.1)
    assert m["precision"] == m["recall"] == 1.0
    one_class = constant_images(levels[:1], per_class=400)
    assert evaluation.fidelity_metrics(one_class, images, space, TINY, CPU, rng_seed=0)["is_mean"] == pytest.approx(1.0, abs=1e-3)


def test_classifier_extractor_is_registered_with_both_features(tmp_path):
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

    evaluation.register_classifier_extractor()
    evaluation.register_classifier_extractor()  # idempotent
    cls = FEATURE_EXTRACTORS_REGISTRY[evaluation.CLASSIFIER_EXTRACTOR]
    assert cls.get_provided_features_list() == ("penultimate", "logits")
    assert [cls.get_default_feature_layer_for_metric(m) for m in ("isc", "fid", "kid", "prc")] == [
        "logits", "penultimate", "penultimate", "penultimate"
    ]
    space = random_classifier(tmp_path / "c.pt", num_classes=4)
    extractor = cls(evaluation.CLASSIFIER_EXTRACTOR, ["logits", "penultimate"], feature_extractor_weights_path=space.weights_path)
    logits, features = extractor(torch.zeros(2, 1, 8, 8, dtype=torch.uint8))
    assert logits.shape == (2, 4) and features.shape == (2, 8)
    with pytest.raises(ValueError, match="Input is not Bx1xHxW"):
        extractor(torch.zeros(2, 3, 8, 8, dtype=torch.uint8))


def test_prc_neighborhood_must_be_below_the_set_size(tmp_path):
    space = random_classifier(tmp_path / "c.pt")
    with pytest.raises(InvalidValue, match=r"^prc_neighborhood \(3\) must be below the smallest set's size \(3 images\)"):
        evaluation.fidelity_metrics(blobs(3, 0), blobs(10, 1), space, TINY, CPU, rng_seed=0)  # the library names the field
    with pytest.raises(ConfigError, match=r"^params.yaml: evaluate.prc_neighborhood \(3\) must be below the smallest set's size"), as_the_stage():
        evaluation.fidelity_metrics(blobs(3, 0), blobs(10, 1), space, TINY, CPU, rng_seed=0)


def test_inception_weights_missing_file_is_one_sentence(tmp_path):
    cfg = EvaluateConfig(inception_weights=str(tmp_path / "nope.pth"))
    sentence = (r"^params.yaml: evaluate.inception_weights is '.*nope.pth', which does not exist; "
                r"put weights-inception-2015-12-05-6726825d.pth there or set it to \"\" \(the torch hub cache\)$")
    with pytest.raises(ConfigError, match=sentence), as_the_stage():
        evaluation.resolve_feature_space(INCEPTION, cfg, None, blobs(4, 0), np.zeros(4, np.int64))


def test_inception_weights_offline_is_one_sentence(tmp_path):
    sentence = (r"^Inception-v3 weights could not be downloaded \(offline\?\) and evaluate.inception_weights is not set; "
                r"download .* or use evaluate.features: classifier$")
    with pytest.raises(UserError, match=sentence):
        evaluation.resolve_feature_space(INCEPTION, EvaluateConfig(), None, blobs(4, 0), np.zeros(4, np.int64))


def fake_inception_state(path: Path) -> None:
    """A state dict with the two tensors resolve_feature_space checks (shapes of torch-fidelity's Inception-v3)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"Conv2d_1a_3x3.conv.weight": torch.zeros(32, 3, 3, 3), "fc.weight": torch.zeros(1008, 2048)}, path)


def test_inception_weights_in_hub_cache_are_used(tmp_path):
    cached = Path(torch.hub.get_dir()) / "checkpoints" / evaluation.INCEPTION_FILE
    fake_inception_state(cached)
    space = evaluation.resolve_feature_space(INCEPTION, EvaluateConfig(), None, blobs(4, 0), np.zeros(4, np.int64))
    assert space == FeatureSpace(evaluation.INCEPTION_EXTRACTOR, str(cached), rgb=True)
    assert evaluation.UInt8Images(blobs(2, 0), rgb=True)[0].shape == (3, 8, 8)


def test_lpips_without_trunk_weights_is_null_with_one_line(capsys):
    assert evaluation.resolve_lpips_trunk(TINY) is None
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("evaluate: lpips_alex_diversity is missing: torchvision's AlexNet weights")


def test_lpips_with_a_local_trunk_file_is_computed(tmp_path):
    import torchvision

    trunk = torchvision.models.alexnet(weights=None).state_dict()
    torch.save(trunk, tmp_path / "alexnet.pth")
    cfg = EvaluateConfig(lpips_trunk_weights=str(tmp_path / "alexnet.pth"))
    model = evaluation._lpips_model(evaluation.resolve_lpips_trunk(cfg), CPU)
    assert torch.equal(model.net.state_dict()["slice2.3.weight"], trunk["features.3.weight"])  # the file's trunk, not a random one
    same = np.repeat(blobs(1, 0, size=16), 6, axis=0)
    g = torch.Generator().manual_seed(0)
    assert evaluation.lpips_diversity(same, model, 10, 4, CPU, g) == 0.0
    assert evaluation.lpips_diversity(blobs(6, 0, size=16), model, 10, 4, CPU, g) > 0.0
    with pytest.raises(ConfigError, match="lpips_trunk_weights: .* is not torchvision's AlexNet state dict"), as_the_stage():
        torch.save({"x": torch.zeros(1)}, tmp_path / "bad.pth")
        evaluation._lpips_model(tmp_path / "bad.pth", CPU)


def test_read_likelihoods_keeps_test_bits_flattened(tmp_path):
    (tmp_path / "prior.json").write_text(json.dumps({
        "top": {"test_bits_per_code": 3.5, "train_bits_per_code": 3.1},
        "bottom": {"test_bits_per_code": 2.5, "note": "x"},
        "parameters": 10,
    }))
    assert evaluation.read_likelihoods(tmp_path / "prior.json") == {
        "top.test_bits_per_code": 3.5, "bottom.test_bits_per_code": 2.5,
    }


def levelled(labels: np.ndarray, seed: int, levels: list[int]) -> np.ndarray:
    """uint8 (N, 1, 8, 8): class c is level c plus noise in [0, 10], which certain_classifier gets right."""
    noise = np.random.RandomState(seed).randint(0, 11, size=(len(labels), 1, 8, 8))
    return (np.array(levels)[labels][:, None, None, None] + noise).astype(np.uint8)


def _inputs(tmp_path: Path, params_text: str, at_chance: bool = False) -> list[str]:
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


def test_stage_evaluate_end_to_end_writes_every_key(tmp_path, capsys):
    argv = _inputs(tmp_path, "  num_samples: 50\n  kid_subset_size: 20\n  kid_subsets: 5\n  lpips_pairs: 10\n  device: cpu\n")
    stage("evaluate")(argv)
    result = json.loads((tmp_path / "eval.json").read_text())
    expected = {f"{s}.{m}" for s in ("floor", "pixelcnn", "prior") for m in METRICS}
    expected |= {"pixelcnn.test_bpd", "prior.top.test_bits_per_code", "prior.bottom.test_bits_per_code"}
    expected |= {"classifier.test_accuracy"} | {f"{s}.class_accuracy" for s in ("floor", "pixelcnn", "prior")}
    assert set(result) == expected
    assert result["classifier.test_accuracy"] == result["floor.class_accuracy"] == 1.0
    assert result["pixelcnn.class_accuracy"] == 1.0 and result["prior.class_accuracy"] == 0.5
    assert all(result[f"{s}.lpips_alex_diversity"] is None for s in ("floor", "pixelcnn", "prior"))
    assert all(isinstance(v, float) for k, v in result.items() if not k.endswith("lpips_alex_diversity"))
    assert result["pixelcnn.test_bpd"] == 1.5
    table = (tmp_path / "eval.md").read_text()
    assert [c.strip() for c in table.splitlines()[0].split("|")[1:-1]] == ["metric", "floor", "pixelcnn", "prior", "classifier"]
    assert "missing" in table and "test_bits_per_code" in table and "class_accuracy" in table
    assert not (tmp_path / "torch_home" / "fidelity_cache").exists()
    assert "evaluate: lpips_alex_diversity is missing" in capsys.readouterr().out
    # same seed, same params → same numbers
    stage("evaluate")(argv)
    assert json.loads((tmp_path / "eval.json").read_text()) == result


def test_stage_evaluate_scores_the_vqvaes_reconstructions_of_test_images(tmp_path):
    """--vqvae adds the reconstruction floor: the autoencoder's reconstructions of a seeded test subset, scored like a
    generator's samples drawn for the test labels; every other set's figures stay what they were without it."""
    argv = _inputs(tmp_path, "  num_samples: 30\n  kid_subset_size: 10\n  kid_subsets: 5\n  lpips_pairs: 10\n  device: cpu\n")
    stage("evaluate")(argv)
    without = json.loads((tmp_path / "eval.json").read_text())
    torch.manual_seed(0)
    vqvae = VQVAE(VQVAEConfig(channels=1, image_size=8, **TINY_VQVAE))
    checkpoints.save(tmp_path / "vqvae.pt", vqvae)
    stage("evaluate")([*argv, "--vqvae", str(tmp_path / "vqvae.pt")])
    result = json.loads((tmp_path / "eval.json").read_text())
    assert {k: v for k, v in result.items() if not k.startswith("reconstruction.")} == without
    assert {k for k in result if k.startswith("reconstruction.")} == {f"reconstruction.{m}" for m in METRICS} | {
        "reconstruction.class_accuracy"}
    test = load_split(tmp_path / "prepared", "test")
    rows = torch.randperm(40, generator=torch.Generator().manual_seed(0))[:30].sort().values.numpy()  # the params' seed 0
    recon = reconstruct(vqvae, test.images[rows])
    classifier = checkpoints.load_model(tmp_path / "classifier.pt", Classifier)
    assert result["reconstruction.class_accuracy"] == evaluation.class_accuracy(classifier, recon, test.labels[rows])
    assert not np.array_equal(recon, test.images[rows])  # an untrained autoencoder: its own images, not the test's
    assert "reconstruction" in (tmp_path / "eval.md").read_text().splitlines()[0]


def test_stage_evaluate_offline_inception_stops_with_one_sentence(tmp_path, monkeypatch, capsys):
    argv = _inputs(tmp_path, "  features: inception\n  device: cpu\n")
    monkeypatch.setattr("sys.argv", ["evaluate.py", *argv])
    with pytest.raises(SystemExit) as exit_info:
        stage_main(stage("evaluate"))
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: Inception-v3 weights could not be downloaded (offline?)")
    assert not (tmp_path / "eval.json").exists() and not (tmp_path / "eval.md").exists()


def test_load_samples_object_array_is_our_sentence_without_numpy_advice(tmp_path):
    (tmp_path / "pixelcnn").mkdir()
    path = tmp_path / "pixelcnn" / "samples.npy"
    np.save(path, np.array([blobs(1, 0), None], dtype=object), allow_pickle=True)
    with pytest.raises(DataError) as err:
        evaluation.load_samples(tmp_path / "pixelcnn")
    assert str(err.value) == f"{path}: not a readable .npy file (holds pickled Python objects, not numbers); re-run its sampling stage"


def _garbage(path: Path) -> None:
    path.write_bytes(b"<html>404 Not Found</html>")


def _truncated_zip(path: Path) -> None:
    fake_inception_state(path)
    path.write_bytes(path.read_bytes()[:5000])


def _pickled_module(path: Path) -> None:
    torch.save(torch.nn.Linear(2, 2), path)  # a whole module, refused by weights_only


def _other_state_dict(path: Path) -> None:
    torch.save({"features.0.weight": torch.zeros(2)}, path)


CORRUPT = [_garbage, _truncated_zip, _pickled_module, _other_state_dict]
URL_INCEPTION = "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth"


@pytest.mark.parametrize("damage", CORRUPT)
def test_inception_weights_corrupt_configured_file_is_one_sentence(tmp_path, damage):
    path = tmp_path / "inception.pth"
    damage(path)
    cfg = EvaluateConfig(inception_weights=str(path))
    with pytest.raises(ConfigError) as err, as_the_stage():
        evaluation.resolve_feature_space(INCEPTION, cfg, None, blobs(4, 0), np.zeros(4, np.int64))
    message = str(err.value)
    assert message.startswith(f"params.yaml: evaluate.inception_weights: {path} is not torch-fidelity's Inception-v3 state dict (")
    assert message.endswith(f"); download {URL_INCEPTION} to that path again, or use evaluate.features: classifier")
    assert "\n" not in message


@pytest.mark.parametrize("damage", CORRUPT)
def test_inception_weights_corrupt_hub_cache_file_is_one_sentence(tmp_path, damage):
    cached = tmp_path / "torch_home" / "hub" / "checkpoints" / evaluation.INCEPTION_FILE  # TORCH_HOME is set by `offline`
    cached.parent.mkdir(parents=True)
    damage(cached)
    with pytest.raises(UserError) as err:
        evaluation.resolve_feature_space(INCEPTION, EvaluateConfig(), None, blobs(4, 0), np.zeros(4, np.int64))
    message = str(err.value)
    assert message.startswith(f"{cached}: the torch hub cache's copy is not torch-fidelity's Inception-v3 state dict (")
    assert message.endswith(f"); delete it and download {URL_INCEPTION} there again, or use evaluate.features: classifier")


@pytest.mark.parametrize("damage", CORRUPT)
def test_lpips_trunk_corrupt_file_is_one_sentence(tmp_path, damage):
    path = tmp_path / "alexnet.pth"
    damage(path)
    with pytest.raises(InvalidValue) as err:
        evaluation.resolve_lpips_trunk(EvaluateConfig(lpips_trunk_weights=str(path)))
    assert str(err.value).startswith(f"lpips_trunk_weights: {path} is not")  # the library names the field
    with pytest.raises(ConfigError) as err, as_the_stage():
        evaluation.resolve_lpips_trunk(EvaluateConfig(lpips_trunk_weights=str(path)))
    message = str(err.value)
    assert message.startswith(f"params.yaml: evaluate.lpips_trunk_weights: {path} is not torchvision's AlexNet state dict (")
    assert message.endswith(f"); download {evaluation.ALEXNET_URL} to that path again, or set lpips_trunk_weights to \"\" (the torch hub cache)")
    cached = tmp_path / "torch_home" / "hub" / "checkpoints" / evaluation.ALEXNET_FILE
    cached.parent.mkdir(parents=True)
    damage(cached)
    with pytest.raises(UserError) as err:
        evaluation.resolve_lpips_trunk(EvaluateConfig())
    message = str(err.value)
    assert message.startswith(f"{cached}: the torch hub cache's copy is not torchvision's AlexNet state dict (")
    assert message.endswith(f"); delete it and download {evaluation.ALEXNET_URL} there again")


def test_stage_evaluate_corrupt_inception_in_hub_cache_stops_with_one_sentence(tmp_path, monkeypatch, capsys):
    argv = _inputs(tmp_path, "  features: inception\n  device: cpu\n")
    cached = tmp_path / "torch_home" / "hub" / "checkpoints" / evaluation.INCEPTION_FILE
    cached.parent.mkdir(parents=True)
    _garbage(cached)
    monkeypatch.setattr("sys.argv", ["evaluate.py", *argv])
    with pytest.raises(SystemExit) as exit_info:
        stage_main(stage("evaluate"))
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {cached}: the torch hub cache's copy is not")
    assert not (tmp_path / "eval.json").exists() and not (tmp_path / "eval.md").exists()


def test_stage_evaluate_refuses_a_classifier_at_chance(tmp_path, monkeypatch, capsys):
    argv = _inputs(tmp_path, "  num_samples: 50\n  kid_subset_size: 20\n  kid_subsets: 5\n  device: cpu\n", at_chance=True)
    monkeypatch.setattr("sys.argv", ["evaluate.py", *argv])
    with pytest.raises(SystemExit) as exit_info:
        stage_main(stage("evaluate"))
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"error: {tmp_path / 'classifier.pt'}: the classifier's test accuracy is 0.250 (chance: 0.250), below "
        "evaluate.min_classifier_accuracy 0.8, so its features cannot tell good samples from bad ones and FID, IS, "
        "KID and precision/recall would be meaningless; train it longer (raise classifier.epochs) or use "
        "evaluate.features: inception"
    ]
    assert not (tmp_path / "eval.json").exists() and not (tmp_path / "eval.md").exists()


def test_classifier_gate_refuses_a_3_class_classifier_at_chance(tmp_path):
    space, levels = certain_classifier(tmp_path / "c.pt", 3)
    labels = np.arange(30) % 3
    images = constant_images(levels[:1], per_class=30)  # every image looks like class 0: right on a third
    with pytest.raises(CheckpointError, match=r"test accuracy is 0\.333 \(chance: 0\.333\), below evaluate\.min_classifier_accuracy 0\.8"):
        evaluation.resolve_feature_space(CLASSIFIER, EvaluateConfig(), space.weights_path, images, labels)
    lenient = evaluation.resolve_feature_space(CLASSIFIER, EvaluateConfig(min_classifier_accuracy=0.3), space.weights_path, images, labels)
    assert lenient.classifier_accuracy == pytest.approx(1 / 3)


def test_classifier_gate_passes_a_good_classifier_and_keeps_its_accuracy(tmp_path):
    space, levels = certain_classifier(tmp_path / "c.pt", 3)
    labels = np.repeat(np.arange(3), 10)
    resolved = evaluation.resolve_feature_space(CLASSIFIER, EvaluateConfig(), space.weights_path, constant_images(levels, 10), labels)
    assert resolved == FeatureSpace(evaluation.CLASSIFIER_EXTRACTOR, space.weights_path, rgb=False, classifier_accuracy=1.0)


def test_classifier_gate_refuses_labels_the_classifier_does_not_know(tmp_path):
    space, levels = certain_classifier(tmp_path / "c.pt", 3)
    with pytest.raises(CheckpointError, match=r"c\.pt: classifier has 3 classes but the test split's labels span -1\.\.-1; re-run train_classifier on this data"):
        evaluation.resolve_feature_space(CLASSIFIER, EvaluateConfig(), space.weights_path, constant_images(levels, 2), np.full(6, -1))


def test_min_classifier_accuracy_range_is_one_sentence():
    with pytest.raises(ValueError, match=r"^min_classifier_accuracy must be in \[0, 1\], got 1.5$"):
        EvaluateConfig(min_classifier_accuracy=1.5)
