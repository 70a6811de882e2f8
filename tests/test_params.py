"""params.yaml loading: strict keys, types and ranges, each reported in one sentence."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pixelcnn import params
from pixelcnn.errors import ConfigError
from pixelcnn.pixel import PixelSampleParams, PixelTrainParams
from pixelcnn.prior import PriorSampleParams

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, mutate) -> Path:
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
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
         "params.yaml: pixelcnn.labels must be null or a non-empty list of class indices >= 0"),
    ],
)
def test_params_bad_value_gives_one_sentence_naming_the_key(tmp_path, mutate, message):
    path = write(tmp_path, mutate)
    with pytest.raises(ConfigError) as info:
        params.load(path, PixelTrainParams)  # any stage's load validates the whole file
    text = str(info.value)
    assert text.startswith(message.replace("params.yaml", str(path), 1))
    assert "\n" not in text


def test_params_load_builds_the_requested_subset(tmp_path):
    path = write(tmp_path, lambda r: r["pixelcnn"].update(temperature=0.8, top_k=5))
    cfg = params.load(path, PixelSampleParams)
    assert (cfg.temperature, cfg.top_k) == (0.8, 5)
    assert params.load(path, PriorSampleParams).temperature == 1.0


def test_params_int_accepted_where_float_expected(tmp_path):
    path = write(tmp_path, lambda r: r["pixelcnn"].update(temperature=1))
    assert isinstance(params.load(path, PixelSampleParams).temperature, float)


def test_params_missing_file_is_one_sentence(tmp_path):
    with pytest.raises(ConfigError, match="params file not found"):
        params.load(tmp_path / "nope.yaml", PixelSampleParams)


def test_params_yaml_spells_out_every_key():
    """DVC reads the keys a stage lists from params.yaml itself, so none may rely on a default."""
    raw = params.read_yaml(ROOT / "params.yaml")
    for section in params.SECTIONS:
        for cls in params.section_classes(section):
            for key in params.param_keys(cls):
                assert key.split(".")[1] in (raw.get(section) or {}), f"params.yaml lacks {key}"


def test_save_checkpoint_same_weights_same_bytes(tmp_path):
    """DVC hashes checkpoints: identical weights must give identical files, whatever the temp name."""
    import hashlib

    import torch

    from pixelcnn.io import load_checkpoint, save_checkpoint

    state = {"w": torch.arange(6.0).view(2, 3)}
    save_checkpoint(tmp_path / "a.pt", "pixelcnn", {"x": 1}, state)
    save_checkpoint(tmp_path / "b.pt", "pixelcnn", {"x": 1}, state)
    digest = [hashlib.md5((tmp_path / n).read_bytes()).hexdigest() for n in ("a.pt", "b.pt")]
    assert digest[0] == digest[1]
    assert torch.equal(load_checkpoint(tmp_path / "a.pt", "pixelcnn")["state_dict"]["w"], state["w"])
