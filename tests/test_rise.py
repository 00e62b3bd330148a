"""Lecture mode in a real browser: a chapter opens as RISE slides in JupyterLab's server.

jupyterlab-rise serves a chapter as a reveal.js deck at /rise/<notebook>. The test opens
chapter 04 (a derivation told in fragments), advances through the deck with the keyboard,
checks that each step shows new content and no error, and saves one slide as
notebooks/images/rise_slide.png (shown in the README).
"""

import os
import shutil
import time

import pytest
from test_browser import (  # noqa: F401  (fixtures pytest finds by name)
    ROOT,
    RUN_TIMEOUT,
    answers,
    browser,
    chromium,
    lab_server,
    server,
    workdir,
)

CHAPTER = ROOT / "notebooks" / "04_grad_cam_pp.ipynb"
SCREENSHOT = ROOT / "notebooks" / "images" / "rise_slide.png"

pytestmark = pytest.mark.browser


def present(page) -> str:
    return page.evaluate(
        "(document.querySelector('.reveal .slides section.present') || {}).innerText || ''"
    )


def test_chapter_presents_as_slides(workdir):  # noqa: F811  (the fixture imported above)
    tmp, env = workdir
    chromium()
    shutil.copy(CHAPTER, tmp / "nb" / CHAPTER.name)
    base, token, cmd = lab_server(tmp / "nb")
    start = time.monotonic()
    with (
        server(
            cmd, tmp / "nb", lambda: answers(f"{base}/api?token={token}"), env, tmp / "rise.log"
        ),
        browser() as page,
    ):
        page.set_viewport_size({"width": 1280, "height": 800})
        page.goto(f"{base}/rise/{CHAPTER.name}?token={token}")
        page.wait_for_selector(".reveal .slides section", timeout=RUN_TIMEOUT)
        page.wait_for_function(
            "() => document.querySelectorAll('.reveal .slides section').length >= 10",
            timeout=RUN_TIMEOUT,
        )
        page.wait_for_timeout(1500)
        seen = [present(page)]
        assert seen[0].lstrip().startswith("04 ·"), seen[0][:80]
        for _ in range(16):
            page.keyboard.press("Space")  # next slide or next fragment
            page.wait_for_timeout(700)
            seen.append(present(page))
        page.screenshot(path=str(tmp / "rise.png"))
        body = page.locator("body").inner_text()
        assert "Traceback" not in body and "Error displaying" not in body
        slides = {text.splitlines()[0] for text in seen if text}
        assert len(slides) >= 4, f"the deck did not advance: {slides}"
        visible = page.evaluate("document.querySelectorAll('.reveal .fragment.visible').length")
        assert visible >= 1, "derivation fragments never appeared"
        if os.environ.get("REFRESH_SCREENSHOTS") == "1":  # else it stays in the tmp folder
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(tmp / "rise.png", SCREENSHOT)
    print(f"RISE test: {time.monotonic() - start:.0f} s")
