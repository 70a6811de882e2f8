"""params.yaml → frozen, validated dataclasses.

params.yaml has one flat section per concern (``data``, ``pixelcnn``, ``vqvae``,
``prior``, ``classifier``, ``evaluate``) plus a top-level ``seed``. A section is
covered by one or more dataclasses (for instance ``pixelcnn`` by the model, the
training and the sampling knobs), because a stage must depend on exactly the
keys it reads: ``dvc.yaml`` lists, per stage, exactly the fields of the
dataclasses that stage loads, and ``tests/test_dvc_yaml.py`` checks that.

Every load validates the *whole* file first (unknown sections, unknown keys,
wrong types, out-of-range values), so a typo anywhere stops ``dvc repro`` at
its first stage, before any work, with one sentence naming the key.
"""

from __future__ import annotations

import dataclasses
import importlib
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

import yaml

from pixelcnn.errors import ConfigError

T = TypeVar("T")

# section name → dataclasses (as "module:Class") whose fields together are the
# section's keys. Each dataclass has ``SECTION`` set to its section's name.
SECTIONS: dict[str, list[str]] = {
    "data": ["pixelcnn.data:DataParams"],
    "pixelcnn": [
        "pixelcnn.pixel:PixelModelParams",
        "pixelcnn.pixel:PixelTrainParams",
        "pixelcnn.pixel:PixelSampleParams",
    ],
    "vqvae": ["pixelcnn.vqvae:VQVAEParams", "pixelcnn.vqvae:ExtractParams"],
    "prior": [
        "pixelcnn.prior:PriorModelParams",
        "pixelcnn.prior:PriorTrainParams",
        "pixelcnn.prior:PriorSampleParams",
    ],
    "classifier": ["pixelcnn.classifier:ClassifierParams"],
    "evaluate": ["pixelcnn.evaluation:EvaluateParams"],
}
TOP_LEVEL_SCALARS: dict[str, type] = {"seed": int}


def _resolve(spec: str) -> type:
    module, name = spec.split(":")
    return getattr(importlib.import_module(module), name)


def section_classes(section: str) -> list[type]:
    return [_resolve(spec) for spec in SECTIONS[section]]


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin is Literal:
        return " or ".join(repr(a) for a in get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(annotation))
    if origin is list:
        (inner,) = get_args(annotation)
        return f"a list of {_type_name(inner)}"
    if annotation is type(None):
        return "null"
    return {int: "an integer", float: "a number", bool: "true/false", str: "a string"}.get(
        annotation, str(annotation)
    )


def _matches(value: Any, annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin is Literal:
        return value in get_args(annotation) and type(value) in {type(a) for a in get_args(annotation)}
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, a) for a in get_args(annotation))
    if origin is list:
        (inner,) = get_args(annotation)
        return isinstance(value, list) and all(_matches(v, inner) for v in value)
    if annotation is type(None):
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str)
    raise TypeError(f"unsupported params annotation {annotation!r}")


def _coerce(value: Any, annotation: Any) -> Any:
    if annotation is float and isinstance(value, int):
        return float(value)
    return value


def build(cls: type[T], raw: dict[str, Any], where: str = "params.yaml") -> T:
    """Build ``cls`` from the keys of ``raw`` that are its fields, type-checked.

    Missing keys take the dataclass default; a key without a default must be
    present. Range checks live in each dataclass's ``__post_init__`` and raise
    ``ConfigError`` naming ``<section>.<key>``.
    """
    section = cls.SECTION  # type: ignore[attr-defined]
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in raw:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{where}: {section}.{f.name} is missing; add it to the {section} section")
            continue
        value = raw[f.name]
        if not _matches(value, hints[f.name]):
            raise ConfigError(
                f"{where}: {section}.{f.name} must be {_type_name(hints[f.name])}, got {value!r}"
            )
        kwargs[f.name] = _coerce(value, hints[f.name])
    try:
        return cls(**kwargs)
    except ConfigError as exc:  # range checks say "params.yaml: ..."; name the file actually read
        raise ConfigError(str(exc).replace("params.yaml", where, 1)) from None


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: params file not found; run from the repository root or pass --params")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc.__class__.__name__}); fix the syntax") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: must be a mapping of sections, got {type(raw).__name__}")
    return raw


def validate(raw: dict[str, Any], where: str = "params.yaml") -> None:
    """Check every section and key of a whole params mapping."""
    allowed_top = sorted([*SECTIONS, *TOP_LEVEL_SCALARS])
    for name, value in raw.items():
        if name in TOP_LEVEL_SCALARS:
            if not _matches(value, TOP_LEVEL_SCALARS[name]):
                raise ConfigError(f"{where}: {name} must be {_type_name(TOP_LEVEL_SCALARS[name])}, got {value!r}")
            continue
        if name not in SECTIONS:
            raise ConfigError(f"{where}: unknown section {name!r}; allowed: {', '.join(allowed_top)}")
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: section {name} must be a mapping of keys, got {value!r}")
        classes = section_classes(name)
        known = {f.name for c in classes for f in dataclasses.fields(c)}
        for key in value:
            if key not in known:
                raise ConfigError(
                    f"{where}: unknown key {name}.{key}; allowed keys of {name}: {', '.join(sorted(known))}"
                )
        for c in classes:
            build(c, value, where)


def load(path: str | Path, cls: type[T]) -> T:
    """Validate the whole params file at ``path``, then build ``cls`` from its section."""
    raw = read_yaml(path)
    validate(raw, str(path))
    return build(cls, raw.get(cls.SECTION) or {}, str(path))  # type: ignore[attr-defined]


def load_seed(path: str | Path) -> int:
    raw = read_yaml(path)
    validate(raw, str(path))
    return int(raw.get("seed", 0))


def param_keys(cls: type) -> list[str]:
    """The dotted keys ``cls`` reads, as dvc.yaml lists them."""
    return [f"{cls.SECTION}.{f.name}" for f in dataclasses.fields(cls)]  # type: ignore[attr-defined]


def check(condition: bool, message: str) -> None:
    """Raise ``ConfigError('params.yaml: ' + message)`` unless ``condition``."""
    if not condition:
        raise ConfigError(f"params.yaml: {message}")
