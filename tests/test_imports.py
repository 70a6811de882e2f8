"""Stage deps from module-level imports (pixelcnn.project.deps): what they leave out, and that they miss nothing a stage runs.

``package_files`` counts only the imports that run when a module is imported,
so a lazy import inside a function is a stage's dep only if some module on
the stage's path imports it at module level. Two sides of that:

- narrow: sampling the pixel model no longer depends on the VQ-VAE, the
  priors or DDP (and ``tests/end_to_end/test_pipeline.py`` checks that
  editing the VQ-VAE re-runs the VQ stages but not ``sample_pixelcnn``);
- complete: every stage, run on tiny params, imports no module of the package
  that ``package_files`` does not list for it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from pixelcnn.project.deps import package_files

from helpers import ROOT, tiny_params

PACKAGE = ROOT / "src" / "pixelcnn"
STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
ORDER = ["check_params", "prepare", "train_pixelcnn", "sample_pixelcnn", "train_vqvae", "extract_codes", "train_prior", "sample_prior",
         "train_classifier", "evaluate"]  # an order that runs each stage after its inputs exist


def deps(stage: str) -> set[str]:
    """The package files ``package_files`` lists for a stage, relative to the package."""
    return {str(p.relative_to(PACKAGE)) for p in package_files(ROOT / "stages" / f"{stage}.py", PACKAGE)}


# ----------------------------------------------------------------------------- what counts


def _package(tmp_path: Path, files: dict[str, str]) -> tuple[Path, Path]:
    """A package ``pixelcnn`` in tmp_path with ``files`` (name → source), and a script importing ``pixelcnn.a``."""
    package = tmp_path / "pixelcnn"
    package.mkdir()
    for name, source in {"__init__.py": "", **files}.items():
        (package / name).write_text(textwrap.dedent(source))
    script = tmp_path / "script.py"
    script.write_text("from pixelcnn import a\n")
    return script, package


def test_imports_count_module_level_imports_only(tmp_path):
    script, package = _package(tmp_path, {
        "a.py": """
            from typing import TYPE_CHECKING
            from pixelcnn import b
            try:
                from pixelcnn import c
            except ImportError:
                from pixelcnn import d
            if TYPE_CHECKING:
                from pixelcnn import e
            else:
                import pixelcnn.f

            class Thing:
                from pixelcnn import g

                def method(self):
                    from pixelcnn import h

            def helper():
                import pixelcnn.i
        """,
        **{f"{m}.py": "" for m in "bcdefghi"},
    })
    found = {p.name for p in package_files(script, package)}
    assert found == {"__init__.py", "a.py", "b.py", "c.py", "d.py", "f.py", "g.py"}


def test_imports_follow_module_level_imports_through_the_package(tmp_path):
    script, package = _package(tmp_path, {
        "a.py": "from pixelcnn.b import thing\n",
        "b.py": "import pixelcnn.c\nthing = 1\n\ndef later():\n    from pixelcnn import d\n",
        "c.py": "",
        "d.py": "",
    })
    assert {p.name for p in package_files(script, package)} == {"__init__.py", "a.py", "b.py", "c.py"}


# ----------------------------------------------------------------------------- narrow


def test_imports_sample_pixelcnn_does_not_depend_on_the_vq_models_or_ddp():
    pixel = deps("sample_pixelcnn")
    assert not pixel & {"models/vqvae.py", "models/prior.py", "distributed.py", "data/codes.py"}, sorted(pixel)
    assert {"models/pixelcnn.py", "sampling/naive.py", "sampling/cached/loop.py", "checkpoints.py"} <= pixel
    assert {"models/vqvae.py", "models/prior.py"} <= deps("sample_prior")


def test_imports_training_stages_do_not_depend_on_the_dataset_adapters():
    for stage in ("train_pixelcnn", "train_vqvae", "extract_codes", "train_classifier", "evaluate"):
        assert "data/datasets.py" not in deps(stage) and "data/prepared.py" in deps(stage), stage


# ----------------------------------------------------------------------------- complete

# Runs each stage as `python stages/<stage>.py ...` would (argv from dvc.yaml, cwd a fresh run folder), all in one
# process so torch is imported once: before each stage every pixelcnn module is dropped from sys.modules, so the
# modules found after it are exactly those the stage imported, at module level or lazily.
RUNNER = r"""
import json, runpy, shlex, sys
from pathlib import Path

