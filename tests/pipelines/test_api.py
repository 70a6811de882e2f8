"""The public Python API (pixelcnn.pipelines) on a tiny trained run: it equals the library underneath.

Same generator → same images as the low-level samplers and the stages'
``draw_samples``; completion keeps the given rows; scores equal the models'
bits/dim; every bad argument is one sentence naming it.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import pixelcnn
from pixelcnn.configs import Sampler, SamplingOptions
from pixelcnn.data.pixels import dequantise, quantise
from pixelcnn.errors import CheckpointError, InputError, UserError
from pixelcnn.models.pixelcnn import PixelCNN, PixelCNNConfig
from pixelcnn.pipelines.inputs import class_labels
from pixelcnn.pipelines.pixel import PixelCNNPipeline
from pixelcnn.pipelines.vq import VQPriorPipeline
from pixelcnn.runtime import resolve_device
from pixelcnn.sampling.api import sample

from helpers import doc_block, doc_lines
from tiny_models import CLASSES, SIZE, tiny_run  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pixel(tiny_run) -> PixelCNNPipeline:
    return pixelcnn.load(tiny_run / "models" / "pixelcnn.pt", device="cpu")


@pytest.fixture(scope="module")
def vq(tiny_run) -> VQPriorPipeline:
    return pixelcnn.load(tiny_run / "models" / "prior.pt", vqvae=tiny_run / "models" / "vqvae.pt", device="cpu")


@pytest.fixture(scope="module")
def test_split(tiny_run) -> tuple[np.ndarray, np.ndarray]:
    d = tiny_run / "data" / "prepared"
    return np.load(d / "test_images.npy"), np.load(d / "test_labels.npy")


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def readme_snippet() -> str:
    """The README's Python quick start (the same block opens docs/python-api.md)."""
    return doc_block('pipe = pixelcnn.load("models/pixelcnn.pt")')


# ----------------------------------------------------------------------------- surface


