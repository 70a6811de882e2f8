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

One module per part: ``parser`` (the arguments, checked as they are parsed),
``checks`` (output paths and memory, before any work), ``inputs`` (the model,
the images and the sampling settings a command reads), and the commands:
``draw`` (sample, complete), ``score`` (score, info), ``preset``.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Sequence

from pixelcnn.cli.draw import _complete, _sample
from pixelcnn.cli.parser import build_parser
from pixelcnn.cli.preset import _preset
from pixelcnn.cli.score import _info, _score
from pixelcnn.errors import UserError

__all__ = ["build_parser", "main"]


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

