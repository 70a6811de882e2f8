"""Tests of pixelcnn.visuals.images: grids and GIFs as files, and a cheap import."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from PIL import Image

from pixelcnn.visuals.images import grid_array, save_grid


def test_images_import_loads_neither_torch_nor_pil():
    code = "import sys, pixelcnn.visuals.images; print(sorted(m for m in ('torch', 'PIL') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_save_grid_writes_the_grid_enlarged(tmp_path):
    images = np.arange(2 * 3 * 2 * 2, dtype=np.uint8).reshape(2, 3, 2, 2)
    save_grid(tmp_path / "grid.png", images, nrow=2, scale=3)
    with Image.open(tmp_path / "grid.png") as png:
        pixels = np.asarray(png.convert("RGB")).transpose(2, 0, 1)  # (C, H, W)
    expected = grid_array(images, nrow=2).repeat(3, axis=1).repeat(3, axis=2)
    np.testing.assert_array_equal(pixels, expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.png"]
