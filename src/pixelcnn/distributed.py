"""Data-parallel training across processes and machines: torchrun + DistributedDataParallel.

The only module that talks to ``torch.distributed``. A training stage reads
``train.processes``; with more than one it re-runs itself under ``torchrun``
(``launch``), each process joins the group (``Context.start``: NCCL on GPUs,
gloo on CPUs), takes its contiguous share of every global batch
(``pixelcnn.training.loader``), and only rank 0 writes files. Launched by hand with
``torchrun`` (several machines), the stage finds the group in its
environment and skips the relaunch.

Every helper degrades to the identity with one process, so the single-process
path runs the same code with no group at all.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


def under_torchrun() -> bool:
    return "LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ


def launch(processes: int) -> int:
    """Re-run this script (same argv) under ``torchrun --standalone`` with ``processes`` workers; its exit code."""
    from torch.distributed import run

    args = [
        "--standalone",
        f"--nproc-per-node={processes}",
        "--no-python",
        sys.executable,
        sys.argv[0],
        *sys.argv[1:],
    ]
    try:
        run.main(args)
    except SystemExit as exc:  # torchrun exits on failure; its children already printed their sentence
        return int(exc.code or 0)
    except Exception:  # ChildFailedError: a worker failed (it printed its own error)
        return 1
    return 0


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this worker when its launcher dies.

    torchrun starts its workers in sessions of their own, so a kill -9 of the
    launcher (or of ``dvc repro``) would leave them training and writing
    states under a re-run that resumes from those same states.
    """
    import ctypes
    import signal

    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() == 1:  # the launcher died before the request was in place
            os.kill(os.getpid(), signal.SIGKILL)


@dataclass
class Context:
    """This process's place in the group: rank 0 of 1 when not distributed."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        """Rank 0: the one process that writes files and prints."""
        return self.rank == 0

    @classmethod
    def from_env(cls) -> Context:
        if not under_torchrun():
            return cls()
        return cls(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ["LOCAL_RANK"]))

    def device(self, device: torch.device) -> torch.device:
        """The device of this process: ``cuda:<local rank>`` on GPUs."""
        if device.type == "cuda" and self.active:
            torch.cuda.set_device(self.local_rank)
            return torch.device("cuda", self.local_rank)
        return device

    def start(self, device: torch.device) -> bool:
        """Join the group; whether this call joined it (False with one process, or when already a member)."""
        if under_torchrun():
            _die_with_parent()
        if self.active and not dist.is_initialized():
            backend = "nccl" if device.type == "cuda" else "gloo"
            dist.init_process_group(backend, timeout=datetime.timedelta(minutes=30))
            return True
        return False

    def stop(self) -> None:
        if self.active and dist.is_initialized():
            dist.destroy_process_group()

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def all_sum(self, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Element-wise sums over processes of each tensor (float64 on the way, for exact-enough totals)."""
        if not self.active:
            return tensors
        out = {}
        for name, t in tensors.items():
            total = t.detach().double().clone()
            dist.all_reduce(total)
            out[name] = total
        return out

    def gather_objects(self, obj: Any) -> list[Any]:
        """``obj`` of every process, in rank order."""
        if not self.active:
            return [obj]
        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def broadcast_object(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every process."""
        if not self.active:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]


@contextlib.contextmanager
def session(device: torch.device) -> Iterator[Context]:
    """Join the process group for the duration (nothing with one process).

    Sessions nest: an inner one (``pixelcnn.train`` inside a training stage's
    run) finds the group joined and leaves it to the outer one to close.
    """
    ctx = Context.from_env()
    joined = ctx.start(device)
    try:
        yield ctx
    finally:
        if joined:
            ctx.stop()


def active() -> bool:
    """Whether this process is one of several (inside a model: the quantiser syncs its statistics)."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def all_reduce_(tensor: torch.Tensor) -> torch.Tensor:
    """Sum ``tensor`` over processes in place (identity with one process)."""
    if active():
        dist.all_reduce(tensor)
    return tensor


def all_gather_rows(rows: torch.Tensor) -> torch.Tensor:
    """Concatenate every process's ``rows`` (N_r, D) in rank order (N_r may differ)."""
    if not active():
        return rows
    world = dist.get_world_size()
    size = torch.tensor([rows.shape[0]], device=rows.device)
    sizes = [torch.zeros_like(size) for _ in range(world)]
    dist.all_gather(sizes, size)
    longest = int(max(s.item() for s in sizes))
    padded = torch.zeros(longest, *rows.shape[1:], dtype=rows.dtype, device=rows.device)
    padded[: rows.shape[0]] = rows
    parts = [torch.zeros_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded)
    return torch.cat([p[: int(s.item())] for p, s in zip(parts, sizes)])


def needs_launch(processes: int) -> bool:
    """Whether a stage asked for ``processes`` > 1 must re-run itself under torchrun (it is not under it yet)."""
    return processes > 1 and not under_torchrun()
