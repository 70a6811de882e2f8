"""A training stage's session (pixelcnn.training.session): the CPU settings of a fit are restored after it,
and a finished run leaves no state behind."""

from __future__ import annotations

import pytest
import torch

from pixelcnn.configs import RunConfig
from pixelcnn.training.session import deterministic_algorithms, flush_denormals, training_run

SUBNORMAL = 1e-40  # below float32's smallest normal number, 1.2e-38


def test_session_flush_denormals_flushes_inside_only():
    assert float(torch.tensor([SUBNORMAL]) * 1.0) > 0
    with flush_denormals():
        assert float(torch.tensor([SUBNORMAL]) * 1.0) == 0
    assert float(torch.tensor([SUBNORMAL]) * 1.0) > 0


def test_session_deterministic_algorithms_on_inside_only_and_off_does_nothing():
    before = torch.are_deterministic_algorithms_enabled()
    assert not before
    with deterministic_algorithms(False, torch.device("cpu")):
        assert not torch.are_deterministic_algorithms_enabled()
    with pytest.raises(RuntimeError, match="inside"), deterministic_algorithms(True, torch.device("cpu")):
        assert torch.are_deterministic_algorithms_enabled() and not torch.backends.cudnn.benchmark
        raise RuntimeError("inside")
    assert torch.are_deterministic_algorithms_enabled() == before


def test_session_training_run_seeds_and_finish_removes_the_states(tmp_path):
    state_dir = tmp_path / "state" / "pixelcnn"
    with training_run(RunConfig(), "cpu", 7, state_dir) as run:
        first = torch.rand(3)
        state_dir.mkdir(parents=True)
        (state_dir / "state.pt").write_bytes(b"x")
        run.finish()
    assert torch.equal(first, torch.rand(3, generator=torch.Generator().manual_seed(7)))  # torch's global RNG seeded
    assert run.device == torch.device("cpu") and run.seed == 7 and run.ctx.main
    assert not (tmp_path / "state").exists()  # the stage's folder, and the common one once empty
