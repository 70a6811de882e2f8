"""stages/evaluate.py end to end on tiny fake inputs: every key, the same numbers twice, and one sentence (nothing
written) when the feature space cannot be trusted."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scoring_fakes import METRICS, garbage, offline, stage_inputs  # noqa: F401  (offline: autouse)

from pixelcnn import checkpoints
from pixelcnn.configs import VQVAEConfig
from pixelcnn.data.prepared import load_split
from pixelcnn.evaluation import features
from pixelcnn.evaluation.metrics import class_accuracy
from pixelcnn.models.classifier import Classifier
from pixelcnn.models.vqvae import VQVAE, reconstruct
from pixelcnn.project.stage import stage_main

from helpers import TINY_VQVAE, stage


def test_stage_evaluate_end_to_end_writes_every_key(tmp_path, capsys):
    argv = stage_inputs(tmp_path, "  num_samples: 50\n  kid_subset_size: 20\n  kid_subsets: 5\n  lpips_pairs: 10\n  device: cpu\n")
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
    argv = stage_inputs(tmp_path, "  num_samples: 30\n  kid_subset_size: 10\n  kid_subsets: 5\n  lpips_pairs: 10\n  device: cpu\n")
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
    assert result["reconstruction.class_accuracy"] == class_accuracy(classifier, recon, test.labels[rows])
    assert not np.array_equal(recon, test.images[rows])  # an untrained autoencoder: its own images, not the test's
    assert "reconstruction" in (tmp_path / "eval.md").read_text().splitlines()[0]


def test_stage_evaluate_offline_inception_stops_with_one_sentence(tmp_path, monkeypatch, capsys):
    argv = stage_inputs(tmp_path, "  features: inception\n  device: cpu\n")
    monkeypatch.setattr("sys.argv", ["evaluate.py", *argv])
    with pytest.raises(SystemExit) as exit_info:
        stage_main(stage("evaluate"))
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: Inception-v3 weights could not be downloaded (offline?)")
    assert not (tmp_path / "eval.json").exists() and not (tmp_path / "eval.md").exists()


def test_stage_evaluate_corrupt_inception_in_hub_cache_stops_with_one_sentence(tmp_path, monkeypatch, capsys):
    argv = stage_inputs(tmp_path, "  features: inception\n  device: cpu\n")
    cached = tmp_path / "torch_home" / "hub" / "checkpoints" / features.INCEPTION_FILE
    cached.parent.mkdir(parents=True)
    garbage(cached)
    monkeypatch.setattr("sys.argv", ["evaluate.py", *argv])
    with pytest.raises(SystemExit) as exit_info:
        stage_main(stage("evaluate"))
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {cached}: the torch hub cache's copy is not")
    assert not (tmp_path / "eval.json").exists() and not (tmp_path / "eval.md").exists()


def test_stage_evaluate_refuses_a_classifier_at_chance(tmp_path, monkeypatch, capsys):
    argv = stage_inputs(tmp_path, "  num_samples: 50\n  kid_subset_size: 20\n  kid_subsets: 5\n  device: cpu\n", at_chance=True)
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
