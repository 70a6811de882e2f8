"""Every preset's whole DAG on tiny files in its dataset's real format: dvc.yaml's commands in order, in process.

Each preset (``presets/<name>.yaml``) is used as ``pixelcnn preset NAME`` writes it, changed only by
``shrink``, this test's fixture: every training section runs 1 epoch of batches of 8 on 16×16 images of
a few dozen files, the networks are narrow (their depth, resolutions, output, mixture, attention,
dropout, code levels and grid factors stay the recipe's), and sampling and scoring sets are 6 and 4 images.
``data.root`` points at the tiny files: MNIST idx files (Fashion-MNIST's gzip-compressed and flat, as
Debian's package installs them), CIFAR-10 pickled batches, CelebA's img_align_celeba JPEGs and list
files (``tests/raw_datasets.py``), whose md5s replace torchvision's official ones for the test. The stages run in process so that swap reaches them; each runs the
command dvc.yaml gives it, in an order of dvc.yaml's deps and outs.

Scoring: Inception weights cannot be fetched offline. Labelled data (MNIST, Fashion-MNIST, CIFAR-10) is scored with
the classifier's features (``evaluate.features: classifier``); unlabelled CelebA keeps the preset's
``inception``, with a randomly initialised Inception-v3 state dict in the real file format
(``evaluate.inception_weights``), so torch-fidelity's Inception path runs end to end.
"""

from __future__ import annotations

import json
import math
import shlex
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from pixelcnn.project import params, presets

from helpers import ROOT, stage
from raw_datasets import accept_celeba_checksums, accept_cifar_checksums, write_celeba, write_cifar, write_mnist

pytestmark = pytest.mark.slow  # every preset's whole DAG: the quick loop (`pytest -m "not slow"`) leaves it out

SIZE = 16  # image side every preset is shrunk to: 16 → 4×4 bottom and 2×2 top code grids at the presets' factors
PRESETS = presets.names(ROOT / "presets")
TRAINING = ("pixelcnn", "vqvae", "prior", "classifier")
LABELLED = {"mnist", "fashion_mnist", "cifar10"}


