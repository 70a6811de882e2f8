"""Code grids on disk: extraction by a trained autoencoder, and checked reading.

Legend: N images, C channels, H W pixels, K codebook size, h w a level's code grid.

``extract_codes`` encodes every split's uint8 images (N, C, H, W) and writes,
per split and level, ``{split}_{level}.npy`` int16 (N, h, w) in [0, K),
streamed batch by batch through small memory maps (resident memory stays
flat however large N: ``benchmarks/extract_memory.py``), ``{split}_labels.npy``
int64 (N,) and ``meta.json`` (levels, grid shapes, K, number of classes, the
autoencoder's fingerprint), and moves the folder into place only when
complete. ``load_codes`` reads them back, checking shapes, the pairing with
an autoencoder and that every code lies in [0, K).
"""

from __future__ import annotations

import json
import math
import mmap
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from pixelcnn.atomic import atomic_dir, write_json
from pixelcnn.errors import CheckpointError, DataError
from pixelcnn.models.vqvae import VQVAE, to_float

CODES_DTYPE = np.int16  # codes on disk; hence K <= 32768
SCAN_ROWS = 4096  # code grids checked per read when validating a file


def read_rows(array: np.ndarray, start: int, stop: int) -> np.ndarray:
    """A copy of ``array[start:stop]``.

    A memory-mapped ``.npy`` (as ``np.load(..., mmap_mode="r")`` gives) is read
    through a fresh mapping of just these rows, unmapped on return, so reading
    a file of any size batch by batch keeps resident memory flat.
    """
    if isinstance(array, np.memmap) and isinstance(array.base, mmap.mmap) and array.flags.c_contiguous:
        row = array.itemsize * math.prod(array.shape[1:])
        window = np.memmap(
            array.filename, dtype=array.dtype, mode="r", offset=array.offset + start * row, shape=(stop - start, *array.shape[1:])
        )
        out = np.array(window)
        del window
        return out
    return np.array(array[start:stop])


class _NpyWriter:
    """A ``.npy`` file of known shape, created with ``open_memmap`` and filled row block by row block.

    Each block is written through its own small mapping, unmapped at once, so
    memory stays flat however large the file grows.
    """

    def __init__(self, path: Path, shape: tuple[int, ...], dtype: np.dtype):
        array = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
        self.path, self.shape, self.dtype, self.offset = path, shape, np.dtype(dtype), array.offset
        del array
        self.row = self.dtype.itemsize * math.prod(shape[1:])

    def write(self, start: int, rows: np.ndarray) -> None:
        window = np.memmap(self.path, dtype=self.dtype, mode="r+", offset=self.offset + start * self.row, shape=rows.shape)
        window[:] = rows
        window.flush()
        del window


@torch.no_grad()
def extract_codes(
    model: VQVAE,
    splits: Mapping[str, tuple[np.ndarray, np.ndarray]],
    out_dir: str | Path,
    batch_size: int = 256,
    data_meta: Mapping | None = None,
    progress: bool = True,
) -> dict:
    """Encode each split's uint8 images (N, C, H, W) and write ``out_dir`` as a whole, atomically.

    ``splits`` maps a split name to (images, int64 labels (N,)). Returns the
    meta (``class_names`` included when ``data_meta`` has them).
    """
    from tqdm.auto import tqdm

    from pixelcnn.checkpoints import fingerprint

    model.eval()
    c = model.config
    device = next(model.parameters()).device
    data_meta = dict(data_meta or {})
    meta = {
        "levels": c.levels,
        "level_names": list(c.level_names),
        "codebook_size": c.codebook_size,
        "shapes": {name: list(shape) for name, shape in zip(c.level_names, c.code_shapes)},
        "num_classes": int(data_meta.get("num_classes", 0)),
        "vqvae_fingerprint": fingerprint(model.state_dict()),
    }
    if "class_names" in data_meta:
        meta["class_names"] = list(data_meta["class_names"])
    with atomic_dir(out_dir) as tmp:
        for split, (images, labels) in splits.items():
            expected = (c.channels, c.image_size, c.image_size)
            if tuple(images.shape[1:]) != expected or len(labels) != len(images):
                raise DataError(
                    f"{split} split: images {tuple(images.shape)} with {len(labels)} labels do not fit the autoencoder's "
                    f"(N, {', '.join(map(str, expected))}) input; re-run train_vqvae on this data"
                )
            n = len(images)
            writers = [
                _NpyWriter(tmp / f"{split}_{name}.npy", (n, *shape), CODES_DTYPE)
                for name, shape in zip(c.level_names, c.code_shapes)
            ]
            for start in tqdm(range(0, n, batch_size), desc=f"extract {split}", disable=not progress, leave=False):
                x = to_float(read_rows(images, start, min(start + batch_size, n)), device)
                for writer, codes in zip(writers, model.encode(x)):
                    writer.write(start, codes.cpu().numpy().astype(CODES_DTYPE))
            np.save(tmp / f"{split}_labels.npy", np.asarray(labels, dtype=np.int64))
            meta[f"n_{split}"] = n
        write_json(tmp / "meta.json", meta)
    return meta


