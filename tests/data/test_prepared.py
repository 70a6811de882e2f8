"""Tests of pixelcnn.data.prepared: the prepared dir on disk, its typed meta, and meta.json files written before.

Shape legend: N images, C channels, H W pixels, K classes.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from pixelcnn.atomic import write_json
from pixelcnn.data.prepared import PreparedData, PreparedMeta, Split, load_split, save_prepared
from pixelcnn.errors import DataError

from helpers import write_prepared

# meta.json as prepare wrote it before PreparedMeta existed (the tiny pipeline's digits), key for key
OLD_META = {
    "channels": 1, "class_names": [str(k) for k in range(10)], "image_size": 16, "n_test": 40, "n_train": 96,
    "name": "digits", "num_classes": 10, "test_class_counts": [7, 4, 3, 5, 4, 5, 1, 4, 2, 5],
    "train_class_counts": [8, 11, 4, 11, 10, 11, 8, 5, 14, 14],
}


def _tiny() -> PreparedData:
    rng = np.random.default_rng(0)
    return PreparedData(
        name="digits", class_names=["a", "b"],
        train_images=rng.integers(0, 256, (5, 1, 4, 4), dtype=np.uint8), train_labels=np.array([0, 1, 0, 1, 1]),
        test_images=rng.integers(0, 256, (2, 1, 4, 4), dtype=np.uint8), test_labels=np.array([1, 0]),
    )


# --------------------------------------------------------------------------- the typed meta


def test_prepared_meta_json_round_trip_keeps_the_file_format():
    meta = PreparedMeta.from_json(OLD_META)
    assert meta.num_classes == 10 and meta.class_names[3] == "3" and meta.train_class_counts[8] == 14
    assert meta.size("train") == 96 and meta.size("test") == 40
    assert meta.to_json() == OLD_META  # same keys, same JSON values: a dir written before reads and writes alike


def test_prepared_meta_written_by_save_prepared_is_the_dicts_of_before(tmp_path):
    save_prepared(_tiny(), tmp_path / "prepared")
    written = json.loads((tmp_path / "prepared" / "meta.json").read_text())
    assert written == {"name": "digits", "channels": 1, "image_size": 4, "num_classes": 2, "class_names": ["a", "b"],
                       "n_train": 5, "n_test": 2, "train_class_counts": [2, 3], "test_class_counts": [1, 1]}


def test_prepared_meta_without_class_counts_still_loads(tmp_path):
    """The tests' and benchmarks' hand-written dirs (and older ones) carry no class counts."""
    split = load_split(write_prepared(tmp_path / "prepared"), "test")
    assert split.meta.train_class_counts == () and split.meta.class_names == ("a", "b", "c")


@pytest.mark.parametrize("change, sentence", [
    (lambda m: m.pop("n_test"), "lacks n_test"),
    (lambda m: [m.pop("channels"), m.pop("name")], "lacks name, channels"),
    (lambda m: m.update(channels="1"), "channels is '1', not an integer"),
    (lambda m: m.update(channels=True), "channels is True, not an integer"),
    (lambda m: m.update(class_names=[0, 1]), "class_names is [0, 1], not a list of strings"),
])
def test_prepared_meta_missing_or_bad_key_is_one_sentence_naming_it(tmp_path, change, sentence):
    out = tmp_path / "prepared"
    save_prepared(_tiny(), out)
    meta = json.loads((out / "meta.json").read_text())
    change(meta)
    write_json(out / "meta.json", meta)
    with pytest.raises(DataError) as err:
        load_split(out, "train")
    assert str(err.value) == f"{out / 'meta.json'}: {sentence}; run `uv run dvc repro prepare`"


@pytest.mark.parametrize("text, sentence", [("{", "not valid JSON"), ("[1, 2]", "holds list, not a JSON object")])
def test_prepared_meta_unreadable_json_is_one_sentence(tmp_path, text, sentence):
    out = tmp_path / "prepared"
    save_prepared(_tiny(), out)
    (out / "meta.json").write_text(text)
    with pytest.raises(DataError) as err:
        PreparedMeta.read(out)
    assert str(err.value) == f"{out / 'meta.json'}: {sentence}; run `uv run dvc repro prepare`"


# --------------------------------------------------------------------------- writing and reading back


def test_load_split_round_trip_memmap(tmp_path):
    data = _tiny()
    save_prepared(data, tmp_path / "prepared")
    split = load_split(tmp_path / "prepared", "train")
    assert isinstance(split, Split)
    images, labels, meta = split  # still unpacks as the tuple it replaced
    assert isinstance(images, np.memmap) and not images.flags.writeable
    np.testing.assert_array_equal(images, data.train_images)
    assert labels.dtype == np.int64 and labels.tolist() == [0, 1, 0, 1, 1]
    assert meta == data.meta() and meta.train_class_counts == (2, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prepared"]  # no temp dirs left


def test_save_prepared_failure_keeps_previous_output(tmp_path, monkeypatch):
    import pixelcnn.data.prepared

    save_prepared(_tiny(), tmp_path / "prepared")
    before = {p.name: p.read_bytes() for p in (tmp_path / "prepared").iterdir()}

    def broken(path, obj):
        raise OSError("disk full")

    monkeypatch.setattr(pixelcnn.data.prepared, "write_json", broken)
    with pytest.raises(OSError):
        save_prepared(_tiny(), tmp_path / "prepared")
    assert {p.name: p.read_bytes() for p in (tmp_path / "prepared").iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prepared"]


def test_load_split_missing_and_malformed(tmp_path):
    out = tmp_path / "prepared"
    with pytest.raises(DataError) as err:
        load_split(out, "train")
    assert str(err.value) == f"{out}/train_images.npy not found; run `uv run dvc repro prepare`"
    save_prepared(_tiny(), out)
    np.save(out / "test_images.npy", np.zeros((2, 1, 4, 4), np.float32))
    with pytest.raises(DataError, match=r"test_images\.npy: expected uint8 \(N, C, H, W\), got float32"):
        load_split(out, "test")
    np.save(out / "train_labels.npy", np.zeros(4, np.int64))
    with pytest.raises(DataError, match=r"train_labels\.npy: has 4 labels for 5 images"):
        load_split(out, "train")
    (out / "train_labels.npy").write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"train_labels\.npy: not a readable \.npy file"):
        load_split(out, "train")


# --------------------------------------------------------------------------- corrupt .npy files


def _object_array(path: Path) -> None:
    np.save(path, np.array([0, "one", None], dtype=object), allow_pickle=True)


def _truncated(path: Path) -> None:
    np.save(path, np.zeros(100, np.int64))
    path.write_bytes(path.read_bytes()[:200])  # header intact, 72 of 800 data bytes


@pytest.mark.parametrize("name, damage, reason", [
    ("train_labels.npy", _object_array, "holds pickled Python objects, not numbers"),
    ("train_images.npy", _object_array, "holds pickled Python objects, not numbers"),  # the memory-mapped one
    ("train_labels.npy", lambda p: p.write_bytes(pickle.dumps([0, 1])), "no valid .npy header"),
    ("train_labels.npy", lambda p: p.write_bytes(b""), "empty file"),
    ("train_labels.npy", lambda p: p.write_bytes(b"\x93NUMPY\x01\x00v\x00{'descr"), "no valid .npy header"),
    ("train_labels.npy", _truncated, "truncated: 72 of the 800 data bytes its header declares"),
    ("train_images.npy", _truncated, "truncated: 72 of the 800 data bytes its header declares"),
])
def test_load_split_corrupt_npy_is_our_sentence_without_numpy_advice(tmp_path, name, damage, reason):
    out = tmp_path / "prepared"
    save_prepared(_tiny(), out)
    damage(out / name)
    with pytest.raises(DataError) as err:
        load_split(out, "train")
    assert str(err.value) == f"{out / name}: not a readable .npy file ({reason}); run `uv run dvc repro prepare`"
