"""The drawing commands: ``pixelcnn sample`` (new images: a PNG grid, and a .npy and a GIF on request) and
``pixelcnn complete`` (the top rows of images kept, the rest sampled)."""

from __future__ import annotations

import math

from pixelcnn.cli.checks import MEMORY_LIMIT, _check_grid, _check_label_flag, _check_memory, _check_outputs, _check_png, _grid_size
from pixelcnn.cli.inputs import _generator, _load, _options, _progress_bar, _read_images
from pixelcnn.errors import InputError


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
