"""The CUDA path on a GPU: skipped without one; ``benchmarks/gpu_check.py`` runs them there (``pytest -m cuda``).

A real training stage in bf16 autocast with DataLoader workers (pinned memory), the GPU sampling stage,
the cached sampler equal to the naive one on the GPU, the VQ-VAE's quantiser in fp32 under CUDA autocast,
and two NCCL processes training the weights of one (needs two GPUs). Tiny models on 8×8 blobs.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import pixelcnn
from pixelcnn.models.pixelcnn import PixelCNN, PixelCNNConfig
from pixelcnn.models.vqvae import Quantizer
from pixelcnn.sampling.cached import sample_cached
from pixelcnn.sampling.naive import sample_naive

from helpers import ROOT, outputs, stage, train_args, write_params, write_prepared

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

PIXEL = {"hidden": 6, "skip": 6, "layers": 2, "kernel": 3, "resolutions": 1, "epochs": 2, "batch_size": 8, "device": "cuda",
         "num_samples": 6, "sample_batch_size": 6, "progress_every": 4, "complete_rows": 4}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict:
    """train_pixelcnn on the GPU in bf16 autocast, reading batches with 2 DataLoader workers into pinned memory."""
    tmp = tmp_path_factory.mktemp("cuda")
    data = write_prepared(tmp / "prepared")
    p = write_params(tmp / "params.yaml", train={"workers": 2}, pixelcnn={**PIXEL, "precision": "bf16"})
    out = outputs(tmp, "pixelcnn")
    stage("train_pixelcnn")(train_args("train_pixelcnn", p, data, out))
    return {**out, "params": p, "data": data, "tmp": tmp}


def test_cuda_bf16_training_stage_with_workers_writes_finite_weights(trained):
    state = torch.load(trained["out"], weights_only=True)["state_dict"]
    assert all(torch.isfinite(t).all() for t in state.values() if t.is_floating_point())
    metrics = json.loads(Path(trained["metrics"]).read_text())
    assert 0 < metrics["test_bpd"] < 9 and metrics["epochs"] == 2
    pipe = pixelcnn.load(trained["out"], device="cpu")  # a GPU-trained checkpoint loads anywhere
    assert math.isfinite(float(pipe.score(np.load(trained["data"] / "test_images.npy")[:4], np.zeros(4, np.int64)).mean()))


def test_cuda_sampling_stage_draws_on_the_gpu_the_same_samples_twice(trained):
    tmp = trained["tmp"]
    runs = []
    for name in ("a", "b"):
        out = {k: tmp / f"{k}_{name}{ext}" for k, ext in
               (("samples", ""), ("grid", ".png"), ("progress", ".png"), ("gif", ".gif"), ("completion", ".png"))}
        stage("sample_pixelcnn")(["--params", str(trained["params"]), "--model", trained["out"], "--data", str(trained["data"]),
                                  "--out", str(out["samples"]), "--grid", str(out["grid"]), "--progress", str(out["progress"]),
                                  "--gif", str(out["gif"]), "--completion", str(out["completion"])])
        runs.append(np.load(out["samples"] / "samples.npy"))
    assert runs[0].shape == (6, 1, 8, 8) and runs[0].dtype == np.uint8
    assert np.array_equal(runs[0], runs[1])


@pytest.mark.parametrize("overrides", [dict(channels=3, num_classes=3, layers=3),
                                       dict(output="logistic", resolutions=3, layers=1, attention_every=2, channels=3)])
def test_cuda_cached_sampler_equals_naive(overrides):
    torch.manual_seed(0)
    config = PixelCNNConfig(**{"height": 6, "width": 6, "hidden": 6, "skip": 6, "kernel": 3, **overrides})
    model = PixelCNN(config).double().cuda().eval()  # float64: rounding never flips a draw
    labels = torch.arange(4, device="cuda") % 3 if config.num_classes else None
    draws = [fn(model, 4, labels=labels, generator=torch.Generator().manual_seed(5)) for fn in (sample_naive, sample_cached)]
    assert draws[0].device.type == "cuda" and torch.equal(draws[0], draws[1])


def test_cuda_quantizer_stays_fp32_under_bf16_autocast():
    q = Quantizer(codebook_size=2, dim=1, decay=0.9, beta=0.25, dead_threshold=0.0).cuda()
    # in bf16 both codewords round to 1.0 and z would tie; in fp32 code 1 is nearer
    q.embed.copy_(torch.tensor([[1.0], [1.0035]])), q.embed_sum.copy_(q.embed), q.cluster_size.fill_(1.0)
    z = torch.full((1, 1, 2, 2), 1.0078125, dtype=torch.bfloat16, device="cuda")
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out = q.train()(z)
    assert (out.codes == 1).all() and out.quantized.dtype == torch.float32 and out.loss.dtype == torch.float32
    assert all(b.dtype == torch.float32 for b in q.buffers())


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="NCCL data parallelism needs two GPUs")
def test_cuda_two_nccl_processes_train_the_weights_of_one(tmp_path):
    data = write_prepared(tmp_path / "prepared")
    weights = {}
    for processes in (1, 2):
        p = write_params(tmp_path / f"params{processes}.yaml", train={"processes": processes},
                         pixelcnn={**PIXEL, "epochs": 1, "precision": "fp32"})
        out = outputs(tmp_path / str(processes), "pixelcnn")
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        result = subprocess.run([sys.executable, str(ROOT / "stages" / "train_pixelcnn.py"), *train_args("train_pixelcnn", p, data, out)],
                                env=env, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
        weights[processes] = torch.load(out["out"], weights_only=True)["state_dict"]
    for key, value in weights[1].items():
        torch.testing.assert_close(weights[2][key], value, rtol=1e-3, atol=1e-4, msg=f"{key} differs")
