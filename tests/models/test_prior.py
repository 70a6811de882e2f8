"""PixelCNN priors over code grids: causality of the bottom prior, pairing checks, stages end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from pixelcnn import checkpoints
from pixelcnn.configs import CondNetConfig, PixelCNNConfig
from pixelcnn.errors import CheckpointError
from pixelcnn.models.prior import CodePrior, CodePriorConfig, LevelPrior, check_pairing, level_config
from pixelcnn.models.vqvae import VQVAE

from causality import dependency_map
from helpers import TINY_VQVAE, outputs, stage, train_args, write_params, write_prepared

TINY_PRIOR = dict(hidden=8, skip=16, layers=3, embed_dim=4, cond_hidden=6, cond_blocks=1, epochs=2,
                  batch_size=8, num_samples=6, sample_batch_size=4, labels=[])


def bottom_prior(seed: int = 0) -> LevelPrior:
    torch.manual_seed(seed)
    template = PixelCNNConfig(hidden=8, skip=32, layers=5, embed_dim=3)
    config = level_config(template, CondNetConfig(hidden=6, blocks=1), "bottom", codebook_size=5, shape=(4, 4),
                          num_classes=3, top_shape=(2, 2))
    return LevelPrior(config).double()


def test_bottom_prior_causal_in_bottom_codes_at_every_position():
    level = bottom_prior()
    codes = torch.randint(0, 5, (1, 1, 4, 4))
    top = torch.randint(0, 5, (1, 2, 2))
    dep = dependency_map(level.pixelcnn, codes, torch.tensor([1]), level.condition(top).detach())
    n = dep.shape[0]
    assert not (dep & torch.triu(torch.ones(n, n, dtype=torch.bool))).any()
    assert dep[-1, :-1].all()  # and no blind spot over the bottom grid


def test_bottom_prior_sees_every_top_code_including_later_ones():
    level = bottom_prior()
    codes = torch.randint(0, 5, (1, 4, 4))
    top_emb = level.cond_net.embedding
    seen = torch.zeros(2, 2, dtype=torch.bool)
    captured = {}
    handle = top_emb.register_forward_hook(lambda m, i, o: captured.setdefault("e", o.retain_grad() or o))
    logits = level(codes, torch.tensor([1]), torch.randint(0, 5, (1, 2, 2)))
    handle.remove()
    logits[0, :, 0, 0, 0].sum().backward()  # the very first bottom position
    seen = captured["e"].grad.abs().sum(-1)[0] > 0  # (2, 2) top positions it depends on
    assert seen.all(), f"the first bottom code ignores top codes at {torch.nonzero(~seen).tolist()}"


def test_bits_per_code_of_a_uniform_model_is_log2_k():
    level = bottom_prior()
    torch.nn.init.zeros_(level.pixelcnn.head_out.weight)
    torch.nn.init.zeros_(level.pixelcnn.head_out.bias)
    bits = level.bits_per_code(torch.randint(0, 5, (2, 4, 4)), torch.tensor([0, 2]), torch.randint(0, 5, (2, 2, 2)))
    assert bits.shape == (2,) and torch.allclose(bits, torch.full((2,), np.log2(5), dtype=bits.dtype), atol=1e-6)


def test_check_pairing_names_both_files_when_autoencoders_differ():
    prior = CodePrior(CodePriorConfig("aaaa", (bottom_prior().config,)))
    with pytest.raises(CheckpointError, match=r"models/prior\.pt was trained on codes of autoencoder aaaa, but models/vqvae\.pt is autoencoder bbbb"):
        check_pairing(prior, "models/prior.pt", "bbbb", "models/vqvae.pt")


def test_code_prior_config_round_trips_through_its_checkpoint(tmp_path):
    prior = CodePrior(CodePriorConfig("abcd", (bottom_prior().config,))).float()
    checkpoints.save(tmp_path / "prior.pt", prior)
    again = checkpoints.load_model(tmp_path / "prior.pt", CodePrior)
    assert again.config == prior.config and isinstance(again.config.levels, tuple)
    state = prior.state_dict()
    assert all(torch.equal(v, state[k]) for k, v in again.state_dict().items())


def run_two_stage(tmp_path: Path, levels: int, seed: int = 1, **prior) -> dict[str, str]:
    data = write_prepared(tmp_path / "prepared")
    p = write_params(tmp_path / "params.yaml", seed=seed, vqvae={**TINY_VQVAE, "levels": levels, "epochs": 1, "batch_size": 8},
                     prior={**TINY_PRIOR, **prior})
    vq, pr = outputs(tmp_path, "vqvae"), outputs(tmp_path, "prior")
    stage("train_vqvae")(train_args("train_vqvae", p, data, vq))
    codes = str(tmp_path / "codes")
    stage("extract_codes")(["--params", str(p), "--data", str(data), "--model", vq["out"], "--out", codes])
    stage("train_prior")(train_args("train_prior", p, Path(codes), pr))
    out = {"vqvae": vq["out"], "prior": pr["out"], "metrics": pr["metrics"], "samples": str(tmp_path / "samples"),
           "grid": str(tmp_path / "s.png"), "params": str(p), "data": str(data)}
    stage("sample_prior")(["--params", str(p), "--prior", out["prior"], "--vqvae", out["vqvae"],
                           "--out", out["samples"], "--grid", out["grid"]])
    return out


@pytest.mark.parametrize("levels", [1, 2])
def test_prior_stages_train_and_sample_both_levels(tmp_path, levels):
    out = run_two_stage(tmp_path, levels)
    names = ["top"] if levels == 1 else ["top", "bottom"]
    metrics = json.loads(Path(out["metrics"]).read_text())
    assert sorted(metrics) == sorted([*names, "step"])
    assert all(0 < metrics[n]["test_bits_per_code"] < 8 for n in names)  # K = 8 codes: log2 8 = 3 for uniform
    prior = checkpoints.load_model(out["prior"], CodePrior)
    assert list(prior.levels) == names
    assert prior.levels[names[0]].cond_net is None
    if levels == 2:
        assert prior.levels["bottom"].cond_net is not None
    samples = np.load(Path(out["samples"]) / "samples.npy")
    labels = np.load(Path(out["samples"]) / "labels.npy")
    assert samples.dtype == np.uint8 and samples.shape == (6, 1, 8, 8)
    assert labels.tolist() == [0, 1, 2, 0, 1, 2]  # every class in turn
    for name, shape in zip(names, ([2, 2], [4, 4]) if levels == 2 else ([4, 4],)):
        codes = np.load(Path(out["samples"]) / f"codes_{name}.npy")
        assert codes.dtype == np.int16 and list(codes.shape[1:]) == shape and codes.max() < 8


def test_sample_prior_same_seed_same_samples_and_refuses_another_autoencoder(tmp_path):
    out = run_two_stage(tmp_path, 2)
    first = np.load(Path(out["samples"]) / "samples.npy")
    stage("sample_prior")(["--params", out["params"], "--prior", out["prior"], "--vqvae", out["vqvae"],
                           "--out", out["samples"], "--grid", out["grid"]])
    assert np.array_equal(first, np.load(Path(out["samples"]) / "samples.npy"))

    # a second autoencoder (another seed) does not match the prior's codes
    other_params = write_params(tmp_path / "other.yaml", seed=2, vqvae={**TINY_VQVAE, "levels": 2, "epochs": 1, "batch_size": 8})
    other = outputs(tmp_path / "other", "vqvae")
    stage("train_vqvae")(train_args("train_vqvae", other_params, Path(out["data"]), other))
    with pytest.raises(CheckpointError, match="was trained on codes of autoencoder .* re-run extract_codes and train_prior"):
        stage("sample_prior")(["--params", out["params"], "--prior", out["prior"], "--vqvae", other["out"],
                               "--out", str(tmp_path / "s2"), "--grid", str(tmp_path / "s2.png")])
    assert not (tmp_path / "s2").exists()
    assert isinstance(checkpoints.load_model(other["out"], VQVAE), VQVAE)
