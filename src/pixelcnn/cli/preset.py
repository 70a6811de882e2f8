"""``pixelcnn preset``: a paper's recipe (presets/NAME.yaml) written over params.yaml, the list of presets, and
``--refresh`` (every preset rewritten on params.yaml's keys, order and comments)."""

from __future__ import annotations

from pathlib import Path

from pixelcnn.cli.checks import check_no_clobber, same_file
from pixelcnn.errors import InputError


def preset(args) -> None:
    from pixelcnn.project import presets

    if args.refresh:
        _refresh_presets(args)
        return
    if args.name is None:
        for name in presets.names(args.presets):
            print(f"{name:<18} {presets.load(args.presets, name).title}")
        return
    recipe = presets.load(args.presets, args.name)
    check_no_clobber([("--params", args.params)], [("the preset", str(recipe.path))])
    changes = presets.apply(recipe, args.params)
    print(f"wrote {args.params} from {recipe.path}: {recipe.title}")
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
    if any(same_file(args.params, str(Path(args.presets) / f"{name}.yaml")) for name in presets.names(args.presets)):
        raise InputError(f"--params {args.params} is one of the presets --refresh rewrites; pass the project's params file")
    for name in presets.names(args.presets):
        preset = presets.load(args.presets, name)
        text = presets.refresh(template.read_text(), preset)
        params.validate(yaml.safe_load(text), str(preset.path))
        if text != preset.text:
            write_text(preset.path, text)
        print(f"{preset.path}: {'rewritten' if text != preset.text else 'up to date'}")
