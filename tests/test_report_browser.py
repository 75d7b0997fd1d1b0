"""The report in a real browser: ``audiogan demo`` (tiny budget) writes a page, headless Chromium opens
it from a file URL, every clip loads and plays, every picture loads, the console stays clean, and a
screenshot is saved. Skips, with the reason, where Chromium, chromedriver or Selenium is missing
(``.ci/run`` installs them, so CI always runs it)."""

from __future__ import annotations

from pathlib import Path

import pytest
from browser import WINDOW, check_page, unavailable
from test_demo import SMALL

from audiogan.cli import main

REASON = unavailable()


@pytest.mark.skipif(REASON is not None, reason=f"browser test: {REASON}")
def test_demo_report_opens_plays_and_shows_pictures_in_chromium(tmp_path, capsys) -> None:
    from PIL import Image

    out = tmp_path / "demo"
    code = main(
        [
            "demo",
            "--out",
            str(out),
            "--steps",
            "3",
            "--clips",
            "3",
            "--device",
            "cpu",
            "--no-progress",
            *SMALL,
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0, printed
    page = Path(printed.strip().splitlines()[-1])  # the demo's last line is the page
    assert page == (out / "report.html").resolve() and page.is_file()

    shot = tmp_path / "report.png"
    check = check_page(page, shot)

    assert check.title.startswith("audiogan report")
    for name in ("chirp", "drums", "pluck"):
        assert name in check.text
    roles = [a["role"] for a in check.audio]
    assert roles.count("generated") == 6 and roles.count("real") == 6 and roles.count("vocoder") == 3
    assert {a["cls"] for a in check.audio if a["role"] in ("generated", "real")} == {
        "chirp",
        "drums",
        "pluck",
    }
    for clip in check.audio:
        assert clip["error"] is None, clip
        assert clip["ready"] >= 1 and clip["duration"] > 0, clip  # metadata loaded
        assert clip["play"] == "ok" and clip["played"] > 0, clip  # and it plays
    assert check.images and all(i["complete"] and i["width"] > 0 and i["height"] > 0 for i in check.images)
    assert check.svgs >= 3  # losses, learning rates, skipped steps (+ steps/s)
    severe = [entry for entry in check.console if entry.get("level") == "SEVERE"]
    assert severe == [], severe
    with Image.open(shot) as image:
        assert image.size == WINDOW
