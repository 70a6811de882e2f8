"""A training run's resumable state: what it must match to be resumed, every RNG as data, and its file.

A ``TrainingState`` is everything a resumed run needs: where the run is
(epoch, batch, step), the weights, optimiser and EMA, every process's RNGs,
the partial sums and the curves. It is saved by rank 0 (``save_state``) with
the ``fingerprint`` of the run it belongs to: the configs, the input data and
the code (``run_fingerprint``). ``read_state`` hands it back only to a run of
the same fingerprint and format; a state of other params, code or data is
deleted with a one-line notice, and the run starts from scratch. The RNGs of
Python, NumPy and torch (CPU and CUDA) travel as tensors and plain values
(``rng_state`` / ``set_rng_state``), so a state loads with ``weights_only=True``.
The trainer (``pixelcnn.training.trainer``) takes the state and applies it.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pixelcnn.checkpoints import read_payload, save_payload
from pixelcnn.distributed import Context

STATE_FORMAT = 1


@dataclass
class TrainingState:
    """Everything a resumed run needs, as the trainer took it (the file holds these fields, plus format and fingerprint)."""

    epoch: int  # the epoch in progress, 0-based: the ones before it are done
    step_in_epoch: int  # its batches done
    step: int  # optimiser steps done in all
    objective: dict[str, Any]  # the objective's state_dict (the model's weights among them)
    optimizer: dict[str, Any]  # AdamW's state_dict
    ema: dict[str, Any] | None  # the weights' EMA's state_dict; None without EMA
    generator: torch.Tensor  # the state of the objective's own generator (augmentation, dropped labels)
    rng: list[dict[str, Any]]  # every process's RNG states (``rng_state``), by rank
    sums: dict[str, torch.Tensor]  # the epoch's training sums so far
    history: list[dict[str, float]]  # a row per finished epoch
    best: dict[str, Any] | None  # early stopping: the best epoch's loss, row and weights; None without
    bad_epochs: int  # epochs since the best
    compiled: bool | None = None  # whether the run compiled its training step (None: not recorded)


# ----------------------------------------------------------------------------- fingerprints


def file_digest(paths: Iterable[str | Path]) -> str:
    """sha256 of the names and contents of files (folders: every file under them, sorted)."""
    h = hashlib.sha256()
    for root in paths:
        root = Path(root)
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for path in files:
            h.update(f"{path.relative_to(root) if root.is_dir() else path.name}\0".encode())
            with open(path, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 22), b""):
                    h.update(chunk)
    return h.hexdigest()


def run_fingerprint(configs: dict[str, Any], inputs: Iterable[str | Path], code: Iterable[str | Path]) -> str:
    """What a saved state must match to be resumed: configs (dataclasses or JSON values), input data, code."""
    described = {k: asdict(v) if hasattr(v, "__dataclass_fields__") else v for k, v in configs.items()}
    h = hashlib.sha256(json.dumps(described, sort_keys=True, default=str).encode())
    h.update(file_digest(inputs).encode())
    h.update(file_digest(sorted(str(p) for p in code)).encode())
    return h.hexdigest()[:24]


# ----------------------------------------------------------------------------- RNG states as data


def rng_state() -> dict[str, Any]:
    """This process's Python, NumPy and torch (CPU, CUDA) RNG states, as tensors and plain values."""
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    legacy = np.random.get_state(legacy=True)
    assert isinstance(legacy, tuple)  # legacy=True: (kind, keys, pos, has_gauss, cached), never the dict form
    kind, keys, pos, has_gauss, cached = legacy
    state["numpy"] = (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached)
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what ``rng_state`` took (after a save/load round trip)."""
    torch.set_rng_state(state["torch"])
    random.setstate(_tuples(state["python"]))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _tuples(value: Any) -> Any:
    """``random.setstate`` wants tuples where a save/load round trip may give lists."""
    return tuple(_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


# ----------------------------------------------------------------------------- the file


def save_state(path: Path, fingerprint: str, state: TrainingState, ctx: Context) -> None:
    """Rank 0 writes ``state`` (atomically) under ``fingerprint``; every process waits until it is written."""
    if ctx.main:
        save_payload(path, {"format": STATE_FORMAT, "fingerprint": fingerprint, **{f.name: getattr(state, f.name) for f in fields(state)}})
    ctx.barrier()


def read_state(path: Path, fingerprint: str, desc: str, ctx: Context) -> TrainingState | None:
    """The state saved at ``path`` for a run of ``fingerprint``, in every process; None when there is none.

    Rank 0 reads it; a state of another fingerprint or format is deleted with a
    notice naming ``desc`` (the run), and the run starts from scratch.
    """
    payload = None
    if ctx.main and path.is_file():
        fix = f"delete {path} to start over"
        payload = read_payload(path, "training state", fix)
        required = {f.name for f in fields(TrainingState) if f.name != "compiled"}
        if payload.get("fingerprint") != fingerprint or payload.get("format") != STATE_FORMAT or required - payload.keys():
            print(f"{desc}: discarding the saved state {path}: it belongs to other params, code or "
                  "input data; training from scratch", flush=True)
            path.unlink()
            payload = None
    payload = ctx.broadcast_object(payload)
    return None if payload is None else TrainingState(**{f.name: payload[f.name] for f in fields(TrainingState) if f.name in payload})
