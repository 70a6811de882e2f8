"""One training loop for every autoregressive model of the project.

The pixel PixelCNN and both VQ priors are trained the same way: Adam,
per-epoch shuffles drawn from an explicit ``torch.Generator``, gradient
clipping, exponential learning-rate decay, and a full pass over the test
split after each epoch. A model is plugged in through a ``loss_fn`` that maps
a batch (a tuple of tensors) to its mean bits per dimension.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, ClassVar, Literal, Sequence

import torch
from torch import nn
from tqdm import tqdm

from pixelcnn.params import check
from pixelcnn.runtime import autocast

Batch = tuple[torch.Tensor, ...]
LossFn = Callable[[nn.Module, Batch], torch.Tensor]


@dataclass(frozen=True)
class FitOptions:
    epochs: int
    batch_size: int
    lr: float
    lr_decay: float = 1.0  # learning rate multiplied by this after every epoch
    grad_clip: float = 1.0  # max global gradient norm; 0 turns clipping off
    amp: bool = False  # bf16 autocast on CUDA (no effect on the CPU)


@dataclass(frozen=True)
class TrainParams:
    """Optimisation knobs shared by the autoregressive models; a subclass sets ``SECTION`` and defaults."""

    SECTION: ClassVar[str] = ""
    epochs: int = 10  # passes over the training split
    batch_size: int = 32  # examples per step
    lr: float = 0.002  # Adam learning rate
    lr_decay: float = 0.9  # learning rate multiplied by this after each epoch
    grad_clip: float = 1.0  # max gradient norm; 0 turns clipping off
    amp: bool = True  # bf16 autocast on CUDA; no effect on the CPU
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto: CUDA when present; read by training and sampling

    def __post_init__(self) -> None:
        s = self.SECTION
        check(self.epochs >= 1, f"{s}.epochs must be >= 1, got {self.epochs}")
        check(self.batch_size >= 1, f"{s}.batch_size must be >= 1, got {self.batch_size}")
        check(self.lr > 0, f"{s}.lr must be > 0, got {self.lr}")
        check(0 < self.lr_decay <= 1, f"{s}.lr_decay must be in (0, 1], got {self.lr_decay}")
        check(self.grad_clip >= 0, f"{s}.grad_clip must be >= 0, got {self.grad_clip}")

    @property
    def fit_options(self) -> "FitOptions":
        return FitOptions(self.epochs, self.batch_size, self.lr, self.lr_decay, self.grad_clip, self.amp)


def batches(tensors: Sequence[torch.Tensor], batch_size: int, order: torch.Tensor | None = None):
    """Yield tuples of ``batch_size`` rows of each tensor (in ``order`` when given)."""
    n = len(tensors[0])
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size] if order is not None else slice(start, start + batch_size)
        yield tuple(t[idx] for t in tensors)


@torch.no_grad()
def evaluate_bpd(
    model: nn.Module,
    loss_fn: LossFn,
    tensors: Sequence[torch.Tensor],
    batch_size: int,
    device: torch.device,
    amp: bool = False,
) -> float:
    """Mean bits per dimension over a whole split (batches weighted by size)."""
    model.eval()
    total, count = 0.0, 0
    for batch in batches(tensors, batch_size):
        batch = tuple(t.to(device) for t in batch)
        with autocast(device, amp):
            total += loss_fn(model, batch).item() * len(batch[0])
        count += len(batch[0])
    return total / max(count, 1)


def fit(
    model: nn.Module,
    loss_fn: LossFn,
    train: Sequence[torch.Tensor],
    test: Sequence[torch.Tensor],
    options: FitOptions,
    device: torch.device,
    generator: torch.Generator,
    desc: str = "train",
) -> list[dict[str, float]]:
    """Train ``model`` in place; return one row per epoch for the curves CSV.

    Rows: ``epoch``, ``train_bpd`` (mean over the epoch's batches), ``test_bpd``,
    ``lr``. The shuffle of each epoch comes from ``generator``, so the same seed
    gives the same model.
    """
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=options.lr)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=options.lr_decay)
    rows = []
    n = len(train[0])
    steps = math.ceil(n / options.batch_size)
    for epoch in range(1, options.epochs + 1):
        model.train()
        order = torch.randperm(n, generator=generator)
        total = 0.0
        bar = tqdm(batches(train, options.batch_size, order), total=steps, desc=f"{desc} epoch {epoch}/{options.epochs}", leave=False)
        for batch in bar:
            batch = tuple(t.to(device) for t in batch)
            with autocast(device, options.amp):
                loss = loss_fn(model, batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if options.grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), options.grad_clip)
            opt.step()
            total += loss.item() * len(batch[0])
            bar.set_postfix(bpd=f"{loss.item():.3f}")
        lr = opt.param_groups[0]["lr"]
        sched.step()
        test_bpd = evaluate_bpd(model, loss_fn, test, options.batch_size, device, options.amp)
        rows.append({"epoch": epoch, "train_bpd": total / n, "test_bpd": test_bpd, "lr": lr})
        print(f"{desc} epoch {epoch}: train {total / n:.4f} test {test_bpd:.4f} bits/dim", flush=True)
    return rows
