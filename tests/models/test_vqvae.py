"""VQ-VAE / VQ-VAE-2: quantiser invariants, round trips, stages, errors, determinism.

Tiny configs on 8×8 images (B batch, C channels, H W pixels, h w code grid).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from pixelcnn import checkpoints
from pixelcnn.configs import VQVAEConfig
from pixelcnn.data.codes import extract_codes, load_codes
from pixelcnn.data.pixels import to_float
from pixelcnn.errors import CheckpointError, ConfigError, DataError
from pixelcnn.models.vqvae import VQVAE, Quantizer
from pixelcnn.project import params
from pixelcnn.visuals.images import save_grid

from helpers import TINY_VQVAE, blobs, logged, outputs, stage, train_args, write_params, write_prepared

ROOT = Path(__file__).resolve().parents[2]


def tiny_model(levels: int, seed: int = 0) -> VQVAE:
    torch.manual_seed(seed)
    return VQVAE(VQVAEConfig(channels=1, image_size=8, levels=levels, **TINY_VQVAE))


def run_vqvae_stage(tmp_path: Path, **vqvae) -> dict[str, str]:
    p = write_params(tmp_path / "params.yaml", seed=3, vqvae={**TINY_VQVAE, "epochs": 2, "batch_size": 8, "grid_images": 16, **vqvae})
    data = tmp_path / "prepared"
    if not data.exists():
        write_prepared(data)
    out = outputs(tmp_path, "vqvae")
    stage("train_vqvae")(train_args("train_vqvae", p, data, out))
    return {**out, "params": str(p), "data": str(data)}


# ----------------------------------------------------------------------------- quantiser


@pytest.mark.parametrize("levels", [1, 2])
def test_vqvae_straight_through_gradients_reach_encoders(levels):
    model = tiny_model(levels).train()
    x = to_float(blobs(4, 0))
    F.mse_loss(model(x).recon, x).backward()  # reconstruction loss only: no commitment term
    encoders = [model.enc_b] + ([model.enc_t] if levels == 2 else [])
    for encoder in encoders:
        for name, p in encoder.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, f"no gradient reached {name}"


def test_quantizer_ema_step_matches_hand_computation():
    q = Quantizer(codebook_size=3, dim=2, decay=0.9, beta=0.25, dead_threshold=0.0)
    e = torch.tensor([[0.0, 0.0], [10.0, 10.0], [-10.0, 10.0]])
    q.embed.copy_(e), q.embed_sum.copy_(e), q.cluster_size.fill_(1.0)
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0], [9.0, 9.0]]).t().reshape(1, 2, 1, 3)  # (B, D, h, w)
    out = q.train()(z)
    assert out.codes.flatten().tolist() == [0, 0, 1]
    # by hand: counts (2, 1, 0), sums ((1, 1), (9, 9), (0, 0)), decay 0.9
    cluster = torch.tensor([0.9 + 0.1 * 2, 0.9 + 0.1 * 1, 0.9])
    summed = 0.9 * e + 0.1 * torch.tensor([[1.0, 1.0], [9.0, 9.0], [0.0, 0.0]])
    n, eps = cluster.sum(), q.eps
    expected = summed / ((cluster + eps) / (n + 3 * eps) * n)[:, None]
    assert torch.allclose(q.cluster_size, cluster) and torch.allclose(q.embed_sum, summed)
    assert torch.allclose(q.embed, expected, atol=1e-6)
    means = torch.tensor([[0.5, 0.5], [9.0, 9.0]])
    assert ((q.embed[:2] - means).norm(dim=1) < (e[:2] - means).norm(dim=1)).all()  # used codes moved to their means
    assert torch.allclose(q.embed[2], e[2], atol=1e-4)  # an unused code stays (up to smoothing)


def test_quantizer_eval_and_encode_leave_codebook_alone():
    model = tiny_model(2).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.encode(to_float(blobs(4, 0)))  # training mode, but encode never updates
    model.eval()(to_float(blobs(4, 0)))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    model.train()(to_float(blobs(4, 0)))
    assert not torch.equal(before["quantizers.top.embed"], model.quantizers["top"].embed)


def test_quantizer_restarts_dead_codes_from_batch_vectors():
    def step(seed: int) -> Quantizer:
        q = Quantizer(codebook_size=4, dim=2, decay=0.99, beta=0.25, dead_threshold=1.0)
        q.embed.fill_(100.0), q.embed_sum.fill_(100.0)
        q.embed[0] = 0.0
        q.embed_sum[0] = 0.0
        q.train()(z, generator=torch.Generator().manual_seed(seed))
        return q

    z = torch.randn(2, 2, 3, 3)  # every vector is nearest to code 0; codes 1-3 are never used
    flat = z.permute(0, 2, 3, 1).reshape(-1, 2)  # (N, D)
    q = step(0)
    for k in (1, 2, 3):  # EMA count 0.99 < 1 → restarted onto an encoder output of the batch
        assert (q.embed[k] - flat).norm(dim=1).min() < 1e-6
        assert q.cluster_size[k] == 1.0
        assert torch.allclose(q.embed_sum[k], q.embed[k])
    assert q.cluster_size[0] > 1.0 and (q.embed[0] - flat).norm(dim=1).min() > 1e-3  # the used code is not restarted
    assert torch.equal(step(0).embed, q.embed)  # same generator → same restarts
    assert not torch.equal(step(1).embed, q.embed)


def test_quantizer_distances_and_ema_stay_fp32_under_autocast():
    q = Quantizer(codebook_size=2, dim=1, decay=0.9, beta=0.25, dead_threshold=0.0)
    # in bf16 both codewords round to 1.0 and z would tie; in fp32 code 1 is nearer
    q.embed.copy_(torch.tensor([[1.0], [1.0035]])), q.embed_sum.copy_(q.embed), q.cluster_size.fill_(1.0)
    z = torch.full((1, 1, 2, 2), 1.0078125, dtype=torch.bfloat16)  # exactly representable in bf16
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = q.train()(z)
    assert (out.codes == 1).all()
    assert out.quantized.dtype == torch.float32 and out.loss.dtype == torch.float32 and out.loss.shape == (1,)
    assert all(b.dtype == torch.float32 for b in q.buffers())
    model = tiny_model(2).train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        recon = model(to_float(blobs(4, 0))).recon
    assert recon.dtype == torch.float32 and all(b.dtype == torch.float32 for b in model.buffers())


# ----------------------------------------------------------------------------- model


@pytest.mark.parametrize("levels", [1, 2])
def test_vqvae_decode_codes_of_encode_equals_eval_reconstruction(levels):
    model = tiny_model(levels).eval()
    x = to_float(blobs(5, 0))
    codes = model.encode(x)
    assert [tuple(c.shape) for c in codes] == [(5, *s) for s in model.code_shapes]
    assert model.code_shapes == ([(4, 4)] if levels == 1 else [(2, 2), (4, 4)])
    assert model.level_names == (("top",) if levels == 1 else ("top", "bottom"))
    assert all(c.dtype == torch.int64 and c.min() >= 0 and c.max() < 8 for c in codes)
    assert torch.equal(model.decode_codes(codes), model(x).recon)


@pytest.mark.parametrize("levels", [1, 2])
def test_vqvae_one_image_encodes_as_inside_a_batch(levels):
    """A batch of one (the last chunk of an extraction, one image scored) once failed: its permuted view could not be viewed flat."""
    model = tiny_model(levels).eval()
    x = to_float(blobs(3, 0))
    alone = [model.encode(x[i : i + 1]) for i in range(3)]
    together = model.encode(x)
    for level, codes in enumerate(together):
        assert torch.equal(torch.cat([a[level] for a in alone]), codes)
    torch.testing.assert_close(model(x[:1]).recon, model(x).recon[:1])


def test_params_levels_other_than_1_or_2_is_one_sentence(tmp_path, monkeypatch):
    write_params(tmp_path / "params.yaml", vqvae={"levels": 3})
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        params.load_partial("params.yaml", "vqvae", VQVAEConfig)
    assert str(info.value) == "params.yaml: vqvae.levels must be 1 or 2, got 3"
    with pytest.raises(ConfigError, match=re.escape("params.yaml: vqvae.levels must be 1 or 2, got 3")):
        stage("train_vqvae")(["--data", "x", "--out", "m", "--live", "j", "--grid", "g", "--state", "s"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]  # stopped before writing anything


def test_load_vqvae_refuses_a_checkpoint_of_another_kind(tmp_path):
    from pixelcnn.models.classifier import Classifier, ClassifierConfig

    path = tmp_path / "classifier.pt"
    checkpoints.save(path, Classifier(ClassifierConfig()))
    with pytest.raises(CheckpointError) as info:
        checkpoints.load_model(path, VQVAE)
    assert str(info.value) == f"{path}: is a 'classifier' checkpoint, expected a 'vqvae' checkpoint; pass the right file"


def test_load_vqvae_rebuilds_the_model_and_checks_its_fingerprint(tmp_path):
    model = tiny_model(2)
    checkpoints.save(tmp_path / "vqvae.pt", model, fingerprint=model.fingerprint())
    loaded = checkpoints.load_model(tmp_path / "vqvae.pt", VQVAE)
    assert loaded.fingerprint() == model.fingerprint() and len(model.fingerprint()) == 16
    assert loaded.config == model.config and not loaded.training
    x = to_float(blobs(3, 0))
    assert torch.equal(loaded(x).recon, model.eval()(x).recon)
    assert tiny_model(2, seed=1).fingerprint() != model.fingerprint()
    checkpoints.save(tmp_path / "forged.pt", tiny_model(2, seed=1), fingerprint=model.fingerprint())
    with pytest.raises(CheckpointError, match="its weights do not match the fingerprint stored with them; re-run train_vqvae"):
        checkpoints.load_model(tmp_path / "forged.pt", VQVAE)


def test_train_vqvae_same_seed_same_weights(tmp_path):
    a = run_vqvae_stage(tmp_path / "a")
    b = run_vqvae_stage(tmp_path / "b")
    c = run_vqvae_stage(tmp_path / "c", levels=2, beta=0.3)
    assert Path(a["out"]).read_bytes() == Path(b["out"]).read_bytes()
    assert Path(a["out"]).read_bytes() != Path(c["out"]).read_bytes()


# ----------------------------------------------------------------------------- stages and codes on disk


@pytest.mark.parametrize("levels", [1, 2])
def test_stages_train_then_extract_codes_that_decode_to_reconstructions(tmp_path, levels):
    out = run_vqvae_stage(tmp_path, levels=levels)
    codes_dir = str(tmp_path / "codes")
    stage("extract_codes")(["--params", out["params"], "--data", out["data"], "--model", out["out"], "--out", codes_dir])

    names = ["top"] if levels == 1 else ["top", "bottom"]
    metrics = json.loads(Path(out["metrics"]).read_text())
    assert metrics["test_psnr"] == pytest.approx(10 * np.log10(1 / metrics["test_mse"]))
    assert all(0 < metrics[n]["usage"] <= 1 and 1 <= metrics[n]["perplexity"] <= 8 for n in names)
    figures = logged(out["live"])
    assert [s for s, _ in figures["test_mse"]] == [1, 2] and f"test_{names[-1]}_perplexity" in figures
    assert {"train_mse", "test_mse"} <= set(figures)  # measured alike: clamped, [0, 1] pixels
    assert Image.open(out["grid"]).size == ((8 * 10 + 2) * 16, (3 * 10 + 2) * 16)  # 12 pairs, 8 per row, ×16
    assert Image.open(Path(out["live"]) / "plots" / "images" / "curves.png").format == "PNG"

    model = checkpoints.load_model(out["out"], VQVAE)
    for split, n in (("train", 40), ("test", 12)):
        codes, labels, meta = load_codes(codes_dir, split, model)
        assert list(codes) == names and list(meta.level_names) == names
        assert all(a.dtype == np.int16 and a.shape == (n, *s) for a, s in zip(codes.values(), model.code_shapes))
        assert np.array_equal(labels, np.arange(n) % 3)
        x = to_float(np.load(tmp_path / "prepared" / f"{split}_images.npy"))
        decoded = model.decode_codes([torch.from_numpy(a[:].astype(np.int64)) for a in codes.values()])
        assert torch.equal(decoded, model(x).recon)
    assert meta.vqvae_fingerprint == model.fingerprint() and meta.codebook_size == 8 and meta.num_classes == 3
    assert sorted(p.name for p in Path(codes_dir).iterdir()) == sorted(
        ["meta.json", "train_labels.npy", "test_labels.npy"] + [f"{s}_{n}.npy" for s in ("train", "test") for n in names]
    )
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary leftovers


def test_train_mse_and_test_mse_measure_the_same_thing():
    """The MSE logged while training (reconstruction from the codebook before its EMA step) is the test's measure."""
    from pixelcnn.training.objectives.vqvae import VQVAEObjective

    model = tiny_model(2)
    objective = VQVAEObjective(model)
    batch = {"images": torch.from_numpy(blobs(6, 0))}
    sums = objective.eval().evaluate(batch)
    train_mse = objective.train()(batch)["mse"]
    assert float(train_mse.detach().double().sum()) == pytest.approx(float(sums["mse"].detach()), rel=1e-6)


