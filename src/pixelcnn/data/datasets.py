"""Dataset adapters: every supported dataset → uint8 arrays, the library behind the ``prepare`` stage.

Shape legend: N images, C channels (1 or 3), H W pixels (H = W = ``data.image_size``),
K classes.

Every supported dataset becomes ``images: uint8 (N, C, H, W)`` in [0, 255] and
``labels: int64 (N,)`` in [0, K), or -1 everywhere when unlabelled (K = 0),
split into train and test: ``prepare(config)`` returns the ``PreparedData``
that ``pixelcnn.data.prepared.save_prepared`` writes (the on-disk format,
its ``meta.json`` and ``load_split`` live there).

Datasets (``data.name``):

- ``digits`` (default, offline): scikit-learn's bundled 1797 handwritten 8×8
  digits, values 0..16 mapped to 0..255 (16 → 255), resized bilinearly to
  H × W; C = 1, K = 10. Seeded stratified train/test split.
- ``mnist`` / ``fashion_mnist``: the four idx files, gzip-compressed or not
  (``pixelcnn.data.idx``), from ``<root>/MNIST/raw`` / ``<root>/FashionMNIST/raw``
  (torchvision's layout) or else from ``<root>`` itself (the flat layout of
  Debian's ``dataset-fashion-mnist``: ``root: /usr/share/datasets/fashion-mnist``).
  The 28×28 images are zero-padded by 2 pixels to 32×32 (the LeNet canvas;
  exact pixels, the background is 0) and then resized only when
  ``image_size`` is not 32. C = 1, K = 10, official split.
- ``cifar10``: torchvision's class over ``<root>/cifar-10-batches-py``, which
  checks the official md5 of every batch file; native 32×32, C = 3 (1 with
  ``grayscale``), K = 10, official split.
- ``celeba``: torchvision's class over ``<root>/celeba`` (``img_align_celeba/``
  and the five ``list_*.txt`` / ``identity_CelebA.txt`` files, md5-checked).
  Each 178×218 aligned face is center-cropped to 148×148 and resized. Official
  split: partition 0 → train, 2 → test (1, validation, is unused). Labels: the
  binary attribute ``data.celeba_attr`` (0 without, 1 with; K = 2), or
  unlabelled when it is "" (empty).
- ``folder``: ``root`` is a folder of images. One subfolder per class gives
  labels (sorted subfolder names → 0..K-1, images found recursively); a flat
  folder gives unlabelled data. Each image is center-cropped to its largest
  square, resized, and converted to RGB (L with ``grayscale``); 16-bit grey
  images (PIL modes I;16, I;16B, and I holding 0..65535) are scaled to 8 bits
  by round(v / 257), floating-point ones refused. Seeded stratified
  train/test split.

Resizing is PIL bilinear, which antialiases when shrinking. Nothing is
downloaded unless ``data.download`` is true; a missing, corrupt or unreadable
file stops with a ``DataError`` sentence naming the file and the fix.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from pixelcnn.configs import DataConfig
from pixelcnn.data import idx
from pixelcnn.data.prepared import SPLITS, PreparedData, split_indices, subset
from pixelcnn.errors import DataError

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
CELEBA_CROP = 148  # square side cut from the centre of each 178×218 aligned CelebA face
RESAMPLE = Image.Resampling.BILINEAR


@dataclass(frozen=True)
class _Source:
    """One pool of images before decoding: labels now, pixels on demand."""

    labels: np.ndarray  # int64 (N,)
    load: Callable[[int], np.ndarray]  # index → uint8 (C, H, W) at the output size
    batch: Callable[[np.ndarray], np.ndarray] | None = None  # indices (n,) → uint8 (n, C, H, W), where whole arrays are faster


@dataclass(frozen=True)
class _Dataset:
    train: _Source
    test: _Source | None  # None: no official split, carve test out of train
    class_names: list[str]
    channels: int


# --------------------------------------------------------------------------- pixels


def _to_chw(img: Image.Image, size: int, crop: int | None = None) -> np.ndarray:
    """PIL image (mode L or RGB) → centre square (side ``crop`` or the short side) → uint8 (C, size, size)."""
    w, h = img.size
    side = min(w, h) if crop is None else min(crop, w, h)
    if (w, h) != (side, side):
        left, top = (w - side) // 2, (h - side) // 2
        img = img.crop((left, top, left + side, top + side))
    if side != size:
        img = img.resize((size, size), RESAMPLE)
    arr = np.asarray(img, dtype=np.uint8)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)  # (H, W, C) → (C, H, W)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, UnidentifiedImageError):
        return "not a recognised image format"
    text = str(exc).strip().splitlines()
    return text[0] if text else exc.__class__.__name__


DEEP_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})  # PIL's 16-bit and 32-bit integer grey modes
UINT16_MAX = 65535


def _to_8_bits(img: Image.Image, path: Path) -> Image.Image:
    """A 16-bit (or 32-bit integer holding 16-bit values) grey image → mode L, the full range 0..65535 → 0..255.

    ``round(v · 255 / 65535)`` = ``round(v / 257)`` = ``(v + 128) // 257``. PIL's own
    ``convert`` clips these modes at 255 instead, saturating every image. Other modes
    pass through unchanged; floating-point pixels (mode F) are refused.
    """
    if img.mode == "F":
        raise DataError(f"{path}: floating-point pixels (mode F) have no fixed range; convert it to an 8- or 16-bit image")
    if img.mode not in DEEP_MODES:
        return img
    values = np.asarray(img).astype(np.int64)  # (H, W); I;16B arrives big-endian, I as int32
    low, high = int(values.min()), int(values.max())
    if low < 0 or high > UINT16_MAX:
        raise DataError(
            f"{path}: 32-bit integer pixels span {low}..{high}, beyond the 16-bit range 0..{UINT16_MAX}; "
            "convert it to an 8- or 16-bit image"
        )
    return Image.fromarray(((values + 128) // 257).astype(np.uint8))  # mode L


def _read_image(path: Path, mode: str) -> Image.Image:
    """Decode ``path`` fully and convert it to ``mode`` ("L" or "RGB"); 16-bit grey is scaled, not clipped."""
    try:
        with Image.open(path) as img:
            img.load()
            return _to_8_bits(img, path).convert(mode)
    except FileNotFoundError:
        raise DataError(f"{path}: image not found; restore it or remove it from the dataset's lists") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise DataError(f"{path}: cannot read image ({_reason(exc)}); remove or replace it") from None


# --------------------------------------------------------------------------- datasets


def _digits(config: DataConfig) -> _Dataset:
    from sklearn.datasets import load_digits

    flat, target = load_digits(return_X_y=True)  # (N, 64) float64 in 0..16, (N,)
    pixels = np.rint(np.asarray(flat).reshape(-1, 8, 8) * (255 / 16)).astype(np.uint8)  # (N, 8, 8), 0..16 → 0..255
    labels = np.asarray(target).astype(np.int64)

    def load(i: int) -> np.ndarray:
        return _to_chw(Image.fromarray(pixels[i]), config.image_size)

    return _Dataset(_Source(labels, load), None, [str(k) for k in range(10)], channels=1)


def _open_torchvision(make: Callable[[], Any], diagnose: Callable[[str], str]) -> Any:
    """Build a torchvision dataset; any failure becomes one ``DataError`` sentence."""
    try:
        return make()
    except Exception as exc:  # torchvision raises RuntimeError, URLError, AssertionError, ...
        raise DataError(diagnose(f"{exc.__class__.__name__}: {_reason(exc)}")) from None


def _missing_sentence(config: DataConfig, path: Path, title: str, how: str, reason: str) -> str:
    if config.download:
        return f"{path} not found and downloading {title} failed ({reason}); {how} by hand, or set data.name: digits"
    return f"{path} not found; {how} (or set data.download: true when online, or data.name: digits)"


FASHION_MNIST_PACKAGE = "/usr/share/datasets/fashion-mnist"  # where Debian's dataset-fashion-mnist installs its four .gz files


@dataclass(frozen=True)
class _IdxDataset:
    title: str
    folder: str  # torchvision's class name: the folder of its layout, <root>/<folder>/raw
    classes: tuple[str, ...]  # Fashion-MNIST's as torchvision's class lists them (a test compares); MNIST's digits as 0..9


_IDX_DATASETS = {
    "mnist": _IdxDataset("MNIST", "MNIST", tuple(str(k) for k in range(10))),
    "fashion_mnist": _IdxDataset("Fashion-MNIST", "FashionMNIST", ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")),
}


def _download_idx(config: DataConfig, spec: _IdxDataset, raw: Path) -> None:
    """torchvision's class fetches the four files into ``raw`` (it imports in ~10 s, so only when downloading)."""
    from torchvision import datasets

    cls = getattr(datasets, spec.folder)
    how = f"put the four {spec.title} idx files (.gz or not) in {config.root}"
    _open_torchvision(lambda: cls(config.root, train=True, download=True),
                      lambda reason: _missing_sentence(config, raw / idx.FILES[0], spec.title, how, reason))


