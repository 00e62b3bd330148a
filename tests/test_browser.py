"""The widget lab in a real browser: JupyterLab and the Voila app, in headless Chromium.

Each test starts its own server on 127.0.0.1 (a free port, a fresh token) over a copy of the
lab's app notebook, drives Debian's `chromium` through Playwright, and stops the server (and
its kernels) in a `finally`. Screenshots go to a temporary folder; with REFRESH_SCREENSHOTS=1
the JupyterLab test rewrites notebooks/images/widget_lab*.png, the ones the README shows.

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
NOTEBOOK = (
    ROOT / "notebooks" / "lab_app.ipynb"
)  # the lab alone: chapter 09 without its measurements
IMAGES = ROOT / "notebooks" / "images"
BIN = Path(sys.executable).parent
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
RUN_TIMEOUT = 240_000  # ms: the whole notebook, on a busy machine
STEP_TIMEOUT = 60_000  # ms: one widget update

pytestmark = pytest.mark.browser


def chromium() -> str:
    """Debian's chromium, or a failure that says how to get it (never a silent skip)."""
    path = shutil.which("chromium")
    if path is None:
        pytest.fail(
            "the browser tests need Chromium: run `apt-get install chromium` as root "
            "(`make test` does it for you) or put a `chromium` binary on PATH",
            pytrace=False,
        )
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def settings(folder: Path) -> None:
    """JupyterLab user settings for the test server: no news prompt, no update check, every
    cell in the DOM (no windowing), no autosave."""
    overrides = {
        "@jupyterlab/apputils-extension/notification": {
            "fetchNews": "false",
            "checkForUpdates": False,
        },
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
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=str(cwd), start_new_session=True
        )
    try:
        deadline = time.monotonic() + 120
        while not ready():
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{cmd[0]} exited with {proc.returncode}:\n"
                    f"{log.read_text(errors='replace')[-3000:]}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{cmd[0]} was not ready within 120 s:\n"
                    f"{log.read_text(errors='replace')[-3000:]}"
                )
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
            os.killpg(proc.pid, 0)  # kernels may outlive the server: check the group
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
    env = dict(
        os.environ,
        JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"),
        JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
        PYTHONUNBUFFERED="1",
    )
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
        arg=selector,
        timeout=STEP_TIMEOUT,
    )
    return img.get_attribute("src")


def wait_changed(page, selector: str, old: str) -> str:
    page.wait_for_function(
        "([s, old]) => { const i = document.querySelector(s);"
        " return i && i.src !== old && i.naturalWidth > 0; }",
        arg=[selector, old],
        timeout=STEP_TIMEOUT,
    )
    return page.locator(selector).first.get_attribute("src")


def experiment(page) -> None:
    """Drive the lab as a learner would, checking after each step that the picture and the
    printed numbers changed: build a scene and swap ears, paint a stroke with real mouse
    events, switch the compare grid, move the cascade slider."""
    pic, info = "img.cam-lab-picture", ".cam-lab-info"
    src = picture_src(page, pic)
    page.locator(".cam-lab-source button", has_text="scene builder").click()
    src = wait_changed(page, pic, src)
    page.locator(".cam-builder-count button", has_text="2").click()
    src = wait_changed(page, pic, src)
    assert "cat, dog" in page.locator(info).inner_text()
    page.locator(".cam-builder-ears-2 select").select_option(label="cat ears")
    src = wait_changed(page, pic, src)
    page.wait_for_function(
        "s => document.querySelector(s).innerText.includes('a dog with cat ears')", arg=info
    )
    handle = page.locator(".cam-lab-opacity .noUi-handle").first
    handle.scroll_into_view_if_needed()
    handle.focus()
    for _ in range(3):
        handle.press("ArrowRight")
    src = wait_changed(page, pic, src)
    assert "0.75" in page.locator(".cam-lab-opacity").inner_text()  # 0.60 + 3 steps of 0.05

    tab = lambda name: page.locator(".cam-lab-tabs .lm-TabBar-tab", has_text=name).first  # noqa
    tab("compare").click()
    grid = picture_src(page, "img.cam-compare-picture")
    page.locator(".cam-compare-mode button", has_text="every model").click()
    wait_changed(page, "img.cam-compare-picture", grid)
    assert "5 panels" in page.locator(".cam-compare-info").inner_text()

    tab("erase by hand").click()
    canvas = page.locator("img.cam-brush-canvas").first
    picture_src(page, "img.cam-brush-canvas")
    result = picture_src(page, "img.cam-brush-picture")
    assert "Nothing painted yet" in page.locator(".cam-brush-info").inner_text()
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + 0.2 * box["width"], box["y"] + 0.35 * box["height"])
    page.mouse.down()
    for k in range(1, 9):
        page.mouse.move(
            box["x"] + (0.2 + 0.06 * k) * box["width"], box["y"] + 0.35 * box["height"], steps=2
        )
    page.mouse.up()
    wait_changed(page, "img.cam-brush-picture", result)
    page.wait_for_function(
        "() => document.querySelector('.cam-brush-info').innerText.startsWith('Erased')"
    )
    assert "→" in page.locator(".cam-brush-info").inner_text()

    tab("sanity cascade").click()
    cascade = picture_src(page, "img.cam-cascade-picture")
    handle = page.locator(".cam-cascade-depth .noUi-handle").first
    handle.focus()
    for _ in range(3):
        handle.press("ArrowRight")
    wait_changed(page, "img.cam-cascade-picture", cascade)
    page.wait_for_function(
        "() => document.querySelector('.cam-cascade-info').innerText.startsWith('Depth 3')"
    )
    tab("explore").click()


