"""Which of the package's source files a script runs: its imports, followed through the package.

Read statically from the import statements (those inside functions
included), so it is the same whatever the script's arguments. Two users:
``tests/test_dvc_yaml.py`` checks that every stage lists exactly these files
as deps in dvc.yaml, and the trainer folds their contents into the
fingerprint a saved training state must match.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "pixelcnn"


def _never_run_by_stages(tree: ast.AST) -> set[ast.AST]:
    """Nodes that a stage's run never executes.

    Imports under ``if TYPE_CHECKING:`` (read by type checkers only), and those
    in a module-level ``__getattr__`` (PEP 562: the package's public API,
    loaded when ``pixelcnn.load`` & co. are first asked for; a stage that uses
    the API imports its ``pixelcnn.pipelines`` module itself).
    """
    skipped: set[ast.AST] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            skipped.update(n for child in node.body for n in ast.walk(child))
    for node in getattr(tree, "body", []):
        if isinstance(node, ast.FunctionDef) and node.name == "__getattr__":
            skipped.update(ast.walk(node))
    return skipped


def _imported(tree: ast.AST) -> set[str]:
    """Dotted names of modules that ``tree`` imports from the package (``pixelcnn.x``), when it runs."""
    names: set[str] = set()
    skipped = _never_run_by_stages(tree)
    for node in ast.walk(tree):
        if node in skipped:
            continue
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
