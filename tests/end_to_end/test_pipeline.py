"""The whole DAG with real DVC on tiny params: repro, status after a knob edit or a code edit, exp run, metrics
diff, a queued experiment that runs its own code, a DVC remote that restores models in a fresh clone, and a bad
params.yaml (a typo, a bad value, a removed key) stopped by check_params before any output is deleted, and by the
stage itself, deleting nothing, when a run skips check_params (``-s``, queued experiments)."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from helpers import ROOT, doc_lines, tiny_params

pytestmark = pytest.mark.slow  # the whole DAG with real DVC: the quick loop (`pytest -m "not slow"`) leaves it out

TRAINING = {"prepare", "train_pixelcnn", "train_vqvae", "extract_codes", "train_prior", "train_classifier"}
MARKER = "<!-- written by the queued experiment's own evaluation.py -->"


def run(args: list[str], cwd: Path) -> str:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout + result.stderr


def fails(args: list[str], cwd: Path) -> str:
    """Run a command that must fail; its output."""
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=1200)
    assert result.returncode != 0, f"{' '.join(args)} succeeded:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout + result.stderr


def every_output(repo: Path) -> dict[str, bytes]:
    """Every file of every stage's outputs (folders walked) → its bytes."""
    files = {}
    for spec in yaml.safe_load((repo / "dvc.yaml").read_text())["stages"].values():
        for group in ("outs", "metrics", "plots"):
            for out in spec.get(group, []):
                path = repo / (out if isinstance(out, str) else next(iter(out)))
                for file in sorted(path.rglob("*")) if path.is_dir() else [path]:
                    if file.is_file():
                        files[str(file.relative_to(repo))] = file.read_bytes()
    return files


def ran_stages(output: str) -> set[str]:
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage '")}


def edit_params(repo: Path, section: str, key: str, value) -> None:
    raw = yaml.safe_load((repo / "params.yaml").read_text())
    raw[section][key] = value
    (repo / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """A fresh git + DVC repository holding the project's stages, library and tiny params, reproduced once."""
    repo = tmp_path_factory.mktemp("pipeline")
    for name in ("stages", "src"):
        shutil.copytree(ROOT / name, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
    (repo / "data" / "raw").mkdir(parents=True)
    shutil.copy(ROOT / "data" / "raw" / "README.md", repo / "data" / "raw" / "README.md")
    for name in ("dvc.yaml", ".gitignore"):
        shutil.copy(ROOT / name, repo / name)
    (repo / "params.yaml").write_text(yaml.safe_dump(tiny_params(), sort_keys=False))
    run(["git", "init", "-q"], repo)
    run(["git", "config", "user.email", "test@example.com"], repo)
    run(["git", "config", "user.name", "test"], repo)
    run(["dvc", "init", "-q"], repo)
    run(["dvc", "config", "core.analytics", "false"], repo)
    output = run(["dvc", "repro"], repo)
    assert ran_stages(output) == set(yaml.safe_load((repo / "dvc.yaml").read_text())["stages"])
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "tiny pipeline"], repo)
    return repo


def test_pipeline_repro_writes_every_output(repo):
    stages = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    for name, spec in stages.items():
        for group in ("outs", "metrics", "plots"):
            for out in spec.get(group, []):
                path = out if isinstance(out, str) else next(iter(out))
                assert (repo / path).exists(), f"{name} did not write {path}"
    assert "up to date" in run(["dvc", "status"], repo)
    metrics = json.loads((repo / "metrics" / "pixelcnn" / "metrics.json").read_text())
    assert 0 < metrics["test_bpd"] < 8.5
    assert not (repo / "state").exists(), "training states outlived their stages"


