"""The README and the docs pages: every Python snippet is run by a test, every command line is one the project
accepts, every public name has a docstring in the API reference, and the README stays a front door.

The snippets themselves run in the tests of what they show (``doc_block("...")`` in tests/pipelines,
tests/training, tests/evaluation); this module checks that none is left unclaimed, so a new snippet cannot go
untested. ``mkdocs build --strict`` (CI) checks the links.
"""

from __future__ import annotations

import argparse
import ast
import itertools
import re
import shlex
from pathlib import Path

import griffe
import pytest

import pixelcnn
from pixelcnn.cli import build_parser

from helpers import DOC_PAGES, ROOT, doc_blocks

REFERENCE = ROOT / "docs" / "reference"
PLACEHOLDER = re.compile(r"^(<.*>|\$\w+|[A-Z][A-Z_]*|\.\.\.)$")  # <command>, $p, NAME, ...: words a reader replaces


def claimed() -> dict[str, Path]:
    """The strings the tests pass to ``doc_block(...)``, read from their source: string → the test file."""
    keys = {}
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "doc_block":
                assert node.args and isinstance(node.args[0], ast.Constant), f"{path}: doc_block takes a string literal"
                keys[node.args[0].value] = path
    return keys


def test_docs_every_python_snippet_is_run_by_a_test():
    keys = claimed()
    blocks = doc_blocks()
    assert len(blocks) >= 5 and len(keys) >= 4  # the quick start and the Python API page's snippets at least
    unclaimed = [f"{path.relative_to(ROOT)}: {block.splitlines()[0]!r}" for path, block in blocks
                 if not any(key in block for key in keys)]
    assert unclaimed == [], f"python blocks no test runs (claim each with doc_block('...') in the test that runs it): {unclaimed}"
    for key, test in keys.items():  # each claim names exactly one snippet (the same text wherever it is printed)
        found = {block for _, block in blocks if key in block}
        assert len(found) == 1, f"{test.relative_to(ROOT)}: doc_block({key!r}) matches {len(found)} different snippets"


def command_lines(program: str) -> list[tuple[str, list[str]]]:
    """Every ``uv run <program> ...`` of the README and the docs: (where, its words after the program), up to a comment,
    the end of the code span, or the next shell command (``&&``, ``;``, ``|``)."""
    found = []
    for path in DOC_PAGES:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for match in re.finditer(rf"uv run {program} ([^`#\n]*)", line):
                lexer = shlex.shlex(match.group(1), posix=True, punctuation_chars=";&|")
                lexer.whitespace_split = True
                words = list(itertools.takewhile(lambda w: w not in {"&&", ";", "|", "||", "&"}, lexer))
                found.append((f"{path.relative_to(ROOT)}:{number}", words))
    return found


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    [action] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def test_docs_pixelcnn_commands_use_existing_commands_and_flags():
    lines = command_lines("pixelcnn")
    assert len(lines) >= 10
    commands = subcommands(build_parser())
    for where, words in lines:
        name, args = words[0], words[1:]
        if PLACEHOLDER.match(name):  # `uv run pixelcnn <command> --help`: a flag every command has
            assert all(set(commands[c]._option_string_actions) >= {a for a in args if a.startswith("-")} for c in commands), where
            continue
        assert name in commands, f"{where}: pixelcnn has no command {name!r} (it has {sorted(commands)})"
        flags = {a.split("=")[0] for a in args if a.startswith("-")}
        unknown = flags - set(commands[name]._option_string_actions)  # exact names: argparse would accept an abbreviation
        assert not unknown, f"{where}: `pixelcnn {name}` has no {sorted(unknown)}"
        if not any(PLACEHOLDER.match(a) for a in args):
            build_parser().parse_args([name, *args])  # types and ranges too; a bad one exits with status 1


def test_docs_python_and_streamlit_commands_name_existing_scripts_and_their_flags():
    lines = command_lines("python") + command_lines("streamlit run")
    scripts = [(where, words) for where, words in lines if words[0] != "-c" and not PLACEHOLDER.match(words[0])]
    assert len(scripts) >= 5
    for where, (script, *args) in scripts:
        path = ROOT / script
        assert path.is_file(), f"{where}: no {script}"
        source = path.read_text()
        for flag in (a.split("=")[0] for a in args if a.startswith("--") and a != "--" and "." not in a):  # not streamlit's --server.*
            assert f'"{flag}"' in source, f"{where}: {script} declares no {flag}"


def reference_entries() -> list[str]:
    """The ``::: module.Name`` lines of the API reference pages, in order."""
    return [m for page in sorted(REFERENCE.glob("*.md")) for m in re.findall(r"^::: ([\w.]+)$", page.read_text(), re.M)]


@pytest.fixture(scope="module")
def package() -> griffe.Module:
    """The package as mkdocstrings reads it: statically, from src/."""
    return griffe.load("pixelcnn", search_paths=[str(ROOT / "src")])


@pytest.mark.parametrize("name", sorted(pixelcnn.__all__))
def test_docs_every_public_name_has_a_docstring_and_a_reference_entry(name, package):
    obj = getattr(pixelcnn, name)
    path = f"{obj.__module__}.{name}"  # where it is defined: the reference documents the object, not the lazy re-export
    assert path in reference_entries(), f"pixelcnn.{name} is missing from docs/reference/*.md: add `::: {path}` to a page"
    docstring = package[path.removeprefix("pixelcnn.")].docstring
    assert docstring is not None and docstring.value.strip(), f"{path} has no docstring"


def test_docs_reference_documents_only_public_names_each_once():
    entries = reference_entries()
    assert len(entries) == len(set(entries))
    public = {f"{getattr(pixelcnn, name).__module__}.{name}" for name in pixelcnn.__all__}
    assert set(entries) <= public, sorted(set(entries) - public)


def test_docs_readme_is_a_front_door_with_a_map_of_every_page():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 300
    assert "\n    uv run dvc repro " in readme and "\n    uv run pytest " in readme  # the two commands, verbatim (CI looks)
    assert 'uv run pytest -m "not slow"' in readme  # the quick loop
    pages = {p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md")} | {"docs/reference/index.md"}
    unlinked = sorted(p for p in pages if f"]({p}" not in readme)
    assert unlinked == [], f"README's map of the docs lacks {unlinked}"
