"""``pixelcnn preset``: a paper's recipe (presets/NAME.yaml) written over params.yaml, the list of presets, and
``--refresh`` (every preset rewritten on params.yaml's keys, order and comments)."""

from __future__ import annotations

from pathlib import Path

from pixelcnn.errors import InputError


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