@pytest.mark.slow  # a fresh interpreter imports the package
def test_import_pixelcnn_is_cheap_and_exports_the_api_lazily():
    code = (
        "import sys, pixelcnn\n"
        "assert 'torch' not in sys.modules, 'import pixelcnn imported torch'\n"
        "assert callable(pixelcnn.load) and pixelcnn.Samples and pixelcnn.Progress\n"
        "heavy = [m for m in ('torchvision', 'torch_fidelity', 'lpips', 'streamlit') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_readme_snippet_runs_as_written(tiny_run, monkeypatch, capsys):
    code = readme_snippet()
    assert len([line for line in code.splitlines() if line.strip()]) <= 6
    monkeypatch.chdir(tiny_run)
    exec(compile(code, "README.md", "exec"), {})
    picture = Image.open(tiny_run / "threes.png")
    assert picture.size == (4 * (4 * (SIZE + 2) + 2),) * 2  # 16 tiles, 4 per row, scale 4
    bits = float(capsys.readouterr().out.split()[0])
    assert 0 < bits < 8


def test_readme_generate_snippet_runs_as_written(tiny_run, monkeypatch, capsys):
    code = doc_block("pixelcnn.generate(model, 8, labels=7")
    monkeypatch.chdir(tiny_run)
    exec(compile(code, "README.md", "exec"), {})
    assert capsys.readouterr().out == f"(8, 1, {SIZE}, {SIZE}) (8, {SIZE // 2}, {SIZE // 2})\n"


def test_generate_on_a_model_draws_the_pipelines_images_and_keeps_its_mode(pixel, vq):
    model = pixel.model.train()  # a model in training mode: generate samples in eval mode, then gives it back
    out = pixelcnn.generate(model, 5, labels=[1, 7], temperature=0.8, top_k=50, generator=gen(3), batch_size=2)
    assert model.training
    expected = pixel.sample(5, labels=[1, 7], temperature=0.8, top_k=50, generator=gen(3), batch_size=2)
    assert out.images.dtype == np.uint8 and np.array_equal(out.images, expected.images)
    assert np.array_equal(pixelcnn.generate(model, 2, labels=4, guidance=2.0, generator=gen()).images,
                          pixel.sample(2, labels=4, guidance=2.0, generator=gen()).images)
    prior, vqvae = vq.prior, vq.vqvae.train()
    drawn = pixelcnn.generate(prior, 3, vqvae=vqvae, labels=2, top_p=0.9, generator=gen(5))
    assert np.array_equal(drawn.images, vq.sample(3, labels=2, top_p=0.9, generator=gen(5)).images)
    assert set(drawn.codes) == {"top", "bottom"} and vqvae.training and not prior.training
    model.eval(), vqvae.eval()


def test_generate_refuses_what_it_cannot_sample_in_one_sentence(pixel, vq):
    prior, vqvae, model = vq.prior, vq.vqvae, pixel.model
    with pytest.raises(CheckpointError, match=r"^the prior was trained on codes of autoencoder \w+, but vqvae is autoencoder"):
        pixelcnn.generate(prior, 1, vqvae=pixelcnn.VQVAE(vqvae.config))
    with pytest.raises(InputError, match=r"^this PixelCNN draws code grids \(one level of a CodePrior\): draw images with "
                                         r"pixelcnn\.generate\(prior, n, vqvae=vqvae\)$"):
        pixelcnn.generate(prior.levels["top"].pixelcnn, 1)
    with pytest.raises(InputError, match=r"^a CodePrior draws code grids, which the VQ-VAE it was trained with decodes: pass it "
                                         r"as vqvae= \(a pixelcnn\.VQVAE\), got nothing$"):
        pixelcnn.generate(prior, 1)
    with pytest.raises(InputError, match=r"^a pixel PixelCNN draws the pixels itself: drop vqvae=$"):
        pixelcnn.generate(model, 1, vqvae=vqvae)
    with pytest.raises(InputError, match=r"^a VQVAE is an autoencoder and does not sample on its own: draw images with its "
                                         r"prior, pixelcnn\.generate\(prior, n, vqvae=vqvae\)$"):
        pixelcnn.generate(vqvae, 1)
    with pytest.raises(InputError, match=r"^generate takes a pixelcnn\.PixelCNN, or a pixelcnn\.CodePrior with vqvae=, got str$"):
        pixelcnn.generate("models/pixelcnn.pt", 1)
    with pytest.raises(InputError, match=rf"^generate takes the number of images, not a shape \(got \(1, {SIZE}, {SIZE}\)\): the "
                                         rf"model draws 1×{SIZE}×{SIZE} images; write pixelcnn\.generate\(prior, n, vqvae=vqvae\)$"):
        pixelcnn.generate(prior, (1, SIZE, SIZE), vqvae=vqvae)
    for owner, call in (("PixelCNN", lambda: model.generate(4)), ("CodePrior", lambda: prior.generate(4, vqvae))):
        with pytest.raises(UserError, match=rf"^{owner} has no generate, a name from another PixelCNN repository; here, use "
                                            r"pixelcnn\.generate\("):
            call()


def test_load_picks_the_pipeline_from_the_checkpoint_kind(pixel, vq):
    assert isinstance(pixel, PixelCNNPipeline) and isinstance(vq, VQPriorPipeline)
    assert pixel.image_shape == vq.image_shape == (1, SIZE, SIZE)
    assert pixel.num_classes == vq.num_classes == CLASSES
    assert vq.code_shapes == {"top": (SIZE // 4, SIZE // 4), "bottom": (SIZE // 2, SIZE // 2)}
    assert pixel.device == vq.device == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")


# ----------------------------------------------------------------------------- sampling


def test_pixel_sample_equals_the_low_level_sampler_batch_by_batch(pixel):
    out = pixel.sample(5, labels=[1, 7], temperature=0.8, top_k=50, top_p=0.9, generator=gen(), batch_size=2)
    g, labels, expected = gen(), class_labels(5, CLASSES, [1, 7]), []
    for start in range(0, 5, 2):
        x = sample(pixel.model, min(2, 5 - start), options=SamplingOptions(0.8, 50, 0.9),
                   labels=labels[start : start + 2], generator=g)
        expected.append(dequantise(x, pixel.config.levels))
    assert out.images.dtype == np.uint8 and out.images.shape == (5, 1, SIZE, SIZE)
    assert np.array_equal(out.images, np.concatenate(expected))
    assert out.labels.tolist() == [1, 7, 1, 7, 1]


def test_guided_sample_equals_the_low_level_guided_sampler(pixel):
    assert pixel.guidable
    out = pixel.sample(4, labels=[2, 5], guidance=3.0, temperature=0.9, generator=gen(), batch_size=4)
    x = sample(pixel.model, 4, options=SamplingOptions(temperature=0.9, guidance=3.0),
               labels=class_labels(4, CLASSES, [2, 5]), generator=gen())
    assert np.array_equal(out.images, dequantise(x, pixel.config.levels))
    plain = pixel.sample(4, labels=[2, 5], temperature=0.9, generator=gen())
    assert np.array_equal(plain.images, pixel.sample(4, labels=[2, 5], temperature=0.9, guidance=1.0, generator=gen()).images)
    assert not np.array_equal(out.images, plain.images)


def test_guidance_of_a_model_trained_without_the_no_class_label_is_one_sentence(vq):
    assert not vq.guidable
    with pytest.raises(InputError, match=r"guidance 2\.0 needs a model trained with cond_dropout > 0 .* the VQ-VAE-2 \+ PixelCNN "
                                         r"prior was trained without it; use guidance 1, or retrain with cond_dropout"):
        vq.sample(2, guidance=2.0)
    with pytest.raises(InputError, match=r"guidance 0\.0 needs a class-conditional model, but the pixel PixelCNN is unconditional"):
        unconditional().sample(2, guidance=0.0)


def test_sample_same_generator_same_images_other_seed_other_images(pixel, vq):
    for pipe in (pixel, vq):
        a, b, c = (pipe(4, labels=2, generator=gen(seed)) for seed in (0, 0, 1))
        assert np.array_equal(a.images, b.images)
        assert not np.array_equal(a.images, c.images)
        assert a.labels.tolist() == [2, 2, 2, 2]


def test_sample_without_labels_draws_every_class_in_turn(pixel):
    assert pixel(12, generator=gen()).labels.tolist() == [i % CLASSES for i in range(12)]


def test_sampling_stages_draw_what_the_api_draws(tiny_run, tmp_path):
    """Both sampling stages are the API plus files: the same params and seed give the same bytes."""
    from helpers import stage, write_params

    sampling = dict(num_samples=7, sample_batch_size=3, temperature=0.9, top_k=40, labels=[4, 0])
    p = write_params(tmp_path / "params.yaml", seed=3, pixelcnn={**sampling, "progress_every": 5, "complete_rows": 6, "guidance": 1.5},
                     prior={**sampling, "top_p": 0.95, "guidance": 1.0})
    models, data = tiny_run / "models", tiny_run / "data" / "prepared"
    stage("sample_pixelcnn")(["--params", str(p), "--model", str(models / "pixelcnn.pt"), "--data", str(data),
                              "--out", str(tmp_path / "pixel"), "--grid", str(tmp_path / "g.png"),
                              "--progress", str(tmp_path / "p.png"), "--gif", str(tmp_path / "p.gif"),
                              "--completion", str(tmp_path / "c.png")])
    stage("sample_prior")(["--params", str(p), "--prior", str(models / "prior.pt"), "--vqvae", str(models / "vqvae.pt"),
                           "--out", str(tmp_path / "prior"), "--grid", str(tmp_path / "q.png")])
    for name, pipe, knobs in (("pixel", pixelcnn.load(models / "pixelcnn.pt", device="cpu"), {"top_p": 1.0, "guidance": 1.5}),
                              ("prior", pixelcnn.load(models / "prior.pt", vqvae=models / "vqvae.pt", device="cpu"),
                               {"top_p": 0.95, "guidance": 1.0})):
        out = pipe.sample(7, labels=[4, 0], batch_size=3, temperature=0.9, top_k=40, generator=gen(3), **knobs)
        assert np.array_equal(np.load(tmp_path / name / "samples.npy"), out.images)
        assert np.load(tmp_path / name / "labels.npy").tolist() == [4, 0, 4, 0, 4, 0, 4]
    for level, codes in out.codes.items():
        assert np.array_equal(np.load(tmp_path / "prior" / f"codes_{level}.npy"), codes)
    assert Image.open(tmp_path / "p.gif").n_frames == 4  # rows 5, 10, 15 and the last (16)


def test_naive_sampler_gives_the_same_images(pixel):
    cached = pixel(2, labels=1, generator=gen(), sampler="cached")
    naive = pixel(2, labels=1, generator=gen(), sampler="naive")
    assert np.array_equal(cached.images, naive.images)


def test_progress_reports_every_row_and_previews_the_rows_drawn(pixel, vq):
    seen = []

    def callback(p):
        seen.append((p.level, p.row, p.done, p.total, p.batch_start))
        preview = p.preview()
        assert np.all(preview[:, :, p.row :] == 0)  # undrawn rows are black
        previews.append(preview[:, :, : p.row].copy())

    previews: list[np.ndarray] = []
    out = pixel(3, generator=gen(), batch_size=2, callback=callback)
    assert [s[2] for s in seen] == [2 * r for r in range(1, SIZE + 1)] + [2 * SIZE + r for r in range(1, SIZE + 1)]
    assert seen[-1][2] == seen[-1][3] == 3 * SIZE
    assert [s[4] for s in seen] == [0] * SIZE + [2] * SIZE
    assert np.array_equal(previews[SIZE // 2 - 1], out.images[:2, :, : SIZE // 2])  # drawn rows are final

    levels = []
    vq(2, generator=gen(), callback=lambda p: levels.append((p.level, p.row, p.preview() is None)))
    assert levels == [("top", r, True) for r in range(1, 5)] + [("bottom", r, False) for r in range(1, 9)]


def test_frames_every_keeps_the_first_batch_every_k_rows_and_the_last(pixel):
    out = pixel(5, generator=gen(), batch_size=3, frames_every=6)
    assert [f.shape for f in out.frames] == [(3, 1, SIZE, SIZE)] * 3  # rows 6, 12, 16
    assert np.array_equal(out.frames[-1], out.images[:3])
    assert np.all(out.frames[0][:, :, 6:] == 0)


def test_samples_as_pil_images_and_grid(vq):
    out = vq(5, generator=gen())
    pictures = out.pil()
    assert len(pictures) == 5 and pictures[0].mode == "L" and pictures[0].size == (SIZE, SIZE)
    assert np.array_equal(np.asarray(pictures[3]), out.images[3, 0])
    assert out.grid(nrow=5, scale=2).size == (2 * (5 * (SIZE + 2) + 2), 2 * (SIZE + 4))


# ----------------------------------------------------------------------------- completion and scoring


def test_pixel_completion_keeps_the_given_rows_and_takes_pil_images(pixel, test_split):
    images, labels = test_split[0][:4], test_split[1][:4]
    out = pixel.complete(images, 5, labels=labels, generator=gen())
    assert np.array_equal(out.images[:, :, :5], images[:, :, :5])
    assert not np.array_equal(out.images, images)
    pil = [Image.fromarray(x[0]) for x in images]
    again = pixel.complete(pil, 5, labels=labels, generator=gen())
    assert np.array_equal(again.images, out.images)


def test_vq_completion_keeps_the_code_rows_inside_the_kept_rows(vq, test_split):
    images = test_split[0][:3]
    encoded = vq.vqvae.encode(torch.from_numpy(images).float() / 127.5 - 1)
    out = vq.complete(images, SIZE // 2, labels=3, generator=gen())
    for (name, (h, _)), given in zip(vq.code_shapes.items(), encoded):
        kept = h // 2
        assert np.array_equal(out.codes[name][:, :kept], given[:, :kept].numpy()), name
    assert out.labels.tolist() == [3, 3, 3]


def test_pixel_score_equals_the_models_bits_per_dim(pixel, test_split):
    images, labels = test_split
    scores = pixel.score(images, labels, batch_size=7)
    with torch.no_grad():
        expected = pixel.model.bits_per_dim(quantise(images, pixel.config.levels), torch.from_numpy(labels)).item()
    assert scores.shape == (len(images),) and scores.dtype == np.float64
    assert scores.mean() == pytest.approx(expected, rel=1e-6)


def test_vq_score_equals_the_priors_bits_per_code(vq, test_split):
    images, labels = test_split
    per_level = vq.bits_per_code(images, labels)
    codes = vq.vqvae.encode(torch.from_numpy(images).float() / 127.5 - 1)
    y = torch.from_numpy(labels)
    with torch.no_grad():
        top = vq.prior.levels["top"].bits_per_code(codes[0], y, None).mean().item()
        bottom = vq.prior.levels["bottom"].bits_per_code(codes[1], y, codes[0]).mean().item()
    assert per_level["top"].mean() == pytest.approx(top, rel=1e-6)
    assert per_level["bottom"].mean() == pytest.approx(bottom, rel=1e-6)
    total_bits = per_level["top"] * (SIZE // 4) ** 2 + per_level["bottom"] * (SIZE // 2) ** 2
    assert np.allclose(vq.score(images, labels), total_bits / SIZE**2)


# ----------------------------------------------------------------------------- bad input


def unconditional() -> PixelCNNPipeline:
    torch.manual_seed(0)
    return PixelCNNPipeline(PixelCNN(PixelCNNConfig(height=4, width=4, hidden=4, skip=4, layers=1)))


@pytest.mark.parametrize("call, message", [
    (lambda p: p(2, labels=10), r"label 10 is out of range: the pixel PixelCNN knows 10 classes \(0\.\.9\)"),
    (lambda p: p(2, labels=[1, -1]), r"label -1 is out of range"),
    (lambda p: p(2, labels="3"), r"labels must be a class index or a list of class indices, got '3'"),
    (lambda p: p(2, temperature=0), r"temperature must be > 0, got 0"),
    (lambda p: p(2, temperature=float("nan")), r"temperature must be a finite number, got nan"),
    (lambda p: p(2, top_k=-1), r"top_k must be >= 0 \(0 keeps all\), got -1"),
    (lambda p: p(2, top_p=1.5), r"top_p must be in \(0, 1\], got 1\.5"),
    (lambda p: p(2, guidance=-1), r"guidance must be >= 0 \(1 is plain conditional sampling\), got -1"),
    (lambda p: p(2, guidance=float("inf")), r"guidance must be a finite number, got inf"),
    (lambda p: p(0), r"n must be a whole number >= 1, got 0"),
    (lambda p: p(2, batch_size=0), r"batch_size must be a whole number >= 1, got 0"),
    (lambda p: p(2, generator=0), r"generator must be a torch\.Generator .* got int"),
    (lambda p: p(2, sampler="fast"), r"sampler must be 'cached' .* or 'naive' .* got 'fast'"),
    (lambda p: p.complete(np.zeros((1, 1, 8, 8), np.uint8), 2, labels=0), r"images are 8×8 but the model works on 16×16 images; resize them to 16×16"),
    (lambda p: p.complete(np.zeros((1, 3, 16, 16), np.uint8), 2, labels=0), r"images have 3 channels but the model works on 1; convert them to grey"),
    (lambda p: p.complete(np.zeros((1, 1, 16, 16)), 2, labels=0), r"images must be uint8 in \[0, 255\], got dtype float64"),
    (lambda p: p.complete(np.zeros((1, 1, 16, 16), np.uint8), 16, labels=0), r"rows must be a whole number in \[0, 15\] .* got 16"),
    (lambda p: p.complete(np.zeros((2, 1, 16, 16), np.uint8), 2), r"the pixel PixelCNN is conditioned on 10 classes: pass labels="),
    (lambda p: p.score(np.zeros((3, 1, 16, 16), np.uint8), [0, 1]), r"labels has 2 entries for 3 images: pass one class, or one per image"),
])
def test_bad_arguments_are_one_sentence(pixel, call, message):
    with pytest.raises(InputError, match=message) as info:
        call(pixel)
    assert "\n" not in str(info.value)


def test_labels_for_an_unconditional_model_are_refused():
    pipe = unconditional()
    assert pipe(2, generator=gen()).labels.tolist() == [-1, -1]
    with pytest.raises(InputError, match=r"the pixel PixelCNN is unconditional \(trained without labels\): drop labels"):
        pipe(2, labels=1)


def test_bad_checkpoints_are_one_sentence(tiny_run, tmp_path):
    from pixelcnn import checkpoints
    from pixelcnn.models.vqvae import VQVAE

    models = tiny_run / "models"
    other = VQVAE(checkpoints.load_model(models / "vqvae.pt", VQVAE).config)  # same shape, other (random) weights
    checkpoints.save(tmp_path / "other.pt", other, fingerprint=other.fingerprint())
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    cases = [
        (lambda: pixelcnn.load(tmp_path / "missing.pt"), CheckpointError, r"missing\.pt: checkpoint not found; train the models first with `uv run dvc repro`"),
        (lambda: pixelcnn.load(tmp_path / "junk.pt"), CheckpointError, r"junk\.pt: not a readable checkpoint"),
        (lambda: pixelcnn.load(models / "vqvae.pt"), CheckpointError, r"vqvae\.pt is a VQ-VAE .* load its prior with load\('models/prior\.pt', vqvae="),
        (lambda: pixelcnn.load(models / "prior.pt"), InputError, r"prior\.pt is a VQ prior: pass the autoencoder it was trained with too, vqvae='models/vqvae\.pt'"),
        (lambda: pixelcnn.load(models / "pixelcnn.pt", vqvae=models / "vqvae.pt"), InputError, r"pixelcnn\.pt is a pixel PixelCNN, which needs no autoencoder: drop vqvae="),
        (lambda: pixelcnn.load(models / "prior.pt", vqvae=tmp_path / "other.pt"), CheckpointError, r"prior\.pt was trained on codes of autoencoder \w+, but .*other\.pt is autoencoder \w+"),
        (lambda: pixelcnn.load(models / "prior.pt", vqvae=models / "pixelcnn.pt"), CheckpointError, r"pixelcnn\.pt is a 'pixelcnn' checkpoint, expected a 'vqvae' checkpoint"),
        (lambda: PixelCNNPipeline.from_checkpoint(models / "prior.pt"), CheckpointError, r"prior\.pt is a 'prior' checkpoint, expected a 'pixelcnn' checkpoint"),
        (lambda: pixelcnn.load(models / "pixelcnn.pt", device="tpu"), InputError, r"device must be 'auto', 'cpu', 'cuda' or a torch\.device, got 'tpu'"),
    ]
    for call, error, message in cases:
        with pytest.raises(error, match=message) as info:
            call()
        assert isinstance(info.value, UserError) and "\n" not in str(info.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the sentence for a machine without CUDA")
def test_cuda_without_a_gpu_is_one_sentence(tiny_run):
    with pytest.raises(InputError, match=r"device is 'cuda' but no CUDA device is available; use 'auto' or 'cpu'"):
        pixelcnn.load(tiny_run / "models" / "pixelcnn.pt", device="cuda")


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_pipeline_samples_with_a_cpu_generator(tiny_run):
    pipe = pixelcnn.load(tiny_run / "models" / "pixelcnn.pt", device="cuda")
    assert pipe.device.type == "cuda"
    a, b = (pipe(4, labels=2, generator=gen()).images for _ in range(2))
    assert np.array_equal(a, b) and a.dtype == np.uint8
    assert math.isfinite(pipe.score(a, 2).mean())


# ----------------------------------------------------------------------------- typed boundaries


def count_reads(monkeypatch) -> list[str]:
    """The files torch.load reads from now on (every checkpoint read goes through it)."""
    reads: list[str] = []
    real = torch.load

    def counting(f, *args, **kwargs):
        reads.append(Path(f).name)
        return real(f, *args, **kwargs)

    monkeypatch.setattr(torch, "load", counting)
    return reads


def test_load_reads_each_checkpoint_file_once(tiny_run, monkeypatch):
    models = tiny_run / "models"
    reads = count_reads(monkeypatch)
    pixelcnn.load(models / "pixelcnn.pt", device="cpu")
    assert reads == ["pixelcnn.pt"]
    reads.clear()
    pixelcnn.load(models / "prior.pt", vqvae=models / "vqvae.pt", device="cpu")
    assert reads == ["prior.pt", "vqvae.pt"]
    reads.clear()
    PixelCNNPipeline.from_checkpoint(models / "pixelcnn.pt", device="cpu")
    VQPriorPipeline.from_checkpoints(models / "prior.pt", models / "vqvae.pt", device="cpu")
    assert reads == ["pixelcnn.pt", "prior.pt", "vqvae.pt"]


def test_sampling_settings_reach_the_sampler_as_given(pixel, vq, monkeypatch):
    """options, sampler and generator arrive at the sampler as the same objects, for every grid and batch."""
    import pixelcnn.pipelines.pixel
    import pixelcnn.pipelines.vq

    seen = []

    def spy(real):
        def sample(model, n, *, options, sampler, generator, **inputs):
            seen.append((options, sampler, generator))
            return real(model, n, options=options, sampler=sampler, generator=generator, **inputs)
        return sample

    for module in (pixelcnn.pipelines.pixel, pixelcnn.pipelines.vq):
        monkeypatch.setattr(module, "sample", spy(module.sample))
    options, g = SamplingOptions(0.9, 3, 0.8), gen()
    pixel(3, options=options, sampler="naive", generator=g, batch_size=2)
    vq.complete(np.zeros((2, 1, SIZE, SIZE), np.uint8), 4, labels=1, options=options, generator=g)
    assert len(seen) == 2 + 2  # two pixel batches; the VQ batch's two levels
    assert all(o is options and s is Sampler(s) and q is g for o, s, q in seen)
    assert [s for _, s, _ in seen] == [Sampler.NAIVE] * 2 + [Sampler.CACHED] * 2


def test_options_equal_the_keywords_and_exclude_them(pixel):
    by_keywords = pixel(3, labels=2, temperature=0.8, top_k=5, top_p=0.9, generator=gen())
    by_options = pixel(3, labels=2, options=SamplingOptions(0.8, 5, 0.9), generator=gen(), sampler=Sampler.CACHED)
    assert np.array_equal(by_keywords.images, by_options.images)
    with pytest.raises(InputError, match=r"^pass the sampling settings either as options= or as temperature=, top_k=, top_p=, guidance=, not both$"):
        pixel(2, options=SamplingOptions(0.8), temperature=0.8)
    with pytest.raises(InputError, match=r"^options must be a pixelcnn\.configs\.SamplingOptions or None, got dict$"):
        pixel(2, options={"temperature": 0.8})


def test_sampling_keywords_are_declared_once_and_the_docs_list_them_with_their_defaults(pixel, vq):
    """pipe(...), pipe.complete(...) and pixelcnn.generate(...) take SamplingKeywords; the docs' call shows each with
    its default (Request's, SamplingOptions' for the four knobs); a name none takes is one sentence."""
    import dataclasses

    from pixelcnn.pipelines.base import Request, SamplingKeywords

    [row] = [line for line in doc_lines("| `pipe(n, ") if line.startswith("| `pipe(n, ")]  # docs/python-api.md's table
    listed = dict(part.split("=") for part in row.split("`")[1].removeprefix("pipe(n, ").removesuffix(")").split(", "))
    defaults = {**{f.name: f.default for f in dataclasses.fields(SamplingOptions)},
                **{f.name: f.default for f in dataclasses.fields(Request) if f.name != "options"}, "options": None}
    assert list(listed) == ["labels", *SamplingKeywords.__annotations__] and set(defaults) == set(SamplingKeywords.__annotations__)
    assert {k: eval(v) for k, v in listed.items() if k != "labels"} == {k: getattr(v, "value", v) for k, v in defaults.items()}
    with pytest.raises(InputError, match=r"^temprature= is not a sampling keyword; did you mean temperature=\?$"):
        pixel(2, temprature=0.8)
    with pytest.raises(InputError, match=r"^batchsize= is not a sampling keyword; did you mean batch_size=\?$"):
        pixelcnn.generate(vq.prior, 2, vqvae=vq.vqvae, batchsize=2)
    with pytest.raises(InputError, match=r"^seed= is not a sampling keyword; the sampling keywords are temperature=, top_k=, "):
        pixel.complete(np.zeros((1, 1, SIZE, SIZE), np.uint8), 4, labels=1, seed=3)
    with pytest.raises(InputError, match=r"^callback must be a function of one Progress, or None, got int$"):
        pixel(2, callback=3)
    with pytest.raises(InputError, match=r"^pass the sampling settings either as options= or as temperature=, .*, not both$"):
        pixel(2, options=SamplingOptions(0.8), temperature=1.0)  # given is given, even at its default


def test_sampler_names_come_from_the_enum(pixel, capsys):
    """The API's sentence and the CLI's choices list exactly the Sampler members."""
    from pixelcnn.cli import build_parser

    assert [s.value for s in Sampler] == ["cached", "naive"]
    with pytest.raises(InputError) as info:
        pixel(1, sampler="fast")
    assert str(info.value) == "sampler must be 'cached' (fast, exact) or 'naive' (the slow reference), got 'fast'"
    argv = ["sample", "--model", "m.pt", "--out", "s.png", "--sampler"]
    assert build_parser().parse_args([*argv, "naive"]).sampler == Sampler.NAIVE
    with pytest.raises(SystemExit):
        build_parser().parse_args([*argv, "fast"])
    assert "invalid choice: 'fast' (choose from 'cached', 'naive')" in capsys.readouterr().err


def test_pairing_is_checked_once_with_one_sentence(tiny_run, tmp_path, monkeypatch):
    """A prior with another autoencoder: the same sentence from load() (naming the files) and the constructor (in words)."""
    from pixelcnn import checkpoints
    from pixelcnn.models import prior as prior_module
    from pixelcnn.models.prior import CodePrior
    from pixelcnn.models.vqvae import VQVAE

    models = tiny_run / "models"
    torch.manual_seed(1)
    other = VQVAE(checkpoints.load_model(models / "vqvae.pt", VQVAE).config)
    checkpoints.save(tmp_path / "other.pt", other, fingerprint=other.fingerprint())
    prior = checkpoints.load_model(models / "prior.pt", CodePrior)
    calls = []
    real = prior_module.check_pairing
    monkeypatch.setattr("pixelcnn.pipelines.vq.check_pairing", lambda *a: calls.append(a) or real(*a))
    template = r"{} was trained on codes of autoencoder \w+, but {} is autoencoder \w+; pass the VQ-VAE it was trained with, or re-run extract_codes and train_prior for this autoencoder$"
    with pytest.raises(CheckpointError, match=template.format(r".*prior\.pt", r".*other\.pt")):
        pixelcnn.load(models / "prior.pt", vqvae=tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match=template.format("^the prior", "the VQ-VAE")):
        VQPriorPipeline(prior, other)
    assert len(calls) == 2  # once per pipeline built


@pytest.mark.parametrize("which", ["pixel", "vq"])
def test_every_pipeline_implements_the_whole_interface(which, pixel, vq, test_split):
    """What the CLI and the demo ask of a pipeline (no isinstance): each member answers, with the model's numbers."""
    pipe = {"pixel": pixel, "vq": vq}[which]
    images, labels = test_split[0][:3], test_split[1][:3]
    info = pipe.describe()
    assert list(info)[:2] == ["images", "classes"] and list(info)[-2:] == ["parameters", "device"]
    assert info["images"] == f"1×{SIZE}×{SIZE}" and info["classes"] == str(CLASSES)
    per_level = pipe.bits_per_code(images, labels)
    if which == "pixel":
        assert pipe.code_shapes == {} and per_level == {} and pipe.values_per_step == pixel.config.levels
        assert info["values"] == f"{pixel.config.levels} per channel"
        assert pipe.num_parameters == sum(p.numel() for p in pixel.model.parameters())
    else:
        assert list(per_level) == list(pipe.code_shapes) == ["top", "bottom"]
        assert pipe.values_per_step == vq.vqvae.config.codebook_size
        assert info["code grids"] == f"top {SIZE // 4}×{SIZE // 4}, bottom {SIZE // 2}×{SIZE // 2}, {pipe.values_per_step} codes each"
        assert pipe.num_parameters == sum(p.numel() for m in (vq.prior, vq.vqvae) for p in m.parameters())


def test_code_prior_samples_each_level_given_the_grids_above(vq):
    """CodePrior.sample hands each level its conditioning from the grid drawn above; nll scores with the same maps."""
    asked = []

    def draw_grid(name, model, labels, cond):
        asked.append((name, labels, cond))
        h, w = vq.code_shapes[name]
        return torch.full((2, 1, h, w), len(asked), dtype=torch.long)

    labels = torch.tensor([3, 4])
    grids = vq.prior.sample(labels, draw_grid)
    assert [g.shape for g in grids] == [(2, SIZE // 4, SIZE // 4), (2, SIZE // 2, SIZE // 2)]
    assert [name for name, _, _ in asked] == ["top", "bottom"] and asked[0][2] is None
    with torch.no_grad():
        assert torch.equal(asked[1][2], vq.prior.levels["bottom"].condition(grids[0]))
        nats = vq.prior.nll(grids, labels)
        bits = vq.prior.levels["bottom"].bits_per_code(grids[1], labels, grids[0])
    assert torch.allclose(nats["bottom"] / ((SIZE // 2) ** 2 * math.log(2)), bits)
