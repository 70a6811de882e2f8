"""Tests of pixelcnn.data.npy: the one .npy reader, rows read with flat memory, the streaming writer.

Legend: N rows, B rows read at once.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np
import pytest

from pixelcnn.data.npy import NpyFile, NpyWriter, load_npy, read_rows
from pixelcnn.errors import DataError

SRC = Path(__file__).resolve().parents[2] / "src" / "pixelcnn"


def test_npy_file_reads_any_rows_in_any_order(tmp_path):
    array = np.arange(7 * 2 * 3, dtype=np.int16).reshape(7, 2, 3)
    np.save(tmp_path / "a.npy", array)
    f = NpyFile(tmp_path / "a.npy")
    rows = np.array([5, 0, 5, 3])
    assert len(f) == 7 and np.array_equal(f.read(rows), array[rows])
    assert np.array_equal(f.read_range(2, 6), array[2:6])
    assert pickle.loads(pickle.dumps(f))._fd is None  # a DataLoader worker opens its own descriptor


def test_npy_file_shorter_than_its_header_is_one_sentence(tmp_path):
    path = tmp_path / "a.npy"
    np.save(path, np.zeros((4, 8), np.int64))
    f = NpyFile(path, fix="re-run prepare")
    path.write_bytes(path.read_bytes()[:-8])
    with pytest.raises(DataError, match=re.escape(f"{path}: file is shorter than its header says; re-run prepare")):
        f.read(np.array([3]))


def test_npy_file_refuses_pickles_in_our_words(tmp_path):
    path = tmp_path / "a.npy"
    np.save(path, np.array([1, None], dtype=object), allow_pickle=True)
    with pytest.raises(DataError) as err:
        NpyFile(path)
    assert str(err.value) == f"{path}: not a readable .npy file (holds pickled Python objects, not numbers); re-run the stage that writes it"


def test_npy_writer_then_read_rows_round_trip_block_by_block(tmp_path):
    array = np.random.default_rng(0).integers(0, 100, (10, 3, 3)).astype(np.int16)
    writer = NpyWriter(tmp_path / "w.npy", array.shape, np.int16)
    for start in range(0, 10, 4):
        writer.write(start, array[start : start + 4])
    mapped = load_npy(tmp_path / "w.npy", mmap=True, fix="-")
    assert isinstance(mapped, np.memmap)
    blocks = [read_rows(mapped, start, min(start + 3, 10)) for start in range(0, 10, 3)]
    assert np.array_equal(np.concatenate(blocks), array)
    assert np.array_equal(read_rows(array, 2, 5), array[2:5])  # an in-memory array alike


def test_npy_every_reader_of_the_package_goes_through_load_npy():
    """One .npy reader: the package calls np.load in data/npy.py only (its sentences, never NumPy's pickle advice)."""
    readers = [str(p.relative_to(SRC)) for p in SRC.rglob("*.py") if "np.load(" in p.read_text()]
    assert readers == ["data/npy.py"], readers
