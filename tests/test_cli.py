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
from pixelcnn.pipelines.base import Pipeline

from helpers import bomb_png
from helpers import run_cli as run
from tiny_models import SIZE, tiny_run  # noqa: F401  (fixture)

TILE = SIZE + 2  # a grid cell: the image and its 2-pixel gap


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
    (["smaple"], "argument COMMAND: invalid choice: 'smaple' (choose from 'sample', 'complete', 'score', 'info', 'preset') (see `pixelcnn --help`)"),
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


# ----------------------------------------------------------------------------- refusing before working


@pytest.fixture
def no_sampling(tiny_run, tmp_path, monkeypatch) -> Path:
    """An empty working folder that sees the tiny run's models/ and data/, where sampling fails the test:
    a refusal must come before the work."""
    def refuse(*args, **kwargs):
        raise AssertionError("sampling started before the command was refused")

    work = tmp_path / "work"
    work.mkdir()
    for name in ("models", "data"):
        (work / name).symlink_to(tiny_run / name)
    monkeypatch.chdir(work)
    monkeypatch.setattr(Pipeline, "_run", refuse)
    return work


def written(work: Path) -> set[str]:
    """Files the command left in the working folder."""
    return {str(p.relative_to(work)) for p in work.rglob("*") if p.is_file() and p.parts[len(work.parts)] not in ("models", "data")}


@pytest.fixture
def unwritable(tmp_path) -> Path:
    """A folder that cannot be written: read-only permissions, or (for root, who ignores them) sysfs."""
    import os

    if os.geteuid() != 0:
        folder = tmp_path / "read-only"
        folder.mkdir(mode=0o555)
        return folder
    if os.access("/sys", os.W_OK) and Path("/sys").is_dir():
        try:
            Path("/sys/pixelcnn-probe").touch()
        except OSError:
            return Path("/sys")
    pytest.skip("no folder here refuses writes to this user")


@pytest.mark.parametrize("flag", ["--out", "--npy", "--gif"])
def test_cli_unwritable_output_is_refused_before_sampling(no_sampling, capsys, unwritable, flag):
    outputs = {"--out": "s.png", "--npy": "s.npy", "--gif": "s.gif"}
    outputs[flag] = str(unwritable / outputs[flag])
    code, out, err = run(capsys, "sample", "--model", "models/pixelcnn.pt",
                         *(arg for pair in outputs.items() for arg in pair))
    assert code == 1 and out == ""
    assert err.startswith(f"error: {flag} {outputs[flag]} cannot be written: ") and err.count("\n") == 1, err
    assert written(no_sampling) == set()


@pytest.mark.parametrize("command, flag", [("sample", "--out"), ("sample", "--gif"), ("sample", "--npy"), ("complete", "--out")])
def test_cli_output_that_is_a_folder_is_refused_before_sampling(no_sampling, capsys, command, flag):
    Path("d.png").mkdir()
    outputs = {"--out": "s.png"} if command == "complete" else {"--out": "s.png", "--npy": "s.npy", "--gif": "s.gif"}
    outputs[flag] = "d.png"
    extra = ["--data", "data/prepared", "--rows", "4"] if command == "complete" else []
    code, _, err = run(capsys, command, "--model", "models/pixelcnn.pt", *extra,
                       *(arg for pair in outputs.items() for arg in pair))
    assert code == 1 and err == f"error: {flag} d.png is a folder; pass the path of a file\n"
    assert written(no_sampling) == set()


def test_cli_output_under_a_file_or_named_twice_is_refused(no_sampling, capsys):
    Path("plain").write_text("a file, not a folder")
    code, _, err = run(capsys, "sample", "--model", "models/pixelcnn.pt", "--out", "plain/s.png")
    assert code == 1 and err == "error: --out plain/s.png cannot be written: plain is a file, not a folder\n"
    code, _, err = run(capsys, "sample", "--model", "models/pixelcnn.pt", "--out", "s.png", "--npy", "./s.png")
    assert code == 1 and err == "error: --npy ./s.png is the file --out writes too; name another file\n"
    assert written(no_sampling) == {"plain"}


def test_cli_missing_output_folders_are_created(models, capsys, tmp_path):
    code, _, _ = run(capsys, "sample", "--model", "models/pixelcnn.pt", "--n", "2", "--out", str(tmp_path / "new/deeper/s.png"),
                     "--npy", str(tmp_path / "new/s.npy"))
    assert code == 0 and (tmp_path / "new/deeper/s.png").is_file() and np.load(tmp_path / "new/s.npy").shape == (2, 1, SIZE, SIZE)


