"""Which of the package's source files a script runs: its module-level imports, followed through the package.

Read statically from the import statements that run when a module is
imported: those at the top level of a module, including inside top-level
``if`` / ``try`` / ``with`` blocks and class bodies, but not inside functions
(an import in a function runs only if that function does, so a module that
needs it at every call imports it at the top). Imports under ``if
TYPE_CHECKING:`` never run. So the answer is the same whatever the script's
arguments, and a lazily imported module is a dep of a stage only if a module
on the stage's path imports it at module level (``tests/test_imports.py``
checks that every module a stage really runs is listed).

Two users: ``tests/test_dvc_yaml.py`` checks that every stage lists exactly
these files as deps in dvc.yaml, and the trainer folds their contents into
the fingerprint a saved training state must match.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = "pixelcnn"


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _run_at_import(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """The statements of ``body`` that run when it runs, nested blocks included, function bodies not."""
    for node in body:
        yield node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        if isinstance(node, ast.If):
            yield from _run_at_import(node.orelse)
            if not _is_type_checking(node):
                yield from _run_at_import(node.body)
        elif isinstance(node, ast.Try | ast.TryStar):
            for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                yield from _run_at_import(block)
        elif isinstance(node, ast.With | ast.For | ast.While | ast.ClassDef):
            yield from _run_at_import(node.body)
            yield from _run_at_import(getattr(node, "orelse", []))


def _imported(tree: ast.Module) -> set[str]:
    """Dotted names of modules that ``tree`` imports from the package (``pixelcnn.x``) at module level."""
    names: set[str] = set()
    for node in _run_at_import(tree.body):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.split(".")[0] == PACKAGE)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] != PACKAGE:
                continue
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)  # from pixelcnn.pkg import x: x may be a module
    return names


def package_files(script: str | Path, package_dir: str | Path) -> list[Path]:
    """The files of the package in ``package_dir`` that ``script`` imports, transitively, sorted."""
    package_dir = Path(package_dir)
    found: set[Path] = set()
    todo = [Path(script)]
    while todo:
        tree = ast.parse(todo.pop().read_text())
        for name in _imported(tree):
            parts = name.split(".")[1:]
            packages = [package_dir.joinpath(*parts[:i], "__init__.py") for i in range(len(parts) + 1)]  # run first
            for path in [*packages, package_dir.joinpath(*parts).with_suffix(".py")]:
                if path.is_file() and path not in found:
                    found.add(path)
                    todo.append(path)
    return sorted(found)
