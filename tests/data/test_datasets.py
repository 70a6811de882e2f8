"""Tests of pixelcnn.data.datasets (the adapters) and stages/prepare.py on tiny datasets written in their real on-disk formats.

Shape legend: N images, C channels, H W pixels.
"""

from __future__ import annotations

import gzip
import hashlib
import pickle
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pixelcnn import params
from pixelcnn.configs import DataConfig
from pixelcnn.data.datasets import prepare
from pixelcnn.data.prepared import load_split, split_indices
from pixelcnn.errors import ConfigError, DataError

from helpers import stage

REPO = Path(__file__).resolve().parents[2]


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _digits_pixels() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    return np.rint(d.images * 255 / 16).astype(np.uint8), d.target


# --------------------------------------------------------------------------- digits


def test_digits_shapes_dtype_range_and_balance():
    data = prepare(DataConfig())
    assert data.train_images.shape == (1438, 1, 32, 32) and data.test_images.shape == (359, 1, 32, 32)
    assert data.train_images.dtype == np.uint8 and data.train_labels.dtype == np.int64
    assert data.train_images.min() == 0 and data.train_images.max() == 255
    assert data.class_names == [str(k) for k in range(10)]
    train_counts = np.bincount(data.train_labels, minlength=10)
    test_counts = np.bincount(data.test_labels, minlength=10)
    assert np.all(np.abs(test_counts - 0.2 * (train_counts + test_counts)) <= 0.5)  # stratified
    train_rows = {x.tobytes() for x in data.train_images}
    assert not any(x.tobytes() in train_rows for x in data.test_images)  # the 1797 digits are distinct


def test_digits_pixels_map_16_to_255_at_native_size():
    data = prepare(DataConfig(image_size=8))
    pixels, labels = _digits_pixels()
    train_idx, test_idx = split_indices(labels, 0.2, 0)
    np.testing.assert_array_equal(data.train_images[:, 0], pixels[train_idx])
    np.testing.assert_array_equal(data.test_labels, labels[test_idx])
    assert pixels.max() == 255 and set(np.unique(pixels)) <= {round(v * 255 / 16) for v in range(17)}


def test_digits_split_deterministic_per_seed():
    a, b = prepare(DataConfig(image_size=8)), prepare(DataConfig(image_size=8))
    c = prepare(DataConfig(image_size=8, split_seed=1))
    np.testing.assert_array_equal(a.train_images, b.train_images)
    np.testing.assert_array_equal(a.test_labels, b.test_labels)
    assert a.train_images.shape == c.train_images.shape and not np.array_equal(a.train_images, c.train_images)


def test_split_indices_disjoint_cover_and_singletons():
    labels = np.array([0] * 10 + [1] * 5 + [2] + [-1] * 4)
    train, test = split_indices(labels, 0.3, seed=3)
    assert len(np.intersect1d(train, test)) == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(len(labels)))
    assert [int((labels[test] == c).sum()) for c in (0, 1, 2, -1)] == [3, 2, 0, 1]


def test_max_train_subset_is_seeded_and_nested():
    small = prepare(DataConfig(image_size=8, max_train=50, max_test=20))
    large = prepare(DataConfig(image_size=8, max_train=100, max_test=20))
    assert len(small.train_labels) == 50 and len(small.test_labels) == 20
    large_rows = {x.tobytes() for x in large.train_images}
    assert all(x.tobytes() in large_rows for x in small.train_images)
    assert len(np.unique(small.train_labels)) == 10  # a random subset, not the first class only


# --------------------------------------------------------------------------- MNIST / Fashion-MNIST (idx files)


def _write_idx(path: Path, array: np.ndarray) -> None:
    """The idx format: magic (0, 0, 0x08 = uint8, ndim), big-endian uint32 dims, raw bytes."""
    header = struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def _write_mnist(root: Path, folder: str, n_train: int = 12, n_test: int = 6) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": np.arange(n_train) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": (np.arange(n_test) * 3) % 10,
    }
    for name, array in arrays.items():
        _write_idx(raw / name, array)
    return arrays