root, stages = Path(sys.argv[1]), json.loads(sys.argv[2])
sys.path.insert(0, str(root / "stages"))
found = {}
for name, cmd in stages:
    for module in [m for m in sys.modules if m == "pixelcnn" or m.startswith("pixelcnn.")]:
        del sys.modules[module]
    sys.argv = shlex.split(cmd)[1:]
    try:
        runpy.run_path(str(root / sys.argv[0]), run_name="__main__")
    except SystemExit as exc:
        if exc.code:
            raise SystemExit(f"{name} failed ({exc.code})")
    found[name] = sorted({m.__file__ for n, m in list(sys.modules.items())
                          if (n == "pixelcnn" or n.startswith("pixelcnn.")) and getattr(m, "__file__", None)})
print("IMPORTED " + json.dumps(found))
"""


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> dict[str, set[str]]:
    """Stage → the package files it imported when run on tiny params (relative to the package)."""
    assert sorted(ORDER) == sorted(STAGES)
    run = tmp_path_factory.mktemp("stages")
    (run / "params.yaml").write_text(yaml.safe_dump(tiny_params(), sort_keys=False))
    stages = json.dumps([(name, STAGES[name]["cmd"]) for name in ORDER])
    result = subprocess.run([sys.executable, "-c", RUNNER, str(ROOT), stages], cwd=run, capture_output=True, text=True,
                            timeout=1200, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("IMPORTED "))
    files = json.loads(line.removeprefix("IMPORTED "))
    return {stage: {str(Path(f).resolve().relative_to(PACKAGE)) for f in paths} for stage, paths in files.items()}


@pytest.mark.slow
@pytest.mark.parametrize("stage", ORDER)
def test_imports_every_module_a_stage_runs_is_one_of_its_deps(imported, stage):
    ran = imported[stage]
    assert {"__init__.py", "project/params.py"} <= ran  # the recording works
    missing = ran - deps(stage)
    assert not missing, f"{stage} ran {sorted(missing)}, which no module on its path imports at module level"


# ----------------------------------------------------------------------------- layers

# The library's sub-packages, lowest first. Every import of a module, wherever it stands (module level, function
# bodies, class bodies, under ``if TYPE_CHECKING:``), names a module of its own sub-package, of a lower one, or a
# top-level module (errors, configs, atomic, ...), which imports no sub-package. cli/, the command, sits above them
# all and may import anything. Why this order:
# - project (params.yaml, presets, a script's deps, the stages' error boundary) and visuals (pictures) read only the
#   top-level modules; both sit at the bottom because the library uses them: training folds project.deps into the
#   code part of a training fingerprint, training/live and the pipelines draw pictures with visuals;
# - data (files and pixels) < models (the networks, which quantise pixels) < sampling (runs a model) <
#   evaluation (scores images with the classifier) < training (fits models; priors train on extracted codes) <
#   pipelines (compose models and samplers into what users call).
LAYERS = ["project", "visuals", "data", "models", "sampling", "evaluation", "training", "pipelines"]
TOP = "cli"


def _layer(module: str) -> int:
    parts = module.split(".")
    if parts[1:2] == [TOP]:  # the cli package, every module of it
        return len(LAYERS) + 1
    if len(parts) > 1 and parts[1] in LAYERS:
        return LAYERS.index(parts[1]) + 1
    return 0


def _imports(node, typing_only: bool = False):
    """Every import statement under ``node``, with whether it stands under ``if TYPE_CHECKING:``."""
    import ast

    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node, typing_only
    test = getattr(node, "test", None)
    if isinstance(node, ast.If) and (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING"
                                     or isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"):
        for child in node.body:
            yield from _imports(child, True)
        for child in node.orelse:
            yield from _imports(child, typing_only)
        return
    for child in ast.iter_child_nodes(node):
        yield from _imports(child, typing_only)


def import_arrows(package_dir: Path) -> list[tuple[str, str, bool]]:
    """(importer, imported module, under TYPE_CHECKING) for every import statement of the package, wherever it stands.

    ``from a.b import c`` imports the module ``a.b.c`` where there is one, else ``a.b``; relative imports are
    resolved; imports from outside the package are left out.
    """
    import ast

    package = package_dir.name

    def is_module(name: str) -> bool:
        parts = name.split(".")[1:]
        return package_dir.joinpath(*parts).with_suffix(".py").is_file() or (package_dir.joinpath(*parts) / "__init__.py").is_file()

    arrows: list[tuple[str, str, bool]] = []
    for path in sorted(package_dir.rglob("*.py")):
        parts = (package, *path.relative_to(package_dir).with_suffix("").parts)
        where = list(parts[:-1])  # the package a relative import starts from
        importer = ".".join(parts).removesuffix(".__init__")
        for node, typing_only in _imports(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                arrows.extend((importer, a.name, typing_only) for a in node.names)
                continue
            base = node.module or ""
            if node.level:  # from . import x, from ..y import z
                base = ".".join([*where[: len(where) - node.level + 1], *([base] if base else [])])
            arrows.extend((importer, f"{base}.{a.name}" if is_module(f"{base}.{a.name}") else base, typing_only)
                          for a in node.names)
    return [(a, b, t) for a, b, t in arrows if b.split(".")[0] == package]


def upward_imports(package_dir: Path) -> list[str]:
    """Every import that names a module of a higher layer than its importer's, TYPE_CHECKING ones included."""
    return [f"{a} imports {b}" + (" (under TYPE_CHECKING)" if t else "")
            for a, b, t in import_arrows(package_dir) if _layer(b) > _layer(a)]