def shrink(raw: dict[str, Any], root: Path, inception: Path | None) -> dict[str, Any]:
    """The preset ``raw`` at test size (see the module docstring); its structure keys stay the recipe's."""
    tiny = {name: dict(section) if isinstance(section, dict) else section for name, section in raw.items()}
    tiny["data"].update(root=str(root), image_size=SIZE)
    tiny["train"].update(checkpoint_every=2)
    for name in TRAINING:
        # compile: auto would spend a minute of inductor compiling on 3 steps per model; the
        # compiled step has its own tests (tests/training/test_trainer.py)
        tiny[name].update(epochs=1, batch_size=8, warmup_steps=min(tiny[name]["warmup_steps"], 1), compile=False)
    tiny["pixelcnn"].update(hidden=6, skip=6, attention_dim=4, num_samples=6, sample_batch_size=6, complete_rows=SIZE // 2)
    tiny["vqvae"].update(hidden=8, res_blocks=1, res_hidden=4, codebook_size=16, code_dim=4, grid_images=4, extract_batch_size=16)
    tiny["prior"].update(hidden=8, skip=8, embed_dim=4, attention_dim=4, cond_hidden=8, cond_blocks=1, num_samples=6,
                         sample_batch_size=6)
    tiny["classifier"].update(width=4, feature_dim=8)
    tiny["evaluate"].update(num_samples=4, kid_subset_size=2, kid_subsets=2, prc_neighborhood=2, lpips_pairs=2, batch_size=4,
                            min_classifier_accuracy=0.0)
    if raw["data"]["name"] in LABELLED:
        tiny["evaluate"]["features"] = "classifier"
    elif raw["evaluate"]["features"] == "inception":
        tiny["evaluate"]["inception_weights"] = str(inception)
    return tiny


def write_raw(name: str, root: Path, monkeypatch) -> None:
    """Tiny files of dataset ``name`` under ``root``, in its real format, accepted by torchvision's checks."""
    if name == "mnist":
        write_mnist(root, "MNIST", n_train=24, n_test=8)
    elif name == "fashion_mnist":
        write_mnist(root, None, n_train=24, n_test=8, compressed=True)  # as Debian's package installs them
    elif name == "cifar10":
        write_cifar(root, per_batch=8)  # 40 train, 8 test
        accept_cifar_checksums(monkeypatch, root)
    elif name == "celeba":
        write_celeba(root, partitions=(0,) * 24 + (1,) * 2 + (2,) * 4, noise=40)  # Inception is slow on a CPU: few test images
        accept_celeba_checksums(monkeypatch, root)
    else:
        raise AssertionError(f"no tiny files for dataset {name!r}: add a writer to tests/raw_datasets.py")


@pytest.fixture(scope="module")
def inception_weights(tmp_path_factory) -> Path:
    """torch-fidelity's Inception-v3, randomly initialised, saved as the state dict its weights file holds."""
    from torch_fidelity import feature_extractor_inceptionv3 as module

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(module, "load_state_dict_from_url", lambda *args, **kwargs: {})
        patch.setattr(module.FeatureExtractorInceptionV3, "load_state_dict", lambda self, state, *args, **kwargs: None)
        torch.manual_seed(0)
        network = module.FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"])
    path = tmp_path_factory.mktemp("inception") / "weights-inception-random.pth"
    torch.save(network.state_dict(), path)
    return path


def stage_order(dag: dict[str, Any]) -> list[str]:
    """The stages in an order where each runs after every stage whose outputs it depends on."""
    def paths(spec: dict[str, Any], group: str) -> set[str]:
        return {entry if isinstance(entry, str) else next(iter(entry)) for entry in spec.get(group, [])}

    writer = {out: name for name, spec in dag.items() for group in ("outs", "metrics", "plots") for out in paths(spec, group)}
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        for dep in paths(dag[name], "deps"):
            if dep in writer:
                visit(writer[dep])
        order.append(name)

    for name in dag:
        visit(name)
    return order


def run_dag(repo: Path) -> list[str]:
    """Run every stage of dvc.yaml in ``repo`` (the cwd), each with the command dvc.yaml gives it."""
    dag = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    ran = []
    for name in stage_order(dag):
        python, script, *argv = shlex.split(dag[name]["cmd"])
        assert (python, script) == ("python", f"stages/{name}.py"), dag[name]["cmd"]
        assert stage(name)(argv) in (None, 0), f"stage {name} failed"
        ran.append(name)
    return ran


def outputs(dag: dict[str, Any]) -> list[str]:
    return [entry if isinstance(entry, str) else next(iter(entry))
            for spec in dag.values() for group in ("outs", "metrics", "plots") for entry in spec.get(group, [])]


def test_stage_order_puts_every_writer_first():
    dag = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    order = stage_order(dag)
    assert sorted(order) == sorted(dag) and order[:2] == ["check_params", "prepare"] and order[-1] == "evaluate"
    assert order.index("train_vqvae") < order.index("extract_codes") < order.index("train_prior") < order.index("sample_prior")


@pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")  # the presets ask 4 workers; this machine may have fewer cores
@pytest.mark.parametrize("name", PRESETS)
def test_preset_whole_dag_runs_on_tiny_real_format_files(name, tmp_path, monkeypatch, inception_weights):
    preset = presets.load(ROOT / "presets", name)
    raw = preset.raw
    write_raw(raw["data"]["name"], tmp_path / "raw", monkeypatch)
    tiny = shrink(raw, tmp_path / "raw", inception_weights)
    params.validate(tiny)
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "params.yaml").write_text(yaml.safe_dump(tiny, sort_keys=False))
    monkeypatch.chdir(repo)

    run_dag(repo)

    dag = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    missing = [path for path in outputs(dag) if not (repo / path).exists()]
    assert not missing, f"{name}: the DAG did not write {missing}"
    # the recipe's structure is what was trained: every key of the model that shrink leaves alone
    pixel = torch.load(repo / "models" / "pixelcnn.pt", weights_only=True)["config"]
    for key in ("levels", "layers", "kernel", "output", "n_mix", "resolutions", "dropout", "attention_every", "context"):
        assert pixel[key] == raw["pixelcnn"][key], f"{name}: pixel model {key} {pixel[key]} is not the preset's {raw['pixelcnn'][key]}"
    assert pixel["channels"] == (1 if raw["data"]["name"] in ("mnist", "fashion_mnist") else 3)
    vqvae = torch.load(repo / "models" / "vqvae.pt", weights_only=True)["config"]
    for key in ("levels", "bottom_downsample", "top_downsample", "beta", "decay"):
        assert vqvae[key] == raw["vqvae"][key], f"{name}: VQ-VAE {key}"
    prior = torch.load(repo / "models" / "prior.pt", weights_only=True)["config"]
    for level in prior["levels"]:
        for key in ("layers", "kernel", "dropout", "attention_every", "attention_heads", "context"):
            assert level["pixelcnn"][key] == raw["prior"][key], f"{name}: {level['name']} prior {key}"
    # every score is a finite number
    pixel_metrics = json.loads((repo / "metrics" / "pixelcnn" / "metrics.json").read_text())
    assert 0 < pixel_metrics["test_bpd"] < 12
    scores = json.loads((repo / "metrics" / "eval.json").read_text())
    for set_name in ("floor", "pixelcnn", "prior", "reconstruction"):
        assert math.isfinite(scores[f"{set_name}.fid"]), f"{name}: {set_name}.fid"
    assert ("classifier.test_accuracy" in scores) == (raw["data"]["name"] in LABELLED)
