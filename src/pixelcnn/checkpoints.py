"""Self-describing checkpoints: one format, one loader, for every model of the project.

A checkpoint is a ``torch.save``d dict: ``format``, ``kind`` (``pixelcnn``,
``prior``, ``vqvae``, ``classifier``), ``config`` (the model's frozen config
dataclass as a dict: it rebuilds the model, never params.yaml), the CPU
``state_dict`` and ``extra`` facts (the data it was trained on, the
autoencoder fingerprint, ...). Files are data, never code: every load uses
``torch.load(..., weights_only=True)``, so a tampered file that carries a
pickled callable is refused with one sentence and never executed.

``save(path, model)`` and ``load_model(path, ModelClass)`` are the one way
in and out (a model class names its ``CHECKPOINT_KIND`` and rebuilds itself
``from_config``, with ``configs.config_from_dict``). ``load_model`` checks the kind, that
the config still fits this version of the code, that every weight is finite
(a model trained into NaN is refused by name), and returns the model in eval
mode on the requested device. A caller that must see the kind first (the
public API's ``load``) reads the file once with ``read_checkpoint`` and
rebuilds the model from that payload with ``model_from_payload``, which runs
the same checks. The same atomic, byte-reproducible writer
saves the trainer's resumable states (``save_payload`` / ``read_payload``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar

import torch
from torch import nn

from pixelcnn.atomic import atomic_path
from pixelcnn.errors import CheckpointError

FORMAT = 2
M = TypeVar("M", bound=nn.Module)
M_co = TypeVar("M_co", bound=nn.Module, covariant=True)


class ModelClass(Protocol[M_co]):
    """A model class a checkpoint rebuilds (``PixelCNN``, ``VQVAE``, ``CodePrior``, ``Classifier``): its kind and its
    ``from_config``."""

    @property
    def CHECKPOINT_KIND(self) -> str: ...  # the class attribute each model class sets

    def from_config(self, config: Mapping[str, Any]) -> M_co: ...

# kind (a model class's ``CHECKPOINT_KIND``) → the stage that writes it
STAGES: dict[str, str] = {
    "pixelcnn": "train_pixelcnn",
    "prior": "train_prior",
    "vqvae": "train_vqvae",
    "classifier": "train_classifier",
}


# ----------------------------------------------------------------------------- configs as data


def config_to_dict(config: Any) -> dict:
    """A config dataclass as plain values; ``configs.config_from_dict`` rebuilds it."""
    return dataclasses.asdict(config)


# ----------------------------------------------------------------------------- files


def save_payload(path: str | Path, payload: dict) -> None:
    """``torch.save`` ``payload`` to ``path`` atomically, with bytes that depend only on its contents."""
    # Through a buffer: torch.save to a path names the zip's inner folder after the (random)
    # temporary file, so the same weights would get a different md5 at every save.
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    with atomic_path(path, ".pt") as tmp:
        tmp.write_bytes(buffer.getvalue())


def read_payload(path: str | Path, what: str, fix: str, map_location: str | torch.device = "cpu") -> dict:
    """A dict saved by ``save_payload``, loaded as data only; ``what``/``fix`` word the errors."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: {what} not found; {fix}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        if "GLOBAL" not in str(exc) and "global" not in str(exc):  # no callable named: garbage or a truncated file
            raise CheckpointError(f"{path}: not a readable {what} (UnpicklingError); {fix}") from None
        raise CheckpointError(
            f"{path}: refused: the file holds objects other than tensors and plain values (a pickled callable "
            f"can run code), so it is not a {what} written by this project; {fix}"
        ) from None
    except Exception as exc:  # torch raises many types for a truncated or corrupt file
        raise CheckpointError(f"{path}: not a readable {what} ({exc.__class__.__name__}); {fix}") from None
    if not isinstance(payload, dict):
        raise CheckpointError(f"{path}: not a {what} of this project; {fix}")
    return payload


def save(path: str | Path, model: nn.Module, **extra: Any) -> None:
    """Save ``model``'s CPU weights with its ``config`` (a dataclass) and kind; ``extra``: facts to keep beside them."""
    save_payload(path, {
        "format": FORMAT,
        "kind": model.CHECKPOINT_KIND,
        "config": config_to_dict(model.config),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "extra": extra,
    })


def save_unused(path: str | Path, kind: str, reason: str) -> None:
    """Record at ``path`` that no ``kind`` model was trained, and why (a stage whose model is not needed)."""
    save_payload(path, {"format": FORMAT, "kind": kind, "unused": reason, "state_dict": {}})


