"""Shared test helpers: full params files with overrides, tiny prepared data, stage entry points, hostile images."""

from __future__ import annotations

import functools
import importlib.util
import json
import struct
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]


def default_params() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def tiny_params() -> dict[str, Any]:
    """The project's params.yaml with tests/tiny_params.yaml's overrides: every stage in seconds."""
    full = default_params()
    for section, values in yaml.safe_load((ROOT / "tests" / "tiny_params.yaml").read_text()).items():
        full[section] = {**full[section], **values} if isinstance(values, dict) else values
    return full


def write_params(path: Path, base: dict[str, Any] | None = None, **sections: dict[str, Any]) -> Path:
    """Write ``base`` (default: tiny params) with ``sections`` merged in (``seed=3`` sets the seed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = base if base is not None else tiny_params()
    for name, values in sections.items():
        raw[name] = {**raw[name], **values} if isinstance(values, dict) else values
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


DOC_PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]  # every page whose snippets are run by a test


def doc_blocks() -> list[tuple[Path, str]]:
    """Every ```python block of the README and the docs pages, with its file, in order."""
    import re

    return [(path, block) for path in DOC_PAGES for block in re.findall(r"```python\n(.*?)```", path.read_text(), re.S)]


def doc_block(containing: str) -> str:
    """The ```python block of the README or the docs that contains ``containing``: one text, wherever it is printed.

    tests/test_docs.py requires every block to be claimed by some test's ``doc_block("...")`` call.
    """
    found = {block for _, block in doc_blocks() if containing in block}
    assert len(found) == 1, f"{len(found)} different python blocks of README.md and docs/ contain {containing!r}"
    return found.pop()


def doc_lines(containing: str) -> list[str]:
    """Every line of the README and the docs pages that contains ``containing``."""
    return [line for path in DOC_PAGES for line in path.read_text().splitlines() if containing in line]


def blobs(n: int, seed: int, size: int = 8) -> np.ndarray:
    """uint8 (n, 1, size, size): a bright square at a random place on black."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 1, size, size), dtype=np.uint8)
    for i, (r, c) in enumerate(rng.integers(0, size - 3, (n, 2))):
        images[i, 0, r : r + 3, c : c + 3] = 255
    return images


def write_prepared(root: Path, n_train: int = 40, n_test: int = 12, classes: int = 3, size: int = 8) -> Path:
    """A prepared data dir in the on-disk format of pixelcnn.data.prepared (blobs, labels i % classes)."""
    root.mkdir(parents=True)
    for split, n, seed in (("train", n_train, 1), ("test", n_test, 2)):
        np.save(root / f"{split}_images.npy", blobs(n, seed, size))
        labels = np.arange(n, dtype=np.int64) % classes if classes else np.full(n, -1, dtype=np.int64)
        np.save(root / f"{split}_labels.npy", labels)
    meta = {"name": "blobs", "channels": 1, "image_size": size, "num_classes": classes,
            "class_names": [chr(97 + k) for k in range(classes)]}
    (root / "meta.json").write_text(json.dumps({**meta, "n_train": n_train, "n_test": n_test}))
    return root


def stage(name: str) -> Callable[[list[str]], Any]:
    """The ``main(argv)`` of ``stages/<name>.py``, imported the way ``python stages/<name>.py`` would."""
    if str(ROOT / "stages") not in sys.path:
        sys.path.insert(0, str(ROOT / "stages"))
    spec = importlib.util.spec_from_file_location(f"stage_{name}", ROOT / "stages" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def outputs(tmp: Path, name: str) -> dict[str, str]:
    """Paths for every output argument of a training stage, under ``tmp``."""
    names = {"out": f"{name}.pt", "live": f"{name}_live", "grid": f"{name}_grid.png", "state": f"state/{name}"}
    paths = {k: str(tmp / v) for k, v in names.items()}
    return {**paths, "metrics": str(Path(paths["live"]) / "metrics.json")}  # DVCLive's final metrics


def logged(live: str | Path) -> dict[str, list[tuple[int, float]]]:
    """A DVCLive folder's per-epoch figures: name (``test_bpd``, ``top/test_bits_per_code``) → [(step, value), ...]."""
    root = Path(live) / "plots" / "metrics"
    out = {}
    for path in sorted(root.rglob("*.tsv")):
        lines = path.read_text().splitlines()
        assert lines[0].split("\t") == ["step", path.stem], lines[0]
        out[path.relative_to(root).with_suffix("").as_posix()] = [(int(s), float(v)) for s, v in (line.split("\t") for line in lines[1:])]
    return out


def train_args(stage_name: str, params: Path, data: Path, out: dict[str, str]) -> list[str]:
    """argv of a training stage: its data flag, then the outputs it takes."""
    data_flag = "--codes" if stage_name == "train_prior" else "--data"
    args = ["--params", str(params), data_flag, str(data), "--out", out["out"], "--live", out["live"], "--state", out["state"]]
    if stage_name == "train_vqvae":
        args += ["--grid", out["grid"]]
    return args


# A tiny VQ-VAE config (params keys of the vqvae section), for the model and stage tests.
TINY_VQVAE = dict(hidden=8, res_blocks=1, res_hidden=4, codebook_size=8, code_dim=4, bottom_downsample=2, top_downsample=2)


def point_at(monkeypatch, root: Path) -> None:
    """The demo's paths (environment variables) → a run laid out like the default one under root, its project root."""
    monkeypatch.setenv("PIXELCNN_ROOT", str(root))
    for env, rel in (("PIXELCNN_PIXEL_MODEL", "models/pixelcnn.pt"), ("PIXELCNN_PRIOR", "models/prior.pt"),
                     ("PIXELCNN_VQVAE", "models/vqvae.pt"), ("PIXELCNN_METRICS", "metrics/eval.json"),
                     ("PIXELCNN_DATA", "data/prepared")):
        monkeypatch.setenv(env, str(root / rel))


# Hostile image files: tiny PNGs whose header declares a huge image (decompression bombs).
def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@functools.lru_cache(maxsize=4)
def bomb_png(side: int) -> bytes:
    """A valid all-black 1-bit grey PNG of side × side pixels, a few KB to a hundred KB however large ``side`` is.

    Written row by row (never held decoded), so even 30000² costs the test no memory.
    """
    row = b"\0" * (1 + -(-side // 8))  # filter byte + 8 pixels a byte
    packer = zlib.compressobj(9)
    block, rows = row * 256, 0
    parts = []
    while rows < side:
        take = min(256, side - rows)
        parts.append(packer.compress(block if take == 256 else row * take))
        rows += take
    parts.append(packer.flush())
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)  # width, height, 1 bit, grey, deflate, no filter/interlace
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", b"".join(parts)) + _chunk(b"IEND", b"")


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    """Run the ``pixelcnn`` command in-process: (exit status, stdout, stderr)."""
    from pixelcnn.cli import main

    try:
        main(list(argv))
        code = 0
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err
