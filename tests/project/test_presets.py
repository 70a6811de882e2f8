"""presets/: complete params files of the papers' recipes, their checks, rendering and refreshing them, and
``pixelcnn preset`` (the whole DAG of each preset runs in tests/end_to_end/test_preset_pipelines.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from pixelcnn.configs import VQVAEConfig
from pixelcnn.errors import ConfigError
from pixelcnn.project import params, presets

from helpers import ROOT, default_params
from helpers import run_cli as run

FOLDER = ROOT / "presets"
NAMES = presets.names(FOLDER)
TEMPLATE = (ROOT / "params.yaml").read_text()


def test_presets_are_the_recipes_of_the_docs():
    assert NAMES == ["celeba64-vqvae2", "cifar10-gated", "cifar10-pp", "cifar10-vqvae2", "fashion-mnist", "fashion-mnist-gpu", "mnist"]
    page = (ROOT / "docs" / "presets.md").read_text()
    assert all(f"`{name}`" in page for name in NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_preset_has_exactly_the_keys_of_params_yaml(name):
    """A key params.yaml gains (or loses) is a decision for every recipe: this fails until the presets have it."""
    keys = set(presets.flat(presets.load(FOLDER, name).raw))
    expected = set(presets.flat(default_params()))
    assert keys == expected, (
        f"presets/{name}.yaml lacks {sorted(expected - keys)} and has unknown {sorted(keys - expected)}; run "
        "`uv run pixelcnn preset --refresh` (new keys take params.yaml's value) and set them for the recipe"
    )


@pytest.mark.parametrize("name", NAMES)
def test_preset_passes_every_params_check(name):
    presets.check(presets.load(FOLDER, name))


@pytest.mark.parametrize("name", NAMES)
def test_preset_header_names_the_recipe_its_figure_and_its_source(name):
    head = presets.load(FOLDER, name).header
    assert head[0].startswith(f"# preset {name}: ")
    text = "\n".join(head)
    assert "# Recipe: " in text and "# Figure: " in text and "# Data: " in text
    assert any(year in text for year in ("2016", "2017", "2019")), "the header cites no paper"


FASHION = ("fashion-mnist", "fashion-mnist-gpu")  # scored with the classifier's features: class accuracy, and one scale for both


@pytest.mark.parametrize("name", NAMES)
def test_preset_scores_with_inception_features_on_a_gpu(name):
    raw = presets.load(FOLDER, name).raw
    assert raw["evaluate"]["features"] == ("classifier" if name in FASHION else "inception")
    for section in ("pixelcnn", "vqvae", "prior"):
        assert raw[section]["device"] == "auto"
    assert raw["pixelcnn"]["precision"] == "auto" or name.endswith("vqvae2")


def test_presets_hold_the_papers_numbers():
    pp = presets.load(FOLDER, "cifar10-pp").raw["pixelcnn"]
    assert (pp["output"], pp["n_mix"], pp["resolutions"], pp["layers"], pp["hidden"], pp["dropout"]) == ("logistic", 10, 3, 5, 160, 0.5)
    assert not pp["conditional"] and pp["levels"] == 256
    gated = presets.load(FOLDER, "cifar10-gated").raw["pixelcnn"]
    assert (gated["output"], gated["resolutions"], gated["kernel"], gated["conditional"]) == ("categorical", 1, 5, False)
    for name, size, grids, (hidden, layers) in (("celeba64-vqvae2", 64, [(8, 8), (16, 16)], (256, 20)),
                                                 ("cifar10-vqvae2", 32, [(4, 4), (8, 8)], (128, 15))):
        raw = presets.load(FOLDER, name).raw
        assert raw["data"]["image_size"] == size
        vq = {k: v for k, v in raw["vqvae"].items() if k in VQVAEConfig.__dataclass_fields__}
        assert VQVAEConfig(channels=3, image_size=size, **vq).code_shapes == grids
        assert (raw["vqvae"]["levels"], raw["vqvae"]["codebook_size"], raw["vqvae"]["code_dim"]) == (2, 512, 64)
        assert (raw["prior"]["hidden"], raw["prior"]["layers"]) == (hidden, layers)
    assert presets.load(FOLDER, "celeba64-vqvae2").raw["data"]["celeba_attr"] == ""


# ----------------------------------------------------------------------------- rendering


def test_render_of_the_defaults_is_params_yaml_byte_for_byte():
    assert presets.render(TEMPLATE, default_params()) == TEMPLATE


def test_render_keeps_comments_and_reads_back_the_values():
    raw = default_params()
    raw["pixelcnn"].update(hidden=160, output="logistic", labels=[3, 7], top_p=0.9)
    raw["data"]["celeba_attr"] = ""
    raw["evaluate"]["inception_weights"] = "weights/a # b.pth"
    text = presets.render(TEMPLATE, raw, {("pixelcnn", "hidden"): "# PixelCNN++: 160"}, ["# preset x: a test"])
    assert yaml.safe_load(text) == raw
    lines = text.splitlines()
    assert lines[:2] == ["# preset x: a test", ""]
    hidden = next(line for line in lines if line.startswith("  hidden: 160"))
    assert hidden.endswith("# PixelCNN++: 160")
    template_output = next(line for line in TEMPLATE.splitlines() if line.startswith("  output:"))
    output = next(line for line in lines if line.startswith("  output:"))
    assert output.index("#") == template_output.index("#") and output.split("#", 1)[1] == template_output.split("#", 1)[1]
    assert len(lines) == len(TEMPLATE.splitlines()) + 2


def test_refresh_adds_a_new_key_drops_a_removed_one_and_keeps_the_presets_values(tmp_path):
    preset = presets.load(FOLDER, "cifar10-pp")
    template = TEMPLATE.replace("  workers: 0 ", "  compile: false        # a new key\n  workers: 0 ")  # train gains compile
    template = template.replace("  grayscale: false      # store colour datasets (cifar10, celeba, folder) as one luminance channel\n", "")
    text = presets.refresh(template, preset)
    raw = yaml.safe_load(text)
    assert raw["train"]["compile"] is False and "grayscale" not in raw["data"]
    assert raw["pixelcnn"] == preset.raw["pixelcnn"] and raw["train"]["workers"] == preset.raw["train"]["workers"]
    assert text.splitlines()[: len(preset.header)] == preset.header
    assert "  compile: false        # a new key" in text.splitlines()
    assert presets.refresh(text, preset.__class__(preset.name, preset.path, text, raw)) == text  # a preset as template


# ----------------------------------------------------------------------------- pixelcnn preset


def test_cli_preset_writes_the_preset_and_prints_what_changed(tmp_path, capsys):
    target = tmp_path / "params.yaml"
    target.write_text(TEMPLATE)
    code, out, err = run(capsys, "preset", "cifar10-pp", "--params", str(target), "--presets", str(FOLDER))
    assert code == 0, err
    assert target.read_text() == (FOLDER / "cifar10-pp.yaml").read_text()
    lines = out.splitlines()
    assert lines[0] == f"wrote {target} from {FOLDER / 'cifar10-pp.yaml'}: PixelCNN++ on CIFAR-10 (unconditional; aims at 2.92 bits/dim)"
    changed = presets.changes(default_params(), presets.load(FOLDER, "cifar10-pp").raw)
    assert lines[1] == f"{len(changed)} keys changed:" and "  pixelcnn.output: categorical → logistic" in lines
    assert "  data.name: digits → cifar10" in lines and "  pixelcnn.dropout: 0.0 → 0.5" in lines
    code, out, _ = run(capsys, "preset", "cifar10-pp", "--params", str(target), "--presets", str(FOLDER))
    assert code == 0 and out.splitlines()[1] == "no key changed"


def test_cli_preset_lists_the_presets(capsys):
    code, out, _ = run(capsys, "preset", "--presets", str(FOLDER))
    assert code == 0 and [line.split()[0] for line in out.splitlines()] == NAMES
    assert "2.92 bits/dim" in out


def test_cli_unknown_preset_is_one_sentence(tmp_path, capsys):
    target = tmp_path / "params.yaml"
    target.write_text(TEMPLATE)
    code, _, err = run(capsys, "preset", "cifar-pp", "--params", str(target), "--presets", str(FOLDER))
    assert code == 1 and err == f"error: no preset 'cifar-pp' in {FOLDER}; choose one of: {', '.join(NAMES)}\n"
    assert target.read_text() == TEMPLATE


@pytest.mark.parametrize("name", ["{elsewhere}/evil", "../dvc", "../params", "./mnist", "sub/mnist", "..", "{folder}/mnist"])
def test_cli_preset_takes_names_from_the_presets_folder_only(tmp_path, capsys, name):
    """`preset /elsewhere/evil` (a valid params file) must not replace params.yaml, nor `preset ../dvc` read dvc.yaml:
    a path is one sentence listing the presets, before anything outside the folder is opened."""
    project = tmp_path / "project"
    shutil.copytree(FOLDER, project / "presets")
    (project / "dvc.yaml").write_text((ROOT / "dvc.yaml").read_text())
    target = project / "params.yaml"
    target.write_text(TEMPLATE)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "evil.yaml").write_text(TEMPLATE.replace("seed: 0", "seed: 666"))  # valid, and different
    name = name.format(elsewhere=elsewhere, folder=project / "presets")
    code, out, err = run(capsys, "preset", name, "--params", str(target), "--presets", str(project / "presets"))
    assert code == 1 and not out
    assert err == (f"error: {name!r} is a path, but a preset is named by its file in {project / 'presets'} (no folders, "
                   f"no '..'): choose one of: {', '.join(NAMES)}; to use a params file of your own, copy it into place yourself\n")
    assert target.read_text() == TEMPLATE


def test_cli_preset_that_fails_a_check_names_the_key_and_writes_nothing(tmp_path, capsys):
    folder = tmp_path / "presets"
    folder.mkdir()
    text = (FOLDER / "mnist.yaml").read_text().replace("  temperature: 1.0 ", "  temperature: -1.0")
    (folder / "bad.yaml").write_text(text)
    target = tmp_path / "params.yaml"
    target.write_text(TEMPLATE)
    code, _, err = run(capsys, "preset", "bad", "--params", str(target), "--presets", str(folder))
    assert code == 1 and err == f"error: {folder / 'bad.yaml'}: pixelcnn.temperature must be > 0, got -1.0\n"
    assert target.read_text() == TEMPLATE
    with pytest.raises(ConfigError):
        presets.check(presets.load(folder, "bad"))


def test_cli_refresh_rewrites_presets_that_lack_a_key(tmp_path, capsys):
    folder = tmp_path / "presets"
    shutil.copytree(FOLDER, folder)
    stale = folder / "mnist.yaml"
    stale.write_text(stale.read_text().replace("  progress_every: 4     # rows between frames of the progressive-generation strip and GIF\n", ""))
    code, out, err = run(capsys, "preset", "--refresh", "--params", str(ROOT / "params.yaml"), "--presets", str(folder))
    assert code == 0, err
    assert f"{stale}: rewritten" in out.splitlines() and out.count("up to date") == len(NAMES) - 1
    assert stale.read_text() == (FOLDER / "mnist.yaml").read_text()
    params.validate(yaml.safe_load(stale.read_text()))


def test_presets_folder_missing_is_one_sentence(tmp_path, capsys):
    code, _, err = run(capsys, "preset", "mnist", "--presets", str(tmp_path / "nowhere"))
    assert code == 1 and "no presets there" in err and err.endswith("\n") and err.count("\n") == 1


def test_presets_changes_are_typed():
    assert [str(c) for c in presets.changes({"a": {"x": 1}}, {"a": {"x": 1.0, "y": ""}})] == ["a.x: 1 → 1.0", "a.y: (none) → ''"]
    assert [str(c) for c in presets.changes({"a": {"x": True}}, {"a": {}})] == ["a.x: true → (none)"]
    assert Path(FOLDER / "mnist.yaml").is_file()


DATA_SHAPE = {"mnist": (1, 10), "fashion_mnist": (1, 10), "cifar10": (3, 10), "celeba": (3, 0)}  # channels, classes (the presets' CelebA is unlabelled)


@pytest.mark.parametrize("name", NAMES)
def test_preset_models_are_valid_at_the_datasets_real_shape(name):
    """The checks params.yaml gets see one channel; the stages build the models for the data's channels and grids."""
    from pixelcnn.configs import ClassConditioning, CondNetConfig, PixelCNNConfig
    from pixelcnn.data.pixels import model_config
    from pixelcnn.models.prior import level_config

    settings = params.Params(presets.load(FOLDER, name).raw, name)
    raw = settings.raw
    channels, classes = DATA_SHAPE[raw["data"]["name"]]
    size = raw["data"]["image_size"]
    pixel = model_config(settings.load_partial("pixelcnn", PixelCNNConfig).build(), channels, size,
                         settings.load("pixelcnn", ClassConditioning).num_classes(classes))
    assert (pixel.channels, pixel.height) == (channels, size)
    vq = settings.load_partial("vqvae", VQVAEConfig).build(channels=channels, image_size=size)
    template = settings.load_partial("prior", PixelCNNConfig).build(channels=1, levels=vq.codebook_size, num_classes=classes)
    shapes = vq.code_shapes
    for index, shape in enumerate(shapes):
        level = level_config(template, settings.load_partial("prior", CondNetConfig).build(), vq.level_names[index],
                             vq.codebook_size, shape, classes, shapes[index - 1] if index else None)
        assert level.pixelcnn.gated_blocks > level.pixelcnn.attention_every
