"""One GPU check: the suite's CUDA tests, the cifar10-pp model's training and sampling speed, a short training run, memory.

On a machine with a CUDA GPU (5 to 8 minutes on one):

    uv run python benchmarks/gpu_check.py                  # one table on stdout, the same as JSON in benchmarks/gpu_check.json

Without CUDA it prints one line, ``no CUDA device: ...``, and exits 0. ``--device cpu`` runs the same
measurements on the CPU, at the sizes given (the test suite does, tiny).

The parts, each one or more rows of the table:

1. **tests**: ``pytest -m cuda``, the suite's CUDA tests (``tests/test_cuda.py`` and the API's): passed,
   failed, skipped (NCCL data parallelism needs two GPUs).
2. **train**: images/s of the pixel model of ``presets/cifar10-pp.yaml`` (PixelCNN++ sizes, 3×32×32)
   through the trainer's own step (autocast, loss, backward, clipping, AdamW, EMA) at batch 64, in fp32,
   bf16 autocast, bf16 + channels-last, and bf16 compiled (``torch.compile`` of the objective; the
   trainer has no compile option of its own here), best of ``--steps`` steps after warm-up; the peak
   memory of each.
3. **sample**: the cached and the naive sampler drawing the same 64 images of 3×32×32 from the same
   random-weight model (eval mode, fp32, TF32 off) and generator: seconds each, the speed-up, and how
   many images are identical; the cached sampler's images/s at batch 64 and 256, and its kernel-busy
   share at batch 64 over the first 4 rows (the GPU's kernel time, from torch.profiler, over the wall
   time of an unprofiled run): far below 1, each step waits on Python and kernel launches, and
   capturing a step as a CUDA graph would pay (not done: no GPU was available to build and verify it).
4. **loss**: ``--train-seconds`` (120) of training the model in bf16 autocast on random data of the
   CIFAR shape (2,048 fixed random images, batch 64): the mean loss of the first and the last tenth of
   the steps, which must fall (towards the 8 bits/dim of uniform noise).
5. **memory**: the peak GPU memory over the whole check.

The check passes when the CUDA tests pass, the loss falls, the cached sampler draws the naive
sampler's images, no part raised (a part that does is a row saying so; the others still run) and
every figure is finite; the exit status is 1 otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _prepared import write_prepared
from sampling import parse_overrides

from pixelcnn.configs import ClassConditioning, OptimConfig, PixelCNNConfig, RunConfig
from pixelcnn.data import pixels
from pixelcnn.distributed import Context
from pixelcnn.models.pixelcnn import PixelCNN
from pixelcnn.project import presets
from pixelcnn.project.params import Params
from pixelcnn.sampling.cached import sample_cached
from pixelcnn.sampling.naive import sample_naive
from pixelcnn.training.loader import dir_splits
from pixelcnn.training.objectives import IMAGES
from pixelcnn.training.objectives.pixel import PixelObjective
from pixelcnn.training.trainer import Trainer

ROOT = Path(__file__).resolve().parents[1]
PRESET = "cifar10-pp"
SETTINGS = {  # name → (precision, channels_last, compiled)
    "fp32": ("fp32", False, False),
    "bf16": ("bf16", False, False),
    "bf16 channels-last": ("bf16", True, False),
    "bf16 compiled": ("bf16", False, True),
}


# ----------------------------------------------------------------------------- the model


def preset_config(size: int = 32, overrides: dict[str, Any] | None = None, name: str = PRESET) -> PixelCNNConfig:
    """The pixel model of preset ``name`` over 3×size×size images (unconditional, as the preset), with ``overrides``."""
    settings = Params(presets.load(ROOT / "presets", name).raw, name)
    architecture = settings.load_partial("pixelcnn", PixelCNNConfig).build()
    conditioning = settings.load("pixelcnn", ClassConditioning)
    return replace(pixels.model_config(architecture, 3, size, conditioning.num_classes(10)), **(overrides or {}))


def _trainer(config: PixelCNNConfig, data: Path, device: torch.device, precision: str, channels_last: bool, batch: int) -> Trainer:
    torch.manual_seed(0)
    optim = OptimConfig(batch_size=batch, lr=1e-3, precision=precision, channels_last=channels_last, device=device.type,
                        grad_clip=1.0, ema_decay=0.9995)
    return Trainer(PixelObjective(PixelCNN(config)), dir_splits(data, IMAGES), optim, RunConfig(), seed=0, device=device, ctx=Context(),
                   state_path=data / "state.pt", fingerprint="gpu-check", desc="gpu_check")


def _batch(trainer: Trainer, rows: np.ndarray) -> dict[str, torch.Tensor]:
    batch = {k: torch.from_numpy(f.read(rows)) for k, f in trainer.train_set.columns.items()}
    batch = trainer._to_device(batch)
    batch["offset"], batch["total"] = torch.tensor(0), torch.tensor(len(rows))
    return batch


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_mb(device: torch.device) -> float | None:
    return round(torch.cuda.max_memory_allocated(device) / 2**20, 1) if device.type == "cuda" else None


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def timed(fn: Callable[[], Any], device: torch.device) -> float:
    """Wall seconds of ``fn()``, the device's queued work included."""
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