def test_load_codes_refuses_codes_out_of_the_codebook_before_training(tmp_path):
    images, labels = blobs(6, 0), np.zeros(6, dtype=np.int64)
    extract_codes(tiny_model(2), {"train": (images, labels)}, tmp_path / "codes", batch_size=4, progress=False)
    bad = np.load(tmp_path / "codes" / "train_bottom.npy")
    bad[3, 1, 2] = 8  # K = 8: codes are 0..7
    np.save(tmp_path / "codes" / "train_bottom.npy", bad)
    with pytest.raises(DataError) as info:
        load_codes(tmp_path / "codes", "train")
    assert str(info.value) == (f"{tmp_path / 'codes' / 'train_bottom.npy'}: holds code 8, outside the codebook of 8 "
                               "codes (0..7) that meta.json names; re-run extract_codes")


def test_load_codes_refuses_codes_of_another_autoencoder(tmp_path):
    images, labels = blobs(6, 0), np.zeros(6, dtype=np.int64)
    extract_codes(tiny_model(2), {"train": (images, labels)}, tmp_path / "codes", batch_size=4, progress=False)
    with pytest.raises(CheckpointError, match="codes were extracted by autoencoder .* not by this one"):
        load_codes(tmp_path / "codes", "train", tiny_model(2, seed=1))
    with pytest.raises(CheckpointError, match=re.escape("do not match the autoencoder's code grids {'top': [4, 4]}")):
        load_codes(tmp_path / "codes", "train", tiny_model(1))
    np.save(tmp_path / "codes" / "train_bottom.npy", np.zeros((6, 2, 2), dtype=np.int16))
    with pytest.raises(DataError, match=re.escape("do not match meta.json's int16 (6, 4, 4); re-run extract_codes")):
        load_codes(tmp_path / "codes", "train")
    with pytest.raises(DataError, match="meta.json: not found; run the extract_codes stage first"):
        load_codes(tmp_path / "elsewhere", "train")


def test_extract_codes_refuses_images_of_another_size(tmp_path):
    with pytest.raises(DataError, match=re.escape("do not fit the autoencoder's (N, 1, 8, 8) input")):
        extract_codes(tiny_model(2), {"train": (blobs(2, 0, size=16), np.zeros(2))}, tmp_path / "codes", progress=False)
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_save_grid_upscales_small_images_by_nearest_neighbour(tmp_path):
    images = blobs(3, 0)
    save_grid(tmp_path / "g.png", images, nrow=2)
    grid = np.asarray(Image.open(tmp_path / "g.png"))
    assert grid.shape == ((2 * 10 + 2) * 16, (2 * 10 + 2) * 16)  # 2×2 cells of 8 px + 2 px padding, ×16
    assert np.array_equal(grid[2 * 16 : 10 * 16 : 16, 2 * 16 : 10 * 16 : 16], images[0, 0])
