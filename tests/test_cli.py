"""The ``pixelcnn`` command line on a tiny trained run: files of the right size, the API's numbers, one-sentence errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import pixelcnn
from pixelcnn.cli import main

from tiny_models import SIZE, tiny_run  # noqa: F401  (fixture)

TILE = SIZE + 2  # a grid cell: the image and its 2-pixel gap


def run(capsys, *argv: str) -> tuple[int, str, str]:
    """Run the command in-process: (exit status, stdout, stderr)."""
    try:
        main(list(argv))
        code = 0
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def models(tiny_run, monkeypatch) -> Path:
    monkeypatch.chdir(tiny_run)
    return tiny_run


def test_console_script_is_installed_and_helps():
    script = Path(sys.executable).with_name("pixelcnn")
    help_text = subprocess.run([script, "sample", "--help"], capture_output=True, text=True, check=True).stdout
    for flag in ("--model", "--vqvae", "--n", "--label", "--temperature", "--top-k", "--top-p", "--seed", "--out", "--gif"):
        assert flag in help_text
    top = subprocess.run([script, "--help"], capture_output=True, text=True, check=True).stdout
    assert all(c in top for c in ("sample", "complete", "score", "info")) and "examples:" in top


def test_sample_writes_a_png_grid_of_the_apis_images(models, capsys):
    code, out, _ = run(capsys, "sample", "--model", "models/pixelcnn.pt", "--n", "6", "--label", "3", "--temperature",
                       "0.8", "--seed", "4", "--nrow", "3", "--scale", "2", "--out", "s.png", "--npy", "s.npy")
    assert code == 0 and "wrote s.png: 6 pixel PixelCNN samples of class 3" in out
    assert Image.open("s.png").size == (2 * (3 * TILE + 2), 2 * (2 * TILE + 2))
    expected = pixelcnn.load("models/pixelcnn.pt")(6, labels=3, temperature=0.8, generator=torch.Generator().manual_seed(4))
    assert np.array_equal(np.load("s.npy"), expected.images)


def test_sample_with_the_naive_sampler_gives_the_same_images(models, capsys):
    for sampler in ("cached", "naive"):
        code, _, _ = run(capsys, "sample", "--model", "models/pixelcnn.pt", "--n", "2", "--sampler", sampler,
                         "--out", f"{sampler}.png", "--npy", f"{sampler}.npy")
        assert code == 0
    assert np.array_equal(np.load("cached.npy"), np.load("naive.npy"))


def test_sample_with_guidance_draws_the_apis_guided_images(models, capsys):
    code, _, _ = run(capsys, "sample", "--model", "models/pixelcnn.pt", "--n", "4", "--label", "2", "--guidance", "2.5",
                     "--out", "g.png", "--npy", "g.npy")
    assert code == 0
    expected = pixelcnn.load("models/pixelcnn.pt")(4, labels=2, guidance=2.5, generator=torch.Generator().manual_seed(0))
    assert np.array_equal(np.load("g.npy"), expected.images)
    code, _, err = run(capsys, "sample", "--model", "models/prior.pt", "--vqvae", "models/vqvae.pt", "--guidance", "2",
                       "--out", "p.png")
    assert code == 1 and "needs a model trained with cond_dropout > 0" in err and not Path("p.png").exists()


def test_info_of_the_pixel_model_lists_its_values(models, capsys):
    code, out, _ = run(capsys, "info", "--model", "models/pixelcnn.pt")
    assert code == 0 and out.startswith("pixel PixelCNN (models/pixelcnn.pt)\n  images:     1×16×16\n")
    assert "\n  values:     256 per channel\n" in out and "code grids" not in out


def test_sample_from_the_vq_prior_with_a_progress_gif(models, capsys):
    code, _, _ = run(capsys, "sample", "--model", "models/prior.pt", "--vqvae", "models/vqvae.pt", "--n", "4",
                     "--out", "p.png", "--gif", "p.gif", "--every", "3")
    assert code == 0
    gif = Image.open("p.gif")
    assert gif.n_frames == 3  # bottom grid 8 rows: rows 3, 6 and the last
    assert Image.open("p.png").size == (8 * (2 * TILE + 2),) * 2  # a 2 × 2 grid; default scale 128 // 16 = 8


def test_complete_keeps_the_rows_and_lays_out_originals_kept_completions(models, capsys):
    code, out, _ = run(capsys, "complete", "--model", "models/pixelcnn.pt", "--data", "data/prepared", "--n", "3",
                       "--rows", "6", "--samples", "2", "--scale", "1", "--out", "c.png")
    assert code == 0 and "3 images, 2 completion(s) each below row 6" in out
    grid = np.asarray(Image.open("c.png"))
    assert grid.shape == (4 * TILE + 2, 3 * TILE + 2)  # rows: originals, kept, 2 completions; 3 columns
    cell = lambda r, c: grid[2 + r * TILE : 2 + r * TILE + SIZE, 2 + c * TILE : 2 + c * TILE + SIZE]  # noqa: E731
    originals = np.load("data/prepared/test_images.npy")[:3, 0]
    for c in range(3):
        assert np.array_equal(cell(0, c), originals[c])
        assert np.array_equal(cell(1, c)[:6], originals[c][:6]) and not cell(1, c)[6:].any()
        for r in (2, 3):
            assert np.array_equal(cell(r, c)[:6], originals[c][:6])


def test_complete_an_image_file_needs_a_label_for_a_conditional_model(models, capsys):
    Image.fromarray(np.load("data/prepared/test_images.npy")[0, 0]).save("one.png")
    code, _, err = run(capsys, "complete", "--model", "models/pixelcnn.pt", "--image", "one.png", "--rows", "4", "--out", "o.png")
    assert code == 1 and err == "error: the pixel PixelCNN is conditioned on 10 classes: pass --label CLASS\n"
    code, _, _ = run(capsys, "complete", "--model", "models/pixelcnn.pt", "--image", "one.png", "--rows", "4",
                     "--label", "2", "--out", "o.png")
    assert code == 0 and Image.open("o.png").size[1] > Image.open("o.png").size[0]  # one column, three rows


def test_a_colour_image_for_a_grey_model_is_converted_with_a_note(models, capsys):
    grey = np.load("data/prepared/test_images.npy")[0, 0]
    tinted = np.stack([grey, grey // 2, grey], axis=-1)  # (H, W, 3): magenta where the digit is
    Image.fromarray(tinted).save("colour.png")
    Image.fromarray(np.stack([grey] * 3, axis=-1)).save("grey_rgb.png")  # RGB, but grey: nothing is lost
    code, _, err = run(capsys, "score", "--model", "models/pixelcnn.pt", "--image", "colour.png", "grey_rgb.png", "--label", "1")
    assert code == 0
    assert err == (f"note: image 0 (RGB, {SIZE}×{SIZE}) was converted for a model of grey images: its colours turned to grey "
                   "(luminance); convert it yourself to choose how\n")


def test_the_readmes_image_to_complete_exists_at_the_default_size():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    line = next(line for line in readme.splitlines() if "pixelcnn complete" in line and "--image" in line)
    path = line.split("--image ")[1].split()[0]
    picture = Image.open(Path(__file__).resolve().parents[1] / path)
    assert picture.mode == "L" and picture.size == (32, 32)  # the default data: grey, 32×32


def test_score_prints_the_apis_bits_per_dim(models, capsys):
    code, out, _ = run(capsys, "score", "--model", "models/prior.pt", "--vqvae", "models/vqvae.pt", "--data",
                       "data/prepared", "--json")
    assert code == 0
    result = json.loads(out)
    pipe = pixelcnn.load("models/prior.pt", vqvae="models/vqvae.pt")
    images, labels = np.load("data/prepared/test_images.npy"), np.load("data/prepared/test_labels.npy")
    assert result["images"] == 20
    assert result["bits_per_dim"] == pytest.approx(pipe.score(images, labels).mean(), rel=1e-9)
    assert set(result["bits_per_code"]) == {"top", "bottom"}
    code, out, _ = run(capsys, "score", "--model", "models/pixelcnn.pt", "--data", "data/prepared")
    assert code == 0 and out.endswith("bits/dim (pixel PixelCNN, 20 images, the test split of data/prepared)\n")


def test_info_describes_the_model(models, capsys):
    code, out, _ = run(capsys, "info", "--model", "models/prior.pt", "--vqvae", "models/vqvae.pt")
    assert code == 0 and "VQ-VAE-2 + PixelCNN prior" in out and "top 4×4, bottom 8×8" in out and "classes:    10" in out


@pytest.mark.parametrize("argv, sentence", [
    (["sample", "--model", "models/pixelcnn.pt", "--temperature", "-1", "--out", "x.png"],
     "argument --temperature: expected a number > 0 (1 samples the model as trained), got -1 (see `pixelcnn sample --help`)"),
    (["sample", "--model", "models/pixelcnn.pt", "--top-p", "2", "--out", "x.png"],
     "argument --top-p: expected a number in (0, 1] (1 keeps every value), got 2 (see `pixelcnn sample --help`)"),
    (["sample", "--model", "models/pixelcnn.pt", "--n", "many", "--out", "x.png"],
     "argument --n: expected a whole number >= 1, got 'many' (see `pixelcnn sample --help`)"),
    (["sample", "--out", "x.png"], "the following arguments are required: --model (see `pixelcnn sample --help`)"),
    (["smaple"], "argument COMMAND: invalid choice: 'smaple' (choose from 'sample', 'complete', 'score', 'info') (see `pixelcnn --help`)"),
    (["sample", "--model", "models/pixelcnn.pt", "--label", "12", "--out", "x.png"],
     "label 12 is out of range: the pixel PixelCNN knows 10 classes (0..9)"),
    (["sample", "--model", "models/nope.pt", "--out", "x.png"],
     "models/nope.pt: checkpoint not found; train the models first with `uv run dvc repro`, or pass the path of a trained checkpoint"),
    (["sample", "--model", "models/prior.pt", "--out", "x.png"],  # the advice in flags, not the API's vqvae=
     "models/prior.pt is a VQ prior: pass the autoencoder it was trained with too, --vqvae models/vqvae.pt"),
    (["info", "--model", "models/pixelcnn.pt", "--vqvae", "models/vqvae.pt"],
     "models/pixelcnn.pt is a pixel PixelCNN, which needs no autoencoder: drop --vqvae"),
    (["sample", "--model", "models/vqvae.pt", "--out", "x.png"],
     "models/vqvae.pt is a VQ-VAE (an autoencoder; it does not sample on its own): pass its prior, --model models/prior.pt "
     "--vqvae models/vqvae.pt"),
    (["sample", "--model", "models/pixelcnn.pt", "--out", "x.jpg"], "--out x.jpg must end in .png (the grid is written as a PNG)"),
    (["complete", "--model", "models/pixelcnn.pt", "--data", "data/prepared", "--rows", "16", "--out", "x.png"],
     "--rows must be below the image height 16, got 16"),
    (["complete", "--model", "models/pixelcnn.pt", "--image", "nope.png", "--label", "1", "--rows", "2", "--out", "x.png"],
     "--image nope.png not found"),
    (["score", "--model", "models/pixelcnn.pt", "--data", "nowhere"], "nowhere/test_images.npy not found; run `uv run dvc repro prepare`"),
])
def test_bad_arguments_print_one_sentence_and_exit_1(models, capsys, argv, sentence):
    code, out, err = run(capsys, *argv)
    assert code == 1 and out == "" and err == f"error: {sentence}\n"
    assert not Path("x.png").exists()
