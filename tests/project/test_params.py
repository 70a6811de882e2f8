"""params.yaml loading: strict keys (unknown and missing), types and ranges, each reported in one sentence."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest
import yaml

from pixelcnn.configs import (
    ClassConditioning,
    CondNetConfig,
    DataConfig,
    OptimConfig,
    PixelCNNConfig,
    PixelSampleRun,
    RunConfig,
    Sampler,
    SampleRun,
    SamplingOptions,
)
from pixelcnn.errors import ConfigError, InvalidValue
from pixelcnn.project import params

from helpers import ROOT, default_params


def write(tmp_path: Path, mutate) -> Path:
    raw = default_params()
    mutate(raw)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_params_default_file_is_valid():
    params.validate(params.read_yaml(ROOT / "params.yaml"))


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda r: r["pixelcnn"].update(temprature=0.8),
         "params.yaml: unknown key pixelcnn.temprature; allowed keys of pixelcnn:"),
        (lambda r: r["pixelcnn"].pop("temperature"),
         "params.yaml: pixelcnn.temperature is missing; add it to the pixelcnn section"),
        (lambda r: r.pop("train"), "params.yaml: section train is missing; add it"),
        (lambda r: r.pop("seed"), "params.yaml: seed is missing; add it at the top level"),
        (lambda r: r["prior"].update(temperature=-1),
         "params.yaml: prior.temperature must be > 0, got -1"),
        (lambda r: r["pixelcnn"].update(epochs="ten"),
         "params.yaml: pixelcnn.epochs must be an integer, got 'ten'"),
        (lambda r: r["pixelcnn"].update(sampler="fast"),
         "params.yaml: pixelcnn.sampler must be 'cached' or 'naive', got 'fast'"),
        (lambda r: r["prior"].update(top_p=1.5),
         "params.yaml: prior.top_p must be in (0, 1], got 1.5"),
        (lambda r: r.update(sampling={"x": 1}),
         "params.yaml: unknown section 'sampling'; allowed:"),
        (lambda r: r.update(seed=1.5),
         "params.yaml: seed must be an integer, got 1.5"),
        (lambda r: r["pixelcnn"].update(labels=[3, -1]),
         "params.yaml: pixelcnn.labels must be a list of class indices >= 0 ([] draws every class), got [3, -1]"),
        (lambda r: r["vqvae"].update(levels=3), "params.yaml: vqvae.levels must be 1 or 2, got 3"),
        (lambda r: r["prior"].update(cond_hidden=0), "params.yaml: prior.cond_hidden must be >= 1, got 0"),
        (lambda r: r["classifier"].update(patience=2),
         "params.yaml: classifier.patience is 2 but early stopping needs a validation share: set val_fraction > 0 as well"),
        (lambda r: r["train"].update(processes=0), "params.yaml: train.processes must be >= 1, got 0"),
        (lambda r: r["pixelcnn"].update(device="tpu"), "params.yaml: pixelcnn.device must be 'auto' or 'cpu' or 'cuda', got 'tpu'"),
        (lambda r: r["evaluate"].update(min_classifier_accuracy=2.0),
         "params.yaml: evaluate.min_classifier_accuracy must be in [0, 1], got 2.0"),
        (lambda r: r["data"].update(max_train=-1), "params.yaml: data.max_train must be >= 0 (0 keeps all), got -1"),
    ],
)
def test_params_bad_value_gives_one_sentence_naming_the_key(tmp_path, mutate, message):
    path = write(tmp_path, mutate)
    with pytest.raises(ConfigError) as info:
        params.load(path, "pixelcnn", SamplingOptions)  # any stage's load validates the whole file
    text = str(info.value)
    assert text.startswith(message.replace("params.yaml", str(path), 1)), text
    assert "\n" not in text


@pytest.mark.parametrize("text", ["", "seed: 0\n", "seed: 0\npixelcnn:\n  temperature: 1.0\n"])
def test_params_empty_or_partial_file_names_the_first_missing_key(tmp_path, text):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"is missing; add it"):
        params.load(path, "pixelcnn", SamplingOptions)


def test_params_load_builds_the_requested_types(tmp_path):
    path = write(tmp_path, lambda r: r["pixelcnn"].update(temperature=0.8, top_k=5, guidance=1.0, labels=[3, 7]))
    assert params.load(path, "pixelcnn", SamplingOptions) == SamplingOptions(0.8, 5, 1.0)
    assert params.load(path, "prior", SamplingOptions).temperature == 1.0
    run = params.load(path, "pixelcnn", PixelSampleRun)
    assert run.labels == (3, 7) and run.complete_rows == 16
    assert params.load(path, "train", RunConfig) == RunConfig(**default_params()["train"])
    assert params.load(path, "pixelcnn", ClassConditioning).conditional


def test_params_sampler_string_becomes_the_sampler_enum(tmp_path):
    path = write(tmp_path, lambda r: r["prior"].update(sampler="naive"))
    assert params.load(path, "prior", SampleRun).sampler is Sampler.NAIVE
    assert params.load(path, "pixelcnn", PixelSampleRun).sampler is Sampler.CACHED
    with pytest.raises(ConfigError, match=r"params\.yaml: prior\.sampler must be 'cached' or 'naive', got 'NAIVE'$"):
        params.load(write(tmp_path, lambda r: r["prior"].update(sampler="NAIVE")), "prior", SampleRun)
    assert SampleRun(sampler="naive").sampler is Sampler.NAIVE  # built in Python from the plain string too


def test_params_int_accepted_where_float_expected(tmp_path):
    path = write(tmp_path, lambda r: r["pixelcnn"].update(temperature=1))
    assert isinstance(params.load(path, "pixelcnn", SamplingOptions).temperature, float)


def float_keys() -> list[tuple[str, str]]:
    """(section, key) of every params key that takes a float."""
    import typing

    found = []
    for section, parts in params.SECTIONS.items():
        for part in parts:
            hints = typing.get_type_hints(part.cls)
            found += [(section, key) for key, field in part.keymap().items() if hints[field] is float]
    return sorted(set(found))


@pytest.mark.parametrize("text, value", [("1e30", 1e30), ("1.0e30", 1e30), ("1E-4", 1e-4), (".5e2", 50.0),
                                         ("+2e-3", 2e-3), ("1e+3", 1000.0)])
def test_params_yaml12_number_forms_are_the_numbers_meant(tmp_path, text, value):
    """YAML 1.1 (PyYAML) reads 1e30 and 1.0e30 as strings; DVC (YAML 1.2) and the user mean a number."""
    path = tmp_path / "params.yaml"
    original = (ROOT / "params.yaml").read_text()
    assert "  lr: 0.003  " in original
    path.write_text(original.replace("  lr: 0.003  ", f"  lr: {text}  ", 1))
    optim = params.load_file(path).load("pixelcnn", OptimConfig)
    assert isinstance(optim.lr, float) and optim.lr == value
    with pytest.raises(ConfigError, match=r"pixelcnn\.epochs must be an integer, got '1e3'$"):
        params.load_file(write(tmp_path, lambda r: r["pixelcnn"].update(epochs="1e3")))  # only where a float goes
    with pytest.raises(ConfigError, match=r"pixelcnn\.lr must be a number, got '1e30x'$"):
        params.load_file(write(tmp_path, lambda r: r["pixelcnn"].update(lr="1e30x")))


@pytest.mark.parametrize("section, key", float_keys())
@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, "1e999"])
def test_params_every_float_key_refuses_non_finite_values(tmp_path, section, key, value):
    path = write(tmp_path, lambda r: r[section].update({key: value}))
    with pytest.raises(ConfigError) as info:
        params.load_file(path)
    shown = {"1e999": "inf"}.get(value, str(value))
    assert str(info.value) == f"{path}: {section}.{key} must be a finite number, got {shown}"


def test_params_float_keys_cover_every_section_that_has_them():
    assert {"pixelcnn", "prior", "vqvae", "classifier", "data", "evaluate"} <= {s for s, _ in float_keys()}
    assert ("pixelcnn", "lr") in float_keys() and ("prior", "temperature") in float_keys()


def test_params_partial_build_fills_derived_fields_and_names_keys(tmp_path):
    path = write(tmp_path, lambda r: r["pixelcnn"].update(hidden=64))
    partial = params.load_partial(path, "pixelcnn", PixelCNNConfig)
    config = partial.build(channels=1, height=8, width=8, embed_dim=0, num_classes=3, cond_channels=0)
    assert (config.hidden, config.height, config.num_classes) == (64, 8, 3)
    with pytest.raises(ConfigError) as info:
        partial.build(channels=3, height=8, width=8)
    assert str(info.value) == (
        f"{path}: pixelcnn.hidden must be divisible by the 3 channels of the data (colour groups), got 64"
    )
    with pytest.raises(TypeError, match="hidden are params keys of pixelcnn"):
        partial.build(hidden=3)
    renamed = params.load_partial(path, "prior", CondNetConfig)
    assert renamed["cond_hidden"] == default_params()["prior"]["cond_hidden"]
    with pytest.raises(TypeError, match="use params.load_partial"):
        params.load(path, "pixelcnn", PixelCNNConfig)


def test_params_missing_file_is_one_sentence(tmp_path):
    with pytest.raises(ConfigError, match="params file not found"):
        params.load(tmp_path / "nope.yaml", "data", DataConfig)


def test_params_every_key_has_a_comment_in_params_yaml():
    lines = (ROOT / "params.yaml").read_text().splitlines()
    raw = default_params()
    for section in params.SECTIONS:
        for key in params.section_keys(section):
            matches = [line for line in lines if line.strip().startswith(f"{key}:")]
            assert matches, f"params.yaml lacks {section}.{key}"
            assert all("#" in line for line in matches), f"{section}.{key} has no comment"
        assert set(raw[section]) == set(params.section_keys(section))


def test_params_yaml_has_no_null_values():
    """`dvc exp run -S` rewrites params.yaml and turns null into a blank: every default is a real value."""
    def walk(node, where):
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{where}.{key}" if where else key)
        else:
            assert node is not None, f"{where} is null"
    walk(default_params(), "")


def test_optim_config_checks_name_fields():
    with pytest.raises(ValueError, match=r"^lr_decay must be in \(0, 1\], got 0$"):
        OptimConfig(lr_decay=0)


# ----------------------------------------------------------------------------- read once; fields named by the library, keys here


def test_params_load_file_reads_the_file_once_for_every_config(tmp_path, monkeypatch):
    path = write(tmp_path, lambda r: r["prior"].update(temperature=0.5))
    reads = []
    monkeypatch.setattr(params, "read_yaml", lambda p, read=params.read_yaml: reads.append(p) or read(p))
    settings = params.load_file(path)
    assert settings.load("prior", SamplingOptions).temperature == 0.5
    assert settings.load_partial("prior", CondNetConfig)["cond_hidden"] == default_params()["prior"]["cond_hidden"]
    assert settings.load("train", RunConfig) == RunConfig(**default_params()["train"]) and settings.seed == default_params()["seed"]
    assert reads == [path]


def test_params_stage_reads_its_file_once(tmp_path, monkeypatch):
    """A whole stage run (prepare) reads params.yaml once: no second read, no second validation."""
    from helpers import stage, write_params

    path = write_params(tmp_path / "params.yaml", data={"image_size": 8, "max_train": 20, "max_test": 10})
    reads = []
    monkeypatch.setattr(params, "read_yaml", lambda p, read=params.read_yaml: reads.append(p) or read(p))
    stage("prepare")(["--params", str(path), "--out", str(tmp_path / "prepared")])
    assert reads == [str(path)]


def test_params_naming_turns_a_field_error_into_the_key(tmp_path):
    settings = params.load_file(write(tmp_path, lambda r: None))
    with pytest.raises(ConfigError) as info, settings.naming("pixelcnn", PixelSampleRun):
        raise InvalidValue("labels", "contains class 7, but the model knows 3 classes (0..2)")
    assert str(info.value) == f"{settings.where}: pixelcnn.labels contains class 7, but the model knows 3 classes (0..2)"
    with pytest.raises(ConfigError, match=r": prior\.cond_hidden must be >= 1, got 0$"), settings.naming("prior", CondNetConfig):
        raise InvalidValue("hidden", "must be >= 1, got 0")  # a renamed key
    with pytest.raises(InvalidValue, match="^channels must"), settings.naming("pixelcnn", PixelCNNConfig):
        raise InvalidValue("channels", "must be >= 1, got 0")  # derived: not a key, passes unchanged
    with pytest.raises(TypeError, match="field hidden is prior.hidden and prior.cond_hidden"), settings.naming("prior", PixelCNNConfig, CondNetConfig):
        pass


def test_params_field_keys_name_the_keys_of_a_types_fields():
    keys = params.field_keys("prior", CondNetConfig)
    assert keys == {"hidden": "prior.cond_hidden", "blocks": "prior.cond_blocks"}
    assert params.field_keys("classifier", OptimConfig)["lr"] == "classifier.lr"


def test_params_the_library_never_names_params_yaml():
    """Only the params layer names the file and its keys: every sentence the library raises names a field."""
    package = ROOT / "src" / "pixelcnn"
    found = []
    for path in package.rglob("*.py"):
        if path.name == "params.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and "params.yaml" in ast.unparse(node):
                found.append(f"{path.relative_to(package)}:{node.lineno}")
    assert not found, found
