"""Forward MACs of every model a preset trains, and the training time per epoch they imply on one GPU (an estimate).

For each preset (``presets/<name>.yaml``) the models of its DAG are built at the dataset's real shape
(MNIST 1×32×32, CIFAR-10 3×32×32, CelebA 3×64×64 at ``data.image_size``; the code grids follow
from the VQ-VAE's factors), and ``torch.utils.flop_counter.FlopCounterMode`` counts the
multiply-accumulates of one forward pass of one image (the PixelCNNs on the meta device: nothing is
computed; the small VQ-VAE and classifier on the CPU).
Training costs about 3 forward passes (forward, and a backward of about twice the forward), so

    seconds per epoch ≈ 3 × 2 × MACs × training images / sustained FLOP/s

with an assumed sustained rate ``--tflops`` (default 50 TFLOP/s: bf16 autocast at a sixth of an A100's
312 TFLOP/s dense bf16 peak, a twentieth of an H100 SXM's 989; convolutions of 64 to 384 channels
with gates between them reach a small share of peak). MAC counts leave out the elementwise work
(gates, dropout, the loss, the optimiser), so the real figure may be higher: these are estimates,
to be replaced by measurements (``benchmarks/gpu_check.py`` measures the cifar10-pp model's images/s).

    uv run python benchmarks/macs.py                       # every preset, a markdown table
    uv run python benchmarks/macs.py --presets presets --tflops 200 --output macs.json

Shape legend: C channels, H W pixels, h w code grid.
"""

from __future__ import annotations

import argparse
import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

from pixelcnn.configs import ClassConditioning, ClassifierConfig, CondNetConfig, PixelCNNConfig, VQVAEConfig
from pixelcnn.data import pixels
from pixelcnn.models.classifier import Classifier
from pixelcnn.models.pixelcnn import PixelCNN
from pixelcnn.models.prior import LevelPrior, level_config
from pixelcnn.models.vqvae import VQVAE
from pixelcnn.project import presets
from pixelcnn.project.params import Params

ROOT = Path(__file__).resolve().parents[1]
TRAIN_IMAGES = {"mnist": 60_000, "fashion_mnist": 60_000, "cifar10": 50_000, "celeba": 162_770, "digits": 1_438}
CLASSES = {"mnist": 10, "fashion_mnist": 10, "cifar10": 10, "digits": 10}
COLOUR = {"cifar10", "celeba", "folder"}
META = torch.device("meta")  # the PixelCNNs are built and counted on the meta device: no weights, no arithmetic


@dataclass(frozen=True)
class Dataset:
    """What the models of a preset see: channels, side, classes, training images."""

    channels: int
    size: int
    classes: int
    train_images: int


def dataset(raw: dict[str, Any]) -> Dataset:
    data = raw["data"]
    name = data["name"]
    if name not in TRAIN_IMAGES:
        raise SystemExit(f"benchmarks/macs.py knows no training-set size for data.name {name!r}")
    channels = 3 if name in COLOUR and not data["grayscale"] else 1
    classes = (2 if data["celeba_attr"] else 0) if name == "celeba" else CLASSES[name]
    n = TRAIN_IMAGES[name] if not data["max_train"] else min(TRAIN_IMAGES[name], data["max_train"])
    return Dataset(channels, data["image_size"], classes, n)


