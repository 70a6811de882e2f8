"""The prepared data on disk: what ``prepare`` writes and every training stage reads.

Shape legend: N images, C channels, H W pixels (H = W), K classes.

A prepared dir holds, per split (``train``, ``test``), ``{split}_images.npy``
uint8 (N, C, H, W) in [0, 255] and ``{split}_labels.npy`` int64 (N,) in [0, K)
(-1 everywhere when unlabelled, K = 0), plus ``meta.json``: the
``PreparedMeta`` (dataset name, C, H, K, class names, split sizes, images per
class). ``save_prepared`` writes a ``PreparedData`` all at once;
``load_split`` reads one split back as a ``Split`` (images memory-mapped,
labels, meta), checking every file against the meta.

Where a dataset has no official test split, ``split_indices`` carves a
seeded stratified one; ``subset`` keeps a seeded subset of a split
(``data.max_train`` / ``data.max_test``). The dataset adapters that produce
the arrays live in ``pixelcnn.data.datasets``.

``meta.json`` files (this one and the codes' ``CodesMeta``) are read by
``read_json`` and ``meta_from_json``: one sentence for a missing file, invalid
JSON, a missing key or a key of the wrong type, naming the file and the fix.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import numpy as np

from pixelcnn.atomic import atomic_dir, write_json
from pixelcnn.data.npy import load_npy
from pixelcnn.errors import DataError

SPLITS = ("train", "test")
REPRO_HINT = "run `uv run dvc repro prepare`"
if TYPE_CHECKING:
    from _typeshed import DataclassInstance

M = TypeVar("M", bound="DataclassInstance")  # a meta type: a frozen dataclass


# --------------------------------------------------------------------------- meta.json


def read_json(path: Path, fix: str) -> dict[str, Any]:
    """The JSON object in ``path``; a missing file, invalid JSON or another JSON value raises ``DataError`` ending in ``fix``."""
    if not path.is_file():
        raise DataError(f"{path}: not found; {fix}")
    try:
        value = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError):
        raise DataError(f"{path}: not valid JSON; {fix}") from None
    if not isinstance(value, dict):
        raise DataError(f"{path}: holds {type(value).__name__}, not a JSON object; {fix}")
    return value


def _fits(value: Any, annotation: Any) -> bool:
    """Whether a JSON value can fill a field of type ``annotation`` (str, int, tuple[X, ...], dict[str, X], X | None)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, a) for a in args)
    if annotation is type(None):
        return value is None
    if origin is tuple:
        return isinstance(value, list) and all(_fits(v, args[0]) for v in value)
    if origin in (dict, Mapping):
        return isinstance(value, dict) and all(isinstance(k, str) and _fits(v, args[1]) for k, v in value.items())
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, annotation)


def _tupled(value: Any) -> Any:
    """JSON lists → tuples, also inside objects, as the frozen fields hold them."""
    if isinstance(value, list):
        return tuple(_tupled(v) for v in value)
    if isinstance(value, dict):
        return {k: _tupled(v) for k, v in value.items()}
    return value


