"""Synthetic prepared data for the benchmarks: the format ``prepare`` writes, random C×size×size uint8 images.

Imported by the benchmark scripts, which run with ``benchmarks/`` first on ``sys.path``. NumPy is
imported inside, so a memory benchmark's parent process stays light (Linux carries its resident
memory into a forked child's ``ru_maxrss``).
"""

from __future__ import annotations

import json
from pathlib import Path


def write_prepared(root: Path, n_train: int, n_test: int, num_classes: int, size: int = 32, channels: int = 1) -> None:
    """Train/test images (written in chunks of 4096, so ``n_train`` may exceed RAM), labels and meta.json."""
    import numpy as np

    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, count in (("train", n_train), ("test", n_test)):
        images = np.lib.format.open_memmap(root / f"{split}_images.npy", mode="w+", dtype=np.uint8, shape=(count, channels, size, size))
        for start in range(0, count, 4096):
            stop = min(start + 4096, count)
            images[start:stop] = rng.integers(0, 256, (stop - start, channels, size, size), dtype=np.uint8)
        images.flush()
        del images
        np.save(root / f"{split}_labels.npy", rng.integers(0, num_classes, count).astype(np.int64))
    meta = {"name": "random", "channels": channels, "image_size": size, "num_classes": num_classes,
            "class_names": [str(k) for k in range(num_classes)], "n_train": n_train, "n_test": n_test}
    (root / "meta.json").write_text(json.dumps(meta))
