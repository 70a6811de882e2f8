"""A screenshot of the demo in headless Chromium: `uv run python demo/screenshot.py docs/demo.png`.

Starts `streamlit run demo/app.py` on a free local port (telemetry off), opens
it in headless Chromium (Debian's `chromium` and `chromium-driver`, driven by
selenium; nothing is downloaded), waits until the samples are shown, and
saves the page as a PNG. Run it from the repository root after
`uv run dvc repro`, so the app finds the default run's models. The browser
test (tests/demo/test_browser.py) uses the same functions.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

APP = Path(__file__).resolve().with_name("app.py")
CHROMIUM_FLAGS = (  # what headless Chromium needs in containers and offline machines
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
)


def find_chromium() -> tuple[str, str] | None:
    """(browser, chromedriver) paths, from PIXELCNN_CHROMIUM / PIXELCNN_CHROMEDRIVER or the PATH; None if either is missing."""
    browser = os.environ.get("PIXELCNN_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    driver = os.environ.get("PIXELCNN_CHROMEDRIVER") or shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(app: Path = APP, env: dict[str, str] | None = None, cwd: Path | None = None,
          timeout: float = 90) -> Iterator[str]:
    """Run the Streamlit app on a free port; yields its URL once it answers, stops it afterwards."""
    port = free_port()
    log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (kept open for the server's lifetime, closed below)
    command = [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(port),
               "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
               "--server.fileWatcherType", "none", "--global.developmentMode", "false", "--client.toolbarMode", "viewer"]
    server = subprocess.Popen(command, cwd=cwd, env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if server.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise RuntimeError(f"streamlit did not start on port {port}:\n{log.read()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                    if reply.read().strip() == b"ok":
                        break
            except OSError:
                time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


@contextlib.contextmanager
def chromium(width: int = 1400, height: int = 1000) -> Iterator[object]:
    """A headless Chromium (selenium WebDriver) with a fresh profile; quits afterwards."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    found = find_chromium()
    if found is None:
        raise RuntimeError("no Chromium found: install Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")
    browser, driver_path = found
    profile = tempfile.mkdtemp(prefix="pixelcnn-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def loaded_images(driver, within: str = "") -> int:
    """How many images of st.image elements have loaded (inside the CSS selector ``within``, if given)."""
    return driver.execute_script(
        "return [...document.querySelectorAll(arguments[0] + ' [data-testid=\"stImage\"] img')]"
        ".filter(i => i.complete && i.naturalWidth > 0).length;", within)


def wait_until(condition, timeout: float, what: str):
    """Poll ``condition()`` until it returns something true; RuntimeError naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


def click(driver, selector: str, text: str) -> None:
    """Click the element matching the CSS ``selector`` whose visible text contains ``text``."""
    clicked = driver.execute_script(
        "const e = [...document.querySelectorAll(arguments[0])].find(e => e.innerText.includes(arguments[1]));"
        "if (e) e.click(); return Boolean(e);", selector, text)
    if not clicked:
        raise RuntimeError(f"no {selector} with text {text!r} on the page")


def idle(driver) -> bool:
    """True when the app's script is not running (no "running" status in the page's toolbar)."""
    return not driver.find_elements("css selector", '[data-testid="stStatusWidgetRunningIcon"]')


def open_demo(driver, url: str, samples: int = 16, timeout: float = 90) -> None:
    """Load the page; wait until the sample tab shows ``samples`` loaded images and the script has finished."""
    driver.get(url)
    wait_until(lambda: loaded_images(driver, '[data-testid="stTabPanel"]') >= samples, timeout,
               f"{samples} samples on the page")
    wait_until(lambda: idle(driver), timeout, "the app to finish its run")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", type=Path, help="the PNG to write, e.g. docs/demo.png")
    p.add_argument("--width", type=int, default=1400, help="browser window width (default: 1400)")
    p.add_argument("--height", type=int, default=1000, help="browser window height (default: 1000)")
    p.add_argument("--tab", default="Sample", choices=("Sample", "Progressive", "Complete", "Compare"),
                   help="the tab to photograph (Progressive: after drawing; default: Sample)")
    args = p.parse_args(argv)
    if find_chromium() is None:
        raise SystemExit("error: no Chromium found: install Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")
    if not Path("models/pixelcnn.pt").is_file() and not os.environ.get("PIXELCNN_PIXEL_MODEL"):
        raise SystemExit("error: models/pixelcnn.pt not found: run `uv run dvc repro` first, from the repository root")
    with serve() as url, chromium(args.width, args.height) as driver:
        open_demo(driver, url)
        if args.tab != "Sample":
            click(driver, '[data-testid="stTab"]', args.tab)
            if args.tab == "Progressive":
                click(driver, '[data-testid="stButton"] button', "Draw row by row")
                wait_until(lambda: "one image every" in driver.execute_script("return document.body.innerText;"),
                           120, "the progressive strip")
            time.sleep(1)  # the tab's images were rendered hidden; let them paint
            wait_until(lambda: idle(driver), 120, "the app to finish its run")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(args.out))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