def read_codes_meta(codes_dir: str | Path) -> dict:
    """The ``meta.json`` of an ``extract_codes`` output directory."""
    path = Path(codes_dir) / "meta.json"
    if not path.is_file():
        raise DataError(f"{path}: not found; run the extract_codes stage first")
    try:
        meta = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError):
        raise DataError(f"{path}: not valid JSON; re-run extract_codes") from None
    missing = [k for k in ("level_names", "codebook_size", "shapes", "num_classes", "vqvae_fingerprint") if k not in meta]
    if missing:
        raise DataError(f"{path}: lacks {', '.join(missing)}; re-run extract_codes")
    return meta


def check_codes_match(meta: Mapping, model: VQVAE, codes_dir: str | Path = "codes") -> None:
    """Refuse codes that were not extracted by ``model`` (levels, grids, K, fingerprint)."""
    from pixelcnn.checkpoints import fingerprint

    c = model.config
    grids = {name: list(shape) for name, shape in zip(c.level_names, c.code_shapes)}
    if list(meta["level_names"]) != list(c.level_names) or dict(meta["shapes"]) != grids:
        raise CheckpointError(
            f"{codes_dir}: code grids {dict(meta['shapes'])} do not match the autoencoder's code grids {grids}; "
            "re-run extract_codes with this autoencoder"
        )
    if meta["codebook_size"] != c.codebook_size:
        raise CheckpointError(
            f"{codes_dir}: codes of a {meta['codebook_size']}-code codebook do not match the autoencoder's "
            f"{c.codebook_size} codes; re-run extract_codes with this autoencoder"
        )
    own = fingerprint(model.state_dict())
    if meta["vqvae_fingerprint"] != own:
        raise CheckpointError(
            f"{codes_dir}: codes were extracted by autoencoder {meta['vqvae_fingerprint']}, not by this one ({own}); "
            "re-run extract_codes"
        )


def _check_range(path: Path, array: np.ndarray, codebook_size: int) -> None:
    """Every code of ``array`` lies in [0, K), read in blocks (flat memory)."""
    for start in range(0, len(array), SCAN_ROWS):
        block = read_rows(array, start, min(start + SCAN_ROWS, len(array)))
        if block.size and (block.min() < 0 or block.max() >= codebook_size):
            bad = int(block.min() if block.min() < 0 else block.max())
            raise DataError(
                f"{path}: holds code {bad}, outside the codebook of {codebook_size} codes (0..{codebook_size - 1}) "
                "that meta.json names; re-run extract_codes"
            )


def load_codes(
    codes_dir: str | Path, split: str, model: VQVAE | None = None
) -> tuple[dict[str, np.ndarray], np.ndarray, dict]:
    """Codes of one split as written by ``extract_codes``, checked.

    Returns ``({level: int16 memmap (N, h, w) in [0, K)}, int64 labels (N,), meta)``,
    levels in coarse → fine order. Files that are missing, whose shape
    disagrees with ``meta.json``, or that hold a code outside [0, K) raise
    ``DataError``; with ``model``, codes of another autoencoder raise ``CheckpointError``.
    """
    codes_dir = Path(codes_dir)
    meta = read_codes_meta(codes_dir)
    if f"n_{split}" not in meta:
        raise DataError(f"{codes_dir}: has no {split!r} split; re-run extract_codes")
    n = meta[f"n_{split}"]
    codes = {}
    for name in meta["level_names"]:
        path = codes_dir / f"{split}_{name}.npy"
        if not path.is_file():
            raise DataError(f"{path}: not found; re-run extract_codes")
        try:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError, EOFError):
            raise DataError(f"{path}: not a readable .npy file; re-run extract_codes") from None
        expected = (n, *meta["shapes"][name])
        if array.dtype != CODES_DTYPE or array.shape != expected:
            raise DataError(
                f"{path}: codes {array.dtype} {array.shape} do not match meta.json's int16 {expected}; re-run extract_codes"
            )
        _check_range(path, array, int(meta["codebook_size"]))
        codes[name] = array
    labels_path = codes_dir / f"{split}_labels.npy"
    if not labels_path.is_file():
        raise DataError(f"{labels_path}: not found; re-run extract_codes")
    labels = np.load(labels_path, allow_pickle=False)
    if labels.shape != (n,):
        raise DataError(f"{labels_path}: {labels.shape[0] if labels.ndim else 0} labels for {n} code grids; re-run extract_codes")
    if model is not None:
        check_codes_match(meta, model, codes_dir)
    return codes, labels, meta