def _mnist(config: DataConfig) -> _Dataset:
    spec = _IDX_DATASETS[config.name]
    root = Path(config.root)
    folders = [root / spec.folder / "raw", root]  # torchvision's layout, then the flat one of Debian's package
    files = idx.find(folders)
    if files is None and config.download:
        _download_idx(config, spec, folders[0])
        files = idx.find(folders)
    if files is None:
        missing = idx.first_missing(folders)
        if config.name == "fashion_mnist":
            how = (f"install Debian's package (`apt-get install dataset-fashion-mnist`) and set data.root: {FASHION_MNIST_PACKAGE}, "
                   f"or put the four idx files (.gz or not) in {root} or {folders[0]}")
        else:
            how = f"put MNIST's four idx files (.gz or not) in {root} or {folders[0]}"
        raise DataError(f"{missing} not found (nor {missing.name}.gz); {how} "
                        "(or set data.download: true when online, or data.name: digits)")

    sources = []
    for prefix in ("train", "t10k"):
        split = idx.read_split(files, prefix, classes=len(spec.classes))
        pixels = split.images  # (N, 28, 28) uint8
        if pixels.shape[1:] != (28, 28):
            path = files[f"{prefix}-images-idx3-ubyte"]
            raise DataError(f"{path}: {spec.title} images have shape {tuple(pixels.shape)}, expected (N, 28, 28); reinstall or re-download it")

        def load(i: int, pixels: np.ndarray = pixels) -> np.ndarray:
            return _to_chw(Image.fromarray(np.pad(pixels[i], 2)), config.image_size)  # (32, 32): zero border

        def padded(indices: np.ndarray, pixels: np.ndarray = pixels) -> np.ndarray:
            return np.pad(pixels[indices], ((0, 0), (2, 2), (2, 2)))[:, None]  # (n, 28, 28) → (n, 1, 32, 32)

        # 70,000 images through PIL one by one take ~15 s; at the native 32×32 there is nothing to resample
        sources.append(_Source(split.labels, load, padded if config.image_size == 32 else None))
    return _Dataset(sources[0], sources[1], list(spec.classes), channels=1)