def read_checkpoint(path: str | Path, fix: str) -> dict:
    """A checkpoint's payload, read from disk once, of whatever kind; ``model_from_payload`` rebuilds its model."""
    payload = read_payload(path, "checkpoint", fix)
    if not isinstance(payload.get("kind"), str):
        raise CheckpointError(f"{path}: not a checkpoint of this project; {fix}")
    return payload


def kind_of(path: str | Path, fix: str) -> str:
    """The kind of model a checkpoint holds ("pixelcnn", "prior", "vqvae", "classifier")."""
    return read_checkpoint(path, fix)["kind"]


def load(path: str | Path, kind: str, map_location: str | torch.device = "cpu") -> dict:
    """The checked payload of a ``kind`` checkpoint (``format``, ``kind``, ``config``, ``state_dict``, ``extra``)."""
    return check_payload(path, read_payload(path, f"{kind} checkpoint", _fix(kind), map_location), kind)


def _fix(kind: str) -> str:
    return f"pass the output of {STAGES[kind]}, or re-run it"


def check_payload(path: str | Path, payload: dict, kind: str) -> dict:
    """``payload`` (read from ``path``) if it is a usable ``kind`` checkpoint; else one sentence why not."""
    stage, fix = STAGES[kind], _fix(kind)
    if "kind" not in payload or "state_dict" not in payload:
        raise CheckpointError(f"{path}: not a checkpoint of this project; {fix}")
    if payload["kind"] != kind:
        raise CheckpointError(f"{path}: is a {payload['kind']!r} checkpoint, expected a {kind!r} checkpoint; pass the right file")
    if "unused" in payload:
        raise CheckpointError(f"{path}: no {kind} was trained ({payload['unused']}); change that setting and re-run {stage}")
    if payload.get("format") != FORMAT:
        raise CheckpointError(
            f"{path}: written by another version of this project (format {payload.get('format')}, this one reads "
            f"{FORMAT}); re-run {stage}"
        )
    stored = (payload.get("extra") or {}).get("fingerprint")
    if stored is not None and stored != fingerprint(payload["state_dict"]):
        raise CheckpointError(f"{path}: its weights do not match the fingerprint stored with them; re-run {stage}")
    bad = next((name for name, t in payload["state_dict"].items()
                if torch.is_tensor(t) and t.is_floating_point() and not torch.isfinite(t).all()), None)
    if bad is not None:
        raise CheckpointError(
            f"{path}: weight {bad} holds NaN or inf values, so the model would give meaningless results; "
            f"re-run {stage} (lower its learning rate if training diverged)"
        )
    return payload


def load_model(path: str | Path, cls: ModelClass[M], device: str | torch.device = "cpu") -> M:
    """Rebuild the ``cls`` model saved at ``path`` (eval mode, on ``device``); ``model.extra`` holds its facts.

    ``cls`` is a model class with ``CHECKPOINT_KIND``, ``config`` and ``from_config``.
    """
    kind = cls.CHECKPOINT_KIND
    return model_from_payload(path, read_payload(path, f"{kind} checkpoint", _fix(kind)), cls, device)


def model_from_payload(path: str | Path, payload: dict, cls: ModelClass[M], device: str | torch.device = "cpu") -> M:
    """``load_model`` of a payload already read from ``path`` (``read_checkpoint``): checked, then rebuilt."""
    kind = cls.CHECKPOINT_KIND
    payload = check_payload(path, payload, kind)
    try:
        model = cls.from_config(payload["config"])
        model.load_state_dict(payload["state_dict"])
    except (TypeError, ValueError, KeyError, RuntimeError) as exc:
        raise CheckpointError(
            f"{path}: its config or weights do not fit this version of the {kind} model "
            f"({exc.__class__.__name__}); re-run {STAGES[kind]}"
        ) from None
    model.extra = dict(payload.get("extra") or {})  # pyright: ignore[reportArgumentType]  (nn.Module types __setattr__ for tensors and modules; a plain value is stored as on any object)
    return model.to(device).eval()


def fingerprint(state_dict: Mapping[str, torch.Tensor]) -> str:
    """First 16 hex digits of sha256 over (name, dtype, shape, bytes) of each tensor, in sorted name order."""
    h = hashlib.sha256()
    for name in sorted(state_dict):
        t = state_dict[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]