def import_circles(package_dir: Path) -> list[list[str]]:
    """The package's import circles (function bodies and TYPE_CHECKING included): each as the modules on it."""
    graph: dict[str, set[str]] = {}
    for a, b, _ in import_arrows(package_dir):
        if a != b:
            graph.setdefault(a, set()).add(b)
    circles, state = [], {}  # state: 1 on the path, 2 done

    def walk(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                circles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                walk(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            walk(node, [node])
    return circles


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    package = tmp_path / "pixelcnn"
    for name, source in files.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    return package


def test_layers_checker_finds_an_upward_import_wherever_it_stands(tmp_path):
    """The checker itself, on a made-up package: every upward arrow is found, downward ones and outside ones are not."""
    package = _tree(tmp_path, {
        "__init__.py": "",
        "errors.py": "import os\n",
        "models/__init__.py": "",
        "models/net.py": """
            from typing import TYPE_CHECKING
            from pixelcnn import errors
            from pixelcnn.models import layers
            import torch
            if TYPE_CHECKING:
                from pixelcnn.pipelines.base import Samples
                from pixelcnn.data import files
            else:
                from pixelcnn.training import loop

            class Net:
                from pixelcnn.sampling import naive

                def generate(self):
                    from pixelcnn.pipelines import pixel
                    from .. import cli

            def helper():
                import pixelcnn.pipelines.vq
                from ..sampling.naive import draw
        """,
        "models/layers.py": "from . import net\n",
        "data/__init__.py": "",
        "data/files.py": "",
        "sampling/__init__.py": "",
        "sampling/naive.py": "from pixelcnn.models.net import Net\n",
        "training/__init__.py": "",
        "training/loop.py": "",
        "pipelines/__init__.py": "",
        "pipelines/base.py": "",
        "pipelines/pixel.py": "",
        "pipelines/vq.py": "",
        "cli.py": "from pixelcnn.pipelines import pixel\n",
    })
    assert upward_imports(package) == [
        "pixelcnn.models.net imports pixelcnn.pipelines.base (under TYPE_CHECKING)",
        "pixelcnn.models.net imports pixelcnn.training.loop",
        "pixelcnn.models.net imports pixelcnn.sampling.naive",
        "pixelcnn.models.net imports pixelcnn.pipelines.pixel",
        "pixelcnn.models.net imports pixelcnn.cli",
        "pixelcnn.models.net imports pixelcnn.pipelines.vq",
        "pixelcnn.models.net imports pixelcnn.sampling.naive",
    ]
    assert import_circles(package) == [["pixelcnn.models.layers", "pixelcnn.models.net", "pixelcnn.models.layers"],
                                       ["pixelcnn.models.net", "pixelcnn.sampling.naive", "pixelcnn.models.net"]]


def test_sub_packages_import_only_downwards():
    """No import anywhere in the library, function bodies and TYPE_CHECKING blocks included, points to a higher
    sub-package than its own; no exemptions."""
    assert not upward_imports(PACKAGE), upward_imports(PACKAGE)


def test_the_library_has_no_import_circle():
    assert not import_circles(PACKAGE), import_circles(PACKAGE)