def _checksum_diagnose(config: DataConfig, files: Sequence[tuple[Path, str | None]], title: str, how: str) -> Callable[[str], str]:
    def diagnose(reason: str) -> str:
        from torchvision.datasets.utils import check_integrity

        for path, _ in files:
            if not path.exists():
                return _missing_sentence(config, path, title, how, reason)
        for path, md5 in files:
            if path.is_file() and not check_integrity(str(path), md5):
                return f"{path}: checksum does not match the official {title} file; re-download it"
        return f"{files[0][0].parent}: cannot read {title} ({reason}); re-download it"

    return diagnose


def _cifar10(config: DataConfig) -> _Dataset:
    from torchvision.datasets import CIFAR10

    base = Path(config.root) / CIFAR10.base_folder
    files = [(base / f, md5) for f, md5 in CIFAR10.train_list + CIFAR10.test_list]
    files.append((base / CIFAR10.meta["filename"], CIFAR10.meta["md5"]))
    how = f"extract cifar-10-python.tar.gz into {config.root}"
    diagnose = _checksum_diagnose(config, files, "CIFAR-10", how)
    mode = "L" if config.grayscale else "RGB"

    sources, names = [], []
    for train in (True, False):
        ds = _open_torchvision(lambda train=train: CIFAR10(config.root, train=train, download=config.download), diagnose)
        pixels, names = ds.data, list(ds.classes)  # (N, 32, 32, 3) uint8

        def load(i: int, pixels: np.ndarray = pixels) -> np.ndarray:
            return _to_chw(Image.fromarray(pixels[i]).convert(mode), config.image_size)

        sources.append(_Source(np.asarray(ds.targets, dtype=np.int64), load))
    return _Dataset(sources[0], sources[1], names, channels=1 if config.grayscale else 3)


