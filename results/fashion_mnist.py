"""Run the `fashion-mnist` preset's whole DAG and collect its figures into results/fashion-mnist/.

    uv run python results/fashion_mnist.py run        # pixelcnn preset fashion-mnist, then a timed `dvc repro`
    uv run python results/fashion_mnist.py collect    # copy the run's figures, score the border (below)

Run it in a clone of its own (`git clone . /tmp/fm && cd /tmp/fm`): the preset replaces params.yaml and the
run rewrites dvc.lock and metrics/, which in the repository stay the default run's. `run` needs Debian's
dataset-fashion-mnist (`apt-get install dataset-fashion-mnist`) and writes repro.log (every line of `dvc repro` but its
progress bars, each prefixed by the seconds since the start) and stage_seconds.json (each stage's wall time, from the lines
"Running stage '...'"). `collect` copies into results/fashion-mnist/ the exact params.yaml and dvc.lock of the
run, eval.json and eval.md, every model's final metrics.json, per-epoch .tsv files and curves, the sample grids
(100 samples, one class per column), the progressive strip and completions of the pixel model and the VQ-VAE's
reconstructions; and writes border.json:

The pixel model's bits/dim is of the 32×32 canvas (1,024 dimensions), whose 2-pixel border is always 0 in
MNIST-like data. border.json splits the bits of all 10,000 test images between the 784 real pixels (the 28×28
centre) and the 240 border ones, from the model's own per-position log-likelihoods: per 32×32 dimension (the
training metric), per real 28×28 pixel (the centre's bits / 784, the border left out) and the border's bits per
image (what it adds).
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "results" / "fashion-mnist"
PROGRESS = re.compile(r"\|\s*\d+/\d+ \[")  # a progress bar's line: "...|  97/1875 [01:08<21:53, ..."
PAD = 2  # the zero border of the 28×28 images on the 32×32 canvas
COPIED = [
    "params.yaml", "dvc.lock", "metrics/eval.json", "metrics/eval.md",
    "metrics/pixelcnn_samples.png", "metrics/prior_samples.png", "metrics/pixelcnn_progress.png",
    "metrics/pixelcnn_completion.png", "metrics/vqvae_recon.png",
]


def run() -> None:
    subprocess.run(["uv", "run", "pixelcnn", "preset", "fashion-mnist"], cwd=ROOT, check=True)
    OUT.mkdir(parents=True, exist_ok=True)
    start, stages, current = time.time(), {}, None
    with (OUT / "repro.log").open("w") as log:
        process = subprocess.Popen(["uv", "run", "dvc", "repro"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, bufsize=1)
        for line in process.stdout:
            now = time.time() - start
            if PROGRESS.search(line):  # tqdm's bars: thousands of lines a stage, none a figure
                continue
            log.write(f"{now:8.1f} {line}")
            log.flush()
            if line.startswith("Running stage '"):
                if current:
                    stages[current] = round(now - stages[current], 1)
                current = line.split("'")[1]
                stages[current] = now
        if process.wait():
            sys.exit(f"dvc repro failed: see {OUT / 'repro.log'}")
    if current:
        stages[current] = round(time.time() - start - stages[current], 1)
    stages["total"] = round(time.time() - start, 1)
    (OUT / "stage_seconds.json").write_text(json.dumps(stages, indent=1) + "\n")
    print(json.dumps(stages, indent=1))


@torch.no_grad()
def border_bits(model_path: Path, data: Path, batch_size: int = 250) -> dict[str, float]:
    """Test bits of the pixel model at ``model_path`` on the prepared ``data``: per 32×32 dimension, per real 28×28 pixel
    and the border's per image (see the module docstring)."""
    from pixelcnn import checkpoints
    from pixelcnn.data.pixels import quantise
    from pixelcnn.data.prepared import load_split
    from pixelcnn.models.pixelcnn import PixelCNN

    model = checkpoints.load_model(model_path, PixelCNN)
    test = load_split(data, "test")
    c, h, w = test.images.shape[1:]
    centre = torch.zeros(h, w, dtype=torch.bool)
    centre[PAD : h - PAD, PAD : w - PAD] = True
    inside = outside = 0.0
    for start in range(0, len(test.images), batch_size):
        x = quantise(test.images[start : start + batch_size], model.config.levels)  # (B, C, H, W)
        labels = torch.from_numpy(np.asarray(test.labels[start : start + batch_size])) if model.config.num_classes else None
        nats = F.cross_entropy(model(x, labels).float(), x, reduction="none")  # (B, C, H, W)
        inside += float(nats[:, :, centre].sum())
        outside += float(nats[:, :, ~centre].sum())
    n, bits = len(test.images), 1 / math.log(2)
    return {
        "test_images": n,
        "bits_per_32x32_dimension": (inside + outside) * bits / (n * c * h * w),
        "bits_per_28x28_pixel": inside * bits / (n * c * int(centre.sum())),
        "border_bits_per_image": outside * bits / n,
        "border_dimensions": c * int((~centre).sum()),
    }


def collect() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        shutil.copy(ROOT / name, OUT / Path(name).name)
    for model in ("pixelcnn", "vqvae", "prior", "classifier"):
        target = OUT / model
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(ROOT / "metrics" / model, target)
    figures = border_bits(ROOT / "models" / "pixelcnn.pt", ROOT / "data" / "prepared")
    (OUT / "border.json").write_text(json.dumps(figures, indent=1) + "\n")
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    commands = {"run": run, "collect": collect}
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        sys.exit("usage: uv run python results/fashion_mnist.py run|collect")
    commands[sys.argv[1]]()
