"""The shared trainer: resume after SIGKILL equals an uninterrupted run (every model), NaN stops,
EMA, early stopping, schedules, and DistributedDataParallel equal to one process.

Training stages run as real subprocesses (``python stages/<stage>.py``) on tiny data with one
torch thread, so CPU results are bitwise reproducible.
"""

from __future__ import annotations

import hashlib
import math
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from pixelcnn import checkpoints
from pixelcnn.configs import OptimConfig, PixelCNNConfig, RunConfig
from pixelcnn.distributed import Context
from pixelcnn.errors import ConfigError, InvalidValue, TrainingError
from pixelcnn.models.pixelcnn import PixelCNN
from pixelcnn.project import params
from pixelcnn.training.loader import dir_splits
from pixelcnn.training.objectives import IMAGES
from pixelcnn.training.objectives.pixel import PixelObjective
from pixelcnn.training.trainer import Trainer, learning_rate

from helpers import ROOT, logged, outputs, stage, train_args, write_params, write_prepared

MODELS = ["train_pixelcnn", "train_vqvae", "train_prior", "train_classifier"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


def resumable_params(tmp: Path, **sections) -> Path:
    """Tiny models on 8×8 blobs, 12 epochs of 10 steps, a state every 7 steps (mid-epoch and at epoch ends)."""
    optim = {"epochs": 12, "batch_size": 4, "precision": "fp32", "device": "cpu"}
    defaults = {
        "train": {"checkpoint_every": 7},
        "pixelcnn": {**optim, "hidden": 16, "skip": 16, "layers": 3, "kernel": 3, "resolutions": 1, "position_channels": 2},
        "vqvae": {**optim, "bottom_downsample": 2, "top_downsample": 2, "hidden": 16, "warmup_steps": 4},
        "prior": {**optim, "hidden": 16, "skip": 16},
        "classifier": {**optim, "warmup_steps": 4, "width": 8},
    }
    for name, values in sections.items():
        defaults[name] = {**defaults.get(name, {}), **values}
    tmp.mkdir(parents=True, exist_ok=True)
    return write_params(tmp / "params.yaml", **defaults)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> dict[str, Path]:
    """Prepared blobs, and codes extracted by a trained tiny VQ-VAE for the prior."""
    tmp = tmp_path_factory.mktemp("resume")
    data = write_prepared(tmp / "prepared", n_train=40, n_test=12)
    params = resumable_params(tmp)
    vq = outputs(tmp, "vq_for_codes")
    stage("train_vqvae")(train_args("train_vqvae", params, data, vq))
    stage("extract_codes")(["--params", str(params), "--data", str(data), "--model", vq["out"], "--out", str(tmp / "codes")])
    return {"data": data, "codes": tmp / "codes", "params": params}


def command(name: str, params: Path, workspace: dict[str, Path], out: dict[str, str]) -> list[str]:
    data = workspace["codes"] if name == "train_prior" else workspace["data"]
    return [sys.executable, str(ROOT / "stages" / f"{name}.py"), *train_args(name, params, data, out)]


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=600, **kw)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def live_files(live: str) -> dict[str, str]:
    """Every file of a DVCLive folder (metrics.json, per-epoch .tsv, curves.png) → its digest."""
    return {str(p.relative_to(live)): digest(p) for p in sorted(Path(live).rglob("*")) if p.is_file()}


def saved_steps(state_dir: str) -> int:
    """Steps saved so far over every state file of a stage (the prior has one per level); -1 when none."""
    total = -1
    for path in Path(state_dir).glob("*.pt"):
        try:
            total = max(total, 0) + int(checkpoints.read_payload(path, "training state", "")["step"])
        except Exception:  # replaced between listing and reading
            return total
    return total


