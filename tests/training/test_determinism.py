"""Same params, same machine, same bytes, at the thread count CI and users run with.

The rest of the suite runs torch at one thread (tests/conftest.py), where a
reduction whose order depends on threads cannot show. These tests run at two:

- one gradient step of every combination of the pixel model's options,
  repeated, gives the same gradients byte for byte (in-process);
- the per-class position map's gradient (an indexed gather whose gradient
  on the CPU was an accumulating ``index_put_`` that adds repeated labels in
  a thread-dependent order) repeats byte for byte;
- every training stage (the pixel model with the default options, the
  VQ-VAE, both priors, the classifier) run twice as a subprocess gives the
  same model and the same DVCLive record;
- the default pixel model killed with SIGKILL mid-epoch, or at an epoch
  boundary, and re-run, ends with the bytes of a run never interrupted.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from pixelcnn import checkpoints
from pixelcnn.configs import PixelCNNConfig
from pixelcnn.models.pixelcnn import PixelCNN
from pixelcnn.training.objectives.pixel import PixelObjective

from helpers import ROOT, default_params, outputs, stage, train_args, write_params, write_prepared

THREADS = 2
ENV = {**os.environ, "OMP_NUM_THREADS": str(THREADS), "MKL_NUM_THREADS": str(THREADS), "PYTHONWARNINGS": "ignore"}
MODELS = ["train_pixelcnn", "train_vqvae", "train_prior", "train_classifier"]


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    yield
    torch.set_num_threads(before)


def gradients(objective: torch.nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    objective.zero_grad(set_to_none=True)
    objective(batch, torch.Generator().manual_seed(1))["bpd"].sum().backward()
    return {name: p.grad.clone() for name, p in objective.named_parameters() if p.grad is not None}


OPTIONS = list(itertools.product([False, True], repeat=6))
QUICK = {(False,) * 6, (True,) * 6}  # the quick loop keeps every option off and every option on; CI runs all 64


@pytest.mark.parametrize("context, per_class, null, unet, attention, logistic",
                         [o if o in QUICK else pytest.param(*o, marks=pytest.mark.slow) for o in OPTIONS],
                         ids=["-".join(name for name, on in zip(("ctx", "ppc", "null", "unet", "attn", "logistic"), o) if on) or "plain"
                              for o in OPTIONS])
def test_a_gradient_step_of_every_option_combination_repeats_at_two_threads(two_threads, context, per_class, null, unet,
                                                                           attention, logistic):
    torch.manual_seed(0)
    # 16×16 maps of 8 channels at batch 32: large enough that torch splits the position map's gradient over threads
    config = PixelCNNConfig(channels=1, levels=256, height=16, width=16, hidden=8, skip=8, layers=2, kernel=3,
                            num_classes=3, null_class=null, position_channels=8, position_per_class=per_class,
                            context=context, resolutions=2 if unet else 1, attention_every=1 if attention else 0,
                            output="logistic" if logistic else "categorical", n_mix=2)
    objective = PixelObjective(PixelCNN(config), cond_dropout=0.5 if null else 0.0)
    batch = {"images": torch.randint(0, 256, (32, 1, 16, 16), dtype=torch.uint8), "labels": torch.arange(32) % 3,
             "offset": torch.tensor(0), "total": torch.tensor(32)}
    first = gradients(objective, batch)
    for _ in range(3):
        again = gradients(objective, batch)
        assert [k for k in first if not torch.equal(first[k], again[k])] == []


def test_the_per_class_position_map_gradient_repeats_at_two_threads(two_threads):
    """The default pixel model's position maps (one per class, 32×32) at the default batch, 20 backward passes.

    Labels repeat at least three times in the batch: the sum of two values is the same in either order, so
    only a third addend shows an order that changes between runs.
    """
    torch.manual_seed(0)
    config = PixelCNNConfig(channels=1, height=32, width=32, hidden=8, skip=8, layers=1, num_classes=10, null_class=True,
                            position_channels=8, position_per_class=True)
    model = PixelCNN(config)
    labels = torch.arange(16) % 3
    upstream = torch.rand(16, 8, 32, 32)

    def gradient() -> torch.Tensor:
        model.position.grad = None
        model.block_cond(None, 16, labels).backward(upstream)
        return model.position.grad.clone()

    first = gradient()
    assert sum(not torch.equal(gradient(), first) for _ in range(20)) == 0


# ----------------------------------------------------------------------------- whole stages, as subprocesses


def default_sized_params(tmp: Path, **sections) -> Path:
    """params.yaml's defaults (models, options, precision, optimiser) on small data: 3 short epochs each, on the CPU."""
    short = {"epochs": 3, "device": "cpu"}
    merged = {"train": {"checkpoint_every": 3}, "pixelcnn": short, "vqvae": {**short, "warmup_steps": 4},
              "prior": short, "classifier": {**short, "warmup_steps": 4}}
    for name, values in sections.items():
        merged[name] = {**merged.get(name, {}), **values}
    return write_params(tmp / "params.yaml", base=default_params(), **merged)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> dict[str, Path]:
    """64 + 16 prepared 32×32 images of 10 classes (the default's shape), and codes of a VQ-VAE trained on them."""
    tmp = tmp_path_factory.mktemp("determinism")
    data = write_prepared(tmp / "prepared", n_train=64, n_test=16, classes=10, size=32)
    params = default_sized_params(tmp)
    vq = outputs(tmp, "vq_for_codes")
    stage("train_vqvae")(train_args("train_vqvae", params, data, vq))
    stage("extract_codes")(["--params", str(params), "--data", str(data), "--model", vq["out"], "--out", str(tmp / "codes")])
    return {"data": data, "codes": tmp / "codes", "params": params}


