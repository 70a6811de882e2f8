"""The resumable state (pixelcnn.training.state): the fingerprint sees configs, data and code; the state and its
RNGs survive the file; a state of another run is deleted with a notice. Resume itself: tests/training/test_trainer.py."""

from __future__ import annotations

import random

import numpy as np
import torch

from pixelcnn.checkpoints import save_payload
from pixelcnn.configs import OptimConfig
from pixelcnn.distributed import Context
from pixelcnn.training.state import TrainingState, read_state, rng_state, run_fingerprint, save_state, set_rng_state


def state(step: int = 3, rng: list | None = None) -> TrainingState:
    return TrainingState(epoch=1, step_in_epoch=2, step=step, objective={"w": torch.ones(2)}, optimizer={}, ema=None,
                         generator=torch.Generator().get_state(), rng=rng or [], sums={"train_bpd": torch.tensor(1.5)},
                         history=[{"epoch": 1, "train_bpd": 2.0}], best=None, bad_epochs=0, compiled=False)


def draws() -> tuple:
    return random.random(), float(np.random.rand()), float(torch.rand(()))


def test_state_rngs_saved_and_read_back_repeat_the_same_draws(tmp_path):
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    saved = state(rng=[rng_state()])
    save_state(tmp_path / "state.pt", "f", saved, Context())
    expected = draws()
    assert draws() != expected  # the RNGs moved on
    read = read_state(tmp_path / "state.pt", "f", "test", Context())  # loaded with weights_only=True
    set_rng_state(read.rng[0])
    assert draws() == expected
    assert read.step == 3 and read.history == saved.history and torch.equal(read.objective["w"], saved.objective["w"])


def test_state_of_another_fingerprint_or_format_is_deleted_with_a_notice(tmp_path, capsys):
    path = tmp_path / "state.pt"
    save_state(path, "old", state(), Context())
    assert read_state(path, "old", "test", Context()).step == 3 and path.is_file()
    assert read_state(path, "new", "test", Context()) is None and not path.exists()
    save_payload(path, {"format": 0, "fingerprint": "new", "step": 3})
    assert read_state(path, "new", "test", Context()) is None and not path.exists()
    save_payload(path, {"format": 1, "fingerprint": "new", "step": 3})  # a state of another trainer: fields missing
    assert read_state(path, "new", "test", Context()) is None and not path.exists()
    notice = f"test: discarding the saved state {path}: it belongs to other params, code or input data; training from scratch"
    assert capsys.readouterr().out.splitlines() == [notice] * 3
    assert read_state(path, "new", "test", Context()) is None  # no file: nothing to say


def test_state_fingerprint_changes_with_the_configs_the_input_data_and_the_code(tmp_path):
    data, code = tmp_path / "data", tmp_path / "code.py"
    data.mkdir()
    (data / "train.npy").write_bytes(b"\x00" * 8)
    code.write_text("x = 1\n")
    base = run_fingerprint({"optim": OptimConfig()}, [data], [code])
    assert run_fingerprint({"optim": OptimConfig()}, [data], [code]) == base
    assert run_fingerprint({"optim": OptimConfig(lr=0.5)}, [data], [code]) != base
    (data / "train.npy").write_bytes(b"\x00" * 7 + b"\x01")
    changed_data = run_fingerprint({"optim": OptimConfig()}, [data], [code])
    code.write_text("x = 2\n")
    assert len({base, changed_data, run_fingerprint({"optim": OptimConfig()}, [data], [code])}) == 3
