"""Code grids on disk: extraction by a trained autoencoder, and checked reading.

Legend: N images, C channels, H W pixels, K codebook size, h w a level's code grid.

``extract_codes`` encodes every split's uint8 images (N, C, H, W) and writes,
per split and level, ``{split}_{level}.npy`` int16 (N, h, w) in [0, K),
streamed batch by batch through small memory maps (resident memory stays
flat however large N: ``benchmarks/extract_memory.py``), ``{split}_labels.npy``
int64 (N,) and ``meta.json`` (the ``CodesMeta``: levels, grid shapes, K,
number of classes and their names, the autoencoder's fingerprint, split
sizes), and moves the folder into place only when complete.
``read_codes_meta`` reads the meta; ``load_codes`` reads one split back as a
``CodeSplit``, checking shapes, the pairing with an autoencoder and (unless
told not to) that every code lies in [0, K).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import numpy as np
import torch

from pixelcnn.atomic import atomic_dir, write_json
from pixelcnn.checkpoints import fingerprint
from pixelcnn.configs import VQVAEConfig
from pixelcnn.data.npy import NpyWriter, load_npy, read_rows
from pixelcnn.data.pixels import to_float
from pixelcnn.data.prepared import SPLITS, PreparedMeta, meta_from_json, meta_to_json, read_json
from pixelcnn.errors import CheckpointError, DataError


class Encoder(Protocol):
    """What extraction and its checks read of an autoencoder; ``pixelcnn.VQVAE`` is one.

    data/ sits below models/: the VQ-VAE is passed in, never built or imported here.
    """

    config: VQVAEConfig  # levels, their code grids, the codebook size, the images it takes

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Codes int64 (B, h, w) per level, coarse → fine, of x float (B, C, H, W) in [-1, 1]."""
        ...

    def state_dict(self) -> Mapping[str, Any]: ...  # its weights: the fingerprint the codes carry

    def parameters(self) -> Iterator[torch.nn.Parameter]: ...

    def eval(self) -> Any: ...

CODES_DTYPE = np.int16  # codes on disk; hence K <= 32768
SCAN_ROWS = 4096  # code grids checked per read when validating a file
FIX = "re-run extract_codes"


@dataclass(frozen=True)
class CodesMeta:
    """What a codes dir's ``meta.json`` says: the grids, the codebook, the classes, the autoencoder, the split sizes."""

    level_names: tuple[str, ...]  # coarse → fine ("top", or "top", "bottom")
    codebook_size: int  # K
    shapes: Mapping[str, tuple[int, int]]  # level → (h, w)
    num_classes: int  # classes of the data the codes came from; 0 when unlabelled
    vqvae_fingerprint: str  # the autoencoder that extracted them (``checkpoints.fingerprint`` of its weights)
    class_names: tuple[str, ...] | None = None  # their names, when the prepared data's meta was given
    n_train: int | None = None  # code grids per split; None: the split was not extracted
    n_test: int | None = None

    @property
    def levels(self) -> int:
        return len(self.level_names)

    def size(self, split: str) -> int | None:
        """Code grids in ``split`` ("train" or "test"), None when it was not extracted."""
        return {"train": self.n_train, "test": self.n_test}[split]

    def to_json(self) -> dict[str, Any]:
        """The ``meta.json`` object (``levels`` included, for readers of the file)."""
        return {"levels": self.levels, **meta_to_json(self)}

    @classmethod
    def from_json(cls, obj: Mapping[str, Any], where: str | Path = "meta.json") -> CodesMeta:
        """From a ``meta.json`` object; a missing key or a value of the wrong type raises ``DataError``."""
        return meta_from_json(cls, obj, where, FIX)


class CodeSplit(NamedTuple):
    """One split of a codes dir, as ``load_codes`` reads it."""

    codes: dict[str, np.ndarray]  # level → int16 (N, h, w) in [0, K), memory-mapped, coarse → fine
    labels: np.ndarray  # int64 (N,)
    meta: CodesMeta


