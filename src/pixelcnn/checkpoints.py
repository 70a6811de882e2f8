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

Memory is bounded before it is spent. Before ``torch.load`` unpacks a file,
its zip directory says how much it holds: compressed entries (which
``torch.save`` never writes: a small file that would unpack to gigabytes) are
refused, and so is more than the cap. A model is built from its config with
every allocation counted before it happens and every parameter matched, as it
is created, against a weight the file holds, so a tiny file whose config asks
for a huge model stops at its first parameter the file lacks; then the
model's size (weights and buffers, plus the activations of one image at the
largest grid its config names) is held against the cap before the weights are
loaded. The cap is 16 GiB; the environment variable ``PIXELCNN_MAX_MODEL_GIB``
raises it for a real model that large (``PIXELCNN_MAX_MODEL_GIB=48 pixelcnn sample ...``).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import hashlib
import io
import math
import os
import pickle
import threading
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from pixelcnn.atomic import atomic_path
from pixelcnn.errors import CheckpointError, InputError

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
    check_archive(path, what, fix)
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
        with build_limits(path, kind, payload["state_dict"]):
            model = cls.from_config(payload["config"])
        check_model_size(path, kind, model, payload["config"])
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


# ----------------------------------------------------------------------------- memory bounds

CAP_VARIABLE = "PIXELCNN_MAX_MODEL_GIB"
DEFAULT_CAP_GIB = 16
GIB = 2**30
FP32 = 4  # bytes of an activation


