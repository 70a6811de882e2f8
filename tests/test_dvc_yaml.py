"""dvc.yaml says, per stage, exactly what its script reads: params, source files and data.

Everything is derived from the scripts themselves: the params from their
``params.load`` / ``params.load_partial`` calls, the source files from their
imports followed through the package (``pixelcnn.imports``), the data from
the paths on their command line that are not outputs. So forgetting a dep
when a stage starts using a module or a file fails here.
"""

from __future__ import annotations

import ast
import shlex
from pathlib import Path

import pytest
import yaml

from pixelcnn import configs, params
from pixelcnn.imports import package_files

ROOT = Path(__file__).resolve().parents[1]
DVC = yaml.safe_load((ROOT / "dvc.yaml").read_text())
STAGES = DVC["stages"]
RAW_DATA = "${data.root}"  # prepare reads the dataset folder named by data.root (unused by the embedded digits)


def keys_read_by(script: Path) -> set[str]:
    """Dotted params keys a stage script reads: the keys of each (section, type) it loads, plus seed."""
    keys: set[str] = set()
    for node in ast.walk(ast.parse(script.read_text())):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if not (isinstance(node.func.value, ast.Name) and node.func.value.id == "params"):
            continue
        if node.func.attr in ("load", "load_partial"):
            section, cls = node.args[1].value, getattr(configs, node.args[2].id)
            keys.update(params.param_keys(section, cls))
        elif node.func.attr == "load_seed":
            keys.add("seed")
    return keys


def outputs_of(spec: dict) -> set[str]:
    return {out if isinstance(out, str) else next(iter(out)) for group in ("outs", "metrics", "plots")
            for out in spec.get(group, [])}


def inputs_on_command_line(spec: dict) -> set[str]:
    """Path arguments of the command that are neither outputs nor the training state folder."""
    tokens = shlex.split(spec["cmd"])
    paths = {t for i, t in enumerate(tokens[2:], 2) if "/" in t and tokens[i - 1] != "--state"}
    return paths - outputs_of(spec)


def code_files(stage: str) -> set[str]:
    script = ROOT / "stages" / f"{stage}.py"
    files = [script, ROOT / "stages" / "_checkout.py", *package_files(script, ROOT / "src" / "pixelcnn")]
    return {str(p.relative_to(ROOT)) for p in files}


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_dvc_stage_params_are_exactly_what_its_script_reads(stage):
    spec = STAGES[stage]
    script = ROOT / "stages" / f"{stage}.py"
    assert script.is_file(), f"stage {stage} has no script stages/{stage}.py"
    assert f"stages/{stage}.py" in spec["cmd"]
    listed = set(spec.get("params", []))
    assert listed == keys_read_by(script), f"{stage}: dvc.yaml lists {sorted(listed ^ keys_read_by(script))} wrongly"


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_dvc_stage_deps_are_its_code_and_its_input_data(stage):
    spec = STAGES[stage]
    deps = set(spec["deps"])
    expected = code_files(stage) | inputs_on_command_line(spec) | ({RAW_DATA} if stage == "prepare" else set())
    assert deps == expected, f"{stage}: missing {sorted(expected - deps)}, not used {sorted(deps - expected)}"


def test_dvc_every_output_path_in_cmd():
    for stage, spec in STAGES.items():
        for path in outputs_of(spec):
            assert path in spec["cmd"], f"{stage}: output {path} is not passed to the script"


def test_dvc_training_stages_keep_state_outside_their_outputs():
    for stage, spec in STAGES.items():
        tokens = shlex.split(spec["cmd"])
        if "--state" in tokens:
            state = tokens[tokens.index("--state") + 1]
            assert state == f"state/{stage}" and not any(out.startswith("state") for out in outputs_of(spec))
    assert "/state/" in (ROOT / ".gitignore").read_text().splitlines()


def test_dvc_image_plots_are_the_png_outputs():
    listed = {p for p in DVC["plots"] if isinstance(p, str)}
    pngs = {path for spec in STAGES.values() for path in outputs_of(spec) if path.endswith(".png")}
    assert listed == pngs