def screenshot(page, name: str, tmp: Path, **kwargs) -> Path:
    """Screenshots go to the test's tmp folder; REFRESH_SCREENSHOTS=1 writes the committed ones
    under notebooks/images/ (shown in the README)."""
    folder = IMAGES if os.environ.get("REFRESH_SCREENSHOTS") == "1" else tmp
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / name), **kwargs)
    return folder / name


def log(start: float, what: str) -> None:
    print(f"  {time.monotonic() - start:5.1f} s  {what}", flush=True)


def menu(page, name: str, item: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=name).first.click()
    page.locator(".lm-Menu-itemLabel", has_text=item).first.click()


def assert_rendered_cleanly(page) -> None:
    text = page.locator("body").inner_text()
    assert "Error displaying widget" not in text
    assert "Traceback" not in text
    assert page.locator(".cam-lab .widget-slider").count() >= 3
    assert page.locator(".cam-lab select").count() >= 4


def lab_server(root: Path) -> tuple[str, str, list]:
    """(base URL, token, command) of a JupyterLab server on a free local port over `root`."""
    port, token = free_port(), secrets.token_hex(16)
    cmd = [
        str(BIN / "jupyter"),
        "lab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
    ]
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
        page.wait_for_selector(
            ".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=RUN_TIMEOUT
        )
        log(start, "kernel idle")
        menu(page, "Edit", "Clear Outputs of All Cells")  # the stored outputs have prompts
        page.wait_for_function(
            "() => [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]"
            ".every(e => !/\\d/.test(e.textContent))"
        )
        menu(page, "Run", "Run All Cells")
        page.wait_for_function(
            "() => { const p = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];"
            " return p.length > 0 && p.every(e => /\\[\\d+\\]/.test(e.textContent)); }",
            timeout=RUN_TIMEOUT,
        )
        log(start, "notebook ran")
        assert_rendered_cleanly(page)
        errors = page.locator(".jp-OutputArea-output[data-mime-type*='stderr']").count()
        assert errors == 0, page.locator(
            ".jp-OutputArea-output[data-mime-type*='stderr']"
        ).first.inner_text()
        current = page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
        if current.count():
            current.first.click()  # fold the file browser away
        experiment(page)
        log(start, "scene built, stroke painted, grid and cascade moved: pictures changed")
        page.evaluate(
            "document.querySelector('.cam-lab')"
            ".closest('.jp-Cell').scrollIntoView({block: 'start'})"
        )
        page.wait_for_timeout(500)
        screenshot(page, "widget_lab.png", tmp)
        page.locator(".cam-lab-tabs .lm-TabBar-tab", has_text="erase by hand").first.click()
        page.wait_for_timeout(500)
        screenshot(page, "widget_lab_brush.png", tmp)
    print(f"JupyterLab test: {time.monotonic() - start:.0f} s")


def test_voila_app_runs_the_lab(workdir):
    tmp, env = workdir
    chromium()
    port, token = free_port(), secrets.token_hex(16)
    base = f"http://127.0.0.1:{port}"
    cmd = [
        str(BIN / "voila"),
        "--no-browser",
        f"--port={port}",
        "--Voila.ip=127.0.0.1",
        "--Voila.port_retries=0",
        "--strip_sources=True",
        f"--token={token}",
        str(tmp / "nb" / NOTEBOOK.name),
    ]
    start = time.monotonic()
    # GET / would run the notebook: wait for the port to listen instead
    with server(cmd, tmp / "nb", lambda: listens(port), env, tmp / "voila.log"), browser() as page:
        page.goto(f"{base}/?token={token}", timeout=RUN_TIMEOUT)
        log(start, "Voila page loaded")
        picture_src(page, "img.cam-lab-picture")
        log(start, "lab rendered")
        assert_rendered_cleanly(page)
        body = page.locator("body").inner_text()
        assert "import camlib" not in body and "lab.ui" not in body  # no code
        code = ".jp-CodeCell .jp-InputArea, .jp-CodeMirrorEditor, .cm-editor"
        assert page.locator(code).count() == 0
        experiment(page)
        log(start, "scene built, stroke painted, grid and cascade moved: pictures changed")
        screenshot(page, "voila.png", tmp, full_page=True)
    print(f"Voila test: {time.monotonic() - start:.0f} s")
