"""Presets: the papers' recipes as complete params files (``presets/<name>.yaml``), and applying one.

A preset is a whole params file: every key of the project's params.yaml with
its comment, the recipe's values, and a header (the leading comment block,
first line ``# preset <name>: <recipe>``) naming the recipe, the figure it aims
at and its source. Whole files, so a key the project gains is a decision for
every recipe: ``tests/project/test_presets.py`` fails until each preset has it.

- ``apply(preset, params)``: checks the preset like any params file and copies
  it over ``params`` (atomically); returns what changed, key by key.
- ``refresh(template, preset)``: the preset's text rebuilt on the template's
  lines (``params.yaml``: its keys, order and comments): a key the template
  gained takes the template's value, a key it lost is dropped, and every other
  value, a comment the preset gives a key of its own, and the header, are the
  preset's. ``pixelcnn preset --refresh`` runs it over every preset.

The text is handled line by line, for the shape params.yaml has: top-level
``key: value`` scalars and ``section:`` mappings of ``key: value  # comment``
lines, two spaces in. Every rendered file is read back and must hold exactly
the values it was rendered from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pixelcnn.errors import ConfigError, InputError
from pixelcnn.project import params

HEADER_PREFIX = "# preset "  # the first line of a preset's header: "# preset <name>: <recipe and figure>"
_LINE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][A-Za-z0-9_]*):(?P<rest>.*)$")

Key = tuple[str, ...]  # ("seed",) or (section, key)


@dataclass(frozen=True)
class KeyLine:
    """One ``key: value  # comment`` line of a params file."""

    key: Key
    indent: str
    value: str  # the value as written ("" for a section line)
    comment: str  # from "#" on, or ""
    comment_column: int  # where the comment starts in the line (0: no comment)


@dataclass(frozen=True)
class Change:
    """One key whose value a preset changes."""

    key: str  # dotted: "pixelcnn.hidden"
    old: Any  # None when the key was missing
    new: Any  # None when the preset drops it

    def __str__(self) -> str:
        return f"{self.key}: {_format(self.old) if self.old is not None else '(none)'} → {_format(self.new) if self.new is not None else '(none)'}"


# ----------------------------------------------------------------------------- text


def _split_comment(rest: str) -> tuple[str, str]:
    """``' 32   # features'`` → ``('32', '# features')``; a ``#`` inside quotes is part of the value."""
    quote = ""
    for i, char in enumerate(rest):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or rest[i - 1] in " \t"):
            return rest[:i].strip(), rest[i:].rstrip()
    return rest.strip(), ""


def parse_line(line: str, section: str | None) -> KeyLine | None:
    """The key line ``line`` is (in ``section``, or at the top level when unindented), or None for a comment or blank."""
    match = _LINE.match(line)
    if match is None:
        return None
    indent, name = match["indent"], match["key"]
    value, comment = _split_comment(match["rest"])
    key: Key = (name,) if not indent else (section or "", name)
    column = line.index(comment) if comment else 0
    return KeyLine(key, indent, value, comment, column)


def key_lines(text: str) -> dict[Key, KeyLine]:
    """Every key line of a params file's text, by key (sections as one-element keys)."""
    lines, section = {}, None
    for line in text.splitlines():
        parsed = parse_line(line, section)
        if parsed is None:
            continue
        if not parsed.indent:
            section = parsed.key[0]
        lines[parsed.key] = parsed
    return lines


def header(text: str) -> list[str]:
    """A preset's header: the leading comment block that starts with ``# preset``, up to the first blank line; else []."""
    lines = text.splitlines()
    if not lines or not lines[0].startswith(HEADER_PREFIX):
        return []
    block = []
    for line in lines:
        if not line.strip():
            break
        block.append(line)
    return block


