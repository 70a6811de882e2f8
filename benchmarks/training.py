"""Training speed of the gated PixelCNN through the trainer's own step, per precision and memory format.

Prints, in one run, JSON lines:

- the machine: torch threads, CPU count, load, whether the CPU has bf16
  instructions, and the fp32 2048×2048 matmul rate (GFLOP/s, best of 10);
- per model (two gated PixelCNNs of about 3.5 GMAC per 1×32×32 image:
  kernel 3, hidden = skip = 128, 10 blocks; kernel 5, hidden = skip = 96,
  10 blocks; 256 levels, 10 classes) and per setting the trainer offers
  (``precision`` fp32 / bf16 × ``channels_last`` off / on): images per
  second at batch 64 through ``Trainer._step`` (autocast, loss, backward,
  gradient norm and clipping, AdamW), the achieved GFLOP/s (3 × forward MACs
  × 2 per image: forward, and backward of about twice the forward), and the
  speed-up over fp32 contiguous. MACs are counted by
  ``torch.utils.flop_counter.FlopCounterMode`` on one image.

Each setting is timed over ``--steps`` steps after one warm-up step (best
step time kept). On a shared CPU, compare numbers of one run only.

    uv run python benchmarks/training.py
    uv run python benchmarks/training.py --models kernel5 --steps 2
    uv run python benchmarks/training.py --models default --output benchmarks/training_results.jsonl

``--models default`` is the gated pixel model that was params.yaml's default until the
3-resolution U-Net replaced it (docs/training.md: both train at the same images/s). ``--models params``
is the pixel model params.yaml describes now (on the digits' shape: 1×32×32, 10 classes).

``--compile`` adds, per precision, the step through ``torch.compile`` (as ``pixelcnn.compile:
true`` trains) and the seconds its first call spends compiling:

    uv run python benchmarks/training.py --models params --batch 16 --compile

``--deterministic`` adds, per precision, the step under ``torch.use_deterministic_algorithms``
(``train.deterministic: true``); ``--precisions fp32`` times fp32 only (bf16 autocast on a CPU
without bf16 instructions is an order of magnitude slower and not what ``auto`` picks there):

    uv run python benchmarks/training.py --models params --batch 16 --precisions fp32 --deterministic --steps 20
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _prepared import write_prepared

from pixelcnn.configs import ClassConditioning, OptimConfig, PixelCNNConfig, RunConfig
from pixelcnn.distributed import Context
from pixelcnn.models.pixelcnn import PixelCNN
from pixelcnn.runtime import cpu_has_bf16
from pixelcnn.training.loader import dir_splits
from pixelcnn.training.objectives import IMAGES
from pixelcnn.training.objectives.pixel import PixelObjective
from pixelcnn.training.session import deterministic_algorithms
from pixelcnn.training.trainer import Trainer

MODELS = {
    "kernel3": dict(kernel=3, hidden=128, skip=128, layers=10),
    "kernel5": dict(kernel=5, hidden=96, skip=96, layers=10),
    # the previous default pixel model (gated, 8 blocks); its `precision` measurements are in training_results.jsonl
    "default": dict(kernel=5, hidden=24, skip=64, layers=8, position_channels=8),
}
DEFAULT_MODELS = ["kernel3", "kernel5"]
ROOT = Path(__file__).resolve().parents[1]


def params_model() -> dict:
    """The pixel model of params.yaml (its architecture keys), as MODELS entries are."""
    from pixelcnn.project import params

    settings = params.load_file(ROOT / "params.yaml")
    config = settings.load_partial("pixelcnn", PixelCNNConfig).build(channels=1, height=32, width=32, num_classes=10)
    conditioning = settings.load("pixelcnn", ClassConditioning)
    fields = {"kernel", "hidden", "skip", "layers", "position_channels", "position_per_class", "output", "n_mix",
              "resolutions", "dropout", "attention_every", "attention_heads", "attention_dim", "context", "levels"}
    return {**{f: getattr(config, f) for f in fields}, "null_class": conditioning.cond_dropout > 0}
SETTINGS = [("fp32", False), ("fp32", True), ("bf16", False), ("bf16", True)]
BATCH = 64


def matmul_gflops(n: int = 2048, repeats: int = 10) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = min(_timed(lambda: torch.mm(a, b)) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def forward_macs(config: PixelCNNConfig) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    model = PixelCNN(config)
    x = torch.randint(0, 256, (1, 1, 32, 32))
    with FlopCounterMode(display=False) as counter:
        model(x, torch.zeros(1, dtype=torch.long))
    return counter.get_total_flops() / 2


def time_setting(config: PixelCNNConfig, data: Path, precision: str, channels_last: bool, steps: int, batch_size: int,
                 compiled: bool = False, deterministic: bool = False) -> tuple[float, float]:
    """Best seconds of one trainer step on a batch of ``batch_size`` images, and the seconds of the first (warm-up) step."""
    with deterministic_algorithms(deterministic, torch.device("cpu")):
        return _time_setting(config, data, precision, channels_last, steps, batch_size, compiled)


def _time_setting(config: PixelCNNConfig, data: Path, precision: str, channels_last: bool, steps: int, batch_size: int,
                  compiled: bool) -> tuple[float, float]:
    torch.manual_seed(0)
    optim = OptimConfig(batch_size=batch_size, lr=1e-3, precision=precision, channels_last=channels_last, device="cpu")
    trainer = Trainer(PixelObjective(PixelCNN(config), 0.1), dir_splits(data, IMAGES), optim, RunConfig(), seed=0, device=torch.device("cpu"),
                      ctx=Context(), state_path=data / "state.pt", fingerprint="bench", desc="bench")
    if compiled:
        trainer.forward = torch.compile(trainer.module, dynamic=False)  # as the trainer compiles
    rows = np.arange(batch_size)
    batch = {k: torch.from_numpy(f.read(rows)) for k, f in trainer.train_set.columns.items()}
    batch["offset"], batch["total"] = torch.tensor(0), torch.tensor(batch_size)
    trainer.saved_step = None
    sums: dict = {}
    first = _timed(lambda: trainer._step(batch, 1e-3, 0, sums))  # warm-up: allocations, oneDNN caches, compilation
    return min(_timed(lambda: trainer._step(batch, 1e-3, 0, sums)) for _ in range(steps)), first


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", choices=[*MODELS, "params"], default=DEFAULT_MODELS)
    p.add_argument("--steps", type=int, default=3, help="timed steps per setting (best kept), after one warm-up")
    p.add_argument("--threads", type=int, default=0, help="torch intra-op threads; 0 keeps torch's default")
    p.add_argument("--batch", type=int, default=BATCH, help=f"images per step (default: {BATCH})")
    p.add_argument("--compile", action="store_true", help="also time each precision through torch.compile")
    p.add_argument("--precisions", nargs="+", choices=["fp32", "bf16"], default=["fp32", "bf16"], help="the precisions to time")
    p.add_argument("--deterministic", action="store_true",
                   help="also time each precision with torch.use_deterministic_algorithms (train.deterministic: true)")
    p.add_argument("--output", help="also append the JSON lines to this file")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with contextlib.ExitStack() as stack:
        sink = stack.enter_context(open(args.output, "a")) if args.output else None
        run(args, sink)


def run(args: argparse.Namespace, sink) -> None:
    def emit(record: dict) -> None:
        print(json.dumps(record), flush=True)
        if sink is not None:
            sink.write(json.dumps(record) + "\n")
            sink.flush()

    emit({"torch": torch.__version__, "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
                      "load_average_1m": round(os.getloadavg()[0], 2), "cpu_bf16": cpu_has_bf16(),
                      "matmul_fp32_2048_gflops": round(matmul_gflops(), 1)})
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        write_prepared(data, args.batch, args.batch, num_classes=10)
        settings = [(p, cl, False, False) for p, cl in SETTINGS if p in args.precisions]
        if args.compile:
            settings += [(p, False, True, False) for p in args.precisions]
        if args.deterministic:
            settings += [(p, False, False, True) for p in args.precisions]
        for name in args.models:
            model = params_model() if name == "params" else MODELS[name]
            config = PixelCNNConfig(**{"levels": 256, **model}, channels=1, height=32, width=32, num_classes=10)
            macs = forward_macs(config)
            base = None
            for precision, channels_last, compiled, deterministic in settings:
                seconds, first = time_setting(config, data, precision, channels_last, args.steps, args.batch, compiled,
                                              deterministic)
                base = base or seconds
                emit({
                    "model": name, **model, "gmac_per_image": round(macs / 1e9, 3),
                    "precision": precision, "channels_last": channels_last, "compiled": compiled, "deterministic": deterministic,
                    "batch": args.batch,
                    "step_s": round(seconds, 3), "images_per_s": round(args.batch / seconds, 2),
                    "gflops": round(3 * macs * 2 * args.batch / seconds / 1e9, 1), "speedup": round(base / seconds, 2),
                    **({"compile_s": round(first - seconds, 1)} if compiled else {}),
                    "load_average_1m": round(os.getloadavg()[0], 2),
                })


if __name__ == "__main__":
    main()
