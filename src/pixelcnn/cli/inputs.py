"""What the commands read: the trained model (``--model``, ``--vqvae``), the images (``--image`` files or a
``--data`` dir), and the sampling settings, generator and progress bar of the drawing commands."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from pixelcnn.cli import checks
from pixelcnn.cli.checks import check_label_flag, check_memory
from pixelcnn.errors import InputError


def load(args):
    import pixelcnn

    return pixelcnn.load(args.model, vqvae=args.vqvae, device=args.device)


def options(args):
    """The sampling settings of --temperature, --top-k, --top-p, --guidance (their ranges are checked while parsing)."""
    from pixelcnn.configs import SamplingOptions

    return SamplingOptions(args.temperature, args.top_k, args.top_p, args.guidance)


def generator(args):
    import torch

    return torch.Generator().manual_seed(args.seed)


def progress_bar(total_images: int, desc: str):
    from tqdm import tqdm

    bar = tqdm(total=total_images, desc=desc, unit="image", file=sys.stderr, disable=None)

    def callback(progress) -> None:
        bar.total = progress.total
        bar.update(progress.done - bar.n)

    return bar, callback


def read_images(args, pipe, split: str) -> tuple:
    """uint8 (N, C, H, W) and int64 labels (or None) from --image files or a --data dir."""
    import numpy as np

    check_label_flag(args, pipe)
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
    images = _read_image_files(args.image, pipe.image_shape)
    if pipe.num_classes and args.label is None:
        raise InputError(f"the {pipe.title} is conditioned on {pipe.num_classes} classes: pass --label CLASS")
    return images, None if args.label is None else np.full(len(images), args.label, dtype=np.int64)


def _read_image_files(names: Sequence[str], shape: tuple[int, int, int]):
    """--image files as uint8 (N, C, H, W), every file's header read before any is decoded.

    From the headers alone (one file open at a time, nothing decoded): a file
    of another size than the model's is refused, and so are more files than
    ``MEMORY_LIMIT`` holds once decoded (PIL's pixels, the converted arrays and
    their stack), with the number of files that fits.
    """
    from pixelcnn.pipelines.inputs import as_images, image_header, open_image

    c, h, w = shape
    headers = [image_header(name, f"--image {name}") for name in names]  # each refused above MAX_IMAGE_SIDE² too
    for name, header in zip(names, headers):
        if (header.height, header.width) != (h, w):
            raise InputError(f"--image {name} is {header.height}×{header.width} but the model works on {h}×{w} images; "
                             f"resize it to {h}×{w}")
    arrays = 2 * c * h * w  # an image's converted array, and its copy in the stack
    largest = max(header.decoded_bytes for header in headers) + arrays
    check_memory(f"{len(names):,} --image files of {h}×{w} pixels, once decoded,",
                  sum(header.decoded_bytes for header in headers) + len(names) * arrays,
                  f"pass at most {max(1, checks.MEMORY_LIMIT // largest):,} files per command, and run it again for the rest")
    pictures = []
    for name in names:
        with open_image(name, f"--image {name}") as picture:
            pictures.append(picture.copy())  # decoded, and its file closed (an animated GIF would keep it open)
    return as_images(pictures, shape)
