"""MNIST's idx files (MNIST, Fashion-MNIST), read as installed: gzip-compressed or not, in either layout.

Shape legend: N images, H W pixels (28 × 28 for MNIST and Fashion-MNIST).

The idx format: a 4-byte magic (two zero bytes, the element type, the number of
dimensions), one big-endian uint32 per dimension, then the elements in C order.
MNIST and Fashion-MNIST use uint8 (type 0x08) only: labels ``(N,)`` and images
``(N, H, W)``.

Why not torchvision's ``datasets.MNIST``: (torchvision 0.28) it reads only the
uncompressed files, only from ``<root>/<class name>/raw`` (its ``raw_folder``
property), and its reader opens the path as a plain file despite its docstring
(a ``.gz`` file fails its header assertion with no message). Debian's
``dataset-fashion-mnist`` installs the four ``.gz`` files flat in
``/usr/share/datasets/fashion-mnist/``, so the package is read here, while
torchvision's class still supplies the file names, the class names and, with
``data.download: true``, the download into ``<root>/<class name>/raw``.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pixelcnn.errors import DataError

GZIP_MAGIC = b"\x1f\x8b"
UINT8 = 0x08  # the idx element type of unsigned bytes
FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """The uint8 array of ``ndim`` dimensions that the idx file ``path`` holds (gzip-compressed or not).

    A file that is truncated, over-long, not gzip or idx, or of another type or rank raises
    ``DataError`` naming it.
    """
    def bad(problem: str) -> DataError:
        return DataError(f"{path}: {problem}; the file is damaged, so reinstall or re-download it")

    try:
        raw = path.read_bytes()
        if raw[:2] == GZIP_MAGIC:
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError; a truncated stream an EOFError
        raise bad(f"cannot be decompressed ({exc})") from None
    if len(raw) < 4 or raw[:2] != b"\0\0":
        raise bad("is not an idx file (no idx header)")
    kind, rank = raw[2], raw[3]
    if kind != UINT8 or rank != ndim:
        raise bad(f"holds idx type 0x{kind:02x} of {rank} dimensions, expected unsigned bytes (0x08) of {ndim}")
    start = 4 + 4 * ndim
    if len(raw) < start:
        raise bad(f"ends inside its header ({len(raw)} bytes)")
    shape = struct.unpack(f">{ndim}I", raw[4:start])
    expected = start + int(np.prod(shape, dtype=np.int64))
    if len(raw) != expected:
        raise bad(f"holds {len(raw)} bytes, but its header {shape} says {expected}")
    return np.frombuffer(raw, dtype=np.uint8, offset=start).reshape(shape)


@dataclass(frozen=True)
class Split:
    """One split of an MNIST-like dataset: images uint8 (N, H, W), labels int64 (N,) in [0, classes)."""

    images: np.ndarray
    labels: np.ndarray


def find(folders: list[Path]) -> dict[str, Path] | None:
    """The four files (each ``name`` or ``name.gz``, uncompressed first) from the first folder holding all four."""
    for folder in folders:
        found = {}
        for name in FILES:
            for candidate in (folder / name, folder / f"{name}.gz"):
                if candidate.is_file():
                    found[name] = candidate
                    break
        if len(found) == len(FILES):
            return found
    return None


def first_missing(folders: list[Path]) -> Path:
    """The first file missing from the folder that holds most of the four (the first folder on a tie)."""
    def missing(folder: Path) -> list[Path]:
        return [folder / name for name in FILES if not (folder / name).is_file() and not (folder / f"{name}.gz").is_file()]

    return min((missing(folder) for folder in folders), key=len)[0]


def read_split(files: dict[str, Path], prefix: str, classes: int) -> Split:
    """The ``train`` or ``t10k`` split of ``files`` (from ``find``), its labels checked against ``classes``."""
    images_path, labels_path = files[f"{prefix}-images-idx3-ubyte"], files[f"{prefix}-labels-idx1-ubyte"]
    images, labels = read_idx(images_path, 3), read_idx(labels_path, 1)
    if len(images) != len(labels):
        raise DataError(f"{labels_path}: {len(labels)} labels for the {len(images)} images of {images_path}; "
                        "one of the two is damaged, so reinstall or re-download them")
    if len(labels) and int(labels.max()) >= classes:
        raise DataError(f"{labels_path}: label {int(labels.max())} is not one of the {classes} classes (0..{classes - 1}); "
                        "the file is damaged, so reinstall or re-download it")
    return Split(images, labels.astype(np.int64))
