"""A training stage's session: its process group, device, seed and state folder, and the CPU settings of a fit.

``training_run`` joins the process group (under ``torchrun``), picks this
process's device and seeds every RNG, then yields a ``TrainingRun`` that the
stage trains in and ``finish``es once its outputs are written (the saved
states go). The trainer's ``fit`` runs under ``flush_denormals`` and, when
``train.deterministic`` asks for it, ``deterministic_algorithms``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from pixelcnn import distributed
from pixelcnn.configs import RunConfig
from pixelcnn.distributed import Context
from pixelcnn.runtime import resolve_device, seed_everything


@dataclass
class TrainingRun:
    """What a training stage's process knows about its run: its place in the group, device, seed, state folder.

    The stage builds its model inside the run (after the seed), hands it to
    ``pixelcnn.training.api.train`` with ``state_dir``, writes its outputs on
    rank 0, then calls ``finish``.
    """

    ctx: Context
    device: torch.device
    seed: int
    run: RunConfig
    state_dir: Path

    def finish(self) -> None:
        """The outputs are written: the saved states are no longer needed."""
        self.ctx.barrier()
        if self.ctx.main and self.state_dir.exists():
            shutil.rmtree(self.state_dir)
            with contextlib.suppress(OSError):
                self.state_dir.parent.rmdir()  # the common state/ folder, once every stage's state is gone


@contextlib.contextmanager
def flush_denormals() -> Iterator[None]:
    """Flush subnormal floats to zero on the CPU while training (torch's default is off, restored after).

    As a model trains, some activations and gradients decay into the subnormal
    range, where x86 arithmetic is many times slower: measured on the default
    pixel model's trained weights, a training step took 1.91 s with
    subnormals and 1.10 s flushed (its epochs grew from 26 s to 43 s). Values
    below 1.2e-38 change nothing a model learns; the run stays deterministic.
    """
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


@contextlib.contextmanager
def deterministic_algorithms(enabled: bool, device: torch.device) -> Iterator[None]:
    """``torch.use_deterministic_algorithms`` for the duration when ``enabled`` (the previous setting restored after).

    On the CPU the training path is deterministic at any thread count without it
    (no op whose reduction order depends on threads; tests train every model twice
    at two threads and compare bytes); turning it on there only makes PyTorch
    refuse an op that has no deterministic kernel. On CUDA it is what makes two
    runs equal: deterministic cuDNN convolutions (no autotuning) and cuBLAS with
    a fixed workspace (``CUBLAS_WORKSPACE_CONFIG``, set here unless the user set
    it, before the first cuBLAS call of the process) at a cost in speed.
    """
    if not enabled:
        yield
        return
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    previous = torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous[0])
        torch.backends.cudnn.benchmark = previous[1]


@contextlib.contextmanager
def training_run(run: RunConfig, device_name: str, seed: int, state_dir: str | Path) -> Iterator[TrainingRun]:
    """Join the process group (if launched by torchrun), pick this process's device, seed every RNG.

    A device that cannot be had raises ``errors.InvalidValue`` naming ``device`` (``OptimConfig.device``).
    """
    device = resolve_device(device_name)
    with distributed.session(device) as ctx:
        seed_everything(seed)  # the same initial weights in every process
        yield TrainingRun(ctx, ctx.device(device), seed, run, Path(state_dir))