@torch.no_grad()
def extract_codes(
    model: Encoder,
    splits: Mapping[str, tuple[np.ndarray, np.ndarray]],
    out_dir: str | Path,
    batch_size: int = 256,
    data_meta: PreparedMeta | None = None,
    progress: bool = True,
) -> CodesMeta:
    """Encode each split's uint8 images (N, C, H, W) and write ``out_dir`` as a whole, atomically.

    ``splits`` maps "train" and/or "test" to (images, int64 labels (N,)).
    ``data_meta``, the prepared data's meta, gives the classes (none without it).
    Returns the written meta.
    """
    from tqdm.auto import tqdm

    unknown = set(splits) - set(SPLITS)
    if unknown:
        raise ValueError(f"splits must be 'train' and/or 'test', got {sorted(unknown)}")
    model.eval()
    c = model.config
    device = next(model.parameters()).device
    sizes = {}
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
                NpyWriter(tmp / f"{split}_{name}.npy", (n, *shape), CODES_DTYPE)
                for name, shape in zip(c.level_names, c.code_shapes)
            ]
            for start in tqdm(range(0, n, batch_size), desc=f"extract {split}", disable=not progress, leave=False):
                x = to_float(read_rows(images, start, min(start + batch_size, n)), device)
                for writer, codes in zip(writers, model.encode(x)):
                    writer.write(start, codes.cpu().numpy().astype(CODES_DTYPE))
            np.save(tmp / f"{split}_labels.npy", np.asarray(labels, dtype=np.int64))
            sizes[f"n_{split}"] = n
        meta = CodesMeta(
            level_names=tuple(c.level_names),
            codebook_size=c.codebook_size,
            shapes=dict(zip(c.level_names, c.code_shapes)),
            num_classes=data_meta.num_classes if data_meta is not None else 0,
            vqvae_fingerprint=fingerprint(model.state_dict()),
            class_names=data_meta.class_names if data_meta is not None else None,
            **sizes,
        )
        write_json(tmp / "meta.json", meta.to_json())
    return meta


def read_codes_meta(codes_dir: str | Path) -> CodesMeta:
    """The ``meta.json`` of an ``extract_codes`` output directory."""
    path = Path(codes_dir) / "meta.json"
    if not path.is_file():
        raise DataError(f"{path}: not found; run the extract_codes stage first")
    return CodesMeta.from_json(read_json(path, FIX), path)


def check_codes_match(meta: CodesMeta, model: Encoder, codes_dir: str | Path = "codes") -> None:
    """Refuse codes that were not extracted by ``model`` (levels, grids, K, fingerprint)."""
    c = model.config
    grids = {name: tuple(shape) for name, shape in zip(c.level_names, c.code_shapes)}
    if meta.level_names != tuple(c.level_names) or dict(meta.shapes) != grids:
        listed = lambda shapes: {name: list(shape) for name, shape in shapes.items()}  # noqa: E731
        raise CheckpointError(
            f"{codes_dir}: code grids {listed(meta.shapes)} do not match the autoencoder's code grids {listed(grids)}; "
            "re-run extract_codes with this autoencoder"
        )
    if meta.codebook_size != c.codebook_size:
        raise CheckpointError(
            f"{codes_dir}: codes of a {meta.codebook_size}-code codebook do not match the autoencoder's "
            f"{c.codebook_size} codes; re-run extract_codes with this autoencoder"
        )
    own = fingerprint(model.state_dict())
    if meta.vqvae_fingerprint != own:
        raise CheckpointError(
            f"{codes_dir}: codes were extracted by autoencoder {meta.vqvae_fingerprint}, not by this one ({own}); "
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


def load_codes(codes_dir: str | Path, split: str, model: Encoder | None = None, scan: bool = True) -> CodeSplit:
    """Codes of one split as written by ``extract_codes``, checked.

    Levels come in coarse → fine order. Files that are missing, or whose
    dtype or shape disagrees with ``meta.json`` raise ``DataError``; so does a
    code outside [0, K) when ``scan`` (which reads every code once, block by
    block; the headers alone are read without it). With ``model``, codes of
    another autoencoder raise ``CheckpointError``.
    """
    codes_dir = Path(codes_dir)
    meta = read_codes_meta(codes_dir)
    n = meta.size(split)
    if n is None:
        raise DataError(f"{codes_dir}: has no {split!r} split; re-run extract_codes")
    codes = {}
    for name in meta.level_names:
        path = codes_dir / f"{split}_{name}.npy"
        if not path.is_file():
            raise DataError(f"{path}: not found; re-run extract_codes")
        array = load_npy(path, mmap=True, fix=FIX)
        expected = (n, *meta.shapes[name])
        if array.dtype != CODES_DTYPE or array.shape != expected:
            raise DataError(
                f"{path}: codes {array.dtype} {array.shape} do not match meta.json's int16 {expected}; re-run extract_codes"
            )
        if scan:
            _check_range(path, array, meta.codebook_size)
        codes[name] = array
    labels_path = codes_dir / f"{split}_labels.npy"
    if not labels_path.is_file():
        raise DataError(f"{labels_path}: not found; re-run extract_codes")
    labels = load_npy(labels_path, mmap=False, fix=FIX)
    if labels.shape != (n,):
        raise DataError(f"{labels_path}: {labels.shape[0] if labels.ndim else 0} labels for {n} code grids; re-run extract_codes")
    if model is not None:
        check_codes_match(meta, model, codes_dir)
    return CodeSplit(codes, labels, meta)
