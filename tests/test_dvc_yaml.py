"""dvc.yaml says, per stage, exactly what its script reads: params, source files and data.

Everything is derived from the scripts themselves: the params from what they
take from the ``Params`` of their one ``params.load_file`` call (``.load``,
``.load_partial``, ``.seed``), the source files from their module-level
imports followed through the package (``pixelcnn.project.deps``), the data from
the paths on their command line that are not outputs. So forgetting a dep
when a stage starts using a module or a file fails here.
"""

from __future__ import annotations

import ast
import shlex
from pathlib import Path

import pytest
import yaml

from pixelcnn import configs
from pixelcnn.project import params
from pixelcnn.project.deps import package_files

ROOT = Path(__file__).resolve().parents[1]
DVC = yaml.safe_load((ROOT / "dvc.yaml").read_text())
STAGES = DVC["stages"]
RAW_DATA = "${data.root}"  # prepare reads the dataset folder named by data.root (unused by the embedded digits)
CHECK = "check_params"  # reads the whole params file (its --params argument) strictly; every other stage waits for it
CHECKED = "data/params_checked"  # its output: the same bytes whenever the file is valid


def _is_call(node: ast.AST, owner: str, *names: str) -> bool:
    """Whether ``node`` is a call ``owner.<one of names>(...)``."""
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in names
            and isinstance(node.func.value, ast.Name) and node.func.value.id == owner)


def load_file_calls(tree: ast.AST) -> int:
    return sum(_is_call(node, "params", "load_file") for node in ast.walk(tree))


def params_files_of(tree: ast.AST) -> list[str]:
    """Names a script binds to ``params.load_file(...)``, once per call."""
    return [target.id for node in ast.walk(tree) if isinstance(node, ast.Assign) and _is_call(node.value, "params", "load_file")
            for target in node.targets if isinstance(target, ast.Name)]


def keys_read_by(script: Path) -> set[str]:
    """Dotted params keys a stage script reads: the keys of each (section, type) it loads from its params file, plus seed."""
    tree = ast.parse(script.read_text())
    keys: set[str] = set()
    for owner in params_files_of(tree):
        for node in ast.walk(tree):
            if _is_call(node, owner, "load", "load_partial"):
                section, cls = node.args[0].value, getattr(configs, node.args[1].id)
                keys.update(params.param_keys(section, cls))
            elif isinstance(node, ast.Attribute) and node.attr == "seed" and isinstance(node.value, ast.Name) and node.value.id == owner:
                keys.add("seed")
    return keys


def outputs_of(spec: dict) -> set[str]:
    return {out if isinstance(out, str) else next(iter(out)) for group in ("outs", "metrics", "plots")
            for out in spec.get(group, [])}


def live_folder(spec: dict) -> str | None:
    """The DVCLive folder a training stage logs into (``--live``), whose metrics.json and plots/ are its outputs."""
    tokens = shlex.split(spec["cmd"])
    return tokens[tokens.index("--live") + 1] if "--live" in tokens else None


def inputs_on_command_line(spec: dict) -> set[str]:
    """Path arguments of the command (a --params file included) that are neither outputs, nor the DVCLive folder, nor the training state folder."""
    tokens = shlex.split(spec["cmd"])
    paths = {t for i, t in enumerate(tokens[2:], 2)
             if ("/" in t or tokens[i - 1] == "--params") and tokens[i - 1] not in ("--state", "--live")}
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
def test_dvc_stage_reads_its_params_file_once(stage):
    """One ``params.load_file`` per stage, every config taken from it: no second read of the file, no other reader."""
    tree = ast.parse((ROOT / "stages" / f"{stage}.py").read_text())
    assert load_file_calls(tree) == 1, f"{stage}: read params.yaml with one params.load_file call"
    others = [node.func.attr for node in ast.walk(tree) if _is_call(node, "params", "load", "load_partial", "load_seed", "read_yaml")]
    assert not others, f"{stage}: reads params.yaml again with params.{others[0]}; take it from its load_file's Params"


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_dvc_stage_deps_are_its_code_and_its_input_data(stage):
    spec = STAGES[stage]
    deps = set(spec["deps"])
    expected = code_files(stage) | inputs_on_command_line(spec) | ({RAW_DATA} if stage == "prepare" else set())
    expected |= set() if stage == CHECK else {CHECKED}  # run after the whole params file is checked
    assert deps == expected, f"{stage}: missing {sorted(expected - deps)}, not used {sorted(deps - expected)}"


