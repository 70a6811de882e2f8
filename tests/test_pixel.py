"""The pixel-space branch: quantisation, training and sampling stages on tiny data."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from pixelcnn.errors import CheckpointError, ConfigError
from pixelcnn.pixel import PixelSampleParams, dequantise, draw_samples, load_pixelcnn, quantise
from test_vqvae import stage, write_prepared

TINY = {"hidden": 6, "skip": 6, "layers": 3, "kernel": 3, "epochs": 2, "batch_size": 8,
        "num_samples": 6, "sample_batch_size": 4, "progress_every": 3, "complete_rows": 4}


def test_quantise_dequantise_round_trip_and_levels():
    x = np.arange(256, dtype=np.uint8).reshape(1, 1, 16, 16)
    assert np.array_equal(dequantise(quantise(x, 256), 256), x)
    q = quantise(x, 4)
    assert q.min() == 0 and q.max() == 3 and torch.equal(q[0, 0, 0, :4], torch.zeros(4, dtype=torch.long))
    assert sorted(np.unique(dequantise(q, 4)).tolist()) == [0, 85, 170, 255]
    assert torch.equal(quantise(dequantise(q, 4), 4), q)  # dequantised values quantise back to their level


def run_stages(tmp_path: Path, seed: int = 0, **overrides) -> dict[str, Path]:
    data = tmp_path / "prepared"
    if not data.exists():
        write_prepared(data)
    p = tmp_path / f"params{seed}.yaml"
    p.write_text(yaml.safe_dump({"seed": seed, "pixelcnn": {**TINY, **overrides}}))
    out = {k: tmp_path / f"{k}{seed}" for k in ("model", "metrics", "plots", "samples", "grid", "progress", "gif", "completion")}
    stage("train_pixelcnn")(["--params", str(p), "--data", str(data), "--out", str(out["model"]),
                             "--metrics", str(out["metrics"]), "--plots", str(out["plots"])])
    stage("sample_pixelcnn")(["--params", str(p), "--model", str(out["model"]), "--data", str(data),
                              "--out", str(out["samples"]), "--grid", str(out["grid"]) + ".png",
                              "--progress", str(out["progress"]) + ".png", "--gif", str(out["gif"]) + ".gif",
                              "--completion", str(out["completion"]) + ".png"])
    out["params"] = p
    return out


def test_pixel_stages_train_and_sample(tmp_path):
    out = run_stages(tmp_path)
    metrics = json.loads(out["metrics"].read_text())
    assert 0 < metrics["test_bpd"] < 8.5 and metrics["levels"] == 256
    rows = list(csv.DictReader(out["plots"].open()))
    assert [r["epoch"] for r in rows] == ["1", "2"] and {"train_bpd", "test_bpd", "lr"} <= set(rows[0])
    samples = np.load(out["samples"] / "samples.npy")
    labels = np.load(out["samples"] / "labels.npy")
    assert samples.dtype == np.uint8 and samples.shape == (6, 1, 8, 8)
    assert labels.tolist() == [0, 1, 2, 0, 1, 2]
    gif = Image.open(str(out["gif"]) + ".gif")
    assert gif.n_frames == 3  # rows 3, 6 and the last (8) of an 8-row image, every 3 rows
    assert Image.open(str(out["completion"]) + ".png").size[1] > Image.open(str(out["grid"]) + ".png").size[1]


def test_pixel_sampling_same_seed_same_samples_other_seed_other_samples(tmp_path):
    first = run_stages(tmp_path, seed=0)
    a = np.load(first["samples"] / "samples.npy")
    model = load_pixelcnn(str(first["model"]), torch.device("cpu"))
    cfg = PixelSampleParams(**{k: v for k, v in TINY.items() if k in PixelSampleParams.__dataclass_fields__})
    test_x = np.load(tmp_path / "prepared" / "test_images.npy")
    test_y = np.load(tmp_path / "prepared" / "test_labels.npy")
    again = draw_samples(model, cfg, torch.Generator().manual_seed(0), (test_x, test_y))
    other = draw_samples(model, cfg, torch.Generator().manual_seed(1), (test_x, test_y))
    assert np.array_equal(again.images, a)
    assert not np.array_equal(other.images, a)
    # completions keep the given rows exactly and sample the rest
    originals, kept, completed = again.completions
    assert np.array_equal(completed[:, :, :4], originals[:, :, :4])
    assert np.all(kept[:, :, 4:] == 0)


def test_pixel_sampling_naive_and_cached_stages_agree(tmp_path):
    cached = run_stages(tmp_path, seed=0)
    params = yaml.safe_load(cached["params"].read_text())
    params["pixelcnn"]["sampler"] = "naive"
    naive_params = tmp_path / "naive.yaml"
    naive_params.write_text(yaml.safe_dump(params))
    stage("sample_pixelcnn")(["--params", str(naive_params), "--model", str(cached["model"]), "--data", str(tmp_path / "prepared"),
                              "--out", str(tmp_path / "naive"), "--grid", str(tmp_path / "n.png"), "--progress", str(tmp_path / "np.png"),
                              "--gif", str(tmp_path / "n.gif"), "--completion", str(tmp_path / "nc.png")])
    assert np.array_equal(np.load(tmp_path / "naive" / "samples.npy"), np.load(cached["samples"] / "samples.npy"))


def test_pixel_sampling_unknown_class_is_one_sentence(tmp_path):
    out = run_stages(tmp_path)
    model = load_pixelcnn(str(out["model"]), torch.device("cpu"))
    cfg = PixelSampleParams(num_samples=2, labels=[1, 7])
    with pytest.raises(ConfigError, match=r"pixelcnn\.labels contains class 7, but the model knows 3 classes \(0\.\.2\)"):
        draw_samples(model, cfg, torch.Generator(), (np.zeros((1, 1, 8, 8), np.uint8), np.zeros(1, np.int64)))


def test_sample_pixelcnn_refuses_a_checkpoint_of_another_kind(tmp_path):
    from pixelcnn.io import save_checkpoint

    save_checkpoint(tmp_path / "vqvae.pt", "vqvae", {"levels": 2}, {})
    with pytest.raises(CheckpointError, match=r"is a 'vqvae' checkpoint, expected a 'pixelcnn' checkpoint"):
        load_pixelcnn(str(tmp_path / "vqvae.pt"), torch.device("cpu"))
