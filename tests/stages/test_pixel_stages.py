"""The pixel-space branch: quantisation, training and sampling stages on tiny data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from pixelcnn import checkpoints
from pixelcnn.data.pixels import dequantise, quantise
from pixelcnn.errors import CheckpointError, ConfigError, DataError
from pixelcnn.models.pixelcnn import PixelCNN

from helpers import logged, outputs, stage, train_args, write_params, write_prepared

TINY = {"hidden": 6, "skip": 6, "layers": 3, "kernel": 3, "resolutions": 1, "position_channels": 2, "epochs": 2, "batch_size": 8,
        "num_samples": 6, "sample_batch_size": 4, "progress_every": 3, "complete_rows": 4, "labels": []}


def test_quantise_dequantise_round_trip_and_levels():
    x = np.arange(256, dtype=np.uint8).reshape(1, 1, 16, 16)
    assert np.array_equal(dequantise(quantise(x, 256), 256), x)
    q = quantise(x, 4)
    assert q.min() == 0 and q.max() == 3 and torch.equal(q[0, 0, 0, :4], torch.zeros(4, dtype=torch.long))
    assert sorted(np.unique(dequantise(q, 4)).tolist()) == [0, 85, 170, 255]
    assert torch.equal(quantise(dequantise(q, 4), 4), q)  # dequantised values quantise back to their level
    assert torch.equal(quantise(torch.from_numpy(x), 4), q)  # tensors (batches from the loader) alike


def sample_args(p: Path, model: str, data: Path, out: dict[str, Path]) -> list[str]:
    return ["--params", str(p), "--model", model, "--data", str(data), "--out", str(out["samples"]),
            "--grid", str(out["grid"]), "--progress", str(out["progress"]), "--gif", str(out["gif"]),
            "--completion", str(out["completion"])]


def run_stages(tmp_path: Path, seed: int = 0, **overrides) -> dict:
    data = tmp_path / "prepared"
    if not data.exists():
        write_prepared(data)
    p = write_params(tmp_path / f"params{seed}.yaml", seed=seed, pixelcnn={**TINY, **overrides})
    trained = outputs(tmp_path / f"train{seed}", "pixelcnn")
    stage("train_pixelcnn")(train_args("train_pixelcnn", p, data, trained))
    out = {k: tmp_path / f"{k}{seed}{ext}" for k, ext in
           (("samples", ""), ("grid", ".png"), ("progress", ".png"), ("gif", ".gif"), ("completion", ".png"))}
    stage("sample_pixelcnn")(sample_args(p, trained["out"], data, out))
    return {**{k: v for k, v in trained.items() if k != "grid"}, **out, "params": p, "data": data}


def test_pixel_stages_train_and_sample(tmp_path):
    out = run_stages(tmp_path)
    metrics = json.loads(Path(out["metrics"]).read_text())
    assert 0 < metrics["test_bpd"] < 8.5 and metrics["levels"] == 256 and metrics["epochs"] == metrics["step"] == 2
    figures = logged(out["live"])
    assert {"train_bpd", "test_bpd", "lr"} <= set(figures) and all([s for s, _ in v] == [1, 2] for v in figures.values())
    assert figures["test_bpd"][-1][1] == metrics["test_bpd"]
    assert Image.open(Path(out["live"]) / "plots" / "images" / "curves.png").format == "PNG"
    samples = np.load(out["samples"] / "samples.npy")
    labels = np.load(out["samples"] / "labels.npy")
    assert samples.dtype == np.uint8 and samples.shape == (6, 1, 8, 8)
    assert labels.tolist() == [0, 1, 2, 0, 1, 2]
    assert Image.open(out["gif"]).n_frames == 3  # rows 3, 6 and the last (8) of an 8-row image, every 3 rows
    assert Image.open(out["completion"]).size[1] > Image.open(out["grid"]).size[1]


def test_pixel_sampling_same_seed_same_samples_other_seed_other_samples(tmp_path):
    first = run_stages(tmp_path, seed=0)
    a = np.load(first["samples"] / "samples.npy")
    again = {k: v.with_name(v.name + "_again") for k, v in first.items() if k in ("samples", "grid", "progress", "gif", "completion")}
    stage("sample_pixelcnn")(sample_args(first["params"], first["out"], first["data"], again))
    assert np.array_equal(np.load(again["samples"] / "samples.npy"), a)
    raw = yaml.safe_load(first["params"].read_text())
    raw["seed"] = 1
    other_params = write_params(tmp_path / "other.yaml", raw)
    other = {k: v.with_name(v.name + "_other") for k, v in again.items()}
    stage("sample_pixelcnn")(sample_args(other_params, first["out"], first["data"], other))
    assert not np.array_equal(np.load(other["samples"] / "samples.npy"), a)


def test_pixel_sampling_naive_and_cached_stages_agree(tmp_path):
    cached = run_stages(tmp_path, seed=0)
    raw = yaml.safe_load(cached["params"].read_text())
    raw["pixelcnn"]["sampler"] = "naive"
    naive_params = write_params(tmp_path / "naive.yaml", raw)
    naive = {k: v.with_name(v.name + "_naive") for k, v in cached.items() if k in ("samples", "grid", "progress", "gif", "completion")}
    stage("sample_pixelcnn")(sample_args(naive_params, cached["out"], cached["data"], naive))
    assert np.array_equal(np.load(naive["samples"] / "samples.npy"), np.load(cached["samples"] / "samples.npy"))
    assert naive["completion"].read_bytes() == cached["completion"].read_bytes()


@pytest.mark.parametrize("key, value, message", [
    ("labels", [1, 7], r"pixelcnn\.labels contains class 7, but the model knows 3 classes \(0\.\.2\)"),
    ("complete_rows", 8, r"pixelcnn\.complete_rows must be < the image height 8, got 8"),
])
def test_pixel_sampling_bad_knob_is_one_sentence_before_any_sampling(tmp_path, key, value, message):
    trained = run_stages(tmp_path)
    raw = yaml.safe_load(trained["params"].read_text())
    raw["pixelcnn"][key] = value
    p = write_params(tmp_path / "bad.yaml", raw)
    bad = {k: tmp_path / f"bad_{k}" for k in ("samples", "grid", "progress", "gif", "completion")}
    with pytest.raises(ConfigError, match=message):
        stage("sample_pixelcnn")(sample_args(p, trained["out"], trained["data"], bad))
    assert not any(path.exists() for path in bad.values())


def test_sample_pixelcnn_refuses_a_checkpoint_of_another_kind(tmp_path):
    from pixelcnn.models.classifier import Classifier, ClassifierConfig

    checkpoints.save(tmp_path / "classifier.pt", Classifier(ClassifierConfig()))
    with pytest.raises(CheckpointError, match=r"is a 'classifier' checkpoint, expected a 'pixelcnn' checkpoint"):
        checkpoints.load_model(tmp_path / "classifier.pt", PixelCNN)


@pytest.mark.parametrize("section, message", [
    ({"levels": 300}, r"pixelcnn\.levels must be in \[2, 256\] for 8-bit pixels, got 300"),
    pytest.param({"device": "cuda"}, r"pixelcnn\.device is 'cuda' but no CUDA device is available",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is there")),
])
def test_train_pixelcnn_field_errors_of_the_library_name_the_params_key(tmp_path, section, message):
    data = write_prepared(tmp_path / "prepared")
    p = write_params(tmp_path / "params.yaml", pixelcnn={**TINY, **section})
    trained = outputs(tmp_path / "train", "pixelcnn")
    with pytest.raises(ConfigError, match=f"^{p}: {message}"):
        stage("train_pixelcnn")(train_args("train_pixelcnn", p, data, trained))
    assert not Path(trained["out"]).exists()


def _digests(*paths: str | Path) -> dict[str, str]:
    """MD5 of every file under ``paths`` (folders walked)."""
    import hashlib

    files = [f for p in map(Path, paths) for f in (sorted(p.rglob("*")) if p.is_dir() else [p]) if f.is_file()]
    return {str(f): hashlib.md5(f.read_bytes()).hexdigest() for f in files}


def test_train_pixelcnn_stopped_before_its_first_epoch_leaves_its_previous_outputs(tmp_path):
    """dvc.yaml's outputs persist (DVC leaves them to their stage): a re-run that stops on bad input after it has
    opened its DVCLive record but before it trains (here: a corrupt test split, read by the trainer) changes none."""
    out = run_stages(tmp_path)
    trained = {k: out[k] for k in ("out", "live")}
    before = _digests(*trained.values())
    assert any(name.endswith("metrics.json") for name in before) and len(before) >= 5
    (out["data"] / "test_images.npy").write_bytes(b"not an array")
    with pytest.raises(DataError, match=r"test_images\.npy"):
        stage("train_pixelcnn")(train_args("train_pixelcnn", out["params"], out["data"],
                                           {**outputs(tmp_path / "train0", "pixelcnn"), **{k: str(v) for k, v in trained.items()}}))
    assert _digests(*trained.values()) == before