def test_dvc_check_params_reads_the_whole_file_and_every_other_stage_waits_for_it():
    """The check depends on params.yaml as a file (every key, a typo included) and lists no single key."""
    spec = STAGES[CHECK]
    assert "params.yaml" in spec["deps"] and not spec.get("params")
    assert outputs_of(spec) == {CHECKED}
    waiting = {name for name, other in STAGES.items() if CHECKED in other["deps"]}
    assert waiting == set(STAGES) - {CHECK}


def test_dvc_every_output_path_in_cmd():
    for stage, spec in STAGES.items():
        for path in outputs_of(spec):
            live = live_folder(spec)
            inside = live is not None and path in (f"{live}/metrics.json", f"{live}/plots")
            assert path in spec["cmd"] or inside, f"{stage}: output {path} is not passed to the script"


def test_dvc_training_stages_log_through_dvclive_as_outputs():
    """Each training stage's DVCLive folder: metrics.json a metric, plots/ an output, git-tracked (cache: false), persistent."""
    for stage in ("train_pixelcnn", "train_vqvae", "train_prior", "train_classifier"):
        spec = STAGES[stage]
        live = live_folder(spec)
        assert live == f"metrics/{stage.removeprefix('train_')}"
        assert {f"{live}/metrics.json": {"cache": False, "persist": True}} in spec["metrics"]
        assert {f"{live}/plots": {"cache": False, "persist": True}} in spec["outs"]


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
    curves = {f"{live}/plots/images/curves.png" for spec in STAGES.values() if (live := live_folder(spec))}
    assert listed == pngs | curves


def test_dvc_charts_read_files_the_stages_write():
    """Every chart's data file lies in a stage's DVCLive plots folder (DVCLive names it <figure>.tsv)."""
    folders = {f"{live}/plots/metrics/" for spec in STAGES.values() if (live := live_folder(spec))}
    for chart in (p for p in DVC["plots"] if isinstance(p, dict)):
        (props,) = chart.values()
        for path, column in props["y"].items():
            assert any(path.startswith(f) for f in folders) and path.endswith(f"/{column}.tsv"), (path, column)


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_dvc_stage_outputs_persist_so_no_run_deletes_them_before_the_stage_checks_its_params(stage):
    """DVC deletes a stage's outputs before running it unless they are ``persist: true``; ``dvc repro -s STAGE`` skips
    check_params, so without it a bad value would cost the outputs (the git-tracked ``cache: false`` ones for good)."""
    spec = STAGES[stage]
    for group in ("outs", "metrics", "plots"):
        for out in spec.get(group, []):
            options = next(iter(out.values())) if isinstance(out, dict) else {}
            assert options.get("persist") is True, f"{stage}: {group} entry {out} needs `persist: true`"


def _main(tree: ast.Module) -> ast.FunctionDef:
    return next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "main")


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_dvc_stage_checks_the_whole_params_file_before_anything_else(stage):
    """With persistent outputs, the stage guards them: ``params.load_file`` (every key of the file, strictly) is the
    first statement after its arguments are parsed, before it reads data or writes anything."""
    body = _main(ast.parse((ROOT / "stages" / f"{stage}.py").read_text())).body
    parsed = next(i for i, node in enumerate(body) if any(_is_call(n, "p", "parse_args") for n in ast.walk(node)))
    assert any(_is_call(n, "params", "load_file") for n in ast.walk(body[parsed + 1])), (
        f"{stage}: call params.load_file(args.params) right after parse_args")
