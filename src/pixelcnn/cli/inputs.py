"""What the commands read: the trained model (``--model``, ``--vqvae``), the images (``--image`` files or a
``--data`` dir), and the sampling settings, generator and progress bar of the drawing commands."""

from __future__ import annotations

import sys

from pixelcnn.cli.checks import _check_label_flag
from pixelcnn.errors import InputError


def _load(args):
    import pixelcnn

    return pixelcnn.load(args.model, vqvae=args.vqvae, device=args.device)


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