# ----------------------------------------------------------------------------- parts


def train_speed(config: PixelCNNConfig, data: Path, device: torch.device, settings: list[str], batch: int, steps: int,
                compile_backend: str = "inductor") -> list[dict[str, Any]]:
    """Images/s of one trainer step at ``batch`` for each setting (best of ``steps`` after two warm-up steps).

    A setting that fails (a compiler error, say) is recorded with its error, and the others still run.
    """
    records = [guarded(lambda name=name: _time_setting(config, data, device, name, batch, steps, compile_backend), setting=name)
               for name in settings]
    base = next((r["images_per_s"] for r in records if "error" not in r), 1.0)
    for record in records:
        if "error" not in record:
            record["speedup"] = round(record["images_per_s"] / base, 2)
    return records


def guarded(part: Callable[[], dict[str, Any]], **known: Any) -> dict[str, Any]:
    """``part()``, or ``known`` with the error it raised: one failed part is a row of the table, not a lost report."""
    try:
        return part()
    except Exception as exc:
        return {**known, "error": f"{exc.__class__.__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"[:300]}


def _time_setting(config: PixelCNNConfig, data: Path, device: torch.device, name: str, batch: int, steps: int,
                  compile_backend: str) -> dict[str, Any]:
    precision, channels_last, compiled = SETTINGS[name]
    _reset_peak(device)
    trainer = _trainer(config, data, device, precision, channels_last, batch)
    if compiled:
        trainer.module = torch.compile(trainer.objective, backend=compile_backend, dynamic=False)
    step_batch = _batch(trainer, np.arange(batch))
    trainer.saved_step = None
    sums: dict = {}

    def step() -> None:
        trainer._step(step_batch, 1e-3, 0, sums)

    warm = timed(step, device) + timed(step, device)  # compilation, cuDNN autotuning, allocations
    best = min(timed(step, device) for _ in range(steps))
    return {"setting": name, "batch": batch, "step_s": round(best, 4), "images_per_s": round(batch / best, 1),
            "warmup_s": round(warm, 1), "peak_mb": _peak_mb(device)}


