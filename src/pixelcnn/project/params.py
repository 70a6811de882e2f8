"""params.yaml → the library's own config types, checked strictly.

params.yaml has one flat section per concern (``data``, ``train``,
``pixelcnn``, ``vqvae``, ``prior``, ``classifier``, ``evaluate``) plus a
top-level ``seed``. There are no params classes: every key is a field of a
library type (``PixelCNNConfig``, ``OptimConfig``, ``SamplingOptions``, ...),
declared once, with its default, range check and comment there. ``SECTIONS``
says which types a section's keys build; a type's fields that come from the
data or an upstream checkpoint (the channels, the number of classes, ...) are
``derived``: they are not keys, and the stage fills them in.

A stage reads its params once: ``load_file(path)`` reads and validates the
*whole* file (an unknown section or key, a missing key, a wrong type, a value
out of range), so a typo anywhere stops ``dvc repro`` at its first stage,
before any work, with one sentence naming the key (``params.yaml:
prior.temperature must be > 0, got -1``). Numbers are read as the user (and
DVC, which reads YAML 1.2) meant them: ``lr: 1e30``, a string to YAML 1.1, is a
float where a float goes; no key takes infinity or NaN (``.inf``, ``.nan``).
The ``Params`` it returns hands out
typed configs (``load``, ``load_partial``, ``seed``). A stage loads exactly
the keys of the types it asks for; ``tests/test_dvc_yaml.py`` reads those
calls from the script and checks that dvc.yaml lists exactly those keys.

The library names fields, never keys: range checks and argument checks raise
``errors.InvalidValue`` naming a field. This layer names the key: when it
builds a config, and around the library calls of a stage
(``Params.naming(section, *types)``: a field error raised inside becomes a
``ConfigError`` naming the key of that field). ``field_keys`` gives the keys
of a type's fields, for library sentences that advise a change of setting.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import re
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar, get_args, get_origin

import yaml

from pixelcnn import configs as c
from pixelcnn.errors import ConfigError, InvalidValue

T = TypeVar("T")


@dataclass(frozen=True)
class Part:
    """A config type whose fields (less ``derived``) are keys of one section."""

    cls: type
    derived: tuple[str, ...] = ()  # fields the stage fills in from the data or an upstream checkpoint
    rename: tuple[tuple[str, str], ...] = ()  # (params key, field) where a key is not its field's name

    def keymap(self) -> dict[str, str]:
        """params key → field name, in field order."""
        to_key = {field: key for key, field in self.rename}
        return {to_key.get(f.name, f.name): f.name for f in dataclasses.fields(self.cls) if f.name not in self.derived}


# Fields of PixelCNNConfig that the data (pixels) or the codes (priors) decide.
_PIXEL_DERIVED = ("channels", "height", "width", "embed_dim", "num_classes", "cond_channels", "null_class")
_PRIOR_DERIVED = ("channels", "levels", "height", "width", "num_classes", "cond_channels", "output", "n_mix", "null_class")

SECTIONS: dict[str, tuple[Part, ...]] = {
    "data": (Part(c.DataConfig),),
    "train": (Part(c.RunConfig),),
    "pixelcnn": (
        Part(c.PixelCNNConfig, derived=_PIXEL_DERIVED),
        Part(c.ClassConditioning),
        Part(c.OptimConfig),
        Part(c.SamplingOptions),
        Part(c.PixelSampleRun),
    ),
    "vqvae": (
        Part(c.VQVAEConfig, derived=("channels", "image_size")),
        Part(c.OptimConfig),
        Part(c.ReconstructionGrid),
        Part(c.ExtractConfig),
    ),
    "prior": (
        Part(c.PixelCNNConfig, derived=_PRIOR_DERIVED),
        Part(c.CondNetConfig, derived=("codebook_size", "embed_dim", "out_channels", "scale"),
             rename=(("cond_hidden", "hidden"), ("cond_blocks", "blocks"))),
        Part(c.ClassConditioning),
        Part(c.OptimConfig),
        Part(c.SamplingOptions),
        Part(c.SampleRun),
    ),
    "classifier": (
        Part(c.ClassifierConfig, derived=("in_channels", "num_classes")),
        Part(c.Augmentation),
        Part(c.OptimConfig),
    ),
    "evaluate": (Part(c.Features), Part(c.EvaluateConfig)),
}
TOP_LEVEL_SCALARS: dict[str, type] = {"seed": int}


def section_keys(section: str) -> dict[str, None]:
    """Every key of a section, in declaration order."""
    return {key: None for part in SECTIONS[section] for key in part.keymap()}


def find_part(section: str, cls: type) -> Part:
    for part in SECTIONS[section]:
        if part.cls is cls:
            return part
    raise ValueError(f"section {section!r} builds no {cls.__name__}; see params.SECTIONS")


def param_keys(section: str, cls: type) -> list[str]:
    """The dotted keys that loading ``cls`` from ``section`` reads, as dvc.yaml lists them."""
    return [f"{section}.{key}" for key in find_part(section, cls).keymap()]


def field_keys(section: str, cls: type) -> dict[str, str]:
    """Field of ``cls`` → its dotted key in ``section`` (``{"lr": "prior.lr", ...}``), for sentences that advise a setting."""
    return {field: f"{section}.{key}" for key, field in find_part(section, cls).keymap().items()}


# ----------------------------------------------------------------------------- types


def _is_enum(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, Enum)


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin is Literal:
        return " or ".join(repr(a) for a in get_args(annotation))
    if _is_enum(annotation):
        return " or ".join(repr(m.value) for m in annotation)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(annotation))
    if origin in (list, tuple):
        return f"a list of {_type_name(get_args(annotation)[0])}"
    if annotation is type(None):
        return "null"
    return {int: "an integer", float: "a number", bool: "true/false", str: "a string"}.get(annotation, str(annotation))


def _matches(value: Any, annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin is Literal:
        return value in get_args(annotation) and type(value) in {type(a) for a in get_args(annotation)}
    if _is_enum(annotation):  # params.yaml holds the plain value (a string)
        return any(type(value) is type(m.value) and value == m.value for m in annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, a) for a in get_args(annotation))
    if origin in (list, tuple):
        inner = get_args(annotation)[0]
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


# A number as YAML 1.2 writes it (what DVC reads, and writes for `dvc exp run -S`), which YAML 1.1 (PyYAML) reads
# as a string when it has no dot or no exponent sign: 1e30, 1.0e30, 1E-4, .5e2.
_YAML12_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")


def _admits(annotation: Any, kind: type) -> bool:
    """Whether ``annotation`` is ``kind`` or a union with ``kind`` among its members."""
    if get_origin(annotation) in (typing.Union, types.UnionType):
        return kind in get_args(annotation)
    return annotation is kind


def _as_written(value: Any, annotation: Any) -> Any:
    """``value`` read as the user meant it: a YAML 1.2 number that YAML 1.1 left a string (``1e30``) is a float where a float goes."""
    if isinstance(value, str) and _admits(annotation, float) and not _admits(annotation, str) and _YAML12_FLOAT.fullmatch(value.strip()):
        return float(value)
    return value


def _check_finite(name: str, value: Any, annotation: Any, where: str) -> None:
    """No key takes infinity or NaN (``.inf``, ``.nan``, ``1e999``): a rate, a share, a scale must be a real number."""
    if _admits(annotation, float) and isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where}: {name} must be a finite number, got {value}")


def _coerce(value: Any, annotation: Any) -> Any:
    if annotation is float and isinstance(value, int):
        return float(value)
    if get_origin(annotation) is tuple:
        return tuple(value)
    if _is_enum(annotation):
        return annotation(value)
    return value


# ----------------------------------------------------------------------------- building


class Partial(Generic[T]):
    """The keys of one section for a type with ``derived`` fields; ``build`` adds them."""

    def __init__(self, part: Part, section: str, kwargs: dict[str, Any], where: str) -> None:
        self.part, self.section, self.kwargs, self.where = part, section, kwargs, where

    def build(self, **derived: Any) -> T:
        """The config with ``derived`` fields filled in; a bad value names its key."""
        unknown = set(derived) - set(self.part.derived)
        if unknown:
            raise TypeError(f"{', '.join(sorted(unknown))} are params keys of {self.section}, not derived fields")
        return _construct(self.part, self.section, {**self.kwargs, **derived}, self.where)

    def __getitem__(self, key: str) -> Any:
        """The value of a params key (the field it names)."""
        return self.kwargs[self.part.keymap()[key]]


def _construct(part: Part, section: str, kwargs: dict[str, Any], where: str) -> Any:
    """``part.cls(**kwargs)``; a range error becomes a ``ConfigError`` naming the key."""
    try:
        return part.cls(**kwargs)
    except InvalidValue as exc:
        to_key = {field: key for key, field in part.keymap().items()}
        if exc.field in to_key:
            raise ConfigError(f"{where}: {exc.naming(f'{section}.{to_key[exc.field]}')}") from None
        raise ConfigError(f"{where}: {section}: {exc}") from None
    except ValueError as exc:
        raise ConfigError(f"{where}: {section}: {exc}") from None


def _kwargs(part: Part, section: str, raw: dict[str, Any], where: str) -> dict[str, Any]:
    hints = typing.get_type_hints(part.cls)
    kwargs = {}
    for key, field in part.keymap().items():
        if key not in raw:
            raise ConfigError(f"{where}: {section}.{key} is missing; add it to the {section} section (see the project's params.yaml)")
        value = _as_written(raw[key], hints[field])
        if not _matches(value, hints[field]):
            raise ConfigError(f"{where}: {section}.{key} must be {_type_name(hints[field])}, got {value!r}")
        _check_finite(f"{section}.{key}", value, hints[field], where)
        kwargs[field] = _coerce(value, hints[field])
    return kwargs


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
    """Check every section and key of a whole params mapping (derived fields at their defaults)."""
    allowed_top = [*SECTIONS, *TOP_LEVEL_SCALARS]
    for name in raw:
        if name not in SECTIONS and name not in TOP_LEVEL_SCALARS:
            raise ConfigError(f"{where}: unknown section {name!r}; allowed: {', '.join(sorted(allowed_top))}")
    for name, annotation in TOP_LEVEL_SCALARS.items():
        if name not in raw:
            raise ConfigError(f"{where}: {name} is missing; add it at the top level (see the project's params.yaml)")
        if not _matches(raw[name], annotation):
            raise ConfigError(f"{where}: {name} must be {_type_name(annotation)}, got {raw[name]!r}")
    for name in SECTIONS:
        if name not in raw:
            raise ConfigError(f"{where}: section {name} is missing; add it (see the project's params.yaml)")
        section = raw[name]
        if not isinstance(section, dict):
            raise ConfigError(f"{where}: section {name} must be a mapping of keys, got {section!r}")
        known = section_keys(name)
        for key in section:
            if key not in known:
                raise ConfigError(f"{where}: unknown key {name}.{key}; allowed keys of {name}: {', '.join(sorted(known))}")
        for part in SECTIONS[name]:
            _construct(part, name, _kwargs(part, name, section, where), where)


class Params:
    """A params file read and validated once: typed configs of its sections, the seed, and the keys of fields.

    Built by ``load_file``; ``where`` (the file's path) starts every sentence.
    """

    def __init__(self, raw: dict[str, Any], where: str) -> None:
        self.raw, self.where = raw, where

    def _kwargs(self, section: str, cls: type) -> tuple[Part, dict[str, Any]]:
        part = find_part(section, cls)
        return part, _kwargs(part, section, self.raw[section], self.where)

    def load(self, section: str, cls: type[T]) -> T:
        """``cls`` built from the keys of ``section``."""
        part, kwargs = self._kwargs(section, cls)
        if part.derived:
            raise TypeError(f"{cls.__name__} has derived fields {part.derived}: use params.load_partial (Params.load_partial)")
        return _construct(part, section, kwargs, self.where)

    def load_partial(self, section: str, cls: type[T]) -> Partial[T]:
        """The keys of ``section`` for ``cls``, to ``build`` with the derived fields."""
        part, kwargs = self._kwargs(section, cls)
        return Partial(part, section, kwargs, self.where)

    @property
    def seed(self) -> int:
        """The top-level ``seed``."""
        return int(self.raw["seed"])

    @contextlib.contextmanager
    def naming(self, section: str, *classes: type) -> Iterator[None]:
        """Inside, a field error (``errors.InvalidValue``) about a field of ``classes`` becomes a ``ConfigError`` naming its key.

        For library calls that check a config's values against the data or the
        machine (a device, a class label, a weights file). Other errors pass unchanged.
        """
        keys: dict[str, str] = {}
        for cls in classes:
            for field, key in field_keys(section, cls).items():
                if keys.setdefault(field, key) != key:
                    raise TypeError(f"field {field} is {keys[field]} and {key}: name the one type it belongs to")
        try:
            yield
        except InvalidValue as exc:
            if exc.field not in keys:
                raise
            raise ConfigError(f"{self.where}: {exc.naming(keys[exc.field])}") from None


def load_file(path: str | Path) -> Params:
    """Read and validate the whole params file at ``path``, once."""
    raw = read_yaml(path)
    validate(raw, str(path))
    return Params(raw, str(path))


def load(path: str | Path, section: str, cls: type[T]) -> T:
    """``load_file(path).load(section, cls)``: one config, for a one-off read (a stage reads its file once)."""
    return load_file(path).load(section, cls)


def load_partial(path: str | Path, section: str, cls: type[T]) -> Partial[T]:
    """``load_file(path).load_partial(section, cls)``."""
    return load_file(path).load_partial(section, cls)


def load_seed(path: str | Path) -> int:
    """``load_file(path).seed``."""
    return load_file(path).seed
