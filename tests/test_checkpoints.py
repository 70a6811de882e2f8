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
from pixelcnn.errors import CheckpointError, InputError
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


# ----------------------------------------------------------------------------- memory bounds (issue 24)

# Each kind's config scaled up to a model of 0.37 to 0.48 GB (what the loader built before it checked anything, measured),
# in a file of a few kilobytes: the tiny model's checkpoint with these config fields and no weights.
HUGE = {
    "pixelcnn": lambda c: {**c, "hidden": 768, "skip": 768, "layers": 8},
    "prior": lambda c: {**c, "levels": [{**level, "pixelcnn": {**level["pixelcnn"], "hidden": 768, "skip": 768, "layers": 8}}
                                        for level in c["levels"]]},
    "vqvae": lambda c: {**c, "hidden": 1024, "res_hidden": 1024, "res_blocks": 2},
    "classifier": lambda c: {**c, "width": 1024},
}
PEAK = """
import resource, sys
from pixelcnn import checkpoints
from pixelcnn.errors import CheckpointError
from pixelcnn.models.{module} import {cls}
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    checkpoints.load_model(sys.argv[1], {cls})
except CheckpointError as exc:
    print(exc)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""


@pytest.mark.parametrize("kind", ["pixelcnn", "prior", "vqvae", "classifier"])
def test_a_tiny_file_whose_config_asks_for_a_huge_model_stops_at_its_first_missing_weight(tmp_path, kind):
    """The loader matches every parameter, as the model creates it, against the file's weights: a few-KB file whose
    config describes a 0.4 GB model costs a few MB (measured in a fresh process), and one sentence."""
    import subprocess
    import sys

    model = tiny_models()[kind]
    checkpoints.save(tmp_path / "m.pt", model)
    payload = torch.load(tmp_path / "m.pt", weights_only=True)
    payload["config"], payload["state_dict"] = HUGE[kind](payload["config"]), {}
    torch.save(payload, tmp_path / "m.pt")
    assert (tmp_path / "m.pt").stat().st_size < 4096
    script = PEAK.format(module=type(model).__module__.rsplit(".", 1)[1], cls=type(model).__name__)
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path / "m.pt")], capture_output=True, text=True, timeout=600)
    message, grown_mb = result.stdout.strip().splitlines()
    assert message.startswith(f"{tmp_path / 'm.pt'}: its config or weights do not fit this version of the {kind} model "
                              f"(the config asks for a "), message
    assert message.endswith(f"that the file does not hold); re-run {checkpoints.STAGES[kind]}"), message
    assert int(grown_mb) < 100, f"loading grew the process by {grown_mb} MB"


def test_a_model_whose_activations_pass_the_cap_is_refused_naming_its_size_and_how_to_raise_the_cap(tmp_path, monkeypatch):
    """Weights that fit the config, but a 4096×4096 grid: one image's activations alone would take ~20 GiB."""
    torch.manual_seed(0)
    model = PixelCNN(PixelCNNConfig(height=4096, width=4096, hidden=4, skip=4, layers=1))  # no position map: tiny weights
    checkpoints.save(tmp_path / "m.pt", model)
    monkeypatch.delenv(checkpoints.CAP_VARIABLE, raising=False)
    with pytest.raises(CheckpointError) as info:
        checkpoints.load_model(tmp_path / "m.pt", PixelCNN)
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'm.pt'}: the pixelcnn model its config describes would take ")
    assert "of activations for one image at its 4096×4096 grid), over the cap of 16 GiB; " in message
    need = int(message.split("PIXELCNN_MAX_MODEL_GIB=")[1].split(" ")[0])
    assert 16 < need < 64 and message.endswith(f"set PIXELCNN_MAX_MODEL_GIB={need} (or more, in GiB) and load it again")
    monkeypatch.setenv(checkpoints.CAP_VARIABLE, str(need))  # the sentence's own advice loads it
    loaded = checkpoints.load_model(tmp_path / "m.pt", PixelCNN)
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))


def test_one_allocation_past_the_cap_is_stopped_before_it_happens(tmp_path, monkeypatch):
    """A position map of 2 × 4096 × 4096 (0.125 GiB) asked for by a file that holds an 8 × 8 one, under a 0.05 GiB cap:
    stopped when it is requested, before its memory is taken."""
    torch.manual_seed(0)
    checkpoints.save(tmp_path / "m.pt", PixelCNN(PixelCNNConfig(height=8, width=8, hidden=4, skip=4, layers=1, position_channels=2)))
    payload = torch.load(tmp_path / "m.pt", weights_only=True)
    payload["config"].update(height=4096, width=4096)
    torch.save(payload, tmp_path / "m.pt")
    monkeypatch.setenv(checkpoints.CAP_VARIABLE, "0.05")
    with pytest.raises(CheckpointError) as info:
        checkpoints.load_model(tmp_path / "m.pt", PixelCNN)
    assert str(info.value) == (
        f"{tmp_path / 'm.pt'}: the pixelcnn model its config describes would take 0.1 GiB (at least, counted while "
        f"building it), over the cap of 0.05 GiB; if it really is that large, set PIXELCNN_MAX_MODEL_GIB=1 (or more, "
        f"in GiB) and load it again"
    )


def test_a_compressed_checkpoint_is_refused_before_it_is_unpacked(tmp_path):
    """torch.load unpacks deflated entries: a ~50 KB file would become 50 MB (a 20 MB one, 20 GB). torch.save stores
    its entries uncompressed, so a compressed file was not written by it."""
    import zipfile

    model = tiny_models()["classifier"]
    checkpoints.save(tmp_path / "plain.pt", model, padding=torch.zeros(12_500_000))  # 50 MB of zeros among the facts
    with zipfile.ZipFile(tmp_path / "plain.pt") as plain, \
            zipfile.ZipFile(tmp_path / "m.pt", "w", compression=zipfile.ZIP_DEFLATED) as packed:
        for entry in plain.infolist():
            packed.writestr(entry.filename, plain.read(entry.filename))
    assert (tmp_path / "m.pt").stat().st_size < 500_000
    for load in (lambda: checkpoints.load_model(tmp_path / "m.pt", Classifier),
                 lambda: checkpoints.read_payload(tmp_path / "m.pt", "training state", "delete it")):
        with pytest.raises(CheckpointError, match=r"m\.pt: refused: its entries are compressed \(48 MiB once unpacked "
                                                  r"from 0 MiB on disk\), which torch.save never writes"):
            load()


def test_a_file_that_unpacks_past_the_cap_is_refused_before_loading(tmp_path, monkeypatch):
    model = tiny_models()["classifier"]
    checkpoints.save(tmp_path / "m.pt", model, padding=torch.zeros(12_500_000))
    monkeypatch.setenv(checkpoints.CAP_VARIABLE, "0.01")
    with pytest.raises(CheckpointError, match=r"m\.pt: its classifier checkpoint would take 48 MiB \(the weights it "
                                              r"holds\), over the cap of 0\.01 GiB; if it really is that large, set "
                                              r"PIXELCNN_MAX_MODEL_GIB=1"):
        checkpoints.load_model(tmp_path / "m.pt", Classifier)
    monkeypatch.setenv(checkpoints.CAP_VARIABLE, "lots")
    with pytest.raises(InputError, match=r"^PIXELCNN_MAX_MODEL_GIB must be a positive number of GiB, got 'lots'; "
                                         r"unset it for the default 16$"):
        checkpoints.load_model(tmp_path / "m.pt", Classifier)
