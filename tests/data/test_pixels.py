"""Tests of pixelcnn.data.pixels: uint8 pixels ↔ float [-1, 1], written once for every model.

Legend: N images, C channels, H W pixels.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from pixelcnn.configs import PixelCNNConfig
from pixelcnn.data.pixels import model_config, to_float, to_uint8
from pixelcnn.errors import InvalidValue

SRC = Path(__file__).resolve().parents[2] / "src" / "pixelcnn"


def test_pixels_to_float_then_to_uint8_is_exact_for_every_value():
    x = np.arange(256, dtype=np.uint8).reshape(4, 1, 8, 8)  # (N, C, H, W)
    y = to_float(x)
    assert y.dtype == torch.float32 and float(y.min()) == -1.0 and float(y.max()) == 1.0
    assert torch.equal(y, torch.from_numpy(x).float() / 127.5 - 1)  # the formula every model was trained with
    assert np.array_equal(to_uint8(y), x)
    assert np.array_equal(to_uint8(torch.tensor([-3.0, 0.0, 5.0])), np.array([0, 128, 255], np.uint8))  # clamped


def test_pixels_to_float_keeps_a_tensors_device_and_copies_a_read_only_memmap(tmp_path):
    x = torch.full((1, 1, 2, 2), 255, dtype=torch.uint8)
    assert to_float(x).device == x.device and torch.equal(to_float(x, "cpu"), torch.ones(1, 1, 2, 2))
    np.save(tmp_path / "x.npy", np.zeros((1, 1, 2, 2), np.uint8))
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    assert torch.equal(to_float(mapped), -torch.ones(1, 1, 2, 2))


def test_pixels_conversion_to_signed_floats_is_written_once():
    """uint8 ↔ [-1, 1] lives in data/pixels.py only: the VQ-VAE, its objective, the classifier and LPIPS call it."""
    writers = [str(p.relative_to(SRC)) for p in SRC.rglob("*.py") if "127.5" in p.read_text()]
    assert writers == ["data/pixels.py"], writers


def test_pixels_model_config_takes_plain_values_and_names_the_field():
    architecture = PixelCNNConfig(hidden=12, skip=12, embed_dim=4, cond_channels=2)
    config = model_config(architecture, channels=3, image_size=8, num_classes=5)
    assert (config.channels, config.height, config.width, config.num_classes) == (3, 8, 8, 5)
    assert (config.embed_dim, config.cond_channels, config.hidden) == (0, 0, 12)  # pixels as scalars; the network kept
    with pytest.raises(InvalidValue, match=r"^levels must be in \[2, 256\] for 8-bit pixels, got 300$"):
        model_config(replace(architecture, levels=300), 1, 8, 0)
    with pytest.raises(InvalidValue, match=r"^hidden must be divisible by the 3 channels"):
        model_config(PixelCNNConfig(hidden=8, skip=12), 3, 8, 0)
