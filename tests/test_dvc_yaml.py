"""dvc.yaml lists, per stage, exactly the params its script reads, and every stage script exists."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from pixelcnn import params

ROOT = Path(__file__).resolve().parents[1]
STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
CLASSES = {spec.split(":")[1]: spec for specs in params.SECTIONS.values() for spec in specs}


def keys_read_by(script: Path) -> set[str]:
    """Dotted params keys a stage script reads: fields of each class it passes to params.load, plus seed."""
    keys: set[str] = set()
    for node in ast.walk(ast.parse(script.read_text())):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if not (isinstance(node.func.value, ast.Name) and node.func.value.id == "params"):
            continue
        if node.func.attr == "load":
            name = node.args[1].id
            keys.update(params.param_keys(params._resolve(CLASSES[name])))
        elif node.func.attr == "load_seed":
            keys.add("seed")
    return keys


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_dvc_stage_params_are_exactly_what_its_script_reads(stage):
    spec = STAGES[stage]
    script = ROOT / "stages" / f"{stage}.py"
    assert script.is_file(), f"stage {stage} has no script stages/{stage}.py"
    assert f"stages/{stage}.py" in spec["cmd"] and f"stages/{stage}.py" in spec["deps"]
    listed = set(spec.get("params", []))
    assert listed == keys_read_by(script), f"{stage}: dvc.yaml lists {sorted(listed ^ keys_read_by(script))} wrongly"


def test_dvc_every_output_path_in_cmd():
    for stage, spec in STAGES.items():
        for group in ("outs", "metrics", "plots"):
            for out in spec.get(group, []):
                path = out if isinstance(out, str) else next(iter(out))
                assert path in spec["cmd"], f"{stage}: output {path} is not passed to the script"
