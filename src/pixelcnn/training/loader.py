"""Training data read per batch: rows of ``.npy`` files, of arrays in memory, or of a torch ``Dataset``.

Legend: N rows of a file (images or code grids), B batch, R processes (ranks), C channels, H W pixels.

A rows source is a map-style ``torch.utils.data.Dataset`` whose item is a
whole batch: the key is a ``BatchKey`` (the rows to read) and the value a
dict of tensors in each source's own dtype (uint8 images, int64 labels, int16
codes), converted to the model's input by the training objective. Three
sources give the same batches for the same rows (the first two are ``NamedRows``:
named columns of N rows, each read its own way):

- ``NpyRows``: named ``.npy`` files of N rows each (``prepare``'s images and
  labels, ``extract_codes``' code grids), what the stages train on. Rows are
  read with ``os.pread`` at their offset in the file
  (``pixelcnn.data.npy.NpyFile``): nothing stays mapped, so resident memory
  does not grow with the dataset (a memory map would count every page it
  touched as resident), and DataLoader workers can read in parallel.
  ``benchmarks/train_memory.py`` measures it.
- ``ArrayRows``: named arrays already in memory (``pixelcnn.train`` on a
  user's array or tensor).
- ``DatasetRows``: a user's ``torch.utils.data.Dataset`` of images or
  (image, label) pairs, read item by item.

``Splits`` pairs a training source with an optional test source;
``dir_splits`` opens both splits of a prepared or codes folder.

``EpochBatches`` is the order: epoch e's permutation of the training rows is
``numpy.random.default_rng([seed, e]).permutation``, so the order of any
epoch is known without replaying the earlier ones (a resumed run starts at
any step of any epoch), and each global batch of B rows is cut into R
contiguous shards, one per process, so that R processes see exactly the rows
one process would.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sized
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from pixelcnn.data.npy import NpyFile
from pixelcnn.errors import DataError, InputError


@dataclass(frozen=True)
class BatchKey:
    """Which rows one process reads for one step, and where they sit in the global batch."""

    rows: tuple[int, ...]  # row indices into the files, in batch order
    offset: int  # position of rows[0] in the global batch
    total: int  # rows in the global batch (all processes)


class Rows(Dataset):
    """The rows a trainer reads: ``len(rows)`` of them; ``rows[BatchKey]`` → {name: tensor (B, ...)}."""

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, key: BatchKey) -> dict[str, torch.Tensor]:
        raise NotImplementedError


class NamedRows(Rows):
    """Named columns of N rows each; ``rows[BatchKey]`` → {name: tensor (B, ...)} in each column's dtype.

    A subclass says how a column's rows are read (``read``), and the sentence
    (``mismatch``, with ``{listed}``) for columns of different lengths.
    """

    mismatch: str

    def __init__(self, columns: Mapping[str, Any]) -> None:
        self.columns = dict(columns)
        sizes = {name: len(column) for name, column in self.columns.items()}
        if len(set(sizes.values())) != 1:
            raise DataError(self.mismatch.format(listed=", ".join(f"{self.describe(n)} has {size}" for n, size in sizes.items())))
        self.n = next(iter(sizes.values()))

    def read(self, column: Any, rows: np.ndarray) -> np.ndarray:
        """Rows ``rows`` int64 (B,) of ``column``, contiguous: (B, ...)."""
        raise NotImplementedError

    def describe(self, name: str) -> str:
        """How the mismatch sentence names column ``name``."""
        return name

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, key: BatchKey) -> dict[str, torch.Tensor]:
        rows = np.asarray(key.rows, dtype=np.int64)
        batch = {name: torch.from_numpy(self.read(column, rows)) for name, column in self.columns.items()}
        batch["offset"], batch["total"] = torch.tensor(key.offset), torch.tensor(key.total)
        return batch


class NpyRows(NamedRows):
    """Named ``.npy`` files of N rows each, read at their offsets (``NpyFile``): nothing stays mapped."""

    mismatch = "files of one split disagree on their number of rows ({listed}); re-run the stage that writes them"

    def __init__(self, files: Mapping[str, str | Path]) -> None:
        super().__init__({name: NpyFile(path) for name, path in files.items()})

    def read(self, column: NpyFile, rows: np.ndarray) -> np.ndarray:
        return column.read(rows)

    def describe(self, name: str) -> str:
        return str(self.columns[name].path)


class ArrayRows(NamedRows):
    """Named in-memory arrays of N rows each: the batches ``NpyRows`` would read from them saved as ``.npy`` files."""

    mismatch = "the arrays of one split disagree on their number of rows ({listed}); pass one row per image"

    def __init__(self, arrays: Mapping[str, np.ndarray]) -> None:
        super().__init__({name: np.asarray(a) for name, a in arrays.items()})

    def read(self, column: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(column[rows])


class DatasetRows(Rows):
    """A torch ``Dataset`` of images or (image, label) items as batches: images uint8 (B, C, H, W), labels int64 (B,).

    An image is a uint8 tensor or array (C, H, W) or (H, W), or a PIL image
    (what torchvision datasets give without a transform); a label an
    integer. ``shape`` (C, H, W) is what every image must be, and with
    ``num_classes`` > 0 every label must be in [0, num_classes); 0 reads the
    labels as -1 (unused). A bad item stops with a sentence naming it.
    """

    def __init__(self, dataset: Dataset, shape: tuple[int, int, int], num_classes: int = 0) -> None:
        self.dataset, self.shape, self.num_classes = dataset, tuple(shape), num_classes
        if not isinstance(dataset, Sized):
            raise InputError(f"the {type(dataset).__name__} has no length (__len__): training reads a Dataset of known size")
        self.n = len(dataset)

    def __len__(self) -> int:
        return self.n

    def item(self, index: int) -> tuple[np.ndarray, int]:
        """Item ``index`` as uint8 (C, H, W) and its label (-1 when the model takes none)."""
        item = self.dataset[index]
        image, label = (item[0], item[1]) if isinstance(item, (tuple, list)) else (item, None)
        image = dataset_image(image, index)
        if image.shape != self.shape:
            raise DataError(f"dataset item {index}: the image has shape {image.shape}, but the model takes {self.shape} (C, H, W)")
        if not self.num_classes:
            return image, -1
        if label is None or not 0 <= int(label) < self.num_classes:
            raise DataError(f"dataset item {index}: the label is {label!r}, but the model is conditioned on "
                            f"{self.num_classes} classes: every item must be (image, label in [0, {self.num_classes}))")
        return image, int(label)

    def __getitem__(self, key: BatchKey) -> dict[str, torch.Tensor]:
        items = [self.item(int(i)) for i in key.rows]
        images = np.stack([image for image, _ in items]) if items else np.zeros((0, *self.shape), dtype=np.uint8)
        return {"images": torch.from_numpy(images), "labels": torch.tensor([label for _, label in items], dtype=torch.int64),
                "offset": torch.tensor(key.offset), "total": torch.tensor(key.total)}


def dataset_image(image: Any, index: int) -> np.ndarray:
    """One dataset item's image as uint8 (C, H, W), or one sentence naming the item and the fix."""
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().numpy()
    elif not isinstance(image, np.ndarray) and hasattr(image, "getbands"):  # a PIL image: (H, W) or (H, W, C)
        image = np.asarray(image)
        image = image.transpose(2, 0, 1) if image.ndim == 3 else image  # (C, H, W)
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise DataError(
            f"dataset item {index}: the image is {image.dtype}, not uint8 in [0, 255]; give the dataset "
            "transforms.PILToTensor() (not ToTensor(), which scales to floats) or no transform"
        )
    if image.ndim == 2:
        image = image[None]  # (1, H, W)
    if image.ndim != 3:
        raise DataError(f"dataset item {index}: the image has shape {image.shape}; expected (C, H, W) or (H, W)")
    return image


