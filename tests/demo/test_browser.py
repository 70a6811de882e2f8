"""The demo served by `streamlit run` and loaded in headless Chromium: the page renders and samples.

Skipped, saying why, where no Chromium is installed (Debian: `apt-get install
chromium chromium-driver`; .ci/run installs them when it runs as root). Set
PIXELCNN_SCREENSHOT=path.png to keep the screenshot it takes.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
from PIL import Image

from helpers import point_at
from tiny_models import tiny_run  # noqa: F401  (fixture)

pytestmark = pytest.mark.slow  # a Streamlit server and headless Chromium: the quick loop (`pytest -m "not slow"`) leaves it out

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("demo_screenshot", ROOT / "demo" / "screenshot.py")
shot = importlib.util.module_from_spec(spec)
spec.loader.exec_module(shot)

PANEL = '[data-testid="stTabPanel"]'


def image_sources(driver) -> list[str]:
    return driver.execute_script(
        "return [...document.querySelectorAll(arguments[0] + ' [data-testid=\"stImage\"] img')].map(i => i.src);", PANEL)


def page_text(driver) -> str:
    return driver.execute_script("return document.body.innerText;")


def test_demo_renders_and_samples_in_headless_chromium(tiny_run, tmp_path, monkeypatch):
    pytest.importorskip("selenium", reason="selenium (the dev dependency group) drives the browser")
    if shot.find_chromium() is None:
        pytest.skip("no headless Chromium: install Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")
    point_at(monkeypatch, tiny_run)
    with shot.serve(cwd=tmp_path) as url, shot.chromium(1400, 1000) as driver:
        shot.open_demo(driver, url, samples=16)
        assert driver.title == "pixelcnn demo"
        text = page_text(driver)
        assert "PixelCNN and VQ-VAE-2 + PixelCNN prior" in text and "16 samples of every class in turn" in text
        assert not driver.find_elements("css selector", '[data-testid="stException"]')
        first = image_sources(driver)

        # Another seed: new samples replace the old ones.
        driver.execute_script(
            "[...document.querySelectorAll('[data-testid=\"stNumberInput\"]')].find(e => e.innerText.includes('Seed'))"
            ".querySelector('[data-testid=\"stNumberInputStepUp\"]').click();")
        shot.wait_until(lambda: len(set(image_sources(driver)) - set(first)) >= 16 and shot.loaded_images(driver, PANEL) >= 16,
                        60, "the samples of seed 1")

        # Progressive generation: the row-by-row strip appears.
        shot.click(driver, '[data-testid="stTab"]', "Progressive")
        shot.click(driver, '[data-testid="stButton"] button', "Draw row by row")
        shot.wait_until(lambda: "one image every" in page_text(driver) and shot.loaded_images(driver, PANEL) >= 2
                        and shot.idle(driver), 60, "the progressive strip")
        assert "pixels: row 16 of 16" in page_text(driver)

        shot.click(driver, '[data-testid="stTab"]', "Sample")
        shot.wait_until(lambda: shot.loaded_images(driver, PANEL) >= 16 and shot.idle(driver), 30, "the sample tab")
        path = Path(os.environ.get("PIXELCNN_SCREENSHOT") or tmp_path / "demo.png")
        driver.save_screenshot(str(path))
    picture = Image.open(path).convert("L")
    assert picture.width == 1400 and picture.height > 600  # the viewport of the 1400 × 1000 window
    assert len(picture.getcolors(256)) > 50  # grey-level samples on the page, not a blank or error screen
