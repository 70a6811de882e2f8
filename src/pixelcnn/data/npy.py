"""The project's ``.npy`` files: one checked reader, two ways to read rows with flat memory, one streaming writer.

Legend: N rows of a file (images or code grids), B rows read or written at once.

Every ``.npy`` file the project reads (prepared images and labels, code
grids, samples) is opened by ``load_npy``: never with pickles, and a file that
cannot be read becomes one ``DataError`` sentence in our words (empty, no
header, pickled objects, truncated), never NumPy's advice to allow pickles.

Rows are then read without the whole array in memory:

- ``read_rows(array, start, stop)``: a block of a memory-mapped array through
  a fresh mapping of just those rows, unmapped on return (extraction,
  scanning every code).
- ``NpyFile``: rows in any order with ``os.pread`` at their offset, nothing
  mapped, one descriptor per process (training batches, DataLoader workers).

``NpyWriter`` fills a file of known shape block by block, each block through
its own small mapping, so writing N rows needs memory for B rows only.
"""

from __future__ import annotations

import math
import mmap
import os
from pathlib import Path

import numpy as np
import numpy.typing as npt

from pixelcnn.errors import DataError


def _problem(path: Path, exc: BaseException) -> str:
    """Why ``np.load`` failed on ``path``, in our words: NumPy's own messages advise ``allow_pickle=True``."""
    from numpy.lib import format as npy

    if isinstance(exc, PermissionError):
        return "permission denied"
    size = path.stat().st_size
    if size == 0:
        return "empty file"
    try:
        with open(path, "rb") as fh:
            version = npy.read_magic(fh)
            read_header = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
            shape, _, dtype = read_header(fh)
            data_start = fh.tell()
    except (OSError, ValueError, EOFError, SyntaxError):
        return "no valid .npy header"
    if dtype.hasobject:
        return "holds pickled Python objects, not numbers"
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if size - data_start < expected:
        return f"truncated: {size - data_start} of the {expected} data bytes its header declares"
    return exc.__class__.__name__


def load_npy(path: str | Path, mmap: bool, fix: str) -> np.ndarray:
    """``np.load`` without pickles (memory-mapped read-only when ``mmap``).

    A file that cannot be read raises ``DataError``: ``<path>: not a readable .npy
    file (<why>); <fix>``, the reason worded here (empty, no header, pickled
    objects, truncated), never NumPy's advice to allow pickles.
    """
    path = Path(path)
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"{path}: not a readable .npy file ({_problem(path, exc)}); {fix}") from None


def read_rows(array: np.ndarray, start: int, stop: int) -> np.ndarray:
    """A copy of ``array[start:stop]``.

    A memory-mapped ``.npy`` (as ``load_npy(..., mmap=True)`` gives) is read
    through a fresh mapping of just these rows, unmapped on return, so reading
    a file of any size block by block keeps resident memory flat.
    """
    if isinstance(array, np.memmap) and isinstance(array.base, mmap.mmap) and array.flags.c_contiguous and array.filename:
        row = array.itemsize * math.prod(array.shape[1:])
        window = np.memmap(
            array.filename, dtype=array.dtype, mode="r", offset=array.offset + start * row, shape=(stop - start, *array.shape[1:])
        )
        out = np.array(window)
        del window
        return out
    return np.array(array[start:stop])


class NpyFile:
    """One ``.npy`` file read by rows with ``pread``: header parsed once, a file descriptor per process."""

    def __init__(self, path: str | Path, fix: str = "re-run the stage that writes it") -> None:
        self.path, self.fix = Path(path), fix
        array = load_npy(self.path, mmap=True, fix=fix)
        if not isinstance(array, np.memmap) or not array.flags.c_contiguous:
            raise DataError(f"{self.path}: not a plain C-ordered .npy array; {fix}")
        self.shape, self.dtype, self.offset = tuple(array.shape), array.dtype, array.offset
        self.row_bytes = self.dtype.itemsize * math.prod(self.shape[1:])
        del array
        self._fd: int | None = None
        self._pid = -1

    def __len__(self) -> int:
        return self.shape[0]

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_fd": None, "_pid": -1}  # each worker opens its own descriptor

    def _descriptor(self) -> int:
        fd = self._fd
        if fd is None or self._pid != os.getpid():
            fd = os.open(self.path, os.O_RDONLY)
            self._fd, self._pid = fd, os.getpid()
        return fd

    def _short(self) -> DataError:
        return DataError(f"{self.path}: file is shorter than its header says; {self.fix}")

    def read(self, rows: np.ndarray) -> np.ndarray:
        """A fresh array of ``rows`` (any order, repeats allowed): (len(rows), *shape[1:])."""
        out = np.empty((len(rows), *self.shape[1:]), dtype=self.dtype)
        flat = out.reshape(len(rows), -1).view(np.uint8)  # (B, row_bytes)
        fd = self._descriptor()
        order = np.argsort(rows, kind="stable")  # ascending offsets: friendlier to the disk
        for k in order:
            data = os.pread(fd, self.row_bytes, self.offset + int(rows[k]) * self.row_bytes)
            if len(data) != self.row_bytes:
                raise self._short()
            flat[k] = np.frombuffer(data, dtype=np.uint8)
        return out

    def read_range(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` in one read."""
        count = stop - start
        data = os.pread(self._descriptor(), self.row_bytes * count, self.offset + start * self.row_bytes)
        if len(data) != self.row_bytes * count:
            raise self._short()
        return np.frombuffer(data, dtype=self.dtype).reshape(count, *self.shape[1:]).copy()


class NpyWriter:
    """A ``.npy`` file of known shape, created with ``open_memmap`` and filled row block by row block.

    Each block is written through its own small mapping, unmapped at once, so
    memory stays flat however large the file grows.
    """

    def __init__(self, path: Path, shape: tuple[int, ...], dtype: npt.DTypeLike):
        array = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
        self.path, self.shape, self.dtype, self.offset = path, shape, np.dtype(dtype), array.offset
        del array
        self.row = self.dtype.itemsize * math.prod(shape[1:])

    def write(self, start: int, rows: np.ndarray) -> None:
        window = np.memmap(self.path, dtype=self.dtype, mode="r+", offset=self.offset + start * self.row, shape=rows.shape)
        window[:] = rows
        window.flush()
        del window
