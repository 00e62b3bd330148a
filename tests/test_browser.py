"""The widget lab in a real browser: JupyterLab and the Voila app, in headless Chromium.

Each test starts its own server on 127.0.0.1 (a free port, a fresh token) over a copy of the
lab notebook, drives Debian's `chromium` through Playwright, and stops the server (and its
kernels) in a `finally`. The JupyterLab test writes notebooks/images/widget_lab.png, the
screenshot the README shows.

    pytest tests/test_browser.py -v        # about 1-2 minutes; `-m "not browser"` skips them
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "09_widget_lab.ipynb"
SCREENSHOT = ROOT / "notebooks" / "images" / "widget_lab.png"
BIN = Path(sys.executable).parent
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
RUN_TIMEOUT = 240_000        # ms: the whole notebook, on a busy machine
STEP_TIMEOUT = 60_000        # ms: one widget update

pytestmark = pytest.mark.browser


def chromium() -> str:
    """Debian's chromium, or a failure that says how to get it (never a silent skip)."""
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("the browser tests need Chromium: run `apt-get install chromium` as root "
                    "(`make test` does it for you) or put a `chromium` binary on PATH",
                    pytrace=False)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def settings(folder: Path) -> None:
    """JupyterLab user settings for the test server: no news prompt, no update check, every
    cell in the DOM (no windowing), no autosave."""
    overrides = {
        "@jupyterlab/apputils-extension/notification": {"fetchNews": "false",
                                                        "checkForUpdates": False},
        "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
        "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    }
    for name, values in overrides.items():
        path = folder / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


def answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=5).close()
        return True
    except OSError:
        return False


def listens(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        return True
    except OSError:
        return False


@contextmanager
def server(cmd: list, cwd: Path, ready, env: dict, log: Path):
    """Start a server in its own process group, wait until ready() holds, always stop it."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                cwd=str(cwd), start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not ready():
            if proc.poll() is not None:
                raise RuntimeError(f"{cmd[0]} exited with {proc.returncode}:\n"
                                   f"{log.read_text(errors='replace')[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{cmd[0]} was not ready within 120 s:\n"
                                   f"{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.5)
        yield proc
    finally:
        stop(proc)


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group (server and kernels), SIGKILL what is left."""
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            os.killpg(proc.pid, 0)          # kernels may outlive the server: check the group
        except subprocess.TimeoutExpired:
            continue
        except ProcessLookupError:
            return


@pytest.fixture
def workdir(tmp_path):
    """A copy of the notebook (the test never touches the stored one) and private settings."""
    (tmp_path / "nb").mkdir()
    shutil.copy(NOTEBOOK, tmp_path / "nb" / NOTEBOOK.name)
    settings(tmp_path / "settings")
    env = dict(os.environ,
               JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"),
               JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
               PYTHONUNBUFFERED="1")
    return tmp_path, env


@contextmanager
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS, headless=True)
        try:
            page = b.new_page(viewport={"width": 1500, "height": 1000})
            page.set_default_timeout(STEP_TIMEOUT)
            yield page
        finally:
            b.close()


def picture_src(page, selector: str) -> str:
    img = page.locator(selector).first
    img.wait_for(state="attached", timeout=RUN_TIMEOUT)
    page.wait_for_function(
        "s => { const i = document.querySelector(s); return i && i.src && i.naturalWidth > 0; }",
        arg=selector, timeout=STEP_TIMEOUT)
    return img.get_attribute("src")


def wait_changed(page, selector: str, old: str) -> str:
    page.wait_for_function(
        "([s, old]) => { const i = document.querySelector(s);"
        " return i && i.src !== old && i.naturalWidth > 0; }",
        arg=[selector, old], timeout=STEP_TIMEOUT)
    return page.locator(selector).first.get_attribute("src")


def move_controls(page) -> None:
    """Move a slider with the keyboard and pick a method in a drop-down: the picture changes."""
    pic = "img.cam-lab-picture"
    src = picture_src(page, pic)
    erase_src = picture_src(page, "img.cam-lab-erase-picture")
    handle = page.locator(".cam-lab-opacity .noUi-handle").first
    handle.scroll_into_view_if_needed()
    handle.focus()
    for _ in range(3):
        handle.press("ArrowRight")
    src = wait_changed(page, pic, src)
    assert "0.65" in page.locator(".cam-lab-opacity").inner_text()   # 0.50 + 3 steps of 0.05
    page.locator(".cam-lab-method select").select_option("Grad-CAM++")
    src = wait_changed(page, pic, src)
    handle = page.locator(".cam-lab-threshold .noUi-handle").first
    handle.focus()
    handle.press("ArrowRight")
    wait_changed(page, pic, src)
    wait_changed(page, "img.cam-lab-erase-picture", erase_src)   # the eraser follows


