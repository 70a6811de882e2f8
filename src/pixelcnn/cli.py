"""The ``pixelcnn`` command: sample, complete, score and describe trained models.

    pixelcnn sample   --model models/pixelcnn.pt --n 16 --label 3 --temperature 0.8 --out samples.png
    pixelcnn complete --model models/pixelcnn.pt --data data/prepared --n 8 --rows 16 --out completion.png
    pixelcnn score    --model models/prior.pt --vqvae models/vqvae.pt --data data/prepared
    pixelcnn info     --model models/pixelcnn.pt
    pixelcnn preset   cifar10-pp      # presets/cifar10-pp.yaml → params.yaml, printing what changed

A thin shell over ``pixelcnn.pipelines``: arguments are parsed (and checked) before
torch is imported, so ``--help`` and argument errors are instant. Bad input
prints ``error: <one sentence>`` and exits 1.

A command refuses before it works: every output path is checked writable (a
file, in a folder that can be written) and every size it would hold in memory
(the images, the PNG grid, the GIF's frames) is estimated and bounded by
``MEMORY_LIMIT`` before any sampling starts, so a refused command writes nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from pixelcnn.configs import Sampler
from pixelcnn.errors import InputError, UserError

MEMORY_LIMIT = 2 * 1024**3  # bytes one command may hold for its images, grid or GIF (estimated before any work)
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


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``pixelcnn`` console script."""
    args = build_parser().parse_args(argv)
    try:
        with _notes():
            {"sample": _sample, "complete": _complete, "score": _score, "info": _info, "preset": _preset}[args.command](args)
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


def _check_outputs(*outputs: tuple[str, str | None]) -> None:
    """Each (flag, path) given names a distinct file that can be written; checked by writing nothing that stays."""
    seen: dict[str, str] = {}
    for flag, path in outputs:
        if path is None:
            continue
        target = Path(path)
        key = os.path.realpath(target)
        if key in seen:
            raise InputError(f"{flag} {path} is the file {seen[key]} writes too; name another file")
        seen[key] = flag
        if target.is_dir():
            raise InputError(f"{flag} {path} is a folder; pass the path of a file")
        folder = target.parent
        while not folder.exists() and folder != folder.parent:  # atomic writes create the missing folders
            folder = folder.parent
        if not folder.is_dir():
            raise InputError(f"{flag} {path} cannot be written: {folder} is a file, not a folder")
        try:  # the write itself (a read-only filesystem, permissions, ACLs), as pixelcnn.atomic will do it
            fd, probe = tempfile.mkstemp(prefix=f".{target.name}.tmp-{os.getpid()}-", dir=folder)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise InputError(f"{flag} {path} cannot be written: {(exc.strerror or str(exc)).lower()} in {folder}/") from None