def kill_at_random_step(cmd: list[str], state_dir: str, seed: str, **popen) -> None:
    """Start ``cmd``, SIGKILL it at a random moment after a random number of saved steps."""
    rng = random.Random(seed)
    target = rng.randint(1, 60)
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **popen)
    deadline = time.monotonic() + 300
    while saved_steps(state_dir) < target and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(rng.uniform(0.0, 0.05))
    assert proc.poll() is None, "training finished before it could be killed: make the run longer"
    if popen.get("start_new_session"):
        os.killpg(proc.pid, signal.SIGKILL)  # the launcher and its workers, as a preempted machine
    else:
        proc.send_signal(signal.SIGKILL)
    proc.wait()


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_resume_after_sigkill_equals_uninterrupted(name, workspace, tmp_path):
    params = workspace["params"]
    whole = outputs(tmp_path / "whole", name)
    run(command(name, params, workspace, whole))

    resumed = outputs(tmp_path / "resumed", name)
    kill_at_random_step(command(name, params, workspace, resumed), resumed["state"], name)
    assert saved_steps(resumed["state"]) > 0 and not Path(resumed["out"]).exists()
    again = run(command(name, params, workspace, resumed))
    assert "resuming from" in again.stdout
    assert digest(resumed["out"]) == digest(whole["out"]), "the model differs after resume"
    assert live_files(resumed["live"]) == live_files(whole["live"]), "the DVCLive record differs after resume"
    epochs = list(range(1, 13))  # the logged epochs are 1..E, each once, in every figure of every network
    assert all([step for step, _ in rows] == epochs for rows in logged(resumed["live"]).values())
    assert not Path(resumed["state"]).exists(), "the saved state outlived the finished stage"


@pytest.mark.slow
def test_resume_under_ddp_after_sigkill_equals_uninterrupted(workspace, tmp_path):
    params = resumable_params(tmp_path, train={"processes": 2, "checkpoint_every": 7})
    whole = outputs(tmp_path / "whole", "pixel")
    run(command("train_pixelcnn", params, workspace, whole))
    resumed = outputs(tmp_path / "resumed", "pixel")
    kill_at_random_step(command("train_pixelcnn", params, workspace, resumed), resumed["state"], "ddp",
                        start_new_session=True)
    again = run(command("train_pixelcnn", params, workspace, resumed))
    assert "resuming from" in again.stdout
    assert digest(resumed["out"]) == digest(whole["out"])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["train_pixelcnn", "train_vqvae", "train_prior"])
def test_two_processes_train_the_weights_of_one(name, workspace, tmp_path):
    weights = {}
    for processes in (1, 2):
        params = resumable_params(tmp_path / str(processes), train={"processes": processes},
                                  **{s: {"epochs": 1} for s in ("pixelcnn", "vqvae", "prior")})
        out = outputs(tmp_path / str(processes), name)
        run(command(name, params, workspace, out))
        weights[processes] = torch.load(out["out"], weights_only=True)["state_dict"]
    assert weights[1].keys() == weights[2].keys()
    for key, value in weights[1].items():
        torch.testing.assert_close(weights[2][key], value, rtol=1e-4, atol=1e-5, msg=f"{name}: {key} differs")


# ----------------------------------------------------------------------------- in-process trainer


def pixel_trainer(tmp: Path, data: Path, optim: OptimConfig, fingerprint: str = "f", seed: int = 0,
                  init_seed: int = 0, workers: int = 0, size: int = 8) -> Trainer:
    torch.manual_seed(init_seed)
    config = PixelCNNConfig(channels=1, levels=256, height=size, width=size, hidden=8, skip=8, layers=2, kernel=3, num_classes=3)
    return Trainer(PixelObjective(PixelCNN(config)), dir_splits(data, IMAGES), optim, RunConfig(checkpoint_every=2, workers=workers), seed=seed,
                   device=torch.device("cpu"), ctx=Context(), state_path=tmp / "state.pt", fingerprint=fingerprint,
                   desc="test", keys=params.field_keys("pixelcnn", OptimConfig))


OPTIM = OptimConfig(epochs=2, batch_size=8, lr=3e-3, precision="fp32", device="cpu")


def test_nan_loss_stops_with_one_sentence_naming_step_and_last_good_state(tmp_path, monkeypatch):
    data = write_prepared(tmp_path / "prepared")
    trainer = pixel_trainer(tmp_path, data, OPTIM)
    forward = PixelObjective.forward
    calls = {"n": 0}

    def poisoned(self, batch, generator=None):
        calls["n"] += 1
        out = forward(self, batch, generator)
        return {"bpd": out["bpd"] * float("nan")} if calls["n"] == 4 else out

    monkeypatch.setattr(PixelObjective, "forward", poisoned)
    with pytest.raises(TrainingError) as info:
        trainer.fit()
    message = str(info.value)
    assert message == (
        f"test: the loss became nan at step 4; training stopped and wrote no model (the last good state, saved at "
        f"step 2, is {tmp_path / 'state.pt'}); lower pixelcnn.lr or set pixelcnn.grad_clip, then re-run"
    )
    state = checkpoints.read_payload(tmp_path / "state.pt", "training state", "")
    assert state["step"] == 2 and all(torch.isfinite(v).all() for v in state["objective"].values())