def log(start: float, what: str) -> None:
    print(f"  {time.monotonic() - start:5.1f} s  {what}", flush=True)


def menu(page, name: str, item: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=name).first.click()
    page.locator(".lm-Menu-itemLabel", has_text=item).first.click()


def assert_rendered_cleanly(page) -> None:
    text = page.locator("body").inner_text()
    assert "Error displaying widget" not in text
    assert "Traceback" not in text
    assert page.locator(".cam-lab-explorer .widget-slider").count() >= 3
    assert page.locator(".cam-lab-explorer select").count() >= 4


def lab_server(root: Path) -> tuple[str, str, list]:
    """(base URL, token, command) of a JupyterLab server on a free local port over `root`."""
    port, token = free_port(), secrets.token_hex(16)
    cmd = [str(BIN / "jupyter"), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={root}"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    return f"http://127.0.0.1:{port}", token, cmd


def test_jupyterlab_runs_the_lab(workdir):
    tmp, env = workdir
    chromium()
    base, token, cmd = lab_server(tmp / "nb")
    start = time.monotonic()
    ready = lambda: answers(f"{base}/api?token={token}")  # noqa: E731
    with server(cmd, tmp / "nb", ready, env, tmp / "lab.log"), browser() as page:
        log(start, "JupyterLab answers")
        page.goto(f"{base}/lab/tree/{NOTEBOOK.name}?token={token}")
        page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=RUN_TIMEOUT)
        log(start, "notebook open")
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                               timeout=RUN_TIMEOUT)
        log(start, "kernel idle")
        menu(page, "Edit", "Clear Outputs of All Cells")      # the stored outputs have prompts
        page.wait_for_function(
            "() => [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]"
            ".every(e => !/\\d/.test(e.textContent))")
        menu(page, "Run", "Run All Cells")
        page.wait_for_function(
            "() => { const p = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];"
            " return p.length > 0 && p.every(e => /\\[\\d+\\]/.test(e.textContent)); }",
            timeout=RUN_TIMEOUT)
        log(start, "notebook ran")
        assert_rendered_cleanly(page)
        errors = page.locator(".jp-OutputArea-output[data-mime-type*='stderr']").count()
        assert errors == 0, page.locator(".jp-OutputArea-output[data-mime-type*='stderr']") \
            .first.inner_text()
        move_controls(page)
        log(start, "controls moved, picture changed")
        current = page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
        if current.count():
            current.first.click()                             # fold the file browser away
        page.evaluate("document.querySelector('.cam-lab-explorer')"
                      ".closest('.jp-Cell').scrollIntoView({block: 'start'})")
        page.wait_for_timeout(500)
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT))
    print(f"JupyterLab test: {time.monotonic() - start:.0f} s")


def test_voila_app_runs_the_lab(workdir):
    tmp, env = workdir
    chromium()
    port, token = free_port(), secrets.token_hex(16)
    base = f"http://127.0.0.1:{port}"
    cmd = [str(BIN / "voila"), "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1",
           "--Voila.port_retries=0", "--strip_sources=True", f"--token={token}",
           str(tmp / "nb" / NOTEBOOK.name)]
    start = time.monotonic()
    # GET / would run the notebook: wait for the port to listen instead
    with server(cmd, tmp / "nb", lambda: listens(port), env, tmp / "voila.log"), \
            browser() as page:
        page.goto(f"{base}/?token={token}", timeout=RUN_TIMEOUT)
        log(start, "Voila page loaded")
        picture_src(page, "img.cam-lab-picture")
        log(start, "lab rendered")
        page.wait_for_selector("img.cam-lab-erase-picture", timeout=RUN_TIMEOUT)
        assert_rendered_cleanly(page)
        body = page.locator("body").inner_text()
        assert "import camlib" not in body and "lab.explorer" not in body     # no code
        code = ".jp-CodeCell .jp-InputArea, .jp-CodeMirrorEditor, .cm-editor"
        assert page.locator(code).count() == 0
        assert "check:" in body and "FAILED" not in body
        move_controls(page)
        log(start, "controls moved, picture changed")
        page.screenshot(path=str(tmp / "voila.png"), full_page=True)
    print(f"Voila test: {time.monotonic() - start:.0f} s")
