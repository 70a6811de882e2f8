"""The ``pixelcnn`` command: sample, complete, score and describe trained models.

    pixelcnn sample   --model models/pixelcnn.pt --n 16 --label 3 --temperature 0.8 --out samples.png
    pixelcnn complete --model models/pixelcnn.pt --data data/prepared --n 8 --rows 16 --out completion.png
    pixelcnn score    --model models/prior.pt --vqvae models/vqvae.pt --data data/prepared
    pixelcnn info     --model models/pixelcnn.pt

A thin shell over ``pixelcnn.pipelines``: arguments are parsed (and checked) before
torch is imported, so ``--help`` and argument errors are instant. Bad input
prints ``error: <one sentence>`` and exits 1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from pixelcnn.configs import Sampler
from pixelcnn.errors import InputError, UserError

EPILOG = "Models come from `uv run dvc repro`: models/pixelcnn.pt, or models/prior.pt with models/vqvae.pt."
EXAMPLES = """examples:
  pixelcnn sample --model models/pixelcnn.pt --n 16 --label 3 --temperature 0.8 --out samples.png
  pixelcnn sample --model models/prior.pt --vqvae models/vqvae.pt --n 100 --out prior.png --gif progress.gif
  pixelcnn complete --model models/pixelcnn.pt --data data/prepared --n 8 --rows 16 --samples 3 --out completion.png
  pixelcnn score --model models/pixelcnn.pt --data data/prepared
  pixelcnn info --model models/prior.pt --vqvae models/vqvae.pt

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
    p.add_argument("--n", type=POSITIVE_INT, default=8, metavar="N", help="with --data: the first n test images (default: 8)")
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
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``pixelcnn`` console script."""
    args = build_parser().parse_args(argv)
    try:
        with _notes():
            {"sample": _sample, "complete": _complete, "score": _score, "info": _info}[args.command](args)
    except UserError as exc:
        print(f"error: {getattr(exc, 'cli', None) or exc}", file=sys.stderr)  # the library's advice in flags, where it has one
        raise SystemExit(1) from None


@contextlib.contextmanager
def _notes():
    """The library's ``InputWarning``s (an image converted to the model's channels, ...) as ``note: <sentence>`` lines."""
    import warnings

    from pixelcnn.errors import InputWarning

    shown = warnings.showwarning

    def show(message, category, *args, **kwargs):
        if issubclass(category, InputWarning):
            print(f"note: {message}", file=sys.stderr)
        else:
            shown(message, category, *args, **kwargs)

    with warnings.catch_warnings():
        warnings.simplefilter("always", InputWarning)
        warnings.showwarning = show
        yield


# ----------------------------------------------------------------------------- commands


def _load(args):
    import pixelcnn

    return pixelcnn.load(args.model, vqvae=args.vqvae, device=args.device)


def _check_png(path: str, flag: str = "--out") -> Path:
    if Path(path).suffix.lower() != ".png":
        raise InputError(f"{flag} {path} must end in .png (the grid is written as a PNG)")
    return Path(path)


def _options(args):
    """The sampling settings of --temperature, --top-k, --top-p, --guidance (their ranges are checked while parsing)."""
    from pixelcnn.configs import SamplingOptions

    return SamplingOptions(args.temperature, args.top_k, args.top_p, args.guidance)


def _generator(args):
    import torch

    return torch.Generator().manual_seed(args.seed)


def _progress_bar(total_images: int, desc: str):
    from tqdm import tqdm

    bar = tqdm(total=total_images, desc=desc, unit="image", file=sys.stderr, disable=None)

    def callback(progress) -> None:
        bar.total = progress.total
        bar.update(progress.done - bar.n)

    return bar, callback


def _sample(args) -> None:
    import numpy as np

    from pixelcnn.atomic import atomic_path
    from pixelcnn.evaluation.images import save_gif, save_grid

    out = _check_png(args.out)
    pipe = _load(args)
    _check_label_flag(args, pipe)
    bar, callback = _progress_bar(args.n, "sampling rows")
    with bar:
        result = pipe.sample(args.n, labels=args.label, options=_options(args), sampler=args.sampler,
                             generator=_generator(args), batch_size=args.batch_size, callback=callback,
                             frames_every=args.every if args.gif else 0)
    nrow = args.nrow or max(1, math.ceil(math.sqrt(args.n)))
    save_grid(out, result.images, nrow=nrow, scale=args.scale)
    if args.npy:
        with atomic_path(args.npy, ".npy") as tmp, open(tmp, "wb") as fh:
            np.save(fh, result.images)
    if args.gif:
        save_gif(args.gif, result.frames, nrow=min(nrow, len(result.frames[0])), scale=args.scale)
    labels = "" if result.labels[0] < 0 else f" of class {', '.join(map(str, dict.fromkeys(result.labels.tolist())))}"
    print(f"wrote {out}: {args.n} {pipe.title} samples{labels}")


def _check_label_flag(args, pipe) -> None:
    if args.label is not None and not pipe.num_classes:
        raise InputError(f"the {pipe.title} is unconditional (trained without labels): drop --label")


def _read_images(args, pipe, split: str) -> tuple:
    """uint8 (N, C, H, W) and int64 labels (or None) from --image files or a --data dir."""
    import numpy as np

    _check_label_flag(args, pipe)
    if args.data:
        from pixelcnn.data.prepared import load_split

        images, labels, _ = load_split(args.data, split)
        n = getattr(args, "n", None) or len(images)
        images, labels = np.asarray(images[:n]), np.asarray(labels[:n])
        if args.label is not None:
            labels = np.full(len(images), args.label, dtype=np.int64)
        return images, labels if pipe.num_classes else None
    from PIL import Image, UnidentifiedImageError

    from pixelcnn.pipelines.inputs import as_images

    pictures = []
    for name in args.image:
        try:
            pictures.append(Image.open(name))
        except FileNotFoundError:
            raise InputError(f"--image {name} not found") from None
        except (UnidentifiedImageError, OSError):
            raise InputError(f"--image {name} is not an image PIL can read (PNG, JPEG, ...)") from None
    images = as_images(pictures, pipe.image_shape)
    if pipe.num_classes and args.label is None:
        raise InputError(f"the {pipe.title} is conditioned on {pipe.num_classes} classes: pass --label CLASS")
    return images, None if args.label is None else np.full(len(images), args.label, dtype=np.int64)


def _complete(args) -> None:
    import numpy as np

    from pixelcnn.evaluation.images import save_grid

    out = _check_png(args.out)
    pipe = _load(args)
    if args.rows >= pipe.image_shape[1]:
        raise InputError(f"--rows must be below the image height {pipe.image_shape[1]}, got {args.rows}")
    images, labels = _read_images(args, pipe, "test")
    repeated = np.repeat(images, args.samples, axis=0)  # (N·S, C, H, W): the completions of image i are together
    bar, callback = _progress_bar(len(repeated), "completing rows")
    with bar:
        done = pipe.complete(repeated, args.rows, labels=None if labels is None else np.repeat(labels, args.samples),
                             options=_options(args), sampler=args.sampler, generator=_generator(args),
                             batch_size=args.batch_size, callback=callback)
    kept = images.copy()
    kept[:, :, args.rows :] = 0
    completions = done.images.reshape(len(images), args.samples, *images.shape[1:]).transpose(1, 0, 2, 3, 4)  # (S, N, C, H, W)
    grid = np.concatenate([images[None], kept[None], completions]).reshape(-1, *images.shape[1:])  # rows of N images
    save_grid(out, grid, nrow=len(images), scale=args.scale)
    print(f"wrote {out}: {len(images)} images, {args.samples} completion(s) each below row {args.rows} "
          f"(grid rows: originals, kept rows, completions)")


def _score(args) -> None:
    pipe = _load(args)
    images, labels = _read_images(args, pipe, args.split)
    bits = pipe.score(images, labels, batch_size=args.batch_size)
    result = {"model": args.model, "images": len(images), "bits_per_dim": float(bits.mean())}
    per_level = pipe.bits_per_code(images, labels, batch_size=args.batch_size)  # empty without code grids
    if per_level:
        result["bits_per_code"] = {name: float(v.mean()) for name, v in per_level.items()}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    where = f"the {args.split} split of {args.data}" if args.data else f"{len(images)} image file(s)"
    print(f"{result['bits_per_dim']:.4f} bits/dim ({pipe.title}, {len(images)} images, {where})")
    for name, value in result.get("bits_per_code", {}).items():
        print(f"{value:.4f} bits/code at the {name} level")


def _info(args) -> None:
    pipe = _load(args)
    print(f"{pipe.title} ({args.model}{' + ' + args.vqvae if args.vqvae else ''})")
    for label, text in pipe.describe().items():
        print(f"  {label + ':':<12}{text}")


if __name__ == "__main__":
    main()
