"""The ``pixelcnn`` command's arguments: one parser, its sub-commands, and the number types that check while parsing.

Parsing imports no torch, so ``--help`` and argument errors are instant; an
argument error is one line, ``error: ...``, and exit status 1.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from typing import NoReturn

from pixelcnn.configs import Sampler

EPILOG = "Models come from `uv run dvc repro`: models/pixelcnn.pt, or models/prior.pt with models/vqvae.pt."
EXAMPLES = """examples:
  pixelcnn sample --model models/pixelcnn.pt --n 16 --label 3 --temperature 0.8 --out samples.png
  pixelcnn sample --model models/prior.pt --vqvae models/vqvae.pt --n 100 --out prior.png --gif progress.gif
  pixelcnn complete --model models/pixelcnn.pt --data data/prepared --n 8 --rows 16 --samples 3 --out completion.png
  pixelcnn score --model models/pixelcnn.pt --data data/prepared
  pixelcnn info --model models/prior.pt --vqvae models/vqvae.pt
  pixelcnn preset cifar10-pp        # a paper's recipe (presets/cifar10-pp.yaml) becomes params.yaml
  pixelcnn preset                   # the presets, one line each

""" + EPILOG


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line, ``error: ...``, and exit 1 like every other user error."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {message} (see `{self.prog} --help`)", file=sys.stderr)
        raise SystemExit(1)


def _number(kind: type, test: Callable[[float], bool], rule: str) -> Callable[[str], float]:
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {rule}, got {text!r}") from None
        if not test(value):
            raise argparse.ArgumentTypeError(f"expected {rule}, got {text}")
        return value

    return parse


POSITIVE_INT = _number(int, lambda v: v >= 1, "a whole number >= 1")
NATURAL = _number(int, lambda v: v >= 0, "a whole number >= 0")
TEMPERATURE = _number(float, lambda v: math.isfinite(v) and v > 0, "a number > 0 (1 samples the model as trained)")
TOP_P = _number(float, lambda v: 0 < v <= 1, "a number in (0, 1] (1 keeps every value)")
GUIDANCE = _number(float, lambda v: math.isfinite(v) and v >= 0, "a number >= 0 (1 is plain conditional sampling)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pixelcnn", description="Sample, complete and score images with the trained models.",
                     epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    def command(name: str, help: str) -> argparse.ArgumentParser:
        p = commands.add_parser(name, help=help, description=help, epilog=EPILOG)
        p.add_argument("--model", required=True, metavar="PATH",
                       help="checkpoint: models/pixelcnn.pt (pixel PixelCNN) or models/prior.pt (VQ prior, with --vqvae)")
        p.add_argument("--vqvae", metavar="PATH", help="the VQ-VAE a prior was trained with, e.g. models/vqvae.pt")
        p.add_argument("--device", default="auto", metavar="DEVICE", help="auto (CUDA when available), cpu or cuda (default: auto)")
        return p

    def drawing(p: argparse.ArgumentParser) -> None:
        p.add_argument("--temperature", type=TEMPERATURE, default=1.0, metavar="T", help="> 0; below 1 sharpens each step (default: 1)")
        p.add_argument("--top-k", type=NATURAL, default=0, metavar="K", help="keep the k most likely values per step; 0 keeps all (default: 0)")
        p.add_argument("--top-p", type=TOP_P, default=1.0, metavar="P", help="nucleus: keep the smallest set of mass >= p; 1 keeps all (default: 1)")
        p.add_argument("--guidance", type=GUIDANCE, default=1.0, metavar="S",
                       help="classifier-free guidance: above 1 holds each image to its class, 0 ignores the label; "
                            "needs a model trained with cond_dropout > 0 (default: 1)")
        p.add_argument("--seed", type=int, default=0, metavar="SEED", help="seed of the sampler's torch.Generator; same seed, same images (default: 0)")
        p.add_argument("--batch-size", type=POSITIVE_INT, default=64, metavar="B", help="images drawn at once (default: 64)")
        p.add_argument("--sampler", choices=[s.value for s in Sampler], default=Sampler.CACHED.value,
                       help=f"{', '.join(f'{s.value}: {s.description}' for s in Sampler)}; the same images either way "
                            f"(default: {Sampler.CACHED.value})")
        p.add_argument("--nrow", type=POSITIVE_INT, metavar="N", help="images per row of the PNG grid")
        p.add_argument("--scale", type=POSITIVE_INT, metavar="S", help="enlarge the PNG by this factor (default: to 128-pixel tiles)")

    p = command("sample", "Draw new images and save them as a PNG grid.")
    p.add_argument("--n", type=POSITIVE_INT, default=16, metavar="N", help="images to draw (default: 16)")
    p.add_argument("--label", type=NATURAL, nargs="+", metavar="CLASS",
                   help="class(es) to draw, cycled over the images (default: every class in turn)")
    drawing(p)
    p.add_argument("--out", required=True, metavar="PNG", help="the grid of samples (.png)")
    p.add_argument("--npy", metavar="PATH", help="also save the images as uint8 (N, C, H, W) .npy")
    p.add_argument("--gif", metavar="PATH", help="also save progressive generation of the first batch as an animated GIF")
    p.add_argument("--every", type=POSITIVE_INT, default=4, metavar="ROWS", help="rows between GIF frames (default: 4)")

    p = command("complete", "Keep the top rows of images and sample the rest; PNG rows: originals, kept rows, completions.")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--image", nargs="+", metavar="FILE", help="image file(s) of the model's size")
    source.add_argument("--data", metavar="DIR", help="a prepared data dir, e.g. data/prepared (its test split)")
    p.add_argument("--n", type=POSITIVE_INT, metavar="N",
                   help="with --data: the first n test images, at most the split's (default: 8, or all if fewer)")
    p.add_argument("--rows", type=NATURAL, required=True, metavar="ROWS", help="top rows to keep, in [0, H)")
    p.add_argument("--samples", type=POSITIVE_INT, default=1, metavar="S", help="completions per image (default: 1)")
    p.add_argument("--label", type=NATURAL, metavar="CLASS",
                   help="class to complete as (default with --data: each image's own label; needed with --image for class-conditional models)")
    drawing(p)
    p.add_argument("--out", required=True, metavar="PNG", help="the grid (.png)")

    p = command("score", "Bits per dimension of images under the model (mean over the images).")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--image", nargs="+", metavar="FILE", help="image file(s) of the model's size")
    source.add_argument("--data", metavar="DIR", help="a prepared data dir, e.g. data/prepared")
    p.add_argument("--split", choices=("test", "train"), default="test", help="with --data: the split to score (default: test)")
    p.add_argument("--label", type=NATURAL, metavar="CLASS",
                   help="class of the images (default with --data: their labels; needed with --image for class-conditional models)")
    p.add_argument("--batch-size", type=POSITIVE_INT, default=256, metavar="B", help="images scored at once (default: 256)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")

    command("info", "Describe a trained model: kind, image shape, classes, size.")

    help = "Write a paper's recipe (presets/NAME.yaml, a complete params file) over params.yaml and print what changed."
    p = commands.add_parser("preset", help=help, description=help,
                            epilog="Then `uv run dvc repro`, or `uv run dvc exp run` to keep it as an experiment.")
    p.add_argument("name", nargs="?", metavar="NAME", help="the preset, e.g. cifar10-pp; without it, list the presets")
    p.add_argument("--params", default="params.yaml", metavar="PATH", help="the params file to write (default: params.yaml)")
    p.add_argument("--presets", default="presets", metavar="DIR", help="the folder of presets (default: presets)")
    p.add_argument("--refresh", action="store_true",
                   help="rewrite every preset on the keys, order and comments of --params, keeping its values "
                        "(after params.yaml gained or lost a key: a new key takes params.yaml's value)")
    return parser