def test_pipeline_training_logs_are_where_dvc_metrics_and_plots_read_them(repo):
    """DVCLive's folders: dvc metrics show reads every metrics.json, dvc plots show draws the per-epoch .tsv files."""
    shown = json.loads(run(["dvc", "metrics", "show", "--json"], repo))[""]["data"]
    for model in ("pixelcnn", "vqvae", "prior", "classifier"):
        assert shown[f"metrics/{model}/metrics.json"]["data"]["step"] == 1  # the tiny params train one epoch
    assert set(shown["metrics/prior/metrics.json"]["data"]) == {"top", "bottom", "step"}
    charts = json.loads(run(["dvc", "plots", "show", "--json"], repo))["data"]
    for title in ("Pixel PixelCNN bits/dim", "VQ prior bits per code", "Feature-extractor classifier"):
        values = charts[title][0]["content"]["data"]["values"]
        assert values and {row["step"] for row in values} == {"1"}, title
    assert "metrics/pixelcnn/plots/images/curves.png" in charts
    assert not (repo / "dvclive").exists() and "dvclive" not in (repo / "dvc.yaml").read_text()  # DVCLive wrote no dvc.yaml


def test_pipeline_docs_exp_show_example_keeps_the_columns_it_names(repo):
    [line] = doc_lines("dvc exp show --keep")
    args = shlex.split(line.split("#")[0])
    shown = run([*args[args.index("dvc") :], "--csv"], repo)
    header = next(row for row in shown.splitlines() if row.startswith("Experiment,"))
    assert header.split(",") == ["Experiment", "floor.fid", "pixelcnn.fid", "prior.fid", "reconstruction.fid", "prior.temperature"]


def test_pipeline_sampling_knob_touches_no_training_stage(repo):
    edit_params(repo, "pixelcnn", "temperature", 0.9)
    try:
        status = json.loads(run(["dvc", "status", "--json"], repo))
        assert set(status) == {"check_params", "sample_pixelcnn"}, status  # the check's output will not change
    finally:
        run(["git", "checkout", "--", "params.yaml"], repo)


def test_pipeline_editing_the_vqvae_reruns_the_vq_stages_but_not_pixel_sampling(repo):
    """Stage deps are module-level imports: the pixel sampler's path (the public API) imports no VQ model."""
    vqvae = repo / "src" / "pixelcnn" / "models" / "vqvae.py"
    original = vqvae.read_text()
    vqvae.write_text(original + "\n# an edit of the VQ-VAE's file\n")
    try:
        would_run = ran_stages(run(["dvc", "repro", "--dry"], repo))
    finally:
        vqvae.write_text(original)
    assert {"train_vqvae", "extract_codes", "sample_prior"} <= would_run, would_run
    # train_prior reads the codes, not the VQ-VAE: it re-runs only if extract_codes writes other codes
    assert not would_run & {"prepare", "train_pixelcnn", "sample_pixelcnn", "train_classifier", "train_prior"}, would_run
    assert "up to date" in run(["dvc", "status"], repo)


def test_pipeline_adding_raw_data_reruns_prepare(repo):
    (repo / "data" / "raw" / "extra.txt").write_text("a new file in the dataset folder\n")
    try:
        status = json.loads(run(["dvc", "status", "--json"], repo))
        assert "prepare" in status, status
    finally:
        (repo / "data" / "raw" / "extra.txt").unlink()


def test_pipeline_exp_run_resamples_prior_only_and_metrics_diff_shows_it(repo):
    output = run(["dvc", "exp", "run", "-S", "prior.temperature=0.8"], repo)
    ran = ran_stages(output)
    assert "sample_prior" in ran and not ran & TRAINING, ran
    assert "check_params" in ran  # it ran, and its unchanged output re-ran nothing
    assert "sample_pixelcnn" not in ran
    diff = json.loads(run(["dvc", "metrics", "diff", "--json"], repo))
    assert any(key.startswith("prior.") for values in diff.values() for key in values), diff
    run(["git", "checkout", "--", "params.yaml", "dvc.lock", "metrics"], repo)
    run(["dvc", "checkout", "-f"], repo)


STRICT_TYPO = "error: params.yaml: unknown key pixelcnn.temprature; allowed keys of pixelcnn: "


