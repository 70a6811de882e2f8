"""PixelCNN priors over code grids: causality of the bottom prior, pairing checks, stages end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from pixelcnn.errors import CheckpointError
from pixelcnn.prior import CodePrior, PriorModelParams, build_level, check_pairing, load_prior, prior_loss
from test_model import dependency_map
from test_vqvae import TINY, stage, write_prepared

TINY_PRIOR = dict(hidden=8, skip=16, layers=3, embed_dim=4, cond_hidden=6, cond_blocks=1, epochs=2,
                  batch_size=8, num_samples=6, sample_batch_size=4)


def bottom_prior(seed: int = 0):
    torch.manual_seed(seed)
    params = PriorModelParams(hidden=8, skip=32, layers=5, embed_dim=3, cond_hidden=6, cond_blocks=1)
    return build_level(params, codebook_size=5, shape=(4, 4), num_classes=3, above=(2, 2)).double()


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


def test_prior_loss_is_bits_per_code_of_a_uniform_model():
    level = bottom_prior()
    torch.nn.init.zeros_(level.pixelcnn.head_out.weight)
    torch.nn.init.zeros_(level.pixelcnn.head_out.bias)
    batch = (torch.randint(0, 5, (2, 4, 4)), torch.tensor([0, 2]), torch.randint(0, 5, (2, 2, 2)))
    assert prior_loss(level, batch).item() == pytest.approx(np.log2(5), abs=1e-6)


def test_check_pairing_names_both_files_when_autoencoders_differ():
    prior = CodePrior({"top": bottom_prior()}, vqvae_fingerprint="aaaa")
    with pytest.raises(CheckpointError, match=r"models/prior\.pt was trained on codes of autoencoder aaaa, but models/vqvae\.pt is autoencoder bbbb"):
        check_pairing(prior, "models/prior.pt", "bbbb", "models/vqvae.pt")


def run_two_stage(tmp_path: Path, levels: int, **prior) -> dict[str, str]:
    data = write_prepared(tmp_path / "prepared")
    raw = {"seed": 1, "vqvae": {**TINY, "levels": levels, "epochs": 1, "batch_size": 8},
           "prior": {**TINY_PRIOR, **prior}}
    p = tmp_path / "params.yaml"
    p.write_text(yaml.safe_dump(raw))
    out = {k: str(tmp_path / v) for k, v in dict(
        vqvae="vqvae.pt", codes="codes", prior="prior.pt", samples="samples", grid="s.png").items()}
    stage("train_vqvae")(["--params", str(p), "--data", str(data), "--out", out["vqvae"], "--metrics",
                          str(tmp_path / "v.json"), "--plots", str(tmp_path / "v.csv"), "--grid", str(tmp_path / "v.png")])
    stage("extract_codes")(["--params", str(p), "--data", str(data), "--model", out["vqvae"], "--out", out["codes"]])
    stage("train_prior")(["--params", str(p), "--codes", out["codes"], "--out", out["prior"],
                          "--metrics", str(tmp_path / "prior.json"), "--plots", str(tmp_path / "prior.csv")])
    stage("sample_prior")(["--params", str(p), "--prior", out["prior"], "--vqvae", out["vqvae"],
                           "--out", out["samples"], "--grid", out["grid"]])
    out["params"] = str(p)
    return out


@pytest.mark.parametrize("levels", [1, 2])
def test_prior_stages_train_and_sample_both_levels(tmp_path, levels):
    out = run_two_stage(tmp_path, levels)
    names = ["top"] if levels == 1 else ["top", "bottom"]
    metrics = json.loads((tmp_path / "prior.json").read_text())
    assert sorted(metrics) == sorted(names)
    assert all(0 < metrics[n]["test_bits_per_code"] < 8 for n in names)  # K = 8 codes: log2 8 = 3 for uniform
    prior = load_prior(out["prior"], torch.device("cpu"))
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
    raw = yaml.safe_load(Path(out["params"]).read_text())
    raw["seed"] = 2
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump(raw))
    stage("train_vqvae")(["--params", str(other), "--data", str(tmp_path / "prepared"), "--out", str(tmp_path / "v2.pt"),
                          "--metrics", str(tmp_path / "v2.json"), "--plots", str(tmp_path / "v2.csv"), "--grid", str(tmp_path / "v2.png")])
    with pytest.raises(CheckpointError, match="was trained on codes of autoencoder .* re-run extract_codes and train_prior"):
        stage("sample_prior")(["--params", out["params"], "--prior", out["prior"], "--vqvae", str(tmp_path / "v2.pt"),
                               "--out", str(tmp_path / "s2"), "--grid", str(tmp_path / "s2.png")])
    assert not (tmp_path / "s2").exists()