def _format(value: Any) -> str:
    """A value as one YAML flow scalar or list: 0.0003, true, '', [3, 7]."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
    return text.removesuffix("...").strip()


def _value(raw: dict[str, Any], key: Key) -> tuple[bool, Any]:
    node: Any = raw
    for part in key:
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def render(template: str, raw: dict[str, Any], comments: dict[Key, str] | None = None,
           head: list[str] | None = None) -> str:
    """``template``'s lines with the values of ``raw``, under ``head`` (a preset's header) and a blank line.

    Keys of the template that ``raw`` lacks keep the template's value; a value
    equal to the template's keeps the template's text and comment; a changed
    value takes its comment from ``comments`` when it has one there. A
    template that is itself a preset loses its header. The result must load
    back to the template's keys with ``raw``'s values (else ``ValueError``).
    """
    comments = comments or {}
    lines = template.splitlines()
    if header(template):
        lines = lines[len(header(template)):]
        while lines and not lines[0].strip():
            lines = lines[1:]
    out = [*head, ""] if head else []
    section = None
    for line in lines:
        parsed = parse_line(line, section)
        if parsed is None:
            out.append(line)
            continue
        if not parsed.indent:
            section = parsed.key[0]
        found, value = _value(raw, parsed.key)
        if parsed.value == "" or not found or _same(yaml.safe_load(parsed.value), value):
            out.append(line)  # a section line, or a key at the template's value
            continue
        comment = comments.get(parsed.key, parsed.comment)
        start = f"{parsed.indent}{parsed.key[-1]}: {_format(value)}"
        if comment:
            start = start.ljust(max(parsed.comment_column, len(start) + 1) if parsed.comment else len(start) + 2)
        out.append(f"{start}{comment}".rstrip())
    text = "\n".join(out) + "\n"
    expected = yaml.safe_load(template) or {}
    for key in key_lines(template):
        found, value = _value(raw, key)
        if found and not isinstance(value, dict):
            _set(expected, key, value)
    if yaml.safe_load(text) != expected:
        raise ValueError("the rendered params file does not hold the values it was rendered from")
    return text


def _same(a: Any, b: Any) -> bool:
    """Equal values of the same type (1 is not 1.0 here, nor true 1)."""
    return a == b and type(a) is type(b)


def _set(raw: dict[str, Any], key: Key, value: Any) -> None:
    node = raw
    for part in key[:-1]:
        node = node[part]
    node[key[-1]] = value


# ----------------------------------------------------------------------------- presets


@dataclass(frozen=True)
class Preset:
    """A preset file: its name, text, values and header."""

    name: str
    path: Path
    text: str
    raw: dict[str, Any]

    @property
    def header(self) -> list[str]:
        return header(self.text)

    @property
    def title(self) -> str:
        """The header's first line less ``# preset <name>:``."""
        lines = self.header
        return lines[0].split(":", 1)[1].strip() if lines and ":" in lines[0] else ""

    def comments(self) -> dict[Key, str]:
        """Each key's comment as the preset writes it."""
        return {key: line.comment for key, line in key_lines(self.text).items() if line.comment}


def names(folder: str | Path) -> list[str]:
    """The presets in ``folder``, sorted."""
    return sorted(p.stem for p in Path(folder).glob("*.yaml"))


def load(folder: str | Path, name: str) -> Preset:
    """The preset ``name`` of ``folder``, read (not yet checked); a name that is not one of ``names(folder)`` is one
    sentence listing those (``confined``)."""
    path = confined(folder, name)
    text = path.read_text()
    return Preset(name, path, text, params.read_yaml(path))


def confined(folder: str | Path, name: str) -> Path:
    """``folder/<name>.yaml`` when ``name`` is one of the presets there (``names``), else one sentence listing them.

    Names only: a path (``/elsewhere/evil``, ``../dvc``, ``sub/name``) never
    reaches the file system, so ``pixelcnn preset`` reads and copies nothing
    from outside the presets folder.
    """
    known = names(folder)
    if not known:
        raise InputError(f"{folder}: no presets there (presets/<name>.yaml); run from the repository root or pass --presets")
    if name in known:
        return Path(folder) / f"{name}.yaml"
    if any(mark in name for mark in ("/", "\\", "..")) or Path(name).is_absolute():
        raise InputError(f"{name!r} is a path, but a preset is named by its file in {folder} (no folders, no '..'): "
                         f"choose one of: {', '.join(known)}; to use a params file of your own, copy it into place yourself")
    raise InputError(f"no preset {name!r} in {folder}; choose one of: {', '.join(known)}")


def flat(raw: dict[str, Any]) -> dict[str, Any]:
    """{"pixelcnn.hidden": 32, "seed": 0, ...}: every key of a params mapping, dotted."""
    out = {}
    for name, value in raw.items():
        if isinstance(value, dict):
            out.update({f"{name}.{key}": v for key, v in value.items()})
        else:
            out[name] = value
    return out


def changes(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    """The keys whose values differ between two params mappings, in ``new``'s order (dropped keys last)."""
    before, after = flat(old), flat(new)
    changed = [Change(k, before.get(k), v) for k, v in after.items() if k not in before or not _same(before[k], v)]
    return changed + [Change(k, v, None) for k, v in before.items() if k not in after]


def check(preset: Preset) -> None:
    """The preset passes every check of params.yaml (``params.validate``), naming the file and key otherwise."""
    params.validate(preset.raw, str(preset.path))


def apply(preset: Preset, target: str | Path) -> list[Change]:
    """Check ``preset`` and write it over ``target`` (atomically); the keys that changed."""
    from pixelcnn.atomic import write_text

    check(preset)
    target = Path(target)
    old = params.read_yaml(target) if target.is_file() else {}
    write_text(target, preset.text)
    return changes(old, preset.raw)


def refresh(template: str, preset: Preset) -> str:
    """The preset rebuilt on the template's keys, order and comments (see the module docstring)."""
    if not preset.header:
        raise ConfigError(f"{preset.path}: a preset starts with its header, a line '{HEADER_PREFIX}{preset.name}: <recipe>'; add it")
    return render(template, preset.raw, preset.comments(), preset.header)