def test_pipeline_typo_in_params_fails_repro_and_exp_run_with_the_strict_sentence(repo):
    """No stage lists pixelcnn.temprature, so only the check of the whole file can see it."""
    before = every_output(repo)
    edit_params(repo, "pixelcnn", "temprature", 0.5)
    try:
        assert STRICT_TYPO in fails(["dvc", "repro"], repo)
    finally:
        run(["git", "checkout", "--", "params.yaml"], repo)
    try:
        assert STRICT_TYPO in fails(["dvc", "exp", "run", "-S", "+pixelcnn.temprature=0.5"], repo)
    finally:
        run(["git", "checkout", "--", "params.yaml"], repo)
    assert every_output(repo) == before
    assert "up to date" in run(["dvc", "status"], repo)


@pytest.mark.parametrize("section, key, value, sentence", [
    ("pixelcnn", "hidden", "six", "pixelcnn.hidden must be an integer, got 'six'"),
    ("pixelcnn", "temperature", None, "pixelcnn.temperature is missing; add it to the pixelcnn section"),
    ("vqvae", "lr", float("inf"), "vqvae.lr must be a finite number, got inf"),
])
def test_pipeline_bad_params_leave_every_existing_output_in_place(repo, section, key, value, sentence):
    """DVC deletes a stage's outputs before it runs: the check fails first, so no stage that reads the key runs."""
    before = every_output(repo)
    raw = yaml.safe_load((repo / "params.yaml").read_text())
    raw[section].pop(key) if value is None else raw[section].update({key: value})
    (repo / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    try:
        output = fails(["dvc", "repro"], repo)
        after = every_output(repo)
        assert after.keys() == before.keys(), f"deleted: {sorted(before.keys() - after.keys())}"
        assert after == before
        assert f"error: params.yaml: {sentence}" in output, output
        assert ran_stages(output) == {"check_params"}, output
    finally:
        run(["git", "checkout", "--", "params.yaml"], repo)
    assert "up to date" in run(["dvc", "status"], repo)


def digests(repo: Path) -> dict[str, str]:
    """MD5 of every file of every stage's outputs: the model files and the git-tracked ``cache: false`` metrics alike."""
    return {path: hashlib.md5(data).hexdigest() for path, data in every_output(repo).items()}


def wait_for_queue(repo: Path, limit: float = 900) -> str:
    """``dvc queue status`` once no experiment is queued or running."""
    deadline = time.monotonic() + limit
    while True:
        status = run(["dvc", "queue", "status"], repo)
        if not any(word in status for word in ("Queued", "Running")):
            return status
        assert time.monotonic() < deadline, status
        time.sleep(2)


LR = "pixelcnn.lr must be > 0, got -1"


def _lr_minus_one(repo: Path) -> None:
    edit_params(repo, "pixelcnn", "lr", -1)


def _no_temperature(repo: Path) -> None:
    raw = yaml.safe_load((repo / "params.yaml").read_text())
    del raw["prior"]["temperature"]
    (repo / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))


def _zero_temperature(repo: Path) -> None:
    edit_params(repo, "prior", "temperature", 0)


def _queue_start(repo: Path) -> str:
    """``dvc queue start`` runs the queue in the background: wait, then the failed experiment's log."""
    run(["dvc", "queue", "start"], repo)
    status = wait_for_queue(repo)
    failed = [line.split()[0] for line in status.splitlines() if "Failed" in line]
    assert len(failed) == 1, status
    return run(["dvc", "queue", "logs", failed[0]], repo)