@pytest.mark.parametrize("argv, sentence", [
    (["sample", "--n", "1000000000"],  # 520 bytes an image: itself, its copy when the batches are joined, its label
     "--n 1000000000 images of 1×16×16 would take 484.3 GiB of memory, over the 2.0 GiB one command may use; "
     "draw at most 4,129,776 per command, and run it again with another --seed for more"),
    (["sample", "--scale", "100000"],  # 4 × 4 tiles of 16 + 2 pixels, and the 2-pixel border: 74 pixels, × 100000
     "the PNG grid of 7,400,000×7,400,000 pixels would take 49.8 TiB of memory, over the 2.0 GiB one command may use; "
     "lower --scale (1 keeps each image's own size) or --n, and run it again with another --seed for more"),
    (["sample", "--n", "64", "--gif", "g.gif", "--every", "1", "--scale", "150"],  # 16 frames of 21900² pixels
     "the GIF's 16 frames of 64 images would take 7.1 GiB of memory, over the 2.0 GiB one command may use; "
     "raise --every, or lower --scale or --batch-size (the GIF shows the first batch)"),
    (["complete", "--data", "data/prepared", "--rows", "4", "--samples", "1000000000"],
     "8 images × --samples 1000000000 completions of 1×16×16 would take 3.8 TiB of memory, over the 2.0 GiB one "
     "command may use; ask for at most 516,222 --samples of these images, and run it again with another --seed for more"),
    (["complete", "--data", "data/prepared", "--rows", "4", "--n", "1000000000"],
     "--n 1000000000 is more than the 20 test images of data/prepared; pass --n 20 or fewer"),
])
def test_cli_sizes_are_bounded_before_any_sampling(no_sampling, capsys, argv, sentence):
    code, out, err = run(capsys, argv[0], "--model", "models/pixelcnn.pt", *argv[1:], "--out", "x.png")
    assert code == 1 and out == "" and err == f"error: {sentence}\n"
    assert written(no_sampling) == set()


def test_cli_complete_defaults_to_at_most_the_test_split(models, capsys):
    code, out, _ = run(capsys, "complete", "--model", "models/pixelcnn.pt", "--data", "data/prepared", "--rows", "8",
                       "--n", "20", "--scale", "1", "--out", "all20.png")
    assert code == 0 and "20 images, 1 completion(s) each" in out


@pytest.mark.parametrize("command", ["complete", "score"])
@pytest.mark.parametrize("side, sentence", [
    (30000, "is far larger than 4096×4096 pixels (the most an image file may have); shrink it first"),
    (12000, "is 12000×12000 pixels, more than 4096×4096 (the most an image file may have); shrink it first"),
])
def test_cli_huge_image_file_is_refused_from_its_header(no_sampling, capsys, command, side, sentence):
    Path("bomb.png").write_bytes(bomb_png(side))  # 110 KB that would decode to 900 MB
    extra = ["--rows", "4", "--out", "x.png"] if command == "complete" else []
    code, _, err = run(capsys, command, "--model", "models/pixelcnn.pt", "--image", "bomb.png", "--label", "1", *extra)
    assert code == 1 and err == f"error: --image bomb.png {sentence}\n"


def test_cli_image_of_the_wrong_size_is_refused_before_decoding(models, capsys, monkeypatch):
    from PIL import ImageFile

    Image.new("L", (40, 30)).save("wide.png")
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: pytest.fail("decoded"))
    from pixelcnn.pipelines.inputs import as_images

    with pytest.raises(pixelcnn.UserError, match=r"^images are 30×40 but the model works on 16×16 images; resize them to 16×16$"):
        as_images(Image.open("wide.png"), (1, SIZE, SIZE))


# ----------------------------------------------------------------------------- outputs never overwrite inputs (issue 24)


def _digest(path: str | Path) -> str:
    import hashlib

    return hashlib.md5(Path(path).read_bytes()).hexdigest()


@pytest.mark.parametrize("flag", ["--npy", "--gif"])
@pytest.mark.parametrize("how", ["the same path", "through ..", "a symlink", "a hard link"])
def test_cli_output_naming_the_model_is_refused_before_any_work(no_sampling, capsys, flag, how):
    """`sample --model m.pt --npy m.pt` overwrote the model with an array: every spelling of the model's file is refused."""
    Path("m.pt").write_bytes(Path("models/pixelcnn.pt").read_bytes())
    output = {"the same path": "m.pt", "through ..": "sub/../m.pt", "a symlink": "alias.npy", "a hard link": "hard.npy"}[how]
    Path("sub").mkdir()
    if how == "a symlink":
        Path("alias.npy").symlink_to(Path("m.pt").resolve())
    elif how == "a hard link":
        Path("hard.npy").hardlink_to("m.pt")
    before = _digest("m.pt")
    code, out, err = run(capsys, "sample", "--model", "m.pt", "--n", "2", "--out", "a.png", flag, output)
    assert code == 1 and out == ""
    assert err == (f"error: {flag} {output} would overwrite --model m.pt (the same file), which this command reads; "
                   f"name another file for {flag}\n")
    assert _digest("m.pt") == before and not Path("a.png").exists()


