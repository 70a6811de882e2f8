"""The Streamlit demo (demo/app.py) driven by streamlit's AppTest on a tiny trained run.

Widgets change what is shown: the count sets how many images appear, the seed
which ones, the class their captions, the generator switches models; the
progressive, completion and comparison tabs fill in; without models the page
says to run `uv run dvc repro` first.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from helpers import bomb_png, point_at
from tiny_models import CLASSES, SIZE, tiny_run  # noqa: F401  (fixture)

pytestmark = pytest.mark.slow  # Streamlit's AppTest runs the whole app, a few seconds a test: the quick loop leaves it out

APP = Path(__file__).resolve().parents[2] / "demo" / "app.py"
PIXEL, PRIOR = "pixel PixelCNN", "VQ-VAE-2 + PixelCNN prior"
SAMPLE, PROGRESSIVE, COMPLETE, COMPARE = range(4)  # tab order


@pytest.fixture
def app(tiny_run, monkeypatch) -> AppTest:
    point_at(monkeypatch, tiny_run)
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    assert not at.exception, at.exception
    return at


def shown(at: AppTest, tab: int, index: int = 0) -> list[str]:
    """URLs of the images of the index-th st.image of a tab (one per image shown)."""
    return at.tabs[tab].image[index].value


def test_demo_without_models_says_to_run_dvc_repro(tmp_path, monkeypatch):
    point_at(monkeypatch, tmp_path)
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception
    assert len(at.error) == 1 and "No trained models found" in at.error[0].value
    assert "run `uv run dvc repro` first" in at.error[0].value
    assert not at.image and not at.tabs


def test_demo_shows_as_many_samples_as_the_count(app):
    assert [t.label for t in app.tabs] == ["Sample", "Progressive", "Complete", "Compare"]
    assert len(shown(app, SAMPLE)) == 16  # the default count
    app.sidebar.slider(key="count").set_value(5).run()
    assert len(shown(app, SAMPLE)) == 5
    assert shown(app, SAMPLE, 0) and "5 samples of every class in turn" in app.tabs[SAMPLE].markdown[0].value
    assert app.tabs[SAMPLE].image[0].captions == [f"class {i}" for i in range(5)]


def test_demo_seed_and_class_change_the_samples(app):
    first = shown(app, SAMPLE)
    app.sidebar.number_input(key="seed").set_value(1).run()
    assert shown(app, SAMPLE) != first
    app.sidebar.number_input(key="seed").set_value(0).run()
    assert shown(app, SAMPLE) == first  # same settings, same images
    app.sidebar.selectbox(key="class").set_value("3").run()
    assert app.tabs[SAMPLE].image[0].captions == ["class 3"] * 16
    assert app.sidebar.selectbox(key="class").options == ["every class in turn", *map(str, range(CLASSES))]


def test_demo_sampler_choice_keeps_the_images(app):
    from pixelcnn.configs import Sampler

    app.sidebar.slider(key="count").set_value(2).run()
    cached = shown(app, SAMPLE)
    assert app.sidebar.selectbox(key="sampler").options == [s.value for s in Sampler]
    app.sidebar.selectbox(key="sampler").set_value("naive").run()
    assert not app.exception
    assert shown(app, SAMPLE) == cached  # the naive sampler draws the same images


def test_demo_guidance_slider_guides_a_guidable_model_only(app):
    app.sidebar.slider(key="count").set_value(4).run()
    plain = shown(app, SAMPLE)
    assert not app.sidebar.slider(key="guidance").disabled  # the tiny pixel model learned the no-class label
    app.sidebar.slider(key="guidance").set_value(3.0).run()
    assert not app.exception and shown(app, SAMPLE) != plain
    app.sidebar.radio(key="generator").set_value(PRIOR).run()  # trained without cond_dropout: the slider is off
    assert not app.exception and app.sidebar.slider(key="guidance").disabled
    assert len(shown(app, SAMPLE)) == 4


def test_demo_switches_generator(app):
    pixel = shown(app, SAMPLE)
    app.sidebar.radio(key="generator").set_value(PRIOR).run()
    assert not app.exception
    assert app.sidebar.radio(key="generator").options == [PIXEL, PRIOR]
    assert len(shown(app, SAMPLE)) == 16 and shown(app, SAMPLE) != pixel
    assert PRIOR in app.caption[0].value


def test_demo_progressive_draws_row_by_row_into_a_strip(app):
    app.sidebar.slider(key="count").set_value(3).run()
    app.tabs[PROGRESSIVE].slider(key="every").set_value(4).run()
    assert not app.tabs[PROGRESSIVE].image  # nothing until asked
    app.button(key="progressive").click().run()
    assert not app.exception
    assert app.tabs[PROGRESSIVE].progress[0].value == 100  # the bar reached the end
    assert app.tabs[PROGRESSIVE].markdown[0].value == f"pixels: row {SIZE} of {SIZE}"
    assert len(app.tabs[PROGRESSIVE].image) == 2  # the last canvas and the strip
    assert "one image every 4 rows" in app.tabs[PROGRESSIVE].markdown[1].value


def test_demo_completes_a_test_image_and_an_upload(app):
    app.sidebar.slider(key="count").set_value(4).run()
    app.tabs[COMPLETE].slider(key="rows").set_value(5).run()
    assert app.tabs[COMPLETE].image[0].captions == ["original", "top 5 rows kept"]
    assert len(shown(app, COMPLETE, 1)) == 4
    assert app.tabs[COMPLETE].image[1].captions == ["class 0"] * 4  # test image 0's own label

    app.tabs[COMPLETE].radio(key="complete_source").set_value("an uploaded image").run()
    assert "Upload an image" in app.tabs[COMPLETE].info[0].value
    picture = Image.fromarray(np.tile(np.arange(32, dtype=np.uint8)[None] * 8, (32, 1)))  # 32×32: resized to 16×16
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    app.tabs[COMPLETE].get("file_uploader")[0].set_value(("ramp.png", buffer.getvalue(), "image/png")).run()
    assert not app.exception
    assert len(shown(app, COMPLETE, 1)) == 4
    assert app.tabs[COMPLETE].image[1].captions == [f"class {i}" for i in range(4)]  # every class in turn


def test_demo_compares_both_generators_with_their_scores(app):
    tab = app.tabs[COMPARE]
    assert [s.value for s in tab.subheader] == [PIXEL, PRIOR]
    assert len(tab.image) == 2  # one grid per generator
    table = tab.table[0].value
    assert list(table.columns) == ["pixel PixelCNN", "VQ-VAE-2 + prior", "data (train vs test)"]
    assert table.loc["FID ↓"].tolist() == ["13.000", "0.970", "0.700"]  # tests/tiny_models.py's eval.json
    assert table.loc["bits/code, bottom (test)"].tolist() == ["–", "2.600", "–"]
    assert table.loc["class accuracy ↑"].tolist() == ["0.340", "0.970", "0.990"]


def test_demo_with_one_generator_says_what_is_wrong_with_the_other(tiny_run, monkeypatch):
    point_at(monkeypatch, tiny_run)
    monkeypatch.setenv("PIXELCNN_PIXEL_MODEL", str(tiny_run / "models" / "vqvae.pt"))  # a checkpoint of the wrong kind
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    assert not at.exception
    assert at.sidebar.radio(key="generator").options == [PRIOR]
    assert "vqvae.pt is a VQ-VAE (an autoencoder; it does not sample on its own)" in at.sidebar.warning[0].value
    assert len(shown(at, SAMPLE)) == 16
    assert "Only one generator is trained here" in at.tabs[COMPARE].info[0].value


# ----------------------------------------------------------------------------- the files it serves


def outside_sentence(path: str) -> str:
    return (f"{path} is outside the folders this demo serves (models/, metrics/, data/ of its project); "
            "pick a file there, or start the demo on another project with PIXELCNN_ROOT")


def test_demo_refuses_paths_outside_the_project_alike_whether_or_not_a_file_is_there(app):
    """/etc/shadow and /etc/nothing get the same sentence: a visitor learns nothing of the server's files."""
    for typed in ("/etc/shadow", "/etc/nothing", "../../../etc/shadow", "models/../../../etc/passwd"):
        app.sidebar.text_input(key="path_pixel").set_value(typed).run()
        assert not app.exception
        assert [w.value for w in app.sidebar.warning] == [outside_sentence(typed)]
        assert app.sidebar.radio(key="generator").options == [PRIOR]  # the prior still works


