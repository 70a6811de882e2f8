"""What the evaluate stage reads and writes besides the metrics: the sets to score, the likelihoods carried
from training, and the markdown table.

The sets are the train split as ``floor`` (what a perfect model would reach)
and each generator's sample folder under its own name (``samples.npy``, and
``labels.npy``, the class each image was drawn for); the likelihoods are the
test-split bits of each training stage's metrics JSON (``read_likelihoods``),
named after their DVCLive folder. Shapes: N images, C channels, H W pixels.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from pixelcnn.data.npy import load_npy
from pixelcnn.data.prepared import load_split
from pixelcnn.errors import DataError

FLOOR = "floor"  # the train split scored like a generator: what a perfect model would reach


def load_samples(sample_dir: str | Path) -> np.ndarray:
    """A generator's ``samples.npy``: uint8 (N, C, H, W)."""
    path = Path(sample_dir) / "samples.npy"
    if not path.is_file():
        raise DataError(f"{path} not found; run the sampling stage that writes {sample_dir} or leave it out of --samples")
    images = load_npy(path, mmap=True, fix="re-run its sampling stage")
    if images.dtype != np.uint8 or images.ndim != 4:
        raise DataError(f"{path}: expected uint8 (N, C, H, W), got {images.dtype} {images.shape}; re-run its sampling stage")
    return images


def load_sample_labels(sample_dir: str | Path) -> np.ndarray | None:
    """The class each of a generator's samples was drawn for (``labels.npy`` beside ``samples.npy``), int64 (N,);
    None when the folder has none."""
    path = Path(sample_dir) / "labels.npy"
    if not path.is_file():
        return None
    labels = np.asarray(load_npy(path, mmap=False, fix="re-run its sampling stage"))
    if labels.dtype.kind not in "iu" or labels.ndim != 1:
        raise DataError(f"{path}: expected int labels (N,), got {labels.dtype} {labels.shape}; re-run its sampling stage")
    return labels.astype(np.int64)


def collect_sets(data_dir: str | Path, sample_dirs: list[str]) -> dict[str, np.ndarray]:
    """The sets to score: the train split as ``floor``, then each sample dir under its own name."""
    sets = {FLOOR: load_split(data_dir, "train").images}
    for d in sample_dirs:
        name = Path(d).name
        if name in sets:
            raise DataError(
                f"{d}: a set named {name!r} is already scored; give each sample dir a distinct name other than {FLOOR!r}"
            )
        sets[name] = load_samples(d)
    return sets


def likelihood_set(path: str | Path) -> str:
    """The set a training metrics file belongs to: its DVCLive folder (``metrics/prior/metrics.json`` → ``prior``),
    else its stem (``prior.json`` → ``prior``)."""
    path = Path(path)
    return path.parent.name if path.name == "metrics.json" else path.stem


def read_likelihoods(path: str | Path) -> dict[str, float]:
    """The test-split likelihoods of a training stage's metrics JSON, flattened.

    Keeps numeric leaves whose own key starts with ``test_`` and names bits
    (``test_bpd``, ``top.test_bits_per_code``, ...).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} not found; run the training stage that writes it or leave it out of --bpd")
    try:
        tree = json.loads(path.read_text())
    except ValueError:
        raise DataError(f"{path}: not valid JSON; re-run the training stage that writes it") from None
    out: dict[str, float] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{prefix}{k}.")
        elif isinstance(node, (int, float)) and not isinstance(node, bool):
            key = prefix[:-1]
            leaf = key.rsplit(".", 1)[-1]
            if leaf.startswith("test_") and ("bpd" in leaf or "bits" in leaf):
                out[key] = float(node)

    walk(tree, "")
    return out


def markdown_table(results: dict[str, float | None]) -> str:
    """Metrics as rows, sets as columns; ``None`` shows as ``missing``, an absent metric stays blank."""
    import pandas as pd

    columns: dict[str, dict[str, str]] = {}
    rows: dict[str, None] = {}  # metrics in first-seen order
    for key, value in results.items():
        name, metric = key.split(".", 1)
        columns.setdefault(name, {})[metric] = "missing" if value is None else f"{value:.4g}"
        rows[metric] = None
    frame = pd.DataFrame(columns, index=list(rows)).fillna("")
    frame.index.name = "metric"
    return frame.to_markdown(stralign="right") + "\n"