def size_cap() -> int:
    """The most memory a checkpoint may unpack to, or a model built from one take, in bytes.

    ``PIXELCNN_MAX_MODEL_GIB`` (a number of GiB) when set, else 16 GiB.
    """
    raw = os.environ.get(CAP_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_CAP_GIB * GIB
    try:
        gib = float(raw)
    except ValueError:
        gib = math.nan
    if not (math.isfinite(gib) and gib > 0):
        raise InputError(f"{CAP_VARIABLE} must be a positive number of GiB, got {raw!r}; unset it for the default "
                         f"{DEFAULT_CAP_GIB}")
    return int(gib * GIB)


def _size(n: int) -> str:
    """Bytes as people read them: ``1.3 GiB``, ``48 MiB``."""
    return f"{n / GIB:.1f} GiB" if n >= GIB / 10 else f"{n / 2**20:.0f} MiB"


def _over_cap(path: Path | str, what: str, size: int, detail: str) -> CheckpointError:
    """The sentence for a ``size``-byte ``what`` over the cap: the size, the cap, and how to raise it."""
    cap = size_cap()
    need = max(1, math.ceil(size / GIB))
    return CheckpointError(
        f"{path}: {what} would take {_size(size)} ({detail}), over the cap of {cap / GIB:g} GiB; "
        f"if it really is that large, set {CAP_VARIABLE}={need} (or more, in GiB) and load it again"
    )


def check_archive(path: Path, what: str, fix: str) -> None:
    """Refuse, before ``torch.load`` unpacks anything, a zip whose entries are compressed or hold more than the cap.

    ``torch.save`` stores its entries uncompressed, so a checkpoint unpacks to its
    own size; a compressed one (a few kilobytes that unpack to gigabytes) was
    not written by it. A file that is not a zip (torch's legacy format, or
    garbage) is left to ``torch.load``, which checks sizes against the file.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return
    unpacked = sum(entry.file_size for entry in entries)
    if any(entry.compress_type != zipfile.ZIP_STORED for entry in entries):
        raise CheckpointError(
            f"{path}: refused: its entries are compressed ({_size(unpacked)} once unpacked from "
            f"{_size(path.stat().st_size)} on disk), which torch.save never writes, so it is not a {what} "
            f"written by this project; {fix}"
        )
    if unpacked > size_cap():
        raise _over_cap(path, f"its {what}", unpacked, "the weights it holds")


# Factory functions whose arguments say how much they allocate: the size is counted before the call.
_SIZED = {torch.empty, torch.zeros, torch.ones, torch.rand, torch.randn, torch.full, torch.empty_strided}
_SIZED_METHODS = {torch.Tensor.new_empty, torch.Tensor.new_zeros, torch.Tensor.new_ones, torch.Tensor.new_full}


def _shape_elements(size: Any) -> int:
    """Elements of a shape given as ints, a sequence of ints, or a torch.Size."""
    if len(size) == 1 and isinstance(size[0], (tuple, list, torch.Size)):
        size = size[0]
    return math.prod(int(d) for d in size)


def _requested_bytes(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    """Bytes that a call of a factory function will allocate; 0 for any other function."""
    if func in _SIZED:
        size = kwargs.get("size", args[:1] if func in (torch.full, torch.empty_strided) else args)
    elif func in _SIZED_METHODS:
        size = kwargs.get("size", args[1:2] if func is torch.Tensor.new_full else args[1:])
    elif func is torch.randint:
        size = kwargs.get("size", args[-1:])
    elif func is torch.arange and args and all(isinstance(a, (int, float)) for a in args[:3]):
        start, end, step = (0, args[0], 1) if len(args) == 1 else (args[0], args[1], args[2] if len(args) > 2 else 1)
        size = (max(0, math.ceil((end - start) / step)),) if step else (0,)
    elif func is torch.eye:
        rows = args[0]
        size = (rows, args[1] if len(args) > 1 and isinstance(args[1], int) else rows)
    else:
        return 0
    dtype = kwargs.get("dtype") or torch.get_default_dtype()
    return _shape_elements(tuple(size)) * dtype.itemsize


class _AllocationBudget(TorchFunctionMode):
    """Counts what factory functions will allocate (on this thread) and stops one that would pass ``limit`` bytes."""

    def __init__(self, limit: int, over: Any) -> None:
        super().__init__()
        self.limit, self.over, self.spent = limit, over, 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        self.spent += _requested_bytes(func, args, kwargs)
        if self.spent > self.limit:
            raise self.over(self.spent)
        return func(*args, **kwargs)


@contextlib.contextmanager
def build_limits(path: Path | str, kind: str, state_dict: Mapping[str, Any]) -> Iterator[None]:
    """Inside, building a ``kind`` model from the checkpoint at ``path`` stops as soon as it goes where the file cannot.

    Every parameter must match, as it is created, a weight of ``state_dict`` of
    the same shape (each weight used once): the first that does not stops the
    build (a config that does not fit its weights), so a tiny file whose config
    asks for many or large layers costs at most one layer. Every allocation is
    counted before it happens and stopped past the cap (``size_cap``), so no
    single buffer the config asks for is ever allocated beyond it.
    """
    available = collections.Counter(tuple(t.shape) for t in state_dict.values() if torch.is_tensor(t))
    thread = threading.get_ident()

    def on_parameter(module: nn.Module, name: str, param: Any) -> None:
        if param is None or threading.get_ident() != thread:  # another thread (the demo serves several) builds its own
            return
        shape = tuple(param.shape)
        if available[shape] <= 0:
            raise CheckpointError(
                f"{path}: its config or weights do not fit this version of the {kind} model (the config asks for a "
                f"{type(module).__name__} weight of shape {shape} that the file does not hold); re-run {STAGES[kind]}"
            )
        available[shape] -= 1

    def over(spent: int) -> CheckpointError:
        return _over_cap(path, f"the {kind} model its config describes", spent, "at least, counted while building it")

    handle = nn.modules.module.register_module_parameter_registration_hook(on_parameter)
    try:
        with _AllocationBudget(size_cap(), over):
            yield
    finally:
        handle.remove()


def grid_area(config: Any) -> int:
    """The largest H × W a model config names anywhere (``height`` and ``width``, or ``image_size``); 0 if none."""
    if isinstance(config, Mapping):
        own = 0
        if isinstance(config.get("height"), int) and isinstance(config.get("width"), int):
            own = config["height"] * config["width"]
        if isinstance(config.get("image_size"), int):
            own = max(own, config["image_size"] ** 2)
        return max([own, *(grid_area(v) for v in config.values())])
    if isinstance(config, (list, tuple)):
        return max((grid_area(v) for v in config), default=0)
    return 0


def activation_bytes(model: nn.Module, area: int) -> int:
    """fp32 bytes of every layer's output for one image of ``area`` pixels, as if every layer ran at that grid.

    An upper bound of what one image's forward pass keeps (layers at coarser
    resolutions count at the full one); 0 for a model whose config names no
    grid (the classifier: its activations follow the images it is given).
    """
    width = 0
    for module in model.modules():
        if isinstance(module, nn.modules.conv._ConvNd):
            width += module.out_channels
        elif isinstance(module, nn.Linear):
            width += module.out_features
        elif isinstance(module, nn.Embedding):
            width += module.embedding_dim
    return width * area * FP32


def check_model_size(path: Path | str, kind: str, model: nn.Module, config: Any) -> None:
    """Refuse a model (built, its weights not yet loaded) whose weights, buffers and one image's activations pass the cap."""
    stored = sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])
    area = grid_area(config)
    active = activation_bytes(model, area)
    if stored + active > size_cap():
        side = math.isqrt(area)
        grid = f"{side}×{side}" if side * side == area else f"{area} positions"
        raise _over_cap(path, f"the {kind} model its config describes", stored + active,
                        f"{_size(stored)} of weights and buffers, {_size(active)} of activations for one image at "
                        f"its {grid} grid")