def _bytes(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    raise AssertionError


def _check_memory(what: str, nbytes: int, fix: str) -> None:
    """One sentence with the figure and the way to split the work when ``nbytes`` is over ``MEMORY_LIMIT``."""
    if nbytes > MEMORY_LIMIT:
        raise InputError(f"{what} would take {_bytes(nbytes)} of memory, over the {_bytes(MEMORY_LIMIT)} one command may use; {fix}")


def _grid_size(n: int, nrow: int, shape: tuple[int, int, int], scale: int | None) -> tuple[int, int, int]:
    """(height, width, bytes in memory) of the PIL picture ``save_grid`` makes of n images (``grid_array``'s layout)."""
    c, h, w = shape
    scale = scale or max(1, 128 // h)  # save_grid's default
    ncol = max(1, min(nrow, n))
    rows = -(-n // ncol)
    height, width = (rows * (h + 2) + 2) * scale, (ncol * (w + 2) + 2) * scale
    return height, width, height * width * (1 if c == 1 else 4)  # PIL holds RGB in 4 bytes a pixel


def _check_grid(what: str, n: int, nrow: int, shape: tuple[int, int, int], scale: int | None, fix: str) -> None:
    height, width, nbytes = _grid_size(n, nrow, shape, scale)
    _check_memory(f"{what} of {width:,}×{height:,} pixels", nbytes, fix)


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
    from pixelcnn.visuals.images import save_gif, save_grid

    out = _check_png(args.out)
    _check_outputs(("--out", args.out), ("--npy", args.npy), ("--gif", args.gif))
    pipe = _load(args)
    _check_label_flag(args, pipe)
    nrow = args.nrow or max(1, math.ceil(math.sqrt(args.n)))
    _check_sample_sizes(args, pipe, nrow)
    bar, callback = _progress_bar(args.n, "sampling rows")
    with bar:
        result = pipe.sample(args.n, labels=args.label, options=_options(args), sampler=args.sampler,
                             generator=_generator(args), batch_size=args.batch_size, callback=callback,
                             frames_every=args.every if args.gif else 0)
    save_grid(out, result.images, nrow=nrow, scale=args.scale)
    if args.npy:
        with atomic_path(args.npy, ".npy") as tmp, open(tmp, "wb") as fh:
            np.save(fh, result.images)
    if args.gif:
        save_gif(args.gif, result.frames, nrow=min(nrow, len(result.frames[0])), scale=args.scale)
    labels = "" if result.labels[0] < 0 else f" of class {', '.join(map(str, dict.fromkeys(result.labels.tolist())))}"
    print(f"wrote {out}: {args.n} {pipe.title} samples{labels}")


def _check_sample_sizes(args, pipe, nrow: int) -> None:
    """The images (with their labels, and the copy that joins the batches), the PNG grid and the GIF, each bounded."""
    c, h, w = shape = pipe.image_shape
    per_image = 2 * c * h * w + 8
    most = max(1, MEMORY_LIMIT // per_image)
    _check_memory(f"--n {args.n} images of {c}×{h}×{w}", args.n * per_image,
                  f"draw at most {most:,} per command, and run it again with another --seed for more")
    _check_grid("the PNG grid", args.n, nrow, shape, args.scale,
                "lower --scale (1 keeps each image's own size) or --n, and run it again with another --seed for more")
    if args.gif:
        first = min(args.batch_size, args.n)  # the GIF shows the first batch
        rows = list(pipe.code_shapes.values())[-1][0] if pipe.code_shapes else h  # of the grid drawn last
        frames = -(-rows // args.every)
        _, _, nbytes = _grid_size(first, min(nrow, first), shape, args.scale)
        _check_memory(f"the GIF's {frames} frames of {first} images", frames * nbytes,
                      "raise --every, or lower --scale or --batch-size (the GIF shows the first batch)")


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
        n = len(images)
        if getattr(args, "n", None) is not None:  # complete --n: a prefix of the split
            if args.n > len(images):
                raise InputError(f"--n {args.n} is more than the {len(images)} {split} images of {args.data}; "
                                 f"pass --n {len(images)} or fewer")
            n = args.n
        elif args.command == "complete":
            n = min(8, len(images))
        images, labels = np.asarray(images[:n]), np.asarray(labels[:n])
        if args.label is not None:
            labels = np.full(len(images), args.label, dtype=np.int64)
        return images, labels if pipe.num_classes else None
    from pixelcnn.pipelines.inputs import as_images, open_image

    pictures = [open_image(name, f"--image {name}") for name in args.image]  # each refused above its size cap
    images = as_images(pictures, pipe.image_shape)
    if pipe.num_classes and args.label is None:
        raise InputError(f"the {pipe.title} is conditioned on {pipe.num_classes} classes: pass --label CLASS")
    return images, None if args.label is None else np.full(len(images), args.label, dtype=np.int64)


def _complete(args) -> None:
    import numpy as np

    from pixelcnn.visuals.images import save_grid

    out = _check_png(args.out)
    _check_outputs(("--out", args.out))
    pipe = _load(args)
    if args.rows >= pipe.image_shape[1]:
        raise InputError(f"--rows must be below the image height {pipe.image_shape[1]}, got {args.rows}")
    images, labels = _read_images(args, pipe, "test")
    c, h, w = pipe.image_shape
    per_completion = 2 * c * h * w + 8  # the repeated inputs and the completions, with their labels
    _check_memory(f"{len(images)} images × --samples {args.samples} completions of {c}×{h}×{w}",
                  len(images) * args.samples * per_completion,
                  f"ask for at most {max(1, MEMORY_LIMIT // (per_completion * len(images))):,} --samples of these images, "
                  "and run it again with another --seed for more")
    _check_grid("the PNG grid", len(images) * (2 + args.samples), len(images), pipe.image_shape, args.scale,
                "lower --scale (1 keeps each image's own size), --samples or the number of images")
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


def _preset(args) -> None:
    from pixelcnn.project import presets

    if args.refresh:
        _refresh_presets(args)
        return
    if args.name is None:
        for name in presets.names(args.presets):
            print(f"{name:<18} {presets.load(args.presets, name).title}")
        return
    preset = presets.load(args.presets, args.name)
    changes = presets.apply(preset, args.params)
    print(f"wrote {args.params} from {preset.path}: {preset.title}")
    print(f"{len(changes)} keys changed:" if changes else "no key changed")
    for change in changes:
        print(f"  {change}")


def _refresh_presets(args) -> None:
    import yaml

    from pixelcnn.atomic import write_text
    from pixelcnn.project import params, presets

    if args.name is not None:
        raise InputError(f"--refresh rewrites every preset: drop {args.name}")
    template = Path(args.params)
    if not template.is_file():
        raise InputError(f"--params {template} not found; run from the repository root or pass --params")
    for name in presets.names(args.presets):
        preset = presets.load(args.presets, name)
        text = presets.refresh(template.read_text(), preset)
        params.validate(yaml.safe_load(text), str(preset.path))
        if text != preset.text:
            write_text(preset.path, text)
        print(f"{preset.path}: {'rewritten' if text != preset.text else 'up to date'}")


if __name__ == "__main__":
    main()
