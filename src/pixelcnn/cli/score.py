"""The commands that read a model without drawing: ``pixelcnn score`` (bits/dim of images) and ``pixelcnn info``."""

from __future__ import annotations

import json

from pixelcnn.cli.inputs import _load, _read_images


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