def command(name: str, params: Path, workspace: dict[str, Path], out: dict[str, str]) -> list[str]:
    data = workspace["codes"] if name == "train_prior" else workspace["data"]
    return [sys.executable, str(ROOT / "stages" / f"{name}.py"), *train_args(name, params, data, out)]


def run(cmd: list[str]) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def files(out: dict[str, str]) -> dict[str, bytes]:
    """The model and every file of its DVCLive folder, as bytes."""
    found = {"model": Path(out["out"]).read_bytes()}
    found.update({str(p.relative_to(out["live"])): p.read_bytes() for p in sorted(Path(out["live"]).rglob("*")) if p.is_file()})
    return found


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_every_training_stage_run_twice_at_two_threads_writes_the_same_bytes(name, workspace, tmp_path):
    runs = []
    for attempt in ("first", "second"):
        out = outputs(tmp_path / attempt, name)
        run(command(name, workspace["params"], workspace, out))
        runs.append(files(out))
    assert runs[0].keys() == runs[1].keys()
    assert [k for k in runs[0] if runs[0][k] != runs[1][k]] == []


def saved_state(state_dir: str) -> dict | None:
    """The pixel stage's saved state (step, epoch, batch), or None while there is none or it is being replaced."""
    try:
        path = next(Path(state_dir).glob("*.pt"))
        return checkpoints.read_payload(path, "training state", "")
    except Exception:
        return None


def kill_after_state(cmd: list[str], state_dir: str, step: int) -> dict:
    """Start ``cmd``; SIGKILL it as soon as its saved state reaches ``step`` (before the next one is saved)."""
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    state = None
    while proc.poll() is None and time.monotonic() < deadline:
        state = saved_state(state_dir)
        if state is not None and state["step"] >= step:
            break
        time.sleep(0.01)
    assert proc.poll() is None, "training finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return saved_state(state_dir)


@pytest.mark.slow
@pytest.mark.parametrize("where", ["mid-epoch", "epoch-boundary"])
def test_the_default_pixel_model_killed_and_rerun_writes_the_bytes_of_an_uninterrupted_run(where, workspace, tmp_path):
    # 64 rows at the default batch 16: 4 steps an epoch. A state every 3 steps puts one at epoch 1, batch 3 (step 3);
    # checkpoint_every 0 saves at epoch ends only (step 4 is epoch 2, batch 0).
    every, step = (3, 3) if where == "mid-epoch" else (0, 4)
    params = default_sized_params(tmp_path, train={"checkpoint_every": every})
    whole = outputs(tmp_path / "whole", "train_pixelcnn")
    run(command("train_pixelcnn", params, workspace, whole))

    resumed = outputs(tmp_path / "resumed", "train_pixelcnn")
    state = kill_after_state(command("train_pixelcnn", params, workspace, resumed), resumed["state"], step)
    assert state is not None and not Path(resumed["out"]).exists()
    assert (state["step_in_epoch"] != 0) == (where == "mid-epoch"), (state["epoch"], state["step_in_epoch"])
    again = run(command("train_pixelcnn", params, workspace, resumed))
    assert f"resuming from {resumed['state']}" in again.stdout and f"at step {state['step']} " in again.stdout
    before, after = files(whole), files(resumed)
    assert [k for k in before if before[k] != after.get(k)] == []