@contextlib.contextmanager
def exact_fp32() -> Iterator[None]:
    """TF32 off while the samplers are compared: both then compute in full fp32."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def kernel_busy(fn: Callable[[], Any], wall_s: float, device: torch.device) -> float | None:
    """GPU kernel time of ``fn()`` (profiled) over ``wall_s`` (an unprofiled run's wall time); None off CUDA or if the profiler fails."""
    if device.type != "cuda":
        return None
    try:
        from torch.autograd import DeviceType
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            fn()
            _sync(device)
        kernel_us = sum(e.time_range.elapsed_us() for e in prof.events() if e.device_type == DeviceType.CUDA)  # kernels, copies
        return round(kernel_us / 1e6 / wall_s, 3)
    except Exception as exc:  # the profiler's API moves between releases: a missing figure, not a failed check
        print(f"gpu_check: kernel-busy share not measured ({exc.__class__.__name__}: {exc})", file=sys.stderr)
        return None


def sampling(config: PixelCNNConfig, device: torch.device, n: int, batches: list[int], seed: int = 0,
             busy_rows: int = 4) -> dict[str, Any]:
    """Cached against naive on the same ``n`` images, the cached sampler's images/s at each of ``batches``, and
    its kernel-busy share at the first batch (over the first ``busy_rows`` rows: the profiler's trace of every
    step of a whole image would be millions of events)."""
    torch.manual_seed(seed)
    model = PixelCNN(config).to(device).eval()

    def draw(fn: Callable[..., torch.Tensor], count: int, rows: int | None = None) -> torch.Tensor:
        shape = (rows, config.width) if rows else None
        return fn(model, count, shape=shape, generator=torch.Generator().manual_seed(seed))

    out: dict[str, Any] = {}
    _reset_peak(device)
    with exact_fp32(), torch.no_grad():
        draw(sample_cached, 2)  # warm-up: allocations, kernel selection
        images = {}
        for name, fn in (("naive", sample_naive), ("cached", sample_cached)):
            start = time.perf_counter()
            images[name] = draw(fn, n)
            _sync(device)
            out[f"{name}_s"] = round(time.perf_counter() - start, 3)
    same = (images["naive"] == images["cached"]).flatten(1).all(1)  # (n,)
    out.update(images=n, identical=int(same.sum()), speedup=round(out["naive_s"] / out["cached_s"], 1))
    with torch.no_grad():
        for batch in batches:
            seconds = timed(lambda batch=batch: draw(sample_cached, batch), device)
            out[f"cached_images_per_s_batch{batch}"] = round(batch / seconds, 1)
        rows = min(busy_rows, config.height)
        short = lambda: draw(sample_cached, batches[0], rows)  # noqa: E731
        out["kernel_busy"] = kernel_busy(short, timed(short, device), device)
    out["peak_mb"] = _peak_mb(device)
    return out


def loss_curve(config: PixelCNNConfig, data: Path, device: torch.device, seconds: float, batch: int, images: int,
               min_steps: int = 10) -> dict[str, Any]:
    """Train for ``seconds`` (and at least ``min_steps`` steps) on ``images`` fixed random images, bf16 on CUDA;
    the mean loss of the first and of the last tenth of the steps."""
    _reset_peak(device)
    trainer = _trainer(config, data, device, "bf16" if device.type == "cuda" else "fp32", False, batch)
    trainer.saved_step = None
    rng = np.random.default_rng(0)
    losses: list[float] = []
    sums: dict = {}
    start = time.perf_counter()
    while time.perf_counter() < start + seconds or len(losses) < min_steps:
        rows = np.sort(rng.choice(images, batch, replace=False))
        losses.append(trainer._step(_batch(trainer, rows), 1e-3, len(losses), sums))
    elapsed = time.perf_counter() - start
    tenth = max(1, len(losses) // 10)
    first, last = float(np.mean(losses[:tenth])), float(np.mean(losses[-tenth:]))
    return {"steps": len(losses), "seconds": round(elapsed, 1), "first_tenth_bpd": round(first, 4), "last_tenth_bpd": round(last, 4),
            "falls": bool(last < first), "peak_mb": _peak_mb(device)}


def cuda_tests(timeout: float) -> dict[str, Any]:
    """``pytest -m cuda`` in a subprocess: the counts of its summary line."""
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "cuda", "-p", "no:cacheprovider", "-rs"], cwd=ROOT,
                            capture_output=True, text=True, timeout=timeout)
    return {**test_counts(result.stdout), "returncode": result.returncode, "seconds": round(time.perf_counter() - start, 1),
            "tail": result.stdout[-1500:] if result.returncode else ""}