def models(raw: dict[str, Any], data: Dataset) -> dict[str, tuple[torch.nn.Module, tuple]]:
    """Each model the preset's DAG trains (name → (module, inputs of one image)), built as the stages build them."""
    settings = Params(raw, "preset")
    built: dict[str, tuple[torch.nn.Module, tuple]] = {}
    pixel_cond = settings.load("pixelcnn", ClassConditioning)
    classes = pixel_cond.num_classes(data.classes)
    config = pixels.model_config(settings.load_partial("pixelcnn", PixelCNNConfig).build(), data.channels, data.size, classes,
                                 pixel_cond.null_class(data.classes))
    with META:
        label = torch.zeros(1, dtype=torch.long) if classes else None
        built["pixelcnn"] = (PixelCNN(config), (torch.zeros(1, data.channels, data.size, data.size, dtype=torch.long), label))

    vq = settings.load_partial("vqvae", VQVAEConfig).build(channels=data.channels, image_size=data.size)
    built["vqvae"] = (VQVAE(vq).eval(), (torch.zeros(1, data.channels, data.size, data.size),))  # on the CPU: bincount has no meta kernel

    prior_cond = settings.load("prior", ClassConditioning)
    classes = prior_cond.num_classes(data.classes)
    template = settings.load_partial("prior", PixelCNNConfig).build(channels=1, levels=vq.codebook_size, num_classes=classes,
                                                                     null_class=prior_cond.null_class(data.classes))
    cond_template = settings.load_partial("prior", CondNetConfig).build()
    shapes = dict(zip(vq.level_names, vq.code_shapes))
    names = list(shapes)
    for index, name in enumerate(names):
        top = shapes[names[index - 1]] if index else None
        with META:
            level = LevelPrior(level_config(template, cond_template, name, vq.codebook_size, shapes[name], classes, top))
            codes = torch.zeros(1, *shapes[name], dtype=torch.long)  # (1, h, w)
            top_codes = torch.zeros(1, *top, dtype=torch.long) if top else None
            label = torch.zeros(1, dtype=torch.long) if classes else None
        built[f"prior {name} {shapes[name][0]}×{shapes[name][1]}"] = (level, (codes, label, top_codes))

    if raw["evaluate"]["features"] == "classifier" and data.classes >= 2:
        classifier = settings.load_partial("classifier", ClassifierConfig).build(in_channels=data.channels, num_classes=data.classes)
        built["classifier"] = (Classifier(classifier), (torch.zeros(1, data.channels, data.size, data.size, dtype=torch.uint8),))
    return built


def forward_macs(module: torch.nn.Module, inputs: tuple) -> float:
    """Multiply-accumulates of one forward pass (FLOPs / 2), on the device the module and inputs are on.

    The models leave autocast for fp32 parts (``torch.autocast(device, enabled=False)``), which the meta
    device does not support; with no autocast on, those contexts change nothing, so they are skipped here.
    """
    from torch.utils.flop_counter import FlopCounterMode

    autocast = torch.autocast
    torch.autocast = lambda *args, **kwargs: contextlib.nullcontext()  # type: ignore[assignment]
    try:
        with FlopCounterMode(display=False) as counter:  # (not under no_grad: its module tracker hooks autograd)
            module(*inputs)
    finally:
        torch.autocast = autocast  # type: ignore[misc]
    return counter.get_total_flops() / 2


def estimate(name: str, raw: dict[str, Any], tflops: float) -> list[dict[str, Any]]:
    """One record per model of preset ``name``: parameters, forward GMAC per image, estimated seconds per epoch."""
    data = dataset(raw)
    records = []
    for model, (module, inputs) in models(raw, data).items():
        macs = forward_macs(module, inputs)
        seconds = 3 * 2 * macs * data.train_images / (tflops * 1e12)
        records.append({
            "preset": name, "model": model, "parameters": sum(p.numel() for p in module.parameters()),
            "gmac_per_image": round(macs / 1e9, 3), "train_images": data.train_images,
            "epoch_s_estimate": round(seconds, 1), "assumed_tflops": tflops,
        })
    return records


def table(records: list[dict[str, Any]]) -> str:
    """A markdown table of the records, a line per model."""
    lines = ["| preset | model | parameters | forward GMAC / image | training images | epoch, estimated |", "|---|---|---|---|---|---|"]
    for r in records:
        lines.append(f"| {r['preset']} | {r['model']} | {r['parameters']:,} | {r['gmac_per_image']:.3f} | {r['train_images']:,} "
                     f"| {_duration(r['epoch_s_estimate'])} |")
    return "\n".join(lines) + "\n"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s" if seconds >= 1 else "< 1 s"
    return f"{seconds / 60:.1f} min" if seconds < 3600 else f"{seconds / 3600:.1f} h"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--presets", default=str(ROOT / "presets"), help="folder of presets (default: the repository's)")
    p.add_argument("--names", nargs="+", help="only these presets")
    p.add_argument("--params", nargs="+", default=[], help="also estimate these params files (named by their path)")
    p.add_argument("--tflops", type=float, default=50.0, help="assumed sustained TFLOP/s of one GPU (default: 50)")
    p.add_argument("--output", help="also write the records to this JSON file")
    args = p.parse_args(argv)
    records = []
    for name in args.names or presets.names(args.presets):
        records += estimate(name, presets.load(args.presets, name).raw, args.tflops)
    for path in args.params:
        records += estimate(path, yaml.safe_load(Path(path).read_text()), args.tflops)
    print(table(records), end="")
    print(f"(one GPU at an assumed sustained {args.tflops:g} TFLOP/s; training = 3 forward passes; estimates)")
    if args.output:
        Path(args.output).write_text(json.dumps(records, indent=1) + "\n")


if __name__ == "__main__":
    main()
