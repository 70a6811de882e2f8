"""Tests of pixelcnn.data.codes' typed meta: the format extract_codes wrote before, checks by header or by every code.

Legend: N code grids, K codebook size, h w a level's grid. (Extraction itself, decoding back and
the pairing with an autoencoder are tested with the VQ-VAE in tests/models/test_vqvae.py.)
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from pixelcnn.configs import VQVAEConfig
from pixelcnn.data.codes import CodesMeta, CodeSplit, extract_codes, load_codes, read_codes_meta
from pixelcnn.data.prepared import PreparedMeta
from pixelcnn.errors import DataError
from pixelcnn.models.vqvae import VQVAE

from helpers import TINY_VQVAE, blobs

# meta.json as extract_codes wrote it before CodesMeta existed (the tiny pipeline's codes), key for key
OLD_META = {
    "class_names": [str(k) for k in range(10)], "codebook_size": 8, "level_names": ["top", "bottom"], "levels": 2,
    "n_test": 40, "n_train": 96, "num_classes": 10, "shapes": {"bottom": [4, 4], "top": [2, 2]},
    "vqvae_fingerprint": "3b77a46e72eb8871",
}


def _model() -> VQVAE:
    torch.manual_seed(0)
    return VQVAE(VQVAEConfig(channels=1, image_size=8, levels=2, **TINY_VQVAE))


def test_codes_meta_json_round_trip_keeps_the_file_format():
    meta = CodesMeta.from_json(OLD_META)
    assert meta.levels == 2 and meta.shapes["top"] == (2, 2) and meta.size("train") == 96
    assert meta.class_names == tuple(OLD_META["class_names"])
    assert meta.to_json() == OLD_META


def test_codes_meta_of_extract_codes_without_data_meta_or_test_split(tmp_path):
    meta = extract_codes(_model(), {"train": (blobs(6, 0), np.zeros(6, np.int64))}, tmp_path / "codes", progress=False)
    written = json.loads((tmp_path / "codes" / "meta.json").read_text())
    assert set(written) == {"levels", "level_names", "codebook_size", "shapes", "num_classes", "vqvae_fingerprint", "n_train"}
    assert read_codes_meta(tmp_path / "codes") == meta and meta.size("test") is None and meta.class_names is None
    with pytest.raises(DataError, match="has no 'test' split; re-run extract_codes"):
        load_codes(tmp_path / "codes", "test")


def test_codes_meta_carries_the_prepared_classes(tmp_path):
    data = PreparedMeta("blobs", 1, 8, 3, ("a", "b", "c"), n_train=6, n_test=2)
    splits = {"train": (blobs(6, 0), np.arange(6) % 3), "test": (blobs(2, 1), np.arange(2))}
    meta = extract_codes(_model(), splits, tmp_path / "codes", data_meta=data, progress=False)
    assert (meta.num_classes, meta.class_names, meta.n_train, meta.n_test) == (3, ("a", "b", "c"), 6, 2)
    split = load_codes(tmp_path / "codes", "test")
    assert isinstance(split, CodeSplit) and split.meta == meta and list(split.codes) == ["top", "bottom"]


def test_codes_meta_bad_key_is_one_sentence(tmp_path):
    extract_codes(_model(), {"train": (blobs(6, 0), np.zeros(6, np.int64))}, tmp_path / "codes", progress=False)
    path = tmp_path / "codes" / "meta.json"
    meta = json.loads(path.read_text())
    path.write_text(json.dumps({**meta, "shapes": {"top": "2x2"}}))
    with pytest.raises(DataError) as err:
        load_codes(tmp_path / "codes", "train")
    assert str(err.value) == f"{path}: shapes is {{'top': '2x2'}}, not an object of lists of integers; re-run extract_codes"


def test_load_codes_without_scan_checks_headers_but_not_every_code(tmp_path):
    extract_codes(_model(), {"train": (blobs(6, 0), np.zeros(6, np.int64))}, tmp_path / "codes", progress=False)
    path = tmp_path / "codes" / "train_bottom.npy"
    bad = np.load(path)
    bad[3, 1, 2] = 8  # K = 8: outside the codebook
    np.save(path, bad)
    assert load_codes(tmp_path / "codes", "train", scan=False).codes["bottom"][3, 1, 2] == 8
    with pytest.raises(DataError, match="holds code 8, outside the codebook"):
        load_codes(tmp_path / "codes", "train")
    np.save(path, bad[:5])
    with pytest.raises(DataError, match=r"do not match meta.json's int16 \(6, 4, 4\)"):
        load_codes(tmp_path / "codes", "train", scan=False)
