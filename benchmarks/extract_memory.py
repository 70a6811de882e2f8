"""Peak memory of code extraction stays flat as the dataset grows.

Writes synthetic prepared data (random uint8 images, 1×32×32) of N and 4N
train images and a random-weight VQ-VAE-2 checkpoint to a temporary dir, then
runs ``extract_codes`` on each in a fresh subprocess and prints one JSON line
per run: images, peak RSS (``ru_maxrss``) once torch and the model are loaded
(the baseline) and after extraction, and seconds. All work happens in
subprocesses: Linux carries a parent's resident memory at fork into the
child's ``ru_maxrss``, so the parent here imports nothing heavy. ``--compare`` adds the same runs with two other readers, to show what
growth looks like: slices of one memory map of the whole file (its pages stay
mapped, so they count as resident), and the whole array read into memory.

    uv run python benchmarks/extract_memory.py            # N = 16000
    uv run python benchmarks/extract_memory.py --n 4000 --compare
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _prepared import write_prepared


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


READERS = {
    "windows": "streamed: a fresh memory map per batch (extract_codes)",
    "slices": "slices of one memory map of the whole file",
    "whole": "whole array read into memory",
}


def setup(tmp: Path, sizes: list[int]) -> None:
    """Write the random-weight checkpoint and one prepared data dir per size."""
    import torch

    from pixelcnn import checkpoints
    from pixelcnn.configs import VQVAEConfig
    from pixelcnn.models.vqvae import VQVAE

    torch.manual_seed(0)
    model = VQVAE(VQVAEConfig(channels=1, image_size=32))
    checkpoints.save(tmp / "vqvae.pt", model, fingerprint=model.fingerprint(), data="random")
    for n in sizes:
        write_prepared(tmp / f"data{n}", n, n_test=8, num_classes=1)


def child(data: str, model_path: str, out: str, reader: str) -> None:
    import numpy as np
    import torch

    from pixelcnn import checkpoints
    from pixelcnn.data.codes import extract_codes
    from pixelcnn.data.prepared import load_split
    from pixelcnn.models.vqvae import VQVAE

    torch.set_num_threads(1)
    model = checkpoints.load_model(model_path, VQVAE)
    baseline = peak_rss_mb()
    splits = {}
    for split in ("train", "test"):
        images, labels, meta = load_split(data, split)
        if reader == "slices":
            images = images[:]  # a view is not a file-backed root, so extract_codes slices the one whole-file map
        elif reader == "whole":
            images = np.array(images)
        splits[split] = (images, labels)
    start = time.perf_counter()
    extract_codes(model, splits, out, batch_size=256, data_meta=meta, progress=False)
    seconds = time.perf_counter() - start
    print(json.dumps({
        "reader": READERS[reader],
        "images": len(splits["train"][0]) + len(splits["test"][0]),
        "baseline_rss_mb": round(baseline, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "growth_mb": round(peak_rss_mb() - baseline, 1),
        "seconds": round(seconds, 1),
    }), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=16000, help="train images of the small run; the large one has 4n")
    p.add_argument("--compare", action="store_true", help="also run two readers that do not stream")
    p.add_argument("--child", nargs=4, metavar=("DATA", "MODEL", "OUT", "READER"), help=argparse.SUPPRESS)
    p.add_argument("--setup", metavar="DIR", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(*args.child)
        return
    if args.setup:
        setup(Path(args.setup), [args.n, 4 * args.n])
        return

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        subprocess.run([sys.executable, __file__, "--setup", str(tmp), "--n", str(args.n)], check=True)
        for reader in READERS if args.compare else ["windows"]:
            for n in (args.n, 4 * args.n):
                child_args = [str(tmp / f"data{n}"), str(tmp / "vqvae.pt"), str(tmp / f"codes{n}"), reader]
                subprocess.run([sys.executable, __file__, "--child", *child_args], check=True)


if __name__ == "__main__":
    main()
