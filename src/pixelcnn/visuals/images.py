"""Image grids as PNG and GIF files.

Cheap to import: importing it loads NumPy and the standard library only
(``tests/visuals/test_images.py`` checks that torch and PIL stay out). PIL is
imported by the two writers.

Shapes: N images, C channels (1 grey or 3 RGB), H W pixels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pixelcnn.atomic import atomic_path


def grid_array(images_uint8: np.ndarray, nrow: int, pad: int = 2, pad_value: int = 255) -> np.ndarray:
    """Tile uint8 (N, C, H, W) images into one uint8 (C, rows·(H+pad)+pad, nrow·(W+pad)+pad) array.

    Images fill the grid row by row, ``nrow`` per row; empty cells stay ``pad_value``.
    """
    images = np.asarray(images_uint8)
    if images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError(f"expected uint8 images (N, C, H, W), got {images.dtype} {images.shape}")
    n, c, h, w = images.shape
    ncol = max(1, min(nrow, n))
    rows = max(1, -(-n // ncol))
    grid = np.full((c, rows * (h + pad) + pad, ncol * (w + pad) + pad), pad_value, dtype=np.uint8)
    for i in range(n):
        r, k = divmod(i, ncol)
        top, left = pad + r * (h + pad), pad + k * (w + pad)
        grid[:, top : top + h, left : left + w] = images[i]
    return grid


def save_grid(path: str | Path, images_uint8: np.ndarray, nrow: int, scale: int | None = None) -> None:
    """Write uint8 (N, C, H, W) images (C = 1 or 3) as one PNG grid, ``nrow`` images per row.

    Small images are enlarged by nearest neighbour: ``scale`` defaults to
    ``max(1, 128 // H)`` (a 32×32 image becomes a 128×128 tile). Atomic write.
    """
    from PIL import Image

    images = np.asarray(images_uint8)
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"expected images (N, 1 or 3, H, W), got shape {images.shape}")
    scale = scale or max(1, 128 // images.shape[2])
    grid = grid_array(images, nrow).transpose(1, 2, 0)  # (rows·H', cols·W', C)
    picture = Image.fromarray(grid[:, :, 0] if grid.shape[2] == 1 else grid)  # L or RGB from the shape
    if scale > 1:
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.Resampling.NEAREST)
    with atomic_path(path, ".png") as tmp:
        picture.save(tmp, format="PNG")


def save_gif(path: str | Path, frames: list[np.ndarray], nrow: int, scale: int | None = None, ms_per_frame: int = 250) -> None:
    """Write an animated GIF whose frame t is the grid of uint8 (N, C, H, W) ``frames[t]``.

    The last frame is held three times as long, so the finished images linger.
    """
    from PIL import Image

    if not frames:
        raise ValueError("save_gif needs at least one frame")
    scale = scale or max(1, 128 // frames[0].shape[2])
    pictures = []
    for frame in frames:
        grid = grid_array(frame, nrow).transpose(1, 2, 0)  # (rows·H', cols·W', C)
        picture = Image.fromarray(grid[:, :, 0] if grid.shape[2] == 1 else grid)
        pictures.append(picture.resize((picture.width * scale, picture.height * scale), Image.Resampling.NEAREST))
    durations = [ms_per_frame] * (len(pictures) - 1) + [ms_per_frame * 3]
    with atomic_path(path, ".gif") as tmp:
        pictures[0].save(tmp, format="GIF", save_all=True, append_images=pictures[1:], duration=durations, loop=0)


def progress_strip(frames: list[np.ndarray]) -> np.ndarray:
    """Frames (T of (N, C, H, W)) → (N·T, C, H, W): image n's frames side by side in row n (use nrow=T)."""
    stacked = np.stack(frames, axis=1)  # (N, T, C, H, W)
    return stacked.reshape(-1, *stacked.shape[2:])  # (N·T, C, H, W)