@pytest.mark.parametrize("argv, sentence", [
    (["sample", "--model", "models/prior.pt", "--vqvae", "models/vqvae.pt", "--out", "a.png", "--gif", "models/vqvae.pt"],
     "--gif models/vqvae.pt would overwrite --vqvae models/vqvae.pt (the same file), which this command reads; "
     "name another file for --gif"),
    (["complete", "--model", "models/pixelcnn.pt", "--image", "digit.png", "--label", "1", "--rows", "4", "--out", "./digit.png"],
     "--out ./digit.png would overwrite --image digit.png (the same file), which this command reads; name another file for --out"),
    (["complete", "--model", "models/pixelcnn.pt", "--data", "data/prepared", "--rows", "4", "--out", "data/prepared/c.png"],
     "--out data/prepared/c.png lies inside --data data/prepared, which this command reads; write it elsewhere"),
    (["sample", "--model", "models/pixelcnn.pt", "--out", "a.png", "--gif", "a.png"],
     "--gif a.png is the file --out writes too; name another file"),
])
def test_cli_output_naming_any_input_or_another_output_is_refused(no_sampling, capsys, argv, sentence):
    Image.new("L", (SIZE, SIZE), 128).save("digit.png")
    inputs = {p: _digest(p) for p in ("digit.png", "models/vqvae.pt", "models/prior.pt", "data/prepared/test_images.npy")}
    code, out, err = run(capsys, *argv)
    assert code == 1 and out == "" and err == f"error: {sentence}\n"
    assert {p: _digest(p) for p in inputs} == inputs and not Path("a.png").exists()
    assert not Path("data/prepared/c.png").exists()


def test_cli_preset_params_naming_the_preset_is_refused(tmp_path, capsys):
    import shutil

    from helpers import ROOT

    folder = tmp_path / "presets"
    shutil.copytree(ROOT / "presets", folder)
    before = _digest(folder / "mnist.yaml")
    code, _, err = run(capsys, "preset", "cifar10-pp", "--params", str(folder / "cifar10-pp.yaml"), "--presets", str(folder))
    assert code == 1 and err == (f"error: --params {folder / 'cifar10-pp.yaml'} would overwrite the preset "
                                 f"{folder / 'cifar10-pp.yaml'} (the same file), which this command reads; name another file for --params\n")
    code, _, err = run(capsys, "preset", "--refresh", "--params", str(folder / "mnist.yaml"), "--presets", str(folder))
    assert code == 1 and err == (f"error: --params {folder / 'mnist.yaml'} is one of the presets --refresh rewrites; "
                                 "pass the project's params file\n")
    assert _digest(folder / "mnist.yaml") == before


# ----------------------------------------------------------------------------- --image files: bounded before decoding (issue 24)


@pytest.fixture
def no_decoding(monkeypatch):
    """Decoding an image file fails the test: what is refused must be refused from the headers."""
    from PIL import ImageFile

    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: pytest.fail(f"{self.filename} decoded"))


@pytest.mark.parametrize("command", ["complete", "score"])
def test_cli_repeated_large_image_files_are_refused_from_their_headers(no_sampling, no_decoding, capsys, command):
    """16 copies of a 4096² PNG peaked at 1.7 GB (each decoded, then compared with the model's 16×16): now the first
    header is enough."""
    Path("big.png").write_bytes(bomb_png(4096))
    extra = ["--rows", "4", "--out", "x.png"] if command == "complete" else []
    code, _, err = run(capsys, command, "--model", "models/pixelcnn.pt", "--image", *["big.png"] * 16, "--label", "1", *extra)
    assert code == 1 and err == "error: --image big.png is 4096×4096 but the model works on 16×16 images; resize it to 16×16\n"


def test_cli_image_files_past_the_memory_limit_are_refused_from_their_headers(no_sampling, no_decoding, capsys, monkeypatch):
    """The number of files and their decoded size (PIL's pixels, the arrays and their stack: 768 bytes a 16×16 grey
    image) are bounded together, before any is decoded; the sentence says how many fit."""
    from pixelcnn.cli import checks

    monkeypatch.setattr(checks, "MEMORY_LIMIT", 10_000)
    Image.new("L", (SIZE, SIZE), 128).save("digit.png")
    code, _, err = run(capsys, "score", "--model", "models/pixelcnn.pt", "--image", *["digit.png"] * 20, "--label", "1")
    assert code == 1 and err == ("error: 20 --image files of 16×16 pixels, once decoded, would take 15.0 KiB of memory, "
                                 "over the 9.8 KiB one command may use; pass at most 13 files per command, and run it again "
                                 "for the rest\n")


def test_cli_image_files_within_the_limits_are_read_and_closed(models, capsys):
    """Below the limits, the files are decoded once each and scored as before (and none stays open)."""
    import os

    Image.new("L", (SIZE, SIZE), 128).save("digit.png")
    before = len(os.listdir("/proc/self/fd"))
    code, out, err = run(capsys, "score", "--model", "models/pixelcnn.pt", "--image", *["digit.png"] * 40, "--label", "1")
    assert code == 0, err
    assert "40 images, 40 image file(s)" in out
    assert len(os.listdir("/proc/self/fd")) <= before + 2
