"""The training loop, one for every trained model: streamed batches, AdamW, warm-up and decay, EMA,
early stopping, bf16 autocast, DistributedDataParallel, and exact resume after a kill.

Legend: B batch (per process), G global batch, R processes.

A model plugs in as an ``Objective`` (``pixelcnn.training.objectives``): an ``nn.Module``
whose ``forward(batch, generator)`` returns per-example values, one of them
(``loss_name``) the loss, whose ``evaluate(batch)`` returns sums of
validation statistics, and whose ``summarize(sums)`` turns them into
metrics. Everything else is here, the same for the pixel PixelCNN, the
priors, the VQ-VAE and the classifier:

- **Data** is read per batch from a rows source (``pixelcnn.training.loader``:
  the ``.npy`` files of a prepared folder, arrays in memory, or a torch
  ``Dataset``), in an order fixed by the seed and the epoch, through a
  ``DataLoader`` (``train.workers`` processes, pinned memory on CUDA).
- **Optimisation**: AdamW (decoupled weight decay on weights of two or more
  dimensions), linear warm-up then cosine or per-epoch exponential decay (a
  pure function of the step: nothing to save), gradient clipping, an EMA of
  the weights (``torch.optim.swa_utils.AveragedModel``; evaluation and the
  output use it), early stopping on a held-out validation share with
  patience (the best weights are the output).
- **Precision**: bf16 autocast on CUDA and on CPUs with bf16 instructions
  (``precision: auto``); ``channels_last`` on request.
- **Processes**: under ``torchrun`` the objective is wrapped in
  ``DistributedDataParallel``; each process takes its contiguous shard of
  every global batch and weights its loss so that the averaged gradient is
  the gradient of the global batch's mean; validation sums are all-reduced.
- **Resume**: every ``train.checkpoint_every`` steps and at each epoch end,
  rank 0 writes the whole state (weights, optimiser, EMA, best weights,
  every RNG of every process, epoch, step, partial sums, curves) atomically.
  A re-run whose fingerprint (params, code, input data, processes) matches
  resumes there, and ends with the same bytes as a run never interrupted;
  a state of other params, code or data is discarded with a one-line notice
  (the fingerprint, the RNGs as data and the file: ``pixelcnn.training.state``).
- **Divergence**: a NaN or inf loss or gradient stops with one sentence
  naming the step and the last good state; no weights are written.
- **Logs**: ``fit(on_epoch=...)`` hands the whole history to a logger (the
  DVCLive record of ``pixelcnn.training.live``) once after a resume and
  after every epoch, so a resumed run logs each epoch exactly once.

``pixelcnn.training.api.train`` is the one way in, for the stages and for users; a stage
trains inside the session of ``pixelcnn.training.session``.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from pixelcnn.configs import OptimConfig, RunConfig
from pixelcnn.distributed import Context
from pixelcnn.errors import InvalidValue, TrainingError, require
from pixelcnn.runtime import Precision, autocast, resolve_precision
from pixelcnn.training.loader import EpochBatches, SplitBatches, Splits, holdout
from pixelcnn.training.session import deterministic_algorithms, flush_denormals
from pixelcnn.training.state import TrainingState, read_state, rng_state, save_state, set_rng_state


def _compiled(module: nn.Module) -> Callable:
    """``module`` through ``torch.compile`` for static shapes.

    A training run feeds one batch shape (two with a short last batch), so static shapes
    cost at most a second compilation. The default (a dimension turned symbolic once the
    same code meets a second shape) made inductor fail on the PixelCNN's strides when a
    second model of the same class, at another size, was compiled in the same process.
    """
    return torch.compile(module, dynamic=False)


def learning_rate(optim: OptimConfig, step: int, steps_per_epoch: int) -> float:
    """The learning rate of optimiser step ``step`` (0-based): linear warm-up, then the schedule."""
    if step < optim.warmup_steps:
        return optim.lr * (step + 1) / optim.warmup_steps
    if optim.schedule == "exponential":
        return optim.lr * optim.lr_decay ** (step // steps_per_epoch)
    if optim.schedule == "cosine":
        total = optim.epochs * steps_per_epoch - optim.warmup_steps
        progress = (step - optim.warmup_steps) / max(1, total)
        return optim.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return optim.lr


M = TypeVar("M", bound=nn.Module)


class Objective(nn.Module, Generic[M]):
    """A model and what training it means; see the module docstring.

    Subclasses set ``model`` (the module saved as the checkpoint; ``M`` its
    type), ``name`` (of its saved state and its logged figures), ``files``
    (batch name → file name in the split's directory, ``{split}_<stem>.npy``;
    arrays in memory go by the same stems) and ``loss_name``.
    """

    model: M
    name: str
    files: dict[str, str]
    loss_name: str = "loss"

    def evaluate(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def summarize(self, sums: dict[str, torch.Tensor]) -> dict[str, float]:
        raise NotImplementedError


@dataclass
class FitResult:
    history: list[dict[str, float]]  # one row per epoch: epoch, lr, train_*, val_*, test_*
    metrics: dict[str, float]  # the row of the output weights (the last epoch, or the best one with early stopping)
    stopped_early: bool = False
    resumed_from_step: int | None = None  # the saved step this run started from, if any


# ----------------------------------------------------------------------------- the trainer


class Trainer:
    """Trains one ``Objective`` on ``data``; ``fit()`` leaves the output weights in ``objective.model``.

    ``data`` holds the rows of the training split and, optionally, of the
    test split; ``state_path`` is where the resumable state lives (removed by
    the caller once the outputs are written; None saves none);
    ``fingerprint`` names what the state belongs to; ``progress`` shows a bar
    per epoch and a line after it.
    """

    def __init__(
        self,
        objective: Objective,
        data: Splits,
        optim: OptimConfig,
        run: RunConfig,
        *,
        seed: int,
        device: torch.device,
        ctx: Context,
        state_path: str | Path | None,
        fingerprint: str,
        desc: str,
        keys: Mapping[str, str] | None = None,
        progress: bool = True,
    ) -> None:
        self.optim, self.run, self.seed, self.ctx, self.desc = optim, run, seed, ctx, desc
        self.keys = dict(keys or {})  # what sentences call optim's fields (a stage passes the params keys)
        self.device, self.progress = device, progress
        self.state_path, self.fingerprint = (Path(state_path) if state_path is not None else None), fingerprint
        self.precision: Precision = resolve_precision(optim.precision, device)
        self.objective = objective.to(device)
        if optim.channels_last:
            self.objective.to(memory_format=torch.channels_last)  # pyright: ignore[reportCallIssue]  (Module.to takes memory_format=; torch's stubs omit it)
        self.train_set, self.test_set = data
        self.train_rows, self.val_rows = holdout(len(self.train_set), optim.val_fraction, seed)
        if (self.test_set is not None and len(self.test_set) < ctx.world) or (len(self.val_rows) and len(self.val_rows) < ctx.world):
            raise InvalidValue("processes", f"is {ctx.world}, more than the rows of a validation or test split; use fewer processes")
        self.steps_per_epoch = EpochBatches.steps(len(self.train_rows), optim.batch_size, ctx.world)
        require(self.steps_per_epoch > 0, "batch_size", f"({optim.batch_size}) leaves no training step; lower it")
        self.generator = torch.Generator().manual_seed(seed)  # the objective's own draws (augmentation, restarts)
        self.module: nn.Module = self.objective
        if ctx.active and device.type == "cuda":
            synced = nn.SyncBatchNorm.convert_sync_batchnorm(self.objective)  # CPU batches keep per-process statistics
            assert isinstance(synced, Objective)  # the objective itself, its BatchNorm layers replaced
            self.objective = self.module = synced
        if ctx.active:
            ids = [device.index] if device.type == "cuda" else None
            # static_graph: the set of parameters a step uses never changes (the last gated block's h_out is unused)
            self.module = nn.parallel.DistributedDataParallel(self.objective, device_ids=ids, static_graph=True)
        decay = [p for p in self.objective.parameters() if p.requires_grad and p.dim() >= 2]
        rest = [p for p in self.objective.parameters() if p.requires_grad and p.dim() < 2]
        groups = [{"params": decay, "weight_decay": optim.weight_decay}, {"params": rest, "weight_decay": 0.0}]
        self.opt = torch.optim.AdamW([g for g in groups if g["params"]], lr=optim.lr)
        self.forward: Callable = self.module  # the training step's forward: the module, or its compiled form (fit)
        self.compiled = False
        self.ema = None
        if optim.ema_decay:
            from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

            self.ema = AveragedModel(self.objective, multi_avg_fn=get_ema_multi_avg_fn(optim.ema_decay), use_buffers=True)

    def _key(self, field: str) -> str:
        return self.keys.get(field, field)

    # ------------------------------------------------------------------ data

    def _loader(self, sampler, dataset) -> DataLoader:
        # Its own generator: a DataLoader iterator otherwise draws its workers' base seed from the global RNG,
        # and a resumed run (which starts an epoch's iterator once more) would shift every later global draw.
        return DataLoader(dataset, sampler=sampler, batch_size=None, num_workers=self.run.workers,
                          pin_memory=self.device.type == "cuda", generator=torch.Generator().manual_seed(self.seed))

    def _to_device(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}

    # ------------------------------------------------------------------ state

    def save_state(self, epoch: int, step_in_epoch: int, step: int, sums: dict[str, torch.Tensor],
                   history: list[dict[str, float]], best: dict[str, Any] | None, bad_epochs: int) -> None:
        """Save where the run is and everything it needs to go on from there (every process joins: RNGs gathered)."""
        if self.state_path is None:
            return
        state = TrainingState(
            epoch, step_in_epoch, step, self.objective.state_dict(), self.opt.state_dict(),
            self.ema.state_dict() if self.ema is not None else None, self.generator.get_state(),
            self.ctx.gather_objects(rng_state()), {k: v.detach().cpu() for k, v in sums.items()}, history, best,
            bad_epochs, self.compiled,
        )
        save_state(self.state_path, self.fingerprint, state, self.ctx)
        self.saved_step = step

    def _restore(self) -> TrainingState | None:
        """The saved state of this run, applied to the objective, optimiser, EMA and RNGs; None when there is none."""
        if self.state_path is None:
            return None
        state = read_state(self.state_path, self.fingerprint, self.desc, self.ctx)
        if state is None:
            return None
        self.objective.load_state_dict(state.objective)
        self.opt.load_state_dict(state.optimizer)
        if self.ema is not None:
            if state.ema is None:  # the fingerprint covers ema_decay: a state of this run holds the EMA
                raise ValueError(f"{self.state_path} holds no EMA, though this run (of the same fingerprint) keeps one")
            self.ema.load_state_dict(state.ema)
        self.generator.set_state(state.generator)
        set_rng_state(state.rng[self.ctx.rank])
        return state

    # ------------------------------------------------------------------ compilation

    def _compile(self, saved: bool | None, steps: int) -> None:
        """Use ``torch.compile`` for the training step's forward when ``optim.compile`` says so.

        ``auto`` measures: a few eager steps, then the compilation and a few compiled
        steps, on the first batch, and compiles only if ``compile seconds + steps ×
        compiled step`` beats ``steps × eager step``; one line says what it chose. The
        measurement leaves no trace (weights, gradients, RNGs restored); a resumed run
        keeps the decision its saved state records (``saved``), so it computes what
        the uninterrupted run did.
        """
        choice = self.optim.compile
        if saved is not None:
            choice = saved
        elif choice == "auto":
            choice = self._compile_pays(steps)
        if choice:
            self.forward = _compiled(self.module)
            self.compiled = True

    def _compile_pays(self, steps: int, repeats: int = 3) -> bool:
        batch = self._to_device(next(iter(self._loader(EpochBatches(self.train_rows, self.optim.batch_size, self.seed, 0,
                                                                    0, self.ctx.rank, self.ctx.world), self.train_set))))
        weights = copy.deepcopy(self.objective.state_dict())
        rng, generator = rng_state(), self.generator.get_state()

        def step_seconds(forward: Callable) -> float:
            self.module.train()
            start = time.perf_counter()
            with autocast(self.device, self.precision):
                out = forward(batch, self.generator)
            out[self.objective.loss_name].float().sum().backward()
            self.opt.zero_grad(set_to_none=True)
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            return time.perf_counter() - start

        step_seconds(self.module)  # warm-up
        eager = min(step_seconds(self.module) for _ in range(repeats))
        compiled_forward = _compiled(self.module)
        compile_seconds = step_seconds(compiled_forward)  # the first call compiles
        compiled = min(step_seconds(compiled_forward) for _ in range(repeats))
        self.objective.load_state_dict(weights)
        set_rng_state(rng)
        self.generator.set_state(generator)
        chosen = bool(self.ctx.broadcast_object(compile_seconds + steps * compiled < steps * eager))  # rank 0's timing decides
        if self.ctx.main:
            print(f"{self.desc}: compile auto: a step takes {eager:.3f} s eager, {compiled:.3f} s compiled after "
                  f"{compile_seconds:.0f} s of compiling; for {steps} steps "
                  f"{'compiling' if chosen else 'eager'} is faster, so training runs {'compiled' if chosen else 'eager'}",
                  flush=True)
        return chosen

    # ------------------------------------------------------------------ steps

    def _step(self, batch: dict[str, torch.Tensor], lr: float, step: int, sums: dict[str, torch.Tensor]) -> float:
        for group in self.opt.param_groups:
            group["lr"] = lr
        self.module.train()
        with autocast(self.device, self.precision):
            out = self.forward(batch, self.generator)
        count = out[self.objective.loss_name].shape[0]
        total = float(batch["total"])
        # Each process's share of the global mean; DDP averages gradients over processes, hence the world factor.
        loss = out[self.objective.loss_name].float().sum() * (self.ctx.world / total)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        params = [p for p in self.objective.parameters() if p.grad is not None]
        norm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
        value = float(loss.detach()) * total / (self.ctx.world * count)  # this process's mean loss
        if not (math.isfinite(value) and torch.isfinite(norm)):
            last = (f"the last good state, saved at step {self.saved_step}, is {self.state_path}"
                    if self.saved_step is not None else "no state was saved yet")
            raise TrainingError(
                f"{self.desc}: the {'loss' if not math.isfinite(value) else 'gradient'} became "
                f"{value if not math.isfinite(value) else float(norm)} at step {step + 1}; training stopped and wrote "
                f"no model ({last}); lower {self._key('lr')} or set {self._key('grad_clip')}, then re-run"
            )
        if self.optim.grad_clip:
            torch.nn.utils.clip_grads_with_norm_(params, self.optim.grad_clip, norm)
        self.opt.step()
        if self.ema is not None:
            self.ema.update_parameters(self.objective)
        for name, values in out.items():
            sums[f"train_{name}"] = sums.get(f"train_{name}", 0) + values.detach().double().sum().cpu()
        sums["train_count"] = sums.get("train_count", 0) + torch.tensor(float(count), dtype=torch.float64)
        return value

    @torch.no_grad()
    def evaluate(self, rows: np.ndarray, dataset, objective: Objective | None = None) -> dict[str, float]:
        """The objective's metrics over ``rows`` of ``dataset`` (sharded over processes, sums all-reduced)."""
        objective = objective if objective is not None else self._eval_objective()
        objective.eval()
        sums: dict[str, torch.Tensor] = {}
        sampler = SplitBatches(rows, self.optim.batch_size, self.ctx.rank, self.ctx.world)
        for batch in self._loader(sampler, dataset):
            if next(iter(batch.values())).shape[0] == 0:  # a last batch smaller than the number of processes
                continue
            with autocast(self.device, self.precision):
                out = objective.evaluate(self._to_device(batch))
            for k, v in out.items():
                sums[k] = sums.get(k, 0) + v.detach().double().cpu()
        return objective.summarize(self.ctx.all_sum(sums))

    def _eval_objective(self) -> Objective:
        if self.ema is None:
            return self.objective
        averaged = self.ema.module
        assert isinstance(averaged, Objective)  # AveragedModel keeps a copy of the objective
        return averaged

    # ------------------------------------------------------------------ the loop

    def fit(self, on_epoch: Callable[[list[dict[str, float]]], None] | None = None) -> FitResult:
        """Train to the end (from the saved state, if one matches); ``on_epoch(history)`` runs on rank 0
        once the state is restored and after every epoch (see the module docstring)."""
        with flush_denormals(), deterministic_algorithms(self.run.deterministic, self.device):
            return self._fit(on_epoch if self.ctx.main else None)

    def _fit(self, on_epoch: Callable[[list[dict[str, float]]], None] | None) -> FitResult:
        o = self.optim
        self.saved_step: int | None = None
        state = self._restore()
        epoch, start, step = 0, 0, 0
        sums: dict[str, torch.Tensor] = {}
        history: list[dict[str, float]] = []
        best: dict[str, Any] | None = None
        bad_epochs = 0
        resumed = None
        if state is not None:
            epoch, start, step = state.epoch, state.step_in_epoch, state.step
            sums, history, best, bad_epochs = dict(state.sums), list(state.history), state.best, state.bad_epochs
            resumed = self.saved_step = step
            if self.ctx.main:
                print(f"{self.desc}: resuming from {self.state_path} at step {step} (epoch {epoch + 1}, batch {start})", flush=True)
        if on_epoch is not None:
            on_epoch(history)
        stopped = bad_epochs >= o.patience > 0
        self._compile(state.compiled if state is not None else None, o.epochs * self.steps_per_epoch - step)
        while epoch < o.epochs and not stopped:
            began = time.perf_counter()
            sampler = EpochBatches(self.train_rows, o.batch_size, self.seed, epoch, start, self.ctx.rank, self.ctx.world)
            bar = tqdm(total=self.steps_per_epoch, initial=start, desc=f"{self.desc} epoch {epoch + 1}/{o.epochs}",
                       leave=False, disable=not (self.ctx.main and self.progress))
            for index, batch in enumerate(self._loader(sampler, self.train_set), start=start):
                value = self._step(self._to_device(batch), learning_rate(o, step, self.steps_per_epoch), step, sums)
                step += 1
                bar.update()
                bar.set_postfix({self.objective.loss_name: f"{value:.4f}"})
                if self.run.checkpoint_every and step % self.run.checkpoint_every == 0 and index + 1 < self.steps_per_epoch:
                    self.save_state(epoch=epoch, step_in_epoch=index + 1, step=step, sums=sums, history=history,
                                    best=best, bad_epochs=bad_epochs)
            bar.close()
            row = self._epoch_row(epoch, step, sums)
            sums, start, epoch = {}, 0, epoch + 1
            if o.patience:
                if best is None or row["val_" + self.objective.loss_name] < best["loss"]:
                    weights = {k: v.detach().cpu().clone() for k, v in self._eval_objective().state_dict().items()}
                    best, bad_epochs = {"loss": row["val_" + self.objective.loss_name], "row": row, "weights": weights}, 0
                else:
                    bad_epochs += 1
                stopped = bad_epochs >= o.patience
            history.append(row)
            if self.ctx.main and self.progress:
                shown = " ".join(f"{k} {v:.4g}" for k, v in row.items() if k not in ("epoch", "lr"))
                print(f"{self.desc} epoch {epoch}/{o.epochs}: {shown} ({time.perf_counter() - began:.1f} s)", flush=True)
            self.save_state(epoch=epoch, step_in_epoch=0, step=step, sums=sums, history=history, best=best,
                            bad_epochs=bad_epochs)
            if on_epoch is not None:
                on_epoch(history)
        return self._finish(history, best, stopped and epoch < o.epochs, resumed)

    def _epoch_row(self, epoch: int, step: int, sums: dict[str, torch.Tensor]) -> dict[str, float]:
        totals = self.ctx.all_sum(sums)
        count = float(totals.pop("train_count"))
        row: dict[str, float] = {"epoch": epoch + 1, "lr": learning_rate(self.optim, max(0, step - 1), self.steps_per_epoch)}
        row.update({k: float(v) / count for k, v in totals.items()})
        if len(self.val_rows):
            row.update({f"val_{k}": v for k, v in self.evaluate(self.val_rows, self.train_set).items()})
        if self.test_set is not None:
            row.update({f"test_{k}": v for k, v in self.evaluate(np.arange(len(self.test_set)), self.test_set).items()})
        return row

    def _finish(self, history: list, best: dict | None, stopped: bool, resumed: int | None) -> FitResult:
        output = self._eval_objective()
        if best is not None:
            output.load_state_dict(best["weights"])
            metrics = dict(best["row"])
        else:
            metrics = dict(history[-1])
        if output is not self.objective:
            self.objective.load_state_dict(copy.deepcopy(output.state_dict()))
        self.objective.eval()
        if self.optim.channels_last:
            self.objective.to(memory_format=torch.contiguous_format)  # pyright: ignore[reportCallIssue]  (memory_format=, as above: the stubs omit it)
        return FitResult(history, metrics, stopped, resumed)
