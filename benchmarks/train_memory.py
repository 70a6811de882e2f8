"""Peak memory of ``train_pixelcnn`` stays flat as the training set grows: batches are streamed.

Writes synthetic prepared data (random uint8 images, 1×32×32) of N and 4N
train images to a temporary dir, then runs the real ``train_pixelcnn`` stage
(one epoch of a tiny 16-level model, batch 256, one torch thread) on each in a fresh
subprocess and prints one JSON line per run: images, peak RSS
(``ru_maxrss``) once torch and the stage are imported (the baseline) and
after training, and seconds. Linux carries a parent's resident memory at
fork into a child's ``ru_maxrss``, so the parent here imports nothing heavy.

``--compare`` adds, for contrast, the same runs after materialising the
training images as int64 tensors the way the trainer used to (8 bytes per
pixel value): what growth looks like.

    uv run python benchmarks/train_memory.py            # N = 50000
    uv run python benchmarks/train_memory.py --n 20000 --compare
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

ROOT = Path(__file__).resolve().parents[1]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def write_params(path: Path) -> None:
    import yaml

    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["pixelcnn"].update(levels=16, hidden=8, skip=8, layers=2, kernel=3, position_channels=0, epochs=1, batch_size=256,
                           precision="fp32", device="cpu")
    raw["train"].update(checkpoint_every=0, workers=0)
    path.write_text(yaml.safe_dump(raw))


def child(data: str, params: str, out: str, mode: str) -> None:
    import numpy as np
    import torch

    sys.path.insert(0, str(ROOT / "stages"))
    import dvclive  # noqa: F401  (the stage's logger, imported before the baseline: a constant, not the data's memory)
    import train_pixelcnn

    from pixelcnn.data.prepared import PreparedMeta

    torch.set_num_threads(1)
    held = None
    if mode == "int64 copy":  # what the trainer did before streaming: the whole split as int64 in memory
        held = torch.from_numpy(np.load(Path(data) / "train_images.npy").astype(np.int64))
    baseline = peak_rss_mb()
    start = time.perf_counter()
    argv = ["--params", params, "--data", data, "--out", f"{out}/m.pt", "--live", f"{out}/live", "--state", f"{out}/state"]
    with open("/dev/null", "w") as sink:
        stderr, sys.stderr = sys.stderr, sink  # the progress bar
        stdout, sys.stdout = sys.stdout, sink
        try:
            train_pixelcnn.main(argv)
        finally:
            sys.stderr, sys.stdout = stderr, stdout
    seconds = time.perf_counter() - start
    images = PreparedMeta.read(data).n_train
    print(json.dumps({
        "reader": mode,
        "train_images": images,
        "uint8_mb": round(images * 32 * 32 / 2**20, 1),
        "baseline_rss_mb": round(baseline, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "growth_mb": round(peak_rss_mb() - baseline, 1),
        "seconds": round(seconds, 1),
    }), flush=True)
    del held


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=50000, help="train images of the small run; the large one has 4n")
    p.add_argument("--compare", action="store_true", help="also run with the split held as int64, as before streaming")
    p.add_argument("--child", nargs=4, metavar=("DATA", "PARAMS", "OUT", "MODE"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(*args.child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_params(tmp / "params.yaml")
        for n in (args.n, 4 * args.n):
            write_prepared(tmp / f"data{n}", n, n_test=64, num_classes=10)
        for mode in ["streamed"] + (["int64 copy"] if args.compare else []):
            for n in (args.n, 4 * args.n):
                out = tmp / f"out{n}{mode[0]}"
                out.mkdir()
                cmd = [sys.executable, __file__, "--child", str(tmp / f"data{n}"), str(tmp / "params.yaml"), str(out), mode]
                subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()
