"""Open an ``audiogan report`` page in a real headless Chromium (Selenium + Debian's chromedriver).

Used by ``tests/test_report_browser.py`` and, from the command line, to make the screenshot in
``docs/``::

    python tests/browser.py PAGE.html SCREENSHOT.png

The browser never reaches the network: the page is a ``file://`` URL with everything embedded,
and the flags below turn off Chromium's background traffic (on a machine without network it
would otherwise log refused connections). Selenium is given the chromedriver path, so Selenium
Manager never tries to download one.
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMEDRIVER = ("/usr/bin/chromedriver",)
WINDOW = (1280, 900)  # the committed screenshot's size
AUDIO_WAIT_S = 20.0  # bounded wait for every <audio> to load its metadata

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",  # clips are played to check that they play; nobody needs to hear it
    "--autoplay-policy=no-user-gesture-required",
)


def _first(paths: tuple[str, ...]) -> str | None:
    return next((p for p in paths if Path(p).is_file()), None)


def unavailable() -> str | None:
    """Why the browser cannot run here (None when it can)."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    if _first(CHROMIUM) is None:
        return "no chromium at /usr/bin/chromium (apt-get install chromium chromium-driver)"
    if _first(CHROMEDRIVER) is None:
        return "no chromedriver at /usr/bin/chromedriver (apt-get install chromium-driver)"
    return None


@dataclasses.dataclass
class PageCheck:
    """What the browser saw."""

    audio: list[dict[str, Any]]  # per <audio>: readyState, duration, error code, role, played (seconds)
    images: list[dict[str, Any]]  # per <img>: naturalWidth, naturalHeight, complete
    svgs: int  # inline <svg> charts
    console: list[dict[str, Any]]  # browser log entries
    title: str
    text: str  # the page's visible text


_AUDIO_STATE = """
return Array.from(document.querySelectorAll('audio')).map(a => ({
  ready: a.readyState, duration: a.duration, error: a.error ? a.error.code : null,
  role: a.dataset.role || '', cls: a.dataset.class || '', played: a.currentTime, ended: a.ended}));
"""
_PLAY = """
return Promise.all(Array.from(document.querySelectorAll('audio')).map(
  a => a.play().then(() => 'ok', e => String(e))));
"""
_STOP = "document.querySelectorAll('audio').forEach(a => { a.pause(); a.currentTime = 0; });"
_IMAGE_STATE = """
return Array.from(document.images).map(i => ({
  width: i.naturalWidth, height: i.naturalHeight, complete: i.complete, alt: i.alt}));
"""


def check_page(page: Path, screenshot: Path | None = None, window: tuple[int, int] = WINDOW) -> PageCheck:
    """Open ``page`` from a file URL, wait (bounded) for every audio's metadata, play every clip
    (muted) until its time advances, read the state of audio, images and the console, and save a
    screenshot of exactly ``window`` CSS pixels."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = Path(tempfile.mkdtemp(prefix="audiogan-chromium-"))
    options = webdriver.ChromeOptions()
    options.binary_location = _first(CHROMIUM) or CHROMIUM[0]
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={window[0]},{window[1]}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=_first(CHROMEDRIVER) or CHROMEDRIVER[0])
    driver = webdriver.Chrome(service=service, options=options)
    try:
        # the viewport itself, not the window (whose size includes a headless frame's chrome)
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": window[0], "height": window[1], "deviceScaleFactor": 1, "mobile": False},
        )
        driver.get(Path(page).resolve().as_uri())
        audio = _wait(driver, lambda a: a["ready"] >= 1 and (a["duration"] or 0) > 0 or a["error"])
        plays = driver.execute_script(_PLAY)
        played = _wait(driver, lambda a: a["played"] > 0 or a["ended"] or a["error"])
        driver.execute_script(_STOP)
        for before, after, outcome in zip(audio, played, plays):
            before["played"] = after["played"] if outcome == "ok" else 0.0
            before["play"] = outcome
        images = driver.execute_script(_IMAGE_STATE)
        svgs = driver.execute_script("return document.querySelectorAll('svg').length;")
        text = driver.execute_script("return document.body.innerText;")
        if screenshot is not None:
            driver.execute_script("window.scrollTo(0, 0);")
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(screenshot))
        console = driver.get_log("browser")
        return PageCheck(audio, images, int(svgs), console, driver.title, text)
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _wait(driver: Any, done: Any) -> list[dict[str, Any]]:
    """The audio states once ``done`` holds for each, or at the (bounded) deadline."""
    deadline = time.monotonic() + AUDIO_WAIT_S
    audio = driver.execute_script(_AUDIO_STATE)
    while time.monotonic() < deadline and not all(done(a) for a in audio):
        time.sleep(0.1)
        audio = driver.execute_script(_AUDIO_STATE)
    return audio


def main(argv: list[str]) -> int:
    """``python tests/browser.py PAGE.html SHOT.png``: check a page and save its screenshot."""
    if len(argv) != 2:
        print(__doc__)
        return 2
    reason = unavailable()
    if reason:
        print(reason)
        return 1
    check = check_page(Path(argv[0]), Path(argv[1]))
    ok = [a for a in check.audio if a["ready"] >= 1 and (a["duration"] or 0) > 0 and a["played"] > 0]
    print(
        f"{len(ok)}/{len(check.audio)} clips load and play; {len(check.images)} images; "
        f"console: {check.console}"
    )
    return 0 if len(ok) == len(check.audio) and not check.console else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