class Splits(NamedTuple):
    """What a trainer reads: the training rows, and the test rows scored after every epoch (None: no test split)."""

    train: Rows
    test: Rows | None


def dir_splits(data_dir: str | Path, files: Mapping[str, str]) -> Splits:
    """Both splits of a prepared or codes folder: ``files`` maps a batch name to a file name with ``{split}``."""
    train, test = (NpyRows({k: Path(data_dir) / f.format(split=split) for k, f in files.items()}) for split in ("train", "test"))
    return Splits(train, test)


def shard(rows: np.ndarray, rank: int, world: int) -> tuple[np.ndarray, int]:
    """Process ``rank``'s contiguous share of a global batch and its offset (sizes differ by at most 1)."""
    bounds = [len(rows) * r // world for r in range(world + 1)]
    return rows[bounds[rank] : bounds[rank + 1]], bounds[rank]


class EpochBatches(Sampler):
    """Keys of one epoch's batches for one process, from step ``start`` on.

    ``rows`` are the training rows (all of the split, or what validation
    leaves). A last batch with fewer rows than processes is dropped, so every
    process always has a non-empty shard (with one process nothing is dropped).
    """

    def __init__(self, rows: np.ndarray, batch_size: int, seed: int, epoch: int, start: int = 0,
                 rank: int = 0, world: int = 1) -> None:
        self.rows, self.batch_size, self.seed, self.epoch = np.asarray(rows), batch_size, seed, epoch
        self.start, self.rank, self.world = start, rank, world

    @staticmethod
    def steps(n: int, batch_size: int, world: int = 1) -> int:
        full, rest = divmod(n, batch_size)
        return full + (1 if rest >= world else 0)

    def order(self) -> np.ndarray:
        return self.rows[np.random.default_rng([self.seed, self.epoch]).permutation(len(self.rows))]

    def __len__(self) -> int:
        return max(0, self.steps(len(self.rows), self.batch_size, self.world) - self.start)

    def __iter__(self) -> Iterator[BatchKey]:
        order = self.order()
        for step in range(self.start, self.steps(len(order), self.batch_size, self.world)):
            batch = order[step * self.batch_size : (step + 1) * self.batch_size]
            mine, offset = shard(batch, self.rank, self.world)
            yield BatchKey(tuple(int(r) for r in mine), offset, len(batch))


class SplitBatches(Sampler):
    """Keys of a whole split in file order, ``batch_size`` rows per step, sharded over processes."""

    def __init__(self, rows: np.ndarray, batch_size: int, rank: int = 0, world: int = 1) -> None:
        self.rows, self.batch_size, self.rank, self.world = np.asarray(rows), batch_size, rank, world

    def __len__(self) -> int:
        return -(-len(self.rows) // self.batch_size)

    def __iter__(self) -> Iterator[BatchKey]:
        for start in range(0, len(self.rows), self.batch_size):
            batch = self.rows[start : start + self.batch_size]
            mine, offset = shard(batch, self.rank, self.world)
            yield BatchKey(tuple(int(r) for r in mine), offset, len(batch))


def holdout(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (train rows, validation rows) of N: a seeded ``fraction`` held out (at least 1 when > 0)."""
    if fraction <= 0:
        return np.arange(n), np.zeros(0, dtype=np.int64)
    count = min(n - 1, max(1, round(n * fraction)))
    chosen = np.random.default_rng([seed, 2**31 - 1]).permutation(n)[:count]
    mask = np.zeros(n, dtype=bool)
    mask[chosen] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)
