"""Training rows (pixelcnn.training.loader): the row sources give the same batches for the same keys, columns
of different lengths are one sentence, and the batch order covers every row once per epoch, sharded."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pixelcnn.errors import DataError
from pixelcnn.training.loader import ArrayRows, BatchKey, EpochBatches, NpyRows


def test_loader_npy_files_and_arrays_give_the_same_batches(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (9, 1, 4, 4), dtype=np.uint8)
    codes = np.arange(9 * 6, dtype=np.int16).reshape(9, 2, 3)
    np.save(tmp_path / "images.npy", images)
    np.save(tmp_path / "codes.npy", codes)
    files = NpyRows({"images": tmp_path / "images.npy", "codes": tmp_path / "codes.npy"})
    arrays = ArrayRows({"images": images, "codes": codes})
    assert len(files) == len(arrays) == 9
    key = BatchKey((7, 0, 3), offset=2, total=8)
    a, b = files[key], arrays[key]
    assert set(a) == set(b) == {"images", "codes", "offset", "total"}
    for name, value in a.items():
        assert value.dtype == b[name].dtype and torch.equal(value, b[name]), name
    assert a["images"].dtype == torch.uint8 and a["codes"].dtype == torch.int16
    assert torch.equal(a["codes"], torch.from_numpy(codes[[7, 0, 3]])) and int(a["offset"]) == 2 and int(a["total"]) == 8


def test_loader_columns_of_different_lengths_are_one_sentence(tmp_path):
    np.save(tmp_path / "train_images.npy", np.zeros((5, 1, 2, 2), np.uint8))
    np.save(tmp_path / "train_labels.npy", np.zeros(4, np.int64))
    with pytest.raises(DataError) as info:
        NpyRows({"images": tmp_path / "train_images.npy", "labels": tmp_path / "train_labels.npy"})
    assert str(info.value) == (f"files of one split disagree on their number of rows ({tmp_path / 'train_images.npy'} has 5, "
                               f"{tmp_path / 'train_labels.npy'} has 4); re-run the stage that writes them")
    with pytest.raises(DataError) as info:
        ArrayRows({"images": np.zeros((5, 1, 2, 2), np.uint8), "labels": np.zeros(4, np.int64)})
    assert str(info.value) == "the arrays of one split disagree on their number of rows (images has 5, labels has 4); pass one row per image"


def test_sampler_rows_of_every_epoch_each_once_and_shards_concatenate(tmp_path):
    rows = np.arange(0, 50, 2)
    one = [key.rows for key in EpochBatches(rows, 4, seed=1, epoch=3)]
    assert sorted(r for batch in one for r in batch) == list(rows)
    two = [EpochBatches(rows, 4, seed=1, epoch=3, rank=r, world=2) for r in (0, 1)]
    for (a, b), whole in zip(zip(*two), one):
        assert a.rows + b.rows == whole and a.offset == 0 and b.offset == len(a.rows) and a.total == len(whole)
    assert [key.rows for key in EpochBatches(rows, 4, seed=1, epoch=3, start=2)] == one[2:]
    assert [key.rows for key in EpochBatches(rows, 4, seed=1, epoch=4)] != one
