"""Tiny datasets written in their real on-disk formats (MNIST idx files, CIFAR-10 pickled batches, CelebA's
aligned JPEGs and list files), and the swap of torchvision's official md5 tables for these files' own.

Used by ``tests/data/test_datasets.py`` (the adapters) and ``tests/end_to_end/test_preset_pipelines.py`` (every
preset's whole DAG on these files). Shape legend: N images, C channels, H W pixels.
"""

from __future__ import annotations

import gzip
import hashlib
import pickle
import struct
from pathlib import Path

import numpy as np
from PIL import Image

CIFAR_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
CELEBA_ATTRS = ["5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs", "Big_Lips", "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows", "Chubby", "Double_Chin", "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones", "Male", "Mouth_Slightly_Open", "Mustache", "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline", "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat", "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young"]


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- MNIST / Fashion-MNIST (idx files)


def write_idx(path: Path, array: np.ndarray) -> None:
    """The idx format: magic (0, 0, 0x08 = uint8, ndim), big-endian uint32 dims, raw bytes."""
    header = struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def write_mnist(root: Path, folder: str | None, n_train: int = 12, n_test: int = 6, compressed: bool = False) -> dict[str, np.ndarray]:
    """The four idx files: random 28×28 images, labels i % 10 (train) and 3i % 10 (test).

    In ``root/folder/raw`` (torchvision's layout) or, with ``folder`` None, in ``root`` itself (the flat layout of
    Debian's dataset-fashion-mnist); gzip-compressed as ``<name>.gz`` with ``compressed``. Returns the arrays by name.
    """
    rng = np.random.default_rng(0)
    raw = root / folder / "raw" if folder else root
    raw.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": np.arange(n_train) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": (np.arange(n_test) * 3) % 10,
    }
    for name, array in arrays.items():
        write_idx(raw / name, array)
        if compressed:
            (raw / f"{name}.gz").write_bytes(gzip.compress((raw / name).read_bytes()))
            (raw / name).unlink()
    return arrays


# --------------------------------------------------------------------------- CIFAR-10 (pickled batches)


def write_cifar(root: Path, per_batch: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """cifar-10-batches-py as in the official tarball: pickled dicts with (n, 3072) uint8 R,G,B planes.

    Five train batches and the test batch of ``per_batch`` random images each; returns the test images
    uint8 (n, 3, 32, 32) and labels.
    """
    rng = np.random.default_rng(0)
    base = root / "cifar-10-batches-py"
    base.mkdir(parents=True)
    test_images = None
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        images = rng.integers(0, 256, (per_batch, 3, 32, 32), dtype=np.uint8)
        labels = rng.integers(0, 10, per_batch).tolist()
        batch = {"batch_label": name, "labels": labels, "data": images.reshape(per_batch, 3072),  # (n, 3*32*32)
                 "filenames": [f"img_{i}.png" for i in range(per_batch)]}
        (base / name).write_bytes(pickle.dumps(batch, protocol=2))
        if name == "test_batch":
            test_images, test_labels = images, np.array(labels)
    meta = {"num_cases_per_batch": per_batch, "label_names": CIFAR_NAMES, "num_vis": 3072}
    (base / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return test_images, test_labels


def accept_cifar_checksums(monkeypatch, root: Path) -> None:
    """Swap torchvision's table of official CIFAR-10 md5s for the fixture's (this test only)."""
    from torchvision.datasets import CIFAR10

    base = root / "cifar-10-batches-py"
    monkeypatch.setattr(CIFAR10, "train_list", [[f, md5(base / f)] for f, _ in CIFAR10.train_list])
    monkeypatch.setattr(CIFAR10, "test_list", [[f, md5(base / f)] for f, _ in CIFAR10.test_list])
    monkeypatch.setattr(CIFAR10, "meta", {**CIFAR10.meta, "md5": md5(base / "batches.meta")})


# --------------------------------------------------------------------------- CelebA (aligned jpgs + list files)


def write_celeba(root: Path, partitions=(0, 0, 0, 1, 2, 2), noise: int = 0) -> np.ndarray:
    """celeba/ as torchvision reads it; each 178×218 face is green inside the central 148×148, red outside.

    ``partitions``: each image's official split (0 train, 1 validation, 2 test). ``noise`` > 0 adds seeded
    uniform noise of up to that many levels to each face, so no two are alike. Returns the ±1 attributes.
    """
    base = root / "celeba"
    (base / "img_align_celeba").mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = [f"{i + 1:06d}.jpg" for i in range(len(partitions))]
    attrs = rng.choice([-1, 1], (len(names), len(CELEBA_ATTRS)))
    face = np.zeros((218, 178, 3), np.uint8)
    face[..., 0] = 255
    face[35:183, 15:163] = (0, 200, 0)  # the centre crop: rows (218-148)/2.., cols (178-148)/2..
    for name in names:
        pixels = face if not noise else np.clip(face.astype(int) + rng.integers(-noise, noise + 1, face.shape), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(base / "img_align_celeba" / name, quality=95)
    n = len(names)
    rows = lambda values: "".join(f"{f} {' '.join(f'{v:>2}' for v in row)}\n" for f, row in zip(names, values))
    (base / "list_eval_partition.txt").write_text(rows([[p] for p in partitions]))
    (base / "identity_CelebA.txt").write_text(rows([[100 + i] for i in range(n)]))
    (base / "list_attr_celeba.txt").write_text(f"{n}\n{' '.join(CELEBA_ATTRS)} \n" + rows(attrs))
    (base / "list_bbox_celeba.txt").write_text(f"{n}\nimage_id x_1 y_1 width height\n" + rows([[95, 71, 226, 313]] * n))
    landmarks = "lefteye_x lefteye_y righteye_x righteye_y nose_x nose_y leftmouth_x leftmouth_y rightmouth_x rightmouth_y"
    (base / "list_landmarks_align_celeba.txt").write_text(f"{n}\n{landmarks}\n" + rows([[69, 109, 106, 113, 77, 142, 73, 152, 108, 154]] * n))
    return attrs


def accept_celeba_checksums(monkeypatch, root: Path) -> None:
    """Swap torchvision's table of official CelebA md5s for the fixture's (this test only)."""
    from torchvision.datasets import CelebA

    base = root / "celeba"
    table = [(fid, md5_ if f.endswith(".zip") else md5(base / f), f) for fid, md5_, f in CelebA.file_list]
    monkeypatch.setattr(CelebA, "file_list", table)
