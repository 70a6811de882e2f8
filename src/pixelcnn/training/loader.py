"""Training data streamed from ``.npy`` files: rows read per batch, never the whole array.

Legend: N rows of a file (images or code grids), B batch, R processes (ranks).

``NpyRows`` is a map-style ``torch.utils.data.Dataset`` over one or more
``.npy`` files of N rows each (``prepare``'s uint8 images and int64 labels,
``extract_codes``' int16 code grids). An item is a whole batch: the key is a
``BatchKey`` (the rows to read) and the value a dict of tensors in each
file's own dtype, converted to the model's input by the training task. Rows
are read with ``os.pread`` at their offset in the file
(``pixelcnn.data.npy.NpyFile``): nothing stays mapped,
so resident memory does not grow with the dataset (a memory map would count
every page it touched as resident), and DataLoader workers can read in
parallel. ``benchmarks/train_memory.py`` measures it.

``EpochBatches`` is the order: epoch e's permutation of the training rows is
``numpy.random.default_rng([seed, e]).permutation``, so the order of any
epoch is known without replaying the earlier ones (a resumed run starts at
any step of any epoch), and each global batch of B rows is cut into R
contiguous shards, one per process, so that R processes see exactly the rows
one process would.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from pixelcnn.data.npy import NpyFile
from pixelcnn.errors import DataError


@dataclass(frozen=True)
class BatchKey:
    """Which rows one process reads for one step, and where they sit in the global batch."""

    rows: tuple[int, ...]  # row indices into the files, in batch order
    offset: int  # position of rows[0] in the global batch
    total: int  # rows in the global batch (all processes)


class NpyRows(Dataset):
    """Named ``.npy`` files of N rows each; ``dataset[BatchKey]`` → {name: tensor (B, ...)} in each file's dtype."""

    def __init__(self, files: Mapping[str, str | Path]) -> None:
        self.files = {name: NpyFile(path) for name, path in files.items()}
        sizes = {name: len(f) for name, f in self.files.items()}
        if len(set(sizes.values())) != 1:
            listed = ", ".join(f"{self.files[n].path} has {s}" for n, s in sizes.items())
            raise DataError(f"files of one split disagree on their number of rows ({listed}); re-run the stage that writes them")
        self.n = next(iter(sizes.values()))

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, key: BatchKey) -> dict[str, torch.Tensor]:
        rows = np.asarray(key.rows, dtype=np.int64)
        batch = {name: torch.from_numpy(f.read(rows)) for name, f in self.files.items()}
        batch["offset"], batch["total"] = torch.tensor(key.offset), torch.tensor(key.total)
        return batch


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