def test_counts(output: str) -> dict[str, int]:
    """{'passed': 5, 'failed': 0, 'skipped': 1, ...} from pytest's last summary line."""
    lines = [line for line in output.strip().splitlines() if re.search(r"\d+ (passed|failed|skipped|error|deselected)", line)]
    counts = {key: 0 for key in ("passed", "failed", "skipped", "errors")}
    for number, word in re.findall(r"(\d+) (passed|failed|skipped|errors?|deselected)", lines[-1] if lines else ""):
        counts["errors" if word.startswith("error") else word] = int(number)
    return counts


# ----------------------------------------------------------------------------- report


def verdict(results: dict[str, Any]) -> list[str]:
    """Why the check fails (empty when it passes)."""
    problems = [f"{name}: {part['error']}" for name, part in _parts(results) if "error" in part]
    tests = results.get("tests")
    if tests is not None and "error" not in tests and (tests["failed"] or tests["errors"] or tests["returncode"] not in (0, 5) or not tests["passed"]):
        problems.append(f"CUDA tests: {tests['failed']} failed, {tests['errors']} errors, {tests['passed']} passed")
    loss = results.get("loss")
    if loss is not None and "error" not in loss and not loss["falls"]:
        problems.append(f"the loss did not fall ({loss['first_tenth_bpd']} → {loss['last_tenth_bpd']} bits/dim)")
    sample = results.get("sample")
    if sample is not None and "error" not in sample and sample["identical"] != sample["images"]:
        problems.append(f"the cached sampler drew {sample['images'] - sample['identical']} of {sample['images']} images unlike the naive one")
    if not all(math.isfinite(v) for v in _numbers(results)):
        problems.append("a figure is not finite")
    return problems