@pytest.mark.parametrize("precision, compiled", [("fp32", False), ("bf16", False), pytest.param("fp32", True, marks=pytest.mark.slow)],
                         ids=["fp32", "bf16", "fp32-compiled"])
def test_resume_mid_epoch_in_process_equals_uninterrupted(tmp_path, monkeypatch, precision, compiled):
    data = write_prepared(tmp_path / "prepared")  # 32 training rows, batch 8: 4 steps per epoch; a state every 2
    optim = OptimConfig(**{**OPTIM.__dict__, "epochs": 3, "ema_decay": 0.9, "val_fraction": 0.2, "patience": 5,
                           "precision": precision, "compile": compiled})
    whole = pixel_trainer(tmp_path / "whole", data, optim)
    whole.fit()
    step = Trainer._step
    calls = {"n": 0}

    def interrupted(self, *args):
        calls["n"] += 1
        if calls["n"] == 8:  # after the state of step 6 (epoch 2, batch 2) and step 7, the eighth step dies
            raise KeyboardInterrupt
        return step(self, *args)

    monkeypatch.setattr(Trainer, "_step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        pixel_trainer(tmp_path / "resumed", data, optim).fit()
    monkeypatch.setattr(Trainer, "_step", step)
    resumed = pixel_trainer(tmp_path / "resumed", data, optim, init_seed=1)  # another init: the state replaces it
    result = resumed.fit()
    assert result.resumed_from_step == 6 and whole.compiled == resumed.compiled == compiled
    for key, value in whole.objective.state_dict().items():
        assert torch.equal(resumed.objective.state_dict()[key], value), key


@pytest.mark.slow  # inductor compiles to measure
def test_compile_auto_measures_without_a_trace_and_a_resumed_run_keeps_the_decision(tmp_path, capsys):
    data = write_prepared(tmp_path / "prepared")
    trainer = pixel_trainer(tmp_path, data, OptimConfig(**{**OPTIM.__dict__, "compile": "auto"}))
    weights = {k: v.clone() for k, v in trainer.objective.state_dict().items()}
    rng, generator = torch.get_rng_state(), trainer.generator.get_state()
    chosen = trainer._compile_pays(steps=8, repeats=1)
    assert all(torch.equal(trainer.objective.state_dict()[k], v) for k, v in weights.items())
    assert torch.equal(torch.get_rng_state(), rng) and torch.equal(trainer.generator.get_state(), generator)
    assert all(p.grad is None for p in trainer.objective.parameters())
    line = capsys.readouterr().out
    assert line.startswith("test: compile auto: a step takes ") and f"so training runs {'compiled' if chosen else 'eager'}" in line
    trainer._compile(False, steps=10**9)  # a saved state's decision wins over measuring
    assert not trainer.compiled and trainer.forward is trainer.module


@pytest.mark.slow  # inductor compiles twice
def test_models_of_one_class_at_two_sizes_compile_in_one_process(tmp_path):
    """A second compiled model of the same class, at another size, compiles for its own shapes.

    (torch.compile's default turns a dimension symbolic when the same code meets a second
    shape, and inductor then failed on the PixelCNN's strides: a notebook training a pixel
    model and then a prior, or two presets in one process, stopped with an InductorError.)
    """
    compiled = OptimConfig(**{**OPTIM.__dict__, "epochs": 1, "compile": True})
    for size in (8, 4):
        data = write_prepared(tmp_path / f"prepared{size}", n_train=16, n_test=8, size=size)
        trainer = pixel_trainer(tmp_path / f"run{size}", data, compiled, size=size)
        result = trainer.fit()
        assert trainer.compiled and math.isfinite(result.history[-1]["train_bpd"])


@pytest.mark.slow  # DataLoader worker processes
def test_dataloader_workers_train_the_weights_of_in_process_reading(tmp_path):
    """train.workers only moves batch reading into other processes: same order, same bytes."""
    data = write_prepared(tmp_path / "prepared")
    optim = OptimConfig(**{**OPTIM.__dict__, "epochs": 3, "val_fraction": 0.2})
    in_process = pixel_trainer(tmp_path / "w0", data, optim)
    in_process.fit()
    with_workers = pixel_trainer(tmp_path / "w2", data, optim, workers=2)
    with_workers.fit()
    for key, value in in_process.objective.state_dict().items():
        assert torch.equal(with_workers.objective.state_dict()[key], value), key


def test_a_state_of_other_params_is_discarded_with_a_notice(tmp_path, capsys):
    data = write_prepared(tmp_path / "prepared")
    pixel_trainer(tmp_path, data, OPTIM, fingerprint="old").fit()
    assert (tmp_path / "state.pt").is_file()
    result = pixel_trainer(tmp_path, data, OPTIM, fingerprint="new").fit()
    out = capsys.readouterr().out
    assert f"discarding the saved state {tmp_path / 'state.pt'}: it belongs to other params, code or input data" in out
    assert result.resumed_from_step is None and len(result.history) == 2


def test_ema_output_is_the_exponential_average_of_the_trained_weights(tmp_path, monkeypatch):
    data = write_prepared(tmp_path / "prepared")
    trajectory: list[dict[str, torch.Tensor]] = []
    step = torch.optim.AdamW.step

    def recording(self, *args, **kwargs):
        out = step(self, *args, **kwargs)
        trajectory.append({k: v.detach().clone() for k, v in plain.objective.model.state_dict().items()})
        return out

    monkeypatch.setattr(torch.optim.AdamW, "step", recording)
    plain = pixel_trainer(tmp_path / "a", data, OPTIM)
    plain.fit()
    monkeypatch.setattr(torch.optim.AdamW, "step", step)
    decay = 0.8
    averaged = pixel_trainer(tmp_path / "b", data, OptimConfig(**{**OPTIM.__dict__, "ema_decay": decay}))
    averaged.fit()
    expected = dict(trajectory[0])
    for weights in trajectory[1:]:
        expected = {k: decay * expected[k] + (1 - decay) * weights[k] if weights[k].is_floating_point() else weights[k]
                    for k in weights}
    got = averaged.objective.model.state_dict()
    assert not torch.equal(got["head_out.weight"], trajectory[-1]["head_out.weight"])
    for key, value in expected.items():
        torch.testing.assert_close(got[key], value, rtol=1e-5, atol=1e-6)


def test_early_stopping_keeps_the_best_epoch_and_stops_after_patience(tmp_path, monkeypatch):
    data = write_prepared(tmp_path / "prepared")  # 40 train rows: 10 held out to validate; 12 test rows
    validation = iter([3.0, 2.0, 2.5, 2.6])  # best after epoch 2, then two worse epochs: patience 2 stops after 4
    summarize = PixelObjective.summarize

    def scripted(self, sums):
        out = summarize(self, sums)
        return {"bpd": next(validation)} if float(sums["count"]) == 10 else out

    monkeypatch.setattr(PixelObjective, "summarize", scripted)
    optim = OptimConfig(**{**OPTIM.__dict__, "epochs": 6, "val_fraction": 0.25, "patience": 2})
    stopped = pixel_trainer(tmp_path / "stopped", data, optim)
    result = stopped.fit()
    assert [row["epoch"] for row in result.history] == [1, 2, 3, 4] and result.stopped_early
    assert result.metrics["epoch"] == 2 and result.metrics["val_bpd"] == 2.0
    monkeypatch.setattr(PixelObjective, "summarize", summarize)
    two_epochs = pixel_trainer(tmp_path / "two", data, OptimConfig(**{**optim.__dict__, "epochs": 2, "patience": 0}))
    two_epochs.fit()  # the same trajectory, stopped by its epoch count: its weights are epoch 2's
    expected = two_epochs.objective.model.state_dict()
    for key, value in stopped.objective.model.state_dict().items():
        assert torch.equal(value, expected[key]), key


def test_learning_rate_schedules():
    warm = OptimConfig(epochs=2, lr=1.0, warmup_steps=4, schedule="cosine")
    assert [learning_rate(warm, s, 10) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert learning_rate(warm, 4, 10) == pytest.approx(1.0)
    assert learning_rate(warm, 12, 10) == pytest.approx(0.5)  # halfway through the 16 decay steps
    assert learning_rate(warm, 19, 10) == pytest.approx(0.5 * (1 + math.cos(math.pi * 15 / 16)))
    decay = OptimConfig(epochs=3, lr=1.0, lr_decay=0.5, schedule="exponential")
    assert [learning_rate(decay, s, 10) for s in (0, 9, 10, 25)] == [1.0, 1.0, 0.5, 0.25]
    assert learning_rate(OptimConfig(lr=0.1, schedule="constant"), 1000, 10) == 0.1


def test_trainer_names_the_processes_field_and_the_stage_names_its_key(tmp_path):
    data = write_prepared(tmp_path / "prepared")  # 12 test rows
    config = PixelCNNConfig(channels=1, levels=256, height=8, width=8, hidden=8, skip=8, layers=2, kernel=3, num_classes=3)

    def trainer() -> Trainer:
        return Trainer(PixelObjective(PixelCNN(config)), dir_splits(data, IMAGES), OPTIM, RunConfig(), seed=0, device=torch.device("cpu"),
                       ctx=Context(rank=0, world=13), state_path=tmp_path / "state.pt", fingerprint="f", desc="test")

    with pytest.raises(InvalidValue, match=r"^processes is 13, more than the rows of a validation or test split"):
        trainer()
    settings = params.load_file(write_params(tmp_path / "params.yaml"))
    with pytest.raises(ConfigError, match=rf"^{tmp_path / 'params.yaml'}: train\.processes is 13, more than"), settings.naming("train", RunConfig):
        trainer()


@pytest.mark.slow  # inductor compiles every option
def test_compiled_step_of_every_pixel_option_matches_eager():
    """torch.compile traces a model with every option at once, forward and backward.

    The ``aot_eager`` backend runs TorchDynamo and AOTAutograd (the graphs inductor would
    compile) without generating C++: inductor on this model takes about 10 minutes on 2 CPU
    cores. Inductor itself runs in the compiled resume test above and on the default model
    in ``benchmarks/training.py --compile``.
    """
    torch.manual_seed(0)
    config = PixelCNNConfig(channels=3, levels=16, height=7, width=6, hidden=6, skip=6, layers=1, kernel=3,
                            resolutions=3, attention_every=2, output="logistic", context=True, num_classes=3,
                            null_class=True, position_channels=2, position_per_class=True, dropout=0.0)
    objective = PixelObjective(PixelCNN(config), cond_dropout=0.5)
    batch = {"images": torch.randint(0, 256, (4, 3, 7, 6), dtype=torch.uint8), "labels": torch.tensor([0, 1, 2, 1]),
             "offset": torch.tensor(0), "total": torch.tensor(4)}
    eager = objective(batch, torch.Generator().manual_seed(1))["bpd"]
    eager.sum().backward()
    grads = {k: p.grad.clone() for k, p in objective.named_parameters() if p.grad is not None}
    objective.zero_grad(set_to_none=True)
    compiled = torch.compile(objective, backend="aot_eager")(batch, torch.Generator().manual_seed(1))["bpd"]
    compiled.sum().backward()
    torch.testing.assert_close(compiled, eager, rtol=1e-4, atol=1e-5)
    for key, grad in grads.items():
        torch.testing.assert_close(dict(objective.named_parameters())[key].grad, grad, rtol=1e-3, atol=1e-5)


def test_deterministic_training_turns_deterministic_algorithms_on_for_fit_only_and_changes_no_cpu_byte(tmp_path, monkeypatch):
    data = write_prepared(tmp_path / "prepared")
    plain = pixel_trainer(tmp_path / "plain", data, OPTIM)
    plain.fit()
    seen = []
    step = Trainer._step

    def watched(self, *args):
        seen.append(torch.are_deterministic_algorithms_enabled())
        return step(self, *args)

    monkeypatch.setattr(Trainer, "_step", watched)
    strict = pixel_trainer(tmp_path / "strict", data, OPTIM)
    strict.run = RunConfig(checkpoint_every=2, deterministic=True)
    strict.fit()
    assert seen and all(seen) and not torch.are_deterministic_algorithms_enabled()
    for key, value in plain.objective.state_dict().items():  # the CPU path needs no other kernel to repeat itself
        assert torch.equal(strict.objective.state_dict()[key], value), key
