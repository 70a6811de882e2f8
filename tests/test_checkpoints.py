"""Checkpoints are data: a pickled payload is refused unexecuted, NaN weights and stale configs are refused by name."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from pixelcnn import checkpoints
from pixelcnn.configs import ClassifierConfig, PixelCNNConfig, VQVAEConfig
from pixelcnn.errors import CheckpointError
from pixelcnn.models.classifier import Classifier
from pixelcnn.models.pixelcnn import PixelCNN
from pixelcnn.models.prior import CodePrior, CodePriorConfig, LevelConfig
from pixelcnn.models.vqvae import VQVAE

from helpers import stage, write_params, write_prepared


def tiny_models() -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    pixel = PixelCNN(PixelCNNConfig(height=8, width=8, hidden=4, skip=4, layers=1))
    level = LevelConfig("top", PixelCNNConfig(levels=8, height=2, width=2, hidden=4, skip=4, layers=1, embed_dim=2))
    return {
        "pixelcnn": pixel,
        "prior": CodePrior(CodePriorConfig("f" * 16, (level,))),
        "vqvae": VQVAE(VQVAEConfig(image_size=8, hidden=4, res_blocks=0, codebook_size=4, code_dim=2,
                                   bottom_downsample=2, top_downsample=2)),
        "classifier": Classifier(ClassifierConfig(width=2, feature_dim=2)),
    }


class Payload:
    """Unpickling this runs ``touch <marker>``: what a tampered checkpoint would carry."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("kind", ["pixelcnn", "prior", "vqvae", "classifier"])
def test_a_pickled_payload_is_refused_with_one_sentence_and_never_run(tmp_path, kind):
    model = tiny_models()[kind]
    marker = tmp_path / "code-ran"
    path = tmp_path / f"{kind}.pt"
    checkpoints.save(path, model)
    payload = torch.load(path, weights_only=True)
    payload["extra"]["note"] = Payload(marker)  # a real checkpoint of this kind, with a callable riding along
    torch.save(payload, path)
    with pytest.raises(CheckpointError) as info:
        checkpoints.load_model(path, type(model))
    message = str(info.value)
    assert message.startswith(f"{path}: refused: the file holds objects other than tensors and plain values")
    assert "\n" not in message and not marker.exists()


def test_the_api_and_the_stages_refuse_it_too(tmp_path):
    import pixelcnn

    marker = tmp_path / "code-ran"
    torch.save({"kind": "pixelcnn", "x": Payload(marker)}, tmp_path / "pixelcnn.pt")
    with pytest.raises(CheckpointError, match="refused: the file holds objects other than tensors"):
        pixelcnn.load(tmp_path / "pixelcnn.pt")
    assert not marker.exists()


@pytest.mark.parametrize("kind", ["pixelcnn", "prior", "vqvae", "classifier"])
def test_non_finite_weights_are_refused_naming_the_file_and_weight(tmp_path, kind):
    model = tiny_models()[kind]
    name, weight = next((n, p) for n, p in model.named_parameters() if p.dim() > 1)
    with torch.no_grad():
        weight.view(-1)[0] = float("nan")
    checkpoints.save(tmp_path / "m.pt", model)
    with pytest.raises(CheckpointError) as info:
        checkpoints.load_model(tmp_path / "m.pt", type(model))
    assert str(info.value) == (
        f"{tmp_path / 'm.pt'}: weight {name} holds NaN or inf values, so the model would give meaningless results; "
        f"re-run {checkpoints.STAGES[kind]} (lower its learning rate if training diverged)"
    )


def test_sample_and_evaluate_stages_refuse_a_model_with_nan_weights(tmp_path):
    data = write_prepared(tmp_path / "prepared")
    p = write_params(tmp_path / "params.yaml", pixelcnn={"num_samples": 2})
    models = tiny_models()
    for kind in ("pixelcnn", "classifier"):
        with torch.no_grad():
            next(p_ for p_ in models[kind].parameters() if p_.dim() > 1).view(-1)[0] = float("inf")
        checkpoints.save(tmp_path / f"{kind}.pt", models[kind])
    with pytest.raises(CheckpointError, match=r"pixelcnn\.pt: weight .* holds NaN or inf values"):
        stage("sample_pixelcnn")(["--params", str(p), "--model", str(tmp_path / "pixelcnn.pt"), "--data", str(data),
                                  "--out", str(tmp_path / "s"), "--grid", str(tmp_path / "g.png"),
                                  "--progress", str(tmp_path / "p.png"), "--gif", str(tmp_path / "p.gif"),
                                  "--completion", str(tmp_path / "c.png")])
    np.save(tmp_path / "samples.npy", np.zeros((4, 1, 8, 8), np.uint8))
    (tmp_path / "set").mkdir()
    np.save(tmp_path / "set" / "samples.npy", np.zeros((4, 1, 8, 8), np.uint8))
    with pytest.raises(CheckpointError, match=r"classifier\.pt: weight .* holds NaN or inf values"):
        stage("evaluate")(["--params", str(p), "--data", str(data), "--classifier", str(tmp_path / "classifier.pt"),
                           "--samples", str(tmp_path / "set"), "--out", str(tmp_path / "e.json"),
                           "--table", str(tmp_path / "e.md")])
    assert not (tmp_path / "s").exists() and not (tmp_path / "e.json").exists()


def test_a_config_this_version_cannot_build_is_one_sentence(tmp_path):
    model = tiny_models()["pixelcnn"]
    checkpoints.save(tmp_path / "m.pt", model)
    payload = torch.load(tmp_path / "m.pt", weights_only=True)
    payload["config"]["gating"] = "new"  # an option of a later version
    torch.save(payload, tmp_path / "m.pt")
    with pytest.raises(CheckpointError, match=r"its config or weights do not fit this version of the pixelcnn model "
                                              r"\(TypeError\); re-run train_pixelcnn"):
        checkpoints.load_model(tmp_path / "m.pt", PixelCNN)


def test_same_weights_same_bytes(tmp_path):
    """DVC hashes checkpoints: identical weights must give identical files, whatever the temporary name."""
    model = tiny_models()["vqvae"]
    checkpoints.save(tmp_path / "a.pt", model, fingerprint=model.fingerprint())
    checkpoints.save(tmp_path / "b.pt", model, fingerprint=model.fingerprint())
    digest = [hashlib.sha256((tmp_path / n).read_bytes()).hexdigest() for n in ("a.pt", "b.pt")]
    assert digest[0] == digest[1]