def meta_from_json(cls: type[M], obj: Mapping[str, Any], where: str | Path, fix: str) -> M:
    """The frozen dataclass ``cls`` from a ``meta.json`` object; unknown keys are ignored.

    A missing key (of a field without a default) or a value of the wrong type
    raises one ``DataError`` naming ``where``, the key(s) and ``fix``.
    """
    hints = typing.get_type_hints(cls)
    fields = dataclasses.fields(cls)
    required = [f.name for f in fields if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    missing = [name for name in required if name not in obj]
    if missing:
        raise DataError(f"{where}: lacks {', '.join(missing)}; {fix}")
    kwargs = {}
    for f in fields:
        if f.name not in obj:
            continue
        if not _fits(obj[f.name], hints[f.name]):
            raise DataError(f"{where}: {f.name} is {obj[f.name]!r}, not {_described(hints[f.name])}; {fix}")
        kwargs[f.name] = _tupled(obj[f.name])
    return cls(**kwargs)


def _described(annotation: Any, plural: bool = False) -> str:
    """A field type in words: "an integer", "a list of strings", "an object of lists of integers"."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_described(a, plural) for a in args)
    if origin is tuple:
        return ("lists" if plural else "a list") + f" of {_described(args[0], True)}"
    if origin in (dict, Mapping):
        return ("objects" if plural else "an object") + f" of {_described(args[1], True)}"
    singular, several = {int: ("an integer", "integers"), str: ("a string", "strings"), type(None): ("null", "nulls")}[annotation]
    return several if plural else singular


def meta_to_json(meta: Any) -> dict[str, Any]:
    """A frozen meta dataclass as its ``meta.json`` object: tuples as lists, ``None`` fields left out."""

    def plain(value: Any) -> Any:
        if isinstance(value, (tuple, list)):
            return [plain(v) for v in value]
        if isinstance(value, Mapping):
            return {k: plain(v) for k, v in value.items()}
        return value

    return {f.name: plain(getattr(meta, f.name)) for f in dataclasses.fields(meta) if getattr(meta, f.name) is not None}


@dataclass(frozen=True)
class PreparedMeta:
    """What a prepared dir's ``meta.json`` says about its data."""

    name: str  # the dataset it came from (data.name)
    channels: int  # C
    image_size: int  # H = W
    num_classes: int  # K; 0 when unlabelled
    class_names: tuple[str, ...]  # K names; empty when unlabelled
    n_train: int  # images in the train split
    n_test: int  # images in the test split
    train_class_counts: tuple[int, ...] = ()  # train images per class (K entries; empty when unlabelled)
    test_class_counts: tuple[int, ...] = ()  # test images per class

    def size(self, split: str) -> int:
        """Images in ``split`` ("train" or "test")."""
        return {"train": self.n_train, "test": self.n_test}[split]

    def to_json(self) -> dict[str, Any]:
        """The ``meta.json`` object."""
        return meta_to_json(self)

    @classmethod
    def from_json(cls, obj: Mapping[str, Any], where: str | Path = "meta.json", fix: str = REPRO_HINT) -> PreparedMeta:
        """From a ``meta.json`` object; a missing key or a value of the wrong type raises ``DataError``."""
        return meta_from_json(cls, obj, where, fix)

    @classmethod
    def read(cls, data_dir: str | Path) -> PreparedMeta:
        """The ``meta.json`` of a prepared dir."""
        path = Path(data_dir) / "meta.json"
        return cls.from_json(read_json(path, REPRO_HINT), path)


class Split(NamedTuple):
    """One split of a prepared dir, as ``load_split`` reads it."""

    images: np.ndarray  # uint8 (N, C, H, W), memory-mapped read-only
    labels: np.ndarray  # int64 (N,) in [0, K), or -1 when K = 0
    meta: PreparedMeta  # the whole dir's meta (both splits)


# --------------------------------------------------------------------------- arrays to write


@dataclass(frozen=True)
class PreparedData:
    """A dataset ready to write: both splits as arrays, plus class names."""

    name: str
    class_names: list[str]  # K names; empty when unlabelled
    train_images: np.ndarray  # uint8 (N, C, H, W)
    train_labels: np.ndarray  # int64 (N,) in [0, K), or -1 when K = 0
    test_images: np.ndarray  # uint8 (N, C, H, W)
    test_labels: np.ndarray  # int64 (N,)

    @property
    def channels(self) -> int:
        return int(self.train_images.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.train_images.shape[2])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def meta(self) -> PreparedMeta:
        """What ``meta.json`` will say."""
        k = self.num_classes
        return PreparedMeta(
            name=self.name,
            channels=self.channels,
            image_size=self.image_size,
            num_classes=k,
            class_names=tuple(self.class_names),
            n_train=len(self.train_labels),
            n_test=len(self.test_labels),
            train_class_counts=tuple(np.bincount(self.train_labels, minlength=k).tolist()) if k else (),
            test_class_counts=tuple(np.bincount(self.test_labels, minlength=k).tolist()) if k else (),
        )


# --------------------------------------------------------------------------- split and subset


def split_indices(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded stratified split of ``labels: (N,)`` → sorted disjoint (train, test) indices covering 0..N-1.

    Each label value (-1 included) sends round(n * test_fraction) of its n items to
    test, at least 1 and at most n - 1 when n >= 2; a singleton stays in train.
    """
    rng = np.random.default_rng(seed)
    train, test = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for value in np.unique(labels):
        idx = np.flatnonzero(labels == value)
        idx = idx[rng.permutation(len(idx))]
        n_test = min(max(int(len(idx) * test_fraction + 0.5), 1), len(idx) - 1)
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def subset(n: int, limit: int, seed: int, stream: int) -> np.ndarray:
    """Sorted indices of a seeded subset of ``limit`` of ``n`` items (all when ``limit`` is 0 or >= n).

    ``limit`` 0 keeps all. A larger ``limit`` with the same seed gives a superset.
    """
    if not limit or limit >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng([seed, stream]).permutation(n)[:limit])


# --------------------------------------------------------------------------- disk


def save_prepared(data: PreparedData, out_dir: str | Path) -> None:
    """Write ``data`` into ``out_dir`` all at once (``atomic.atomic_dir``).

    A failure leaves ``out_dir`` as it was (absent or the previous complete output).
    """
    with atomic_dir(out_dir) as tmp:
        for split in SPLITS:
            np.save(tmp / f"{split}_images.npy", getattr(data, f"{split}_images"))
            np.save(tmp / f"{split}_labels.npy", getattr(data, f"{split}_labels").astype(np.int64))
        write_json(tmp / "meta.json", data.meta().to_json())


def load_split(data_dir: str | Path, split: str) -> Split:
    """Read one split of a prepared data dir: images memory-mapped read-only, labels, meta.

    A missing or malformed file raises ``DataError`` naming it.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    d = Path(data_dir)
    images_path, labels_path, meta_path = d / f"{split}_images.npy", d / f"{split}_labels.npy", d / "meta.json"
    for path in (images_path, labels_path, meta_path):
        if not path.is_file():
            raise DataError(f"{path} not found; {REPRO_HINT}")
    meta = PreparedMeta.read(d)
    images, labels = load_npy(images_path, True, REPRO_HINT), load_npy(labels_path, False, REPRO_HINT)
    if images.dtype != np.uint8 or images.ndim != 4:
        raise DataError(f"{images_path}: expected uint8 (N, C, H, W), got {images.dtype} {images.shape}; {REPRO_HINT}")
    if labels.dtype != np.int64 or labels.ndim != 1:
        raise DataError(f"{labels_path}: expected int64 (N,), got {labels.dtype} {labels.shape}; {REPRO_HINT}")
    if len(labels) != len(images):
        raise DataError(f"{labels_path}: has {len(labels)} labels for {len(images)} images; {REPRO_HINT}")
    expected = (meta.size(split), meta.channels, meta.image_size, meta.image_size)
    if tuple(images.shape) != expected:
        raise DataError(f"{images_path}: shape {images.shape} disagrees with meta.json {expected}; {REPRO_HINT}")
    return Split(images, labels, meta)