def test_demo_reads_no_scores_outside_the_project(app, tmp_path):
    planted = tmp_path / "elsewhere.json"
    planted.write_text(json.dumps({"pixelcnn.fid": 99.0, "prior.fid": 98.0}))
    app.sidebar.text_input(key="path_metrics").set_value(str(planted)).run()
    assert not app.exception
    assert not app.tabs[COMPARE].table  # not read, so not shown
    assert app.tabs[COMPARE].info[-1].value == outside_sentence(str(planted))


def test_demo_follows_links_within_the_project_only(tiny_run, tmp_path, monkeypatch):
    """A link in models/ may point into the project (DVC's cache) but not out of it."""
    project = tmp_path / "project"
    (project / "models").mkdir(parents=True)
    (project / ".dvc" / "cache").mkdir(parents=True)
    (project / ".dvc" / "cache" / "prior").write_bytes((tiny_run / "models" / "prior.pt").read_bytes())
    (project / "models" / "prior.pt").symlink_to(project / ".dvc" / "cache" / "prior")
    (project / "models" / "vqvae.pt").symlink_to(tiny_run / "models" / "vqvae.pt")  # out of the project
    monkeypatch.setenv("PIXELCNN_ROOT", str(project))
    for name in ("PIXELCNN_PIXEL_MODEL", "PIXELCNN_PRIOR", "PIXELCNN_VQVAE", "PIXELCNN_METRICS", "PIXELCNN_DATA"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    assert not at.exception
    assert outside_sentence("models/vqvae.pt") in [c.value for c in at.caption]  # no generator: the page says why
    (project / "models" / "vqvae.pt").unlink()
    (project / "models" / "vqvae.pt").write_bytes((tiny_run / "models" / "vqvae.pt").read_bytes())
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    assert not at.exception and at.sidebar.radio(key="generator").options == [PRIOR]


def test_demo_root_given_after_two_dashes(tiny_run, tmp_path, monkeypatch):
    """`streamlit run demo/app.py -- --root DIR` serves DIR's models/, metrics/ and data/ at their default paths."""
    for name in ("PIXELCNN_ROOT", "PIXELCNN_PIXEL_MODEL", "PIXELCNN_PRIOR", "PIXELCNN_VQVAE", "PIXELCNN_METRICS",
                 "PIXELCNN_DATA"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [str(APP), "--root", str(tiny_run)])
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    assert not at.exception and not at.sidebar.warning
    assert at.sidebar.radio(key="generator").options == [PIXEL, PRIOR]
    assert at.tabs[COMPARE].table  # metrics/eval.json of the root


CONTROL = "which no file name here may hold; type a plain path, such as "
TOO_LONG = "is longer than this system allows for a file name; type a shorter one, such as "


@pytest.mark.parametrize("typed, problem", [
    ("models/\x00pixelcnn.pt", f"holds a control character (U+0000), {CONTROL}"),  # Python's "embedded null byte"
    ("models/pixel\x01cnn.pt", f"holds a control character (U+0001), {CONTROL}"),
    ("models/pixelcnn.pt\n", f"holds a control character (U+000A), {CONTROL}"),
    ("models/\x7f.pt", f"holds a control character (U+007F), {CONTROL}"),
    ("models/" + "p" * 300 + ".pt", TOO_LONG),  # one name past NAME_MAX
    ("models/" + "p/" * 2100 + "m.pt", TOO_LONG),  # the whole path past PATH_MAX
])
def test_demo_gives_one_sentence_for_a_path_that_cannot_name_a_file(app, typed, problem):
    """Typed in the sidebar by anyone who reaches the page: one sentence naming the field, never a traceback."""
    app.sidebar.text_input(key="path_pixel").set_value(typed).run()
    assert not app.exception
    assert [w.value for w in app.sidebar.warning] == [f"The Pixel PixelCNN checkpoint path {problem}models/pixelcnn.pt"]
    assert app.sidebar.radio(key="generator").options == [PRIOR]  # the prior still works
    for key, label, default in (("path_metrics", "Scores (evaluate)", "metrics/eval.json"),
                                ("path_data", "Prepared data", "data/prepared")):
        app.sidebar.text_input(key=key).set_value(typed.replace("models/", default.split("/")[0] + "/")).run()
        assert not app.exception
        assert f"The {label} path {problem}{default}" in [w.value for w in app.sidebar.warning]


def test_demo_shows_visitors_no_traceback_and_sends_no_usage_statistics():
    """.streamlit/config.toml: an unexpected error shows Streamlit's generic message (details in the console only);
    usage statistics, on by default, are off."""
    root = APP.parents[1]
    shown = subprocess.run([sys.executable, "-m", "streamlit", "config", "show"], cwd=root, capture_output=True,
                           text=True, timeout=120, check=True).stdout
    where = f"# The value below was set in {root / '.streamlit' / 'config.toml'}\n"
    assert f'{where}showErrorDetails = "none"' in shown
    assert f"{where}gatherUsageStats = false" in shown


@pytest.mark.parametrize("side, sentence", [
    (20000, "bomb.png is far larger than 4096×4096 pixels (the most an image file may have); shrink it first"),
    (12000, "bomb.png is 12000×12000 pixels, more than 4096×4096 (the most an image file may have); shrink it first"),
])
def test_demo_refuses_a_huge_upload_from_its_header(app, side, sentence):
    """A 48 KB PNG of 20000² pixels would decode to 400 MB: one sentence instead, nothing decoded."""
    app.tabs[COMPLETE].radio(key="complete_source").set_value("an uploaded image").run()
    app.tabs[COMPLETE].get("file_uploader")[0].set_value(("bomb.png", bomb_png(side), "image/png")).run()
    assert not app.exception
    assert [e.value for e in app.tabs[COMPLETE].error] == [sentence]


def test_demo_listens_on_localhost_by_default():
    """.streamlit/config.toml, which `streamlit run` reads from the project root, binds the server to localhost."""
    root = APP.parents[1]
    shown = subprocess.run([sys.executable, "-m", "streamlit", "config", "show"], cwd=root, capture_output=True,
                           text=True, timeout=120, check=True).stdout
    assert f"# The value below was set in {root / '.streamlit' / 'config.toml'}\naddress = \"localhost\"" in shown