@pytest.mark.parametrize("name, folder", [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_mnist_idx_files_pad_28_to_32(tmp_path, name, folder):
    arrays = _write_mnist(tmp_path, folder)
    data = prepare(DataConfig(name=name, root=str(tmp_path)))
    assert data.train_images.shape == (12, 1, 32, 32) and data.test_images.shape == (6, 1, 32, 32)
    np.testing.assert_array_equal(data.train_images[:, 0], np.pad(arrays["train-images-idx3-ubyte"], ((0, 0), (2, 2), (2, 2))))
    np.testing.assert_array_equal(data.test_labels, arrays["t10k-labels-idx1-ubyte"])
    assert len(data.class_names) == 10 and (data.class_names[9] == "Ankle boot") == (name == "fashion_mnist")


def test_mnist_resizes_when_not_32(tmp_path):
    _write_mnist(tmp_path, "MNIST")
    data = prepare(DataConfig(name="mnist", root=str(tmp_path), image_size=16, max_test=4))
    assert data.train_images.shape == (12, 1, 16, 16) and data.test_images.shape == (4, 1, 16, 16)


def test_mnist_missing_names_the_file(tmp_path):
    with pytest.raises(DataError) as err:
        prepare(DataConfig(name="mnist", root=str(tmp_path)))
    assert str(err.value) == (
        f"{tmp_path}/MNIST/raw/train-images-idx3-ubyte not found; put the four uncompressed MNIST idx files in "
        f"{tmp_path}/MNIST/raw (or set data.download: true when online, or data.name: digits)"
    )


def test_mnist_gz_only_says_gunzip(tmp_path):
    _write_mnist(tmp_path, "MNIST")
    raw = tmp_path / "MNIST" / "raw"
    path = raw / "train-labels-idx1-ubyte"
    Path(f"{path}.gz").write_bytes(gzip.compress(path.read_bytes()))
    path.unlink()
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte\.gz is compressed; run `gunzip .*/MNIST/raw/\*\.gz`"):
        prepare(DataConfig(name="mnist", root=str(tmp_path)))


def test_mnist_failed_download_is_one_sentence(tmp_path, monkeypatch):
    from urllib.error import URLError

    from torchvision import datasets

    def offline(self):
        raise URLError("no network")

    monkeypatch.setattr(datasets.MNIST, "download", offline)
    with pytest.raises(DataError) as err:
        prepare(DataConfig(name="mnist", root=str(tmp_path), download=True))
    assert str(err.value).startswith(
        f"{tmp_path}/MNIST/raw/train-images-idx3-ubyte not found and downloading MNIST failed (URLError: "
    )
    assert "\n" not in str(err.value)


# --------------------------------------------------------------------------- CIFAR-10 (pickled batches)

CIFAR_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _write_cifar(root: Path, per_batch: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """cifar-10-batches-py as in the official tarball: pickled dicts with (n, 3072) uint8 R,G,B planes."""
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


def _accept_fixture_checksums(monkeypatch, root: Path) -> None:
    """Swap torchvision's table of official CIFAR-10 md5s for the fixture's (this test only)."""
    from torchvision.datasets import CIFAR10

    base = root / "cifar-10-batches-py"
    monkeypatch.setattr(CIFAR10, "train_list", [[f, _md5(base / f)] for f, _ in CIFAR10.train_list])
    monkeypatch.setattr(CIFAR10, "test_list", [[f, _md5(base / f)] for f, _ in CIFAR10.test_list])
    monkeypatch.setattr(CIFAR10, "meta", {**CIFAR10.meta, "md5": _md5(base / "batches.meta")})


def test_cifar10_pickled_batches_round_trip(tmp_path, monkeypatch):
    test_images, test_labels = _write_cifar(tmp_path)
    _accept_fixture_checksums(monkeypatch, tmp_path)
    data = prepare(DataConfig(name="cifar10", root=str(tmp_path)))
    assert data.train_images.shape == (20, 3, 32, 32) and data.class_names == CIFAR_NAMES
    np.testing.assert_array_equal(data.test_images, test_images)
    np.testing.assert_array_equal(data.test_labels, test_labels)
    gray = prepare(DataConfig(name="cifar10", root=str(tmp_path), grayscale=True, image_size=16))
    assert gray.train_images.shape == (20, 1, 16, 16)


def test_cifar10_checksum_mismatch_names_the_file(tmp_path):
    _write_cifar(tmp_path)
    with pytest.raises(DataError) as err:
        prepare(DataConfig(name="cifar10", root=str(tmp_path)))
    assert str(err.value) == (
        f"{tmp_path}/cifar-10-batches-py/data_batch_1: checksum does not match the official CIFAR-10 file; re-download it"
    )


def test_cifar10_missing_names_the_file(tmp_path):
    with pytest.raises(DataError, match=r"cifar-10-batches-py/data_batch_1 not found; extract cifar-10-python\.tar\.gz"):
        prepare(DataConfig(name="cifar10", root=str(tmp_path)))


# --------------------------------------------------------------------------- CelebA (aligned jpgs + list files)

CELEBA_ATTRS = ["5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs", "Big_Lips", "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows", "Chubby", "Double_Chin", "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones", "Male", "Mouth_Slightly_Open", "Mustache", "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline", "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat", "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young"]


def _write_celeba(root: Path, partitions=(0, 0, 0, 1, 2, 2)) -> np.ndarray:
    """celeba/ as torchvision reads it; each 178×218 face is green inside the central 148×148, red outside."""
    base = root / "celeba"
    (base / "img_align_celeba").mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = [f"{i + 1:06d}.jpg" for i in range(len(partitions))]
    attrs = rng.choice([-1, 1], (len(names), len(CELEBA_ATTRS)))
    face = np.zeros((218, 178, 3), np.uint8)
    face[..., 0] = 255
    face[35:183, 15:163] = (0, 200, 0)  # the centre crop: rows (218-148)/2.., cols (178-148)/2..
    for name in names:
        Image.fromarray(face).save(base / "img_align_celeba" / name, quality=95)
    n = len(names)
    rows = lambda values: "".join(f"{f} {' '.join(f'{v:>2}' for v in row)}\n" for f, row in zip(names, values))
    (base / "list_eval_partition.txt").write_text(rows([[p] for p in partitions]))
    (base / "identity_CelebA.txt").write_text(rows([[100 + i] for i in range(n)]))
    (base / "list_attr_celeba.txt").write_text(f"{n}\n{' '.join(CELEBA_ATTRS)} \n" + rows(attrs))
    (base / "list_bbox_celeba.txt").write_text(f"{n}\nimage_id x_1 y_1 width height\n" + rows([[95, 71, 226, 313]] * n))
    landmarks = "lefteye_x lefteye_y righteye_x righteye_y nose_x nose_y leftmouth_x leftmouth_y rightmouth_x rightmouth_y"
    (base / "list_landmarks_align_celeba.txt").write_text(f"{n}\n{landmarks}\n" + rows([[69, 109, 106, 113, 77, 142, 73, 152, 108, 154]] * n))
    return attrs


def _accept_celeba_checksums(monkeypatch, root: Path) -> None:
    from torchvision.datasets import CelebA

    base = root / "celeba"
    table = [(fid, md5 if f.endswith(".zip") else _md5(base / f), f) for fid, md5, f in CelebA.file_list]
    monkeypatch.setattr(CelebA, "file_list", table)


def test_celeba_official_split_crop_and_attribute(tmp_path, monkeypatch):
    attrs = _write_celeba(tmp_path)
    _accept_celeba_checksums(monkeypatch, tmp_path)
    data = prepare(DataConfig(name="celeba", root=str(tmp_path), image_size=8))
    assert data.train_images.shape == (3, 3, 8, 8) and data.test_images.shape == (2, 3, 8, 8)
    smiling = (attrs[:, CELEBA_ATTRS.index("Smiling")] + 1) // 2
    np.testing.assert_array_equal(data.train_labels, smiling[:3])
    np.testing.assert_array_equal(data.test_labels, smiling[4:])
    assert data.class_names == ["not Smiling", "Smiling"]
    pixels = data.train_images.astype(int)  # the red border is cropped away, only green is left
    assert pixels[:, 0].max() < 40 and pixels[:, 1].min() > 160 and pixels[:, 2].max() < 40
    unlabelled = prepare(DataConfig(name="celeba", root=str(tmp_path), image_size=8, celeba_attr=""))
    assert unlabelled.class_names == [] and set(unlabelled.train_labels) == {-1}


def test_celeba_unknown_attribute_and_missing_files(tmp_path, monkeypatch):
    _write_celeba(tmp_path)
    _accept_celeba_checksums(monkeypatch, tmp_path)
    with pytest.raises(DataError, match=r"list_attr_celeba\.txt has no attribute 'Smilling'; set data\.celeba_attr"):
        prepare(DataConfig(name="celeba", root=str(tmp_path), celeba_attr="Smilling"))
    with pytest.raises(DataError, match=r"^\S+/celeba/list_attr_celeba\.txt not found; put img_align_celeba/"):
        prepare(DataConfig(name="celeba", root=str(tmp_path / "elsewhere")))


# --------------------------------------------------------------------------- image folder


def _png(path: Path, color, size=(12, 10), mode="RGB") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path)


def test_folder_class_subfolders_give_sorted_labels(tmp_path):
    for i in range(5):
        _png(tmp_path / "dogs" / f"{i:03d}.png", (0, 0, 255))
        _png(tmp_path / "cats" / "nested" / f"{i:03d}.PNG", (255, 0, 0), mode="RGBA")
    (tmp_path / "cats" / "notes.txt").write_text("not an image")
    data = prepare(DataConfig(name="folder", root=str(tmp_path), image_size=8, test_fraction=0.4))
    assert data.class_names == ["cats", "dogs"]
    assert data.train_images.shape == (6, 3, 8, 8) and data.test_images.shape == (4, 3, 8, 8)
    assert np.bincount(data.test_labels).tolist() == [2, 2]
    for images, labels in ((data.train_images, data.train_labels), (data.test_images, data.test_labels)):
        np.testing.assert_array_equal(images[:, 0, 0, 0], np.where(labels == 0, 255, 0))  # cats red, dogs blue
    gray = prepare(DataConfig(name="folder", root=str(tmp_path), image_size=8, grayscale=True))
    assert gray.train_images.shape[1] == 1


def test_folder_flat_is_unlabelled(tmp_path):
    for i in range(4):
        _png(tmp_path / f"{i}.jpg", (10 * i, 20, 30))
    data = prepare(DataConfig(name="folder", root=str(tmp_path), image_size=4))
    assert data.class_names == [] and data.num_classes == 0
    assert set(data.train_labels) == {-1} and len(data.train_labels) + len(data.test_labels) == 4


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_folder_corrupt_image_names_the_file(tmp_path, damage):
    for i in range(3):
        _png(tmp_path / "cats" / f"{i:03d}.png", (i, i, i), size=(64, 64))
    bad = tmp_path / "cats" / "003.png"
    if damage == "garbage":
        bad.write_bytes(b"this is not a png")
    else:
        Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(bad)
        bad.write_bytes(bad.read_bytes()[:200])
    with pytest.raises(DataError) as err:
        prepare(DataConfig(name="folder", root=str(tmp_path)))
    message = str(err.value)
    assert message.startswith(f"{bad}: cannot read image (") and message.endswith("); remove or replace it")


def test_folder_missing_and_loose_images(tmp_path):
    with pytest.raises(DataError, match="image folder not found"):
        prepare(DataConfig(name="folder", root=str(tmp_path / "nope")))
    _png(tmp_path / "cats" / "0.png", (1, 2, 3))
    _png(tmp_path / "stray.png", (1, 2, 3))
    with pytest.raises(DataError, match=r"stray\.png: image lies beside the class subfolders"):
        prepare(DataConfig(name="folder", root=str(tmp_path)))


# --------------------------------------------------------------------------- params and the stage


def _params_file(tmp_path: Path, data_section: str) -> Path:
    """The project's params with ``data_section`` (YAML lines of the data section) merged in."""
    import yaml

    from helpers import write_params

    return write_params(tmp_path / "params.yaml", data=yaml.safe_load("x:\n" + data_section)["x"])


def test_params_range_is_one_sentence(tmp_path):
    path = _params_file(tmp_path, "  image_size: -1\n")
    with pytest.raises(ConfigError) as err:
        params.load(path, "data", DataConfig)
    assert str(err.value) == f"{path}: data.image_size must be >= 4, got -1"
    with pytest.raises(ValueError, match=r"^test_fraction must be in \(0, 1\), got 1\.0"):
        DataConfig(test_fraction=1.0)


def test_params_yaml_spells_out_the_defaults():
    assert params.load(REPO / "params.yaml", "data", DataConfig) == DataConfig()


def test_stage_prepare_writes_loadable_dir(tmp_path):
    path = _params_file(tmp_path, "  image_size: 8\n  max_train: 40\n  max_test: 10\n")
    stage("prepare")(["--params", str(path), "--out", str(tmp_path / "prepared")])
    test = load_split(tmp_path / "prepared", "test")
    assert test.images.shape == (10, 1, 8, 8) and test.meta.n_train == 40 and test.meta.num_classes == 10


def test_stage_prepare_error_is_one_line(tmp_path, monkeypatch, capsys):
    from pixelcnn.runtime import stage_main

    path = _params_file(tmp_path, f"  name: folder\n  root: {tmp_path / 'nope'}\n")
    monkeypatch.setattr(sys, "argv", ["prepare.py", "--params", str(path), "--out", str(tmp_path / "out")])
    with pytest.raises(SystemExit) as exit_:
        stage_main(stage("prepare"))
    assert exit_.value.code == 1 and not (tmp_path / "out").exists()
    assert capsys.readouterr().err.startswith(f"error: {tmp_path / 'nope'}: image folder not found;")


# --------------------------------------------------------------------------- deep images (16/32-bit)

# 16-bit values and their 8-bit images under round(v · 255 / 65535) = round(v / 257)
DEEP_VALUES = np.array([0, 128, 129, 257, 385, 386, 32767, 32896, 65278, 65406, 65407, 65535] * 12, dtype=np.uint16)
DEEP_EXPECTED = np.array([0, 0, 1, 1, 1, 2, 127, 128, 254, 254, 255, 255] * 12, dtype=np.uint8)


def _write_deep(tmp_path: Path, suffix: str, dtype: str) -> None:
    """Two identical 12×12 images (one per split) in ``dtype``, written by PIL as ``suffix`` files."""
    pixels = DEEP_VALUES.reshape(12, 12).astype(dtype)
    for i in range(2):
        Image.fromarray(pixels).save(tmp_path / f"{i}{suffix}")


@pytest.mark.parametrize("suffix, dtype, mode", [(".png", "<u2", "I;16"), (".tif", ">u2", "I;16B"), (".tif", "<i4", "I")])
def test_folder_16_bit_images_scale_to_8_bits_with_rounding(tmp_path, suffix, dtype, mode):
    _write_deep(tmp_path, suffix, dtype)
    with Image.open(tmp_path / f"0{suffix}") as img:
        assert img.mode == mode  # the real format under test
    expected = DEEP_EXPECTED.reshape(1, 12, 12)
    for grayscale, channels in ((True, 1), (False, 3)):
        data = prepare(DataConfig(name="folder", root=str(tmp_path), image_size=12, grayscale=grayscale))
        for images in (data.train_images, data.test_images):
            assert images.shape == (1, channels, 12, 12)
            np.testing.assert_array_equal(images[0], np.broadcast_to(expected, (channels, 12, 12)))


def test_folder_32_bit_values_beyond_16_bits_are_refused(tmp_path):
    _write_deep(tmp_path, ".tif", "<i4")
    Image.fromarray(np.full((12, 12), 70000, dtype=np.int32)).save(tmp_path / "1.tif")
    with pytest.raises(DataError) as err:
        prepare(DataConfig(name="folder", root=str(tmp_path), image_size=12))
    assert str(err.value) == (
        f"{tmp_path / '1.tif'}: 32-bit integer pixels span 70000..70000, beyond the 16-bit range 0..65535; "
        "convert it to an 8- or 16-bit image"
    )


def test_folder_float_images_are_refused(tmp_path):
    _write_deep(tmp_path, ".png", "<u2")
    Image.fromarray(np.full((12, 12), 0.5, dtype=np.float32)).save(tmp_path / "2.tif")
    with pytest.raises(DataError) as err:
        prepare(DataConfig(name="folder", root=str(tmp_path), image_size=12))
    assert str(err.value) == f"{tmp_path / '2.tif'}: floating-point pixels (mode F) have no fixed range; convert it to an 8- or 16-bit image"
