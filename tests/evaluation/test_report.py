"""The evaluate stage's files (pixelcnn.evaluation.report): likelihoods carried from training metrics, and
sample folders read with one sentence when they are not what a sampling stage writes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scoring_fakes import blobs

from pixelcnn.errors import DataError
from pixelcnn.evaluation import report


def test_read_likelihoods_keeps_test_bits_flattened(tmp_path):
    (tmp_path / "prior.json").write_text(json.dumps({
        "top": {"test_bits_per_code": 3.5, "train_bits_per_code": 3.1},
        "bottom": {"test_bits_per_code": 2.5, "note": "x"},
        "parameters": 10,
    }))
    assert report.read_likelihoods(tmp_path / "prior.json") == {
        "top.test_bits_per_code": 3.5, "bottom.test_bits_per_code": 2.5,
    }


def test_load_samples_object_array_is_our_sentence_without_numpy_advice(tmp_path):
    (tmp_path / "pixelcnn").mkdir()
    path = tmp_path / "pixelcnn" / "samples.npy"
    np.save(path, np.array([blobs(1, 0), None], dtype=object), allow_pickle=True)
    with pytest.raises(DataError) as err:
        report.load_samples(tmp_path / "pixelcnn")
    assert str(err.value) == f"{path}: not a readable .npy file (holds pickled Python objects, not numbers); re-run its sampling stage"