def _celeba(config: DataConfig) -> _Dataset:
    from torchvision.datasets import CelebA

    base = Path(config.root) / CelebA.base_folder
    files: list[tuple[Path, str | None]] = [(base / f, md5) for _, md5, f in CelebA.file_list if not f.endswith((".zip", ".7z"))]
    files.append((base / "img_align_celeba", None))
    how = f"put img_align_celeba/ and the CelebA list_*.txt and identity_CelebA.txt files in {base}"
    diagnose = _checksum_diagnose(config, files, "CelebA", how)
    mode = "L" if config.grayscale else "RGB"
    names = [f"not {config.celeba_attr}", config.celeba_attr] if config.celeba_attr else []

    sources = []
    for split in SPLITS:
        ds = _open_torchvision(lambda split=split: CelebA(config.root, split=split, target_type=[], download=config.download), diagnose)
        if not config.celeba_attr:
            labels = np.full(len(ds.filename), -1, dtype=np.int64)
        elif config.celeba_attr in ds.attr_names:
            labels = ds.attr[:, ds.attr_names.index(config.celeba_attr)].numpy().astype(np.int64)  # {0, 1}
        else:
            raise DataError(
                f"{base / 'list_attr_celeba.txt'} has no attribute {config.celeba_attr!r}; set data.celeba_attr "
                "to one of its columns (e.g. Smiling, Male, Young) or \"\" for unlabelled"
            )
        paths = [base / "img_align_celeba" / f for f in ds.filename]

        def load(i: int, paths: list[Path] = paths) -> np.ndarray:
            return _to_chw(_read_image(paths[i], mode), config.image_size, crop=CELEBA_CROP)

        sources.append(_Source(labels, load))
    return _Dataset(sources[0], sources[1], names, channels=1 if config.grayscale else 3)


def _image_files(folder: Path, recursive: bool) -> list[Path]:
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(
        p for p in found
        if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def _folder(config: DataConfig) -> _Dataset:
    root = Path(config.root)
    if not root.is_dir():
        raise DataError(f"{root}: image folder not found; put images (or one subfolder of images per class) there or set data.root")
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    loose = _image_files(root, recursive=False)
    if class_dirs:
        if loose:
            raise DataError(f"{loose[0]}: image lies beside the class subfolders of {root}; move it into a class folder")
        paths, labels = [], []
        for k, d in enumerate(class_dirs):
            files = _image_files(d, recursive=True)
            if not files:
                raise DataError(f"{d}: class folder holds no images; add some or remove the folder")
            paths += files
            labels += [k] * len(files)
        names = [d.name for d in class_dirs]
    else:
        paths, labels, names = loose, [-1] * len(loose), []
    if len(paths) < 2:
        exts = " ".join(sorted(IMAGE_EXTENSIONS))
        raise DataError(f"{root}: found {len(paths)} images ({exts}); put at least 2 there or set data.root")
    mode = "L" if config.grayscale else "RGB"

    def load(i: int) -> np.ndarray:
        return _to_chw(_read_image(paths[i], mode), config.image_size)

    return _Dataset(_Source(np.asarray(labels, dtype=np.int64), load), None, names, channels=1 if config.grayscale else 3)


_LOADERS: dict[str, Callable[[DataConfig], _Dataset]] = {
    "digits": _digits,
    "mnist": _mnist,
    "fashion_mnist": _mnist,
    "cifar10": _cifar10,
    "celeba": _celeba,
    "folder": _folder,
}


# --------------------------------------------------------------------------- decode, split, subset


def _decode(source: _Source, indices: np.ndarray, channels: int, size: int) -> np.ndarray:
    """Decode the images at ``indices`` into uint8 (N, C, H, W): as one array, or a few threads at a time."""
    if source.batch is not None:
        return np.ascontiguousarray(source.batch(indices), dtype=np.uint8)
    out = np.empty((len(indices), channels, size, size), dtype=np.uint8)
    pool = ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1))
    try:
        for k, image in enumerate(pool.map(source.load, (int(i) for i in indices))):
            out[k] = image
    finally:
        pool.shutdown(cancel_futures=True)
    return out


def prepare(config: DataConfig) -> PreparedData:
    """Load the dataset ``config`` names, split and subset it, decode it to uint8 arrays.

    Deterministic given ``config``; raises ``DataError`` naming the missing or bad file.
    """
    ds = _LOADERS[config.name](config)
    if ds.test is None:
        train_idx, test_idx = split_indices(ds.train.labels, config.test_fraction, config.split_seed)
        test_source = ds.train
    else:
        train_idx, test_idx = np.arange(len(ds.train.labels)), np.arange(len(ds.test.labels))
        test_source = ds.test
    train_idx = train_idx[subset(len(train_idx), config.max_train, config.split_seed, stream=1)]
    test_idx = test_idx[subset(len(test_idx), config.max_test, config.split_seed, stream=2)]
    if len(train_idx) == 0 or len(test_idx) == 0:
        raise DataError(
            f"{config.root}: {config.name} gives {len(train_idx)} train and {len(test_idx)} test images; "
            "both must be non-empty, so add images or change data.test_fraction"
        )
    return PreparedData(
        name=config.name,
        class_names=list(ds.class_names),
        train_images=_decode(ds.train, train_idx, ds.channels, config.image_size),
        train_labels=ds.train.labels[train_idx],
        test_images=_decode(test_source, test_idx, ds.channels, config.image_size),
        test_labels=test_source.labels[test_idx],
    )
