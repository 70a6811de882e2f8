"""Tests of pixelcnn.data.datasets (the adapters) and stages/prepare.py on tiny datasets written in their real on-disk formats.

Shape legend: N images, C channels, H W pixels.
"""

from __future__ import annotations

import gzip
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pixelcnn.configs import DataConfig
from pixelcnn.data.datasets import FASHION_MNIST_PACKAGE, prepare
from pixelcnn.data.prepared import load_split, split_indices
from pixelcnn.errors import ConfigError, DataError
from pixelcnn.project import params

from helpers import stage
from raw_datasets import CELEBA_ATTRS, CIFAR_NAMES, write_idx
from raw_datasets import accept_celeba_checksums as _accept_celeba_checksums
from raw_datasets import accept_cifar_checksums as _accept_fixture_checksums
from raw_datasets import write_celeba as _write_celeba
from raw_datasets import write_cifar as _write_cifar
from raw_datasets import write_mnist as _write_mnist

REPO = Path(__file__).resolve().parents[2]


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


LAYOUTS = {"torchvision": lambda folder: folder, "flat": lambda folder: None}  # root/<folder>/raw/..., or root/... (Debian's)
PACKAGE = Path(FASHION_MNIST_PACKAGE)


@pytest.mark.parametrize("compressed", [False, True], ids=["idx", "idx.gz"])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name, folder", [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_mnist_idx_files_pad_28_to_32_in_either_layout_compressed_or_not(tmp_path, name, folder, layout, compressed):
    arrays = _write_mnist(tmp_path, LAYOUTS[layout](folder), compressed=compressed)
    assert all((path.suffix == ".gz") == compressed for path in tmp_path.rglob("*-ubyte*"))
    data = prepare(DataConfig(name=name, root=str(tmp_path)))
    assert data.train_images.shape == (12, 1, 32, 32) and data.test_images.shape == (6, 1, 32, 32)
    np.testing.assert_array_equal(data.train_images[:, 0], np.pad(arrays["train-images-idx3-ubyte"], ((0, 0), (2, 2), (2, 2))))
    np.testing.assert_array_equal(data.test_images[:, 0], np.pad(arrays["t10k-images-idx3-ubyte"], ((0, 0), (2, 2), (2, 2))))
    np.testing.assert_array_equal(data.train_labels, arrays["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(data.test_labels, arrays["t10k-labels-idx1-ubyte"])
    assert data.train_images.flags["C_CONTIGUOUS"] and data.train_labels.dtype == np.int64
    assert len(data.class_names) == 10 and (data.class_names[9] == "Ankle boot") == (name == "fashion_mnist")


def test_fashion_mnist_class_names_are_torchvisions():
    from torchvision.datasets import FashionMNIST

    assert prepare.__globals__["_IDX_DATASETS"]["fashion_mnist"].classes == tuple(FashionMNIST.classes)


def test_mnist_torchvision_layout_wins_over_a_flat_one(tmp_path):
    inner = _write_mnist(tmp_path, "MNIST")
    _write_mnist(tmp_path, None, n_train=20, compressed=True)  # other files, flat: not read
    data = prepare(DataConfig(name="mnist", root=str(tmp_path)))
    np.testing.assert_array_equal(data.train_labels, inner["train-labels-idx1-ubyte"])


def test_mnist_resizes_when_not_32(tmp_path):
    arrays = _write_mnist(tmp_path, "MNIST", compressed=True)
    data = prepare(DataConfig(name="mnist", root=str(tmp_path), image_size=16, max_test=4))
    assert data.train_images.shape == (12, 1, 16, 16) and data.test_images.shape == (4, 1, 16, 16)
    first = np.asarray(Image.fromarray(np.pad(arrays["train-images-idx3-ubyte"][0].astype(np.uint8), 2)).resize((16, 16), Image.BILINEAR))
    np.testing.assert_array_equal(data.train_images[0, 0], first)


def test_fashion_mnist_missing_names_the_package_and_its_folder(tmp_path):
    with pytest.raises(DataError) as err:
        prepare(DataConfig(name="fashion_mnist", root=str(tmp_path)))
    assert str(err.value) == (
        f"{tmp_path}/FashionMNIST/raw/train-images-idx3-ubyte not found (nor train-images-idx3-ubyte.gz); install Debian's "
        f"package (`apt-get install dataset-fashion-mnist`) and set data.root: /usr/share/datasets/fashion-mnist, or put the "
        f"four idx files (.gz or not) in {tmp_path} or {tmp_path}/FashionMNIST/raw "
        "(or set data.download: true when online, or data.name: digits)"
    )


def test_mnist_missing_says_where_to_put_the_files(tmp_path):
    with pytest.raises(DataError) as err:
        prepare(DataConfig(name="mnist", root=str(tmp_path)))
    assert str(err.value) == (
        f"{tmp_path}/MNIST/raw/train-images-idx3-ubyte not found (nor train-images-idx3-ubyte.gz); put MNIST's four idx files "
        f"(.gz or not) in {tmp_path} or {tmp_path}/MNIST/raw (or set data.download: true when online, or data.name: digits)"
    )


def test_mnist_one_missing_file_is_named_in_the_folder_holding_the_others(tmp_path):
    _write_mnist(tmp_path, None, compressed=True)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=rf"^{tmp_path}/t10k-labels-idx1-ubyte not found \(nor t10k-labels-idx1-ubyte\.gz\);"):
        prepare(DataConfig(name="fashion_mnist", root=str(tmp_path)))


def _damage(path: Path, how: str) -> None:
    raw = path.read_bytes()
    if how == "truncated":
        path.write_bytes(raw[: len(raw) // 2])
    elif how == "extra bytes":
        path.write_bytes(gzip.compress(gzip.decompress(raw) + b"\0") if path.suffix == ".gz" else raw + b"\0")
    elif how == "not idx":
        path.write_bytes(gzip.compress(b"<html>404</html>") if path.suffix == ".gz" else b"<html>404</html>")
    elif how == "int32 idx":
        data = bytearray(gzip.decompress(raw) if path.suffix == ".gz" else raw)
        data[2] = 0x0C
        path.write_bytes(gzip.compress(bytes(data)) if path.suffix == ".gz" else bytes(data))
    elif how == "bad crc":
        path.write_bytes(raw[:-8] + bytes([raw[-8] ^ 1]) + raw[-7:])


@pytest.mark.parametrize("how, reason", [
    ("truncated", r"cannot be decompressed \(Compressed file ended before the end-of-stream marker was reached\)"),
    ("bad crc", r"cannot be decompressed \(CRC check failed"),
    ("extra bytes", r"holds 4721 bytes, but its header \(6, 28, 28\) says 4720"),
    ("not idx", r"is not an idx file \(no idx header\)"),
    ("int32 idx", r"holds idx type 0x0c of 3 dimensions, expected unsigned bytes \(0x08\) of 3"),
])
def test_mnist_damaged_gz_file_is_named(tmp_path, how, reason):
    _write_mnist(tmp_path, None, compressed=True)
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    _damage(path, how)
    with pytest.raises(DataError) as err:
        prepare(DataConfig(name="fashion_mnist", root=str(tmp_path)))
    assert re.match(rf"^{path}: {reason}.*; the file is damaged, so reinstall or re-download it$", str(err.value)), str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("how, reason", [
    ("truncated", r"holds 4712 bytes, but its header \(12, 28, 28\) says 9424"),
    ("not idx", r"is not an idx file \(no idx header\)"),
])
def test_mnist_damaged_uncompressed_file_is_named(tmp_path, how, reason):
    _write_mnist(tmp_path, "MNIST")
    path = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte"
    _damage(path, how)
    with pytest.raises(DataError, match=rf"^{path}: {reason}; the file is damaged, so reinstall or re-download it$"):
        prepare(DataConfig(name="mnist", root=str(tmp_path)))


def test_mnist_labels_that_do_not_match_the_images_name_the_file(tmp_path):
    _write_mnist(tmp_path, None)
    labels = tmp_path / "train-labels-idx1-ubyte"
    write_idx(labels, np.arange(11) % 10)
    with pytest.raises(DataError, match=rf"^{labels}: 11 labels for the 12 images of {tmp_path}/train-images-idx3-ubyte;"):
        prepare(DataConfig(name="mnist", root=str(tmp_path)))
    write_idx(labels, np.arange(12) % 10 + 3)
    with pytest.raises(DataError, match=rf"^{labels}: label 12 is not one of the 10 classes \(0\.\.9\);"):
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


def test_mnist_download_goes_through_torchvision_into_its_layout(tmp_path, monkeypatch):
    """torchvision's download() leaves the four files (and their .gz) in <root>/MNIST/raw; prepare then reads them."""
    from torchvision import datasets

    written = {}
    monkeypatch.setattr(datasets.MNIST, "download", lambda self: written.update(_write_mnist(Path(self.root), "MNIST")))
    data = prepare(DataConfig(name="mnist", root=str(tmp_path), download=True))
    np.testing.assert_array_equal(data.test_labels, written["t10k-labels-idx1-ubyte"])


@pytest.mark.skipif(not PACKAGE.is_dir(), reason=f"Debian's dataset-fashion-mnist is not installed ({PACKAGE} not found): "
                    "`apt-get install dataset-fashion-mnist` runs this test on the real files")
def test_fashion_mnist_reads_debians_package_as_installed():
    data = prepare(DataConfig(name="fashion_mnist", root=str(PACKAGE)))
    assert data.train_images.shape == (60000, 1, 32, 32) and data.test_images.shape == (10000, 1, 32, 32)
    assert np.bincount(data.train_labels).tolist() == [6000] * 10 and np.bincount(data.test_labels).tolist() == [1000] * 10
    border = np.ones((32, 32), bool)
    border[2:30, 2:30] = False
    assert not data.train_images[:, 0, border].any()  # the zero-padded LeNet canvas
    assert data.train_images.max() == 255 and 50 < data.train_images.mean() < 80  # clothes on black, not noise


# --------------------------------------------------------------------------- CIFAR-10 (pickled batches)

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
    from pixelcnn.project.stage import stage_main

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