def _parts(results: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name in ("tests", "sample", "loss"):
        if isinstance(results.get(name), dict):
            yield name, results[name]
    for record in results.get("train", []):
        yield f"train {record.get('setting')}", record


def _numbers(node: Any) -> Iterator[float]:
    if isinstance(node, dict):
        for value in node.values():
            yield from _numbers(value)
    elif isinstance(node, list):
        for value in node:
            yield from _numbers(value)
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        yield float(node)


def table(results: dict[str, Any]) -> str:
    """The one table the check prints: | part | what | figure |."""
    rows = [("machine", "device", results["device"]), ("machine", "torch / CUDA", f"{results['torch']} / {results['cuda']}")]
    if "tests" in results:
        t = results["tests"]
        rows.append(("tests", "pytest -m cuda", f"error: {t['error']}" if "error" in t else
                     f"{t['passed']} passed, {t['failed']} failed, {t['skipped']} skipped ({t['seconds']} s)"))
    for r in results.get("train", []):
        if "error" in r:
            rows.append(("train", f"{results['model']}, {r['setting']}", f"error: {r['error']}"))
            continue
        memory = f", peak {r['peak_mb']:,.0f} MB" if r["peak_mb"] is not None else ""
        rows.append(("train", f"{results['model']}, batch {r['batch']}, {r['setting']}",
                     f"{r['images_per_s']:,.1f} images/s ({r['speedup']}×{memory})"))
    if "error" in results.get("sample", {}):
        rows.append(("sample", "naive vs cached", f"error: {results['sample']['error']}"))
    elif "sample" in results:
        s = results["sample"]
        rows.append(("sample", f"naive vs cached, {s['images']} images {results['shape']}",
                     f"{s['naive_s']} s vs {s['cached_s']} s ({s['speedup']}×), {s['identical']}/{s['images']} identical"))
        for key, value in s.items():
            if key.startswith("cached_images_per_s_batch"):
                rows.append(("sample", f"cached, batch {key.removeprefix('cached_images_per_s_batch')}", f"{value:,.1f} images/s"))
        busy = s.get("kernel_busy")
        rows.append(("sample", "cached, kernel-busy share", "n/a (not CUDA)" if busy is None else f"{busy:.0%} of the wall time"))
    if "error" in results.get("loss", {}):
        rows.append(("loss", "training on random data", f"error: {results['loss']['error']}"))
    elif "loss" in results:
        loss = results["loss"]
        rows.append(("loss", f"{loss['seconds']} s on random CIFAR-shaped data, {loss['steps']} steps",
                     f"{loss['first_tenth_bpd']} → {loss['last_tenth_bpd']} bits/dim ({'falls' if loss['falls'] else 'DOES NOT FALL'})"))
    if results.get("peak_mb") is not None:
        rows.append(("memory", "peak over the check", f"{results['peak_mb']:,.0f} MB"))
    rows.append(("verdict", "the check", "PASS" if not results["problems"] else "FAIL: " + "; ".join(results["problems"])))
    width = [max(len(str(row[i])) for row in [("part", "what", "figure"), *rows]) for i in range(3)]
    line = lambda cells: "| " + " | ".join(f"{cell:<{w}}" for cell, w in zip(cells, width)) + " |"  # noqa: E731
    lines = [line(("part", "what", "figure")), "|" + "|".join("-" * (w + 2) for w in width) + "|", *map(line, rows)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda", help="cuda (default) or cpu (the same measurements, for tests)")
    p.add_argument("--size", type=int, default=32, help="image side (default: 32, CIFAR-10's)")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override fields of the preset's model (tests: tiny)")
    p.add_argument("--batch", type=int, default=64, help="training batch (default: 64)")
    p.add_argument("--steps", type=int, default=10, help="timed training steps per setting, best kept (default: 10)")
    p.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS), help="training settings to time")
    p.add_argument("--compile-backend", default="inductor", help="torch.compile backend of the compiled setting (default: inductor)")
    p.add_argument("--naive-images", type=int, default=64, help="images the naive and cached samplers both draw (default: 64)")
    p.add_argument("--sample-batches", type=int, nargs="+", default=[64, 256], help="cached sampler batches timed (default: 64 256)")
    p.add_argument("--train-seconds", type=float, default=120.0, help="seconds of the loss run (default: 120)")
    p.add_argument("--min-steps", type=int, default=10, help="steps the loss run takes at least (default: 10)")
    p.add_argument("--random-images", type=int, default=2048, help="random training images of the loss run (default: 2048)")
    p.add_argument("--skip-tests", action="store_true", help="do not run pytest -m cuda")
    p.add_argument("--tests-timeout", type=float, default=240.0, help="seconds allowed to the CUDA tests (default: 240)")
    p.add_argument("--output", default=str(ROOT / "benchmarks" / "gpu_check.json"), help="the JSON written (default: benchmarks/gpu_check.json)")
    args = p.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print(f"no CUDA device: torch {torch.__version__} sees none (torch.cuda.is_available() is False); the GPU check needs one, nothing was run")
        return 0
    device = torch.device(args.device)
    config = preset_config(args.size, parse_overrides(args.set))
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({os.cpu_count()} cores, {torch.get_num_threads()} threads)"
    results: dict[str, Any] = {"device": name, "torch": torch.__version__, "cuda": torch.version.cuda, "model": f"{PRESET} pixel model",
                               "shape": f"3×{args.size}×{args.size}", "config": asdict(config)}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        write_prepared(data, max(args.random_images, args.batch), args.batch, num_classes=10, size=args.size, channels=3)
        if not args.skip_tests:
            results["tests"] = guarded(lambda: cuda_tests(args.tests_timeout))
        results["train"] = train_speed(config, data, device, args.settings, args.batch, args.steps, args.compile_backend)
        results["sample"] = guarded(lambda: sampling(config, device, args.naive_images, args.sample_batches))
        results["loss"] = guarded(lambda: loss_curve(config, data, device, args.train_seconds, args.batch,
                                                     max(args.random_images, args.batch), args.min_steps))
    parts = [*results["train"], results["sample"], results["loss"]]
    peaks = [part["peak_mb"] for part in parts if part.get("peak_mb") is not None]
    results["peak_mb"] = peak = max(peaks) if peaks else None
    results["seconds"] = round(time.perf_counter() - started, 1)
    results["problems"] = verdict(results)
    text = table(results)
    print(text, end="")
    print(f"({results['seconds']} s in all; {'peak ' + format(peak, ',.0f') + ' MB; ' if peak else ''}JSON: {args.output})")
    Path(args.output).write_text(json.dumps({**results, "table": text}, indent=1) + "\n")
    return 1 if results["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
