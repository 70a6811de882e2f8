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


# The library's sub-packages, lowest first: a module may import (at module level) only from its
# own sub-package, from a lower one, or from the top-level modules (errors, configs, atomic, …),
# which import no sub-package. cli.py, the command, sits above them all.
LAYERS = ["project", "visuals", "data", "models", "sampling", "evaluation", "training", "pipelines"]


def _layer(module: str) -> int:
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in LAYERS:
        return LAYERS.index(parts[1]) + 1
    return len(LAYERS) + 1 if parts[-1] == "cli" else 0


def test_sub_packages_import_only_downwards():
    """No module imports a sub-package above its own at module level, so the tree reads bottom-up.

    (A lazy import inside a function may go up: ``PixelCNN.generate`` builds its pipeline.)
    """
    import ast

    from pixelcnn.project.deps import _imported

    src = ROOT / "src" / "pixelcnn"
    upward = []
    for path in sorted(src.rglob("*.py")):
        module = ".".join(("pixelcnn", *path.relative_to(src).with_suffix("").parts)).removesuffix(".__init__")
        for target in _imported(ast.parse(path.read_text())):
            if _layer(target) > _layer(module):
                upward.append(f"{module} imports {target}")
    assert not upward, upward