# Every way to start one stage with a bad value (the reproductions): (edit of params.yaml, commands, sentence).
ENTRY_POINTS = {
    "repro -s": (_lr_minus_one, [["dvc", "repro", "-s", "train_pixelcnn"]], LR),
    "exp run -s -S": (None, [["dvc", "exp", "run", "-s", "train_pixelcnn", "-S", "pixelcnn.lr=-1"]], LR),
    "repro -s, key removed": (_no_temperature, [["dvc", "repro", "-s", "sample_prior"]],
                              "Parameters 'prior.temperature' are missing from 'params.yaml'"),  # DVC's own sentence
    "repro -s, bad value": (_zero_temperature, [["dvc", "repro", "-s", "sample_prior"]], "prior.temperature must be > 0, got 0"),
    "exp run --queue -s, --run-all": (None, [["dvc", "exp", "run", "--queue", "-s", "train_pixelcnn", "-S", "pixelcnn.lr=-1"],
                                             ["dvc", "exp", "run", "--run-all"]], LR),
    "exp run --queue, queue start": (None, [["dvc", "exp", "run", "--queue", "-S", "prior.temperature=0"], _queue_start],
                                     "prior.temperature must be > 0, got 0"),
}


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_pipeline_a_bad_value_through_any_entry_point_deletes_no_output(repo, entry):
    """``-s`` skips check_params, and DVC deletes a stage's outputs before running it unless they persist: every
    output (models, samples, the git-tracked ``cache: false`` metrics) keeps its MD5, and the run ends with the sentence."""
    edit, commands, sentence = ENTRY_POINTS[entry]
    before = digests(repo)
    try:
        if edit is not None:
            edit(repo)
        output = ""
        for command in commands:
            if callable(command):
                output += command(repo)
                continue
            in_workspace = command[:2] == ["dvc", "repro"] or (command[:3] == ["dvc", "exp", "run"]
                                                               and not {"--queue", "--run-all"} & set(command))
            output += (fails if in_workspace else run)(command, repo)  # queueing succeeds; --run-all reports and exits 0
        assert sentence in output, output
        after = digests(repo)
        assert after.keys() == before.keys(), f"deleted: {sorted(before.keys() - after.keys())}"
        assert after == before, f"changed: {sorted(k for k in before if before[k] != after[k])}"
    finally:
        run(["git", "checkout", "--", "params.yaml"], repo)
        run(["dvc", "queue", "remove", "--all"], repo)
    assert "up to date" in run(["dvc", "status"], repo)


def test_pipeline_every_stage_run_alone_checks_the_whole_params_file_and_deletes_nothing(repo):
    """``dvc repro -f -s STAGE`` for every stage with a typo in params.yaml (a key no stage lists): each stage, run
    without check_params, stops on the strict sentence, and no output of any stage changes."""
    before = digests(repo)
    edit_params(repo, "pixelcnn", "temprature", 0.5)
    try:
        for stage in yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]:
            output = fails(["dvc", "repro", "-f", "-s", stage], repo)
            assert STRICT_TYPO in output and ran_stages(output) == {stage}, output
            assert digests(repo) == before, f"{stage} changed or deleted outputs"
    finally:
        run(["git", "checkout", "--", "params.yaml"], repo)
    assert "up to date" in run(["dvc", "status"], repo)


def test_pipeline_queued_experiment_runs_its_own_code(repo):
    """dvc exp run --queue copies the workspace; the copy's stages import the copy's src/, not the workspace's."""
    evaluation = repo / "src" / "pixelcnn" / "evaluation" / "report.py"
    original = evaluation.read_text()
    changed = original.replace('    return frame.to_markdown(stralign="right") + "\\n"',
                               f'    return frame.to_markdown(stralign="right") + "\\n{MARKER}\\n"')
    assert changed != original
    evaluation.write_text(changed)
    run(["dvc", "exp", "run", "--queue", "--name", "marked"], repo)
    evaluation.write_text(original)  # the workspace goes back before the queue runs
    run(["dvc", "exp", "run", "--run-all"], repo)
    run(["dvc", "exp", "apply", "marked"], repo)
    try:
        assert MARKER in (repo / "metrics" / "eval.md").read_text()
        assert MARKER in evaluation.read_text()  # the experiment's code, applied back
    finally:
        run(["git", "checkout", "--", "."], repo)
        run(["dvc", "checkout", "-f"], repo)


def test_pipeline_remote_restores_models_in_a_fresh_clone(repo, tmp_path):
    remote = tmp_path / "remote"
    run(["dvc", "remote", "add", "-d", "shared", str(remote)], repo)
    run(["git", "commit", "-qam", "a local-directory DVC remote"], repo)
    run(["dvc", "push"], repo)
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(repo), str(clone)], tmp_path)
    assert not (clone / "models" / "pixelcnn.pt").exists()
    run(["dvc", "pull"], clone)
    for name in ("pixelcnn.pt", "vqvae.pt", "prior.pt", "classifier.pt"):
        assert (clone / "models" / name).read_bytes() == (repo / "models" / name).read_bytes()
    assert "up to date" in run(["dvc", "status"], clone)
