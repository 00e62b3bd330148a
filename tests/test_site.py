"""The course site, offline, in a real browser.

A module fixture builds the site the way `make site` does (tools/build_course.build_site)
into a temporary folder, from copies of the stored notebooks with papermill's parameters cell
injected as `make course` would (not executed: the stored outputs stand in). A folder of
executed notebooks named by COURSE_SITE_FROM replaces the copies it has, e.g. a chapter 09
executed by papermill, which carries the widget state:

    papermill notebooks/09_widget_lab.ipynb /tmp/x/09_widget_lab.ipynb -k python3 --cwd notebooks
    COURSE_SITE_FROM=/tmp/x pytest tests/test_site.py -v

The site is served by http.server on 127.0.0.1 and opened in headless Chromium with every
request to any other origin aborted (and recorded: there must be none). Screenshots of
chapters 04 and 09 go to a temporary folder, or to notebooks/images/site_*.png with
REFRESH_SCREENSHOTS=1.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import sys
import threading
import urllib.request
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import build_course  # noqa: E402
from test_browser import CHROMIUM_FLAGS, chromium  # noqa: E402

pytestmark = pytest.mark.browser

NOTEBOOKS = ROOT / "notebooks"
CHAPTERS = sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
TIMEOUT = 60_000  # ms: one page on a busy machine


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Build the site into a temporary folder; (site folder, staged source folder)."""
    import papermill.parameterize

    tmp = tmp_path_factory.mktemp("site")
    executed = tmp / "executed"
    executed.mkdir()
    override = Path(os.environ["COURSE_SITE_FROM"]) if os.environ.get("COURSE_SITE_FROM") else None
    for name in CHAPTERS:
        if override and (override / name).exists():
            shutil.copy(override / name, executed / name)
            continue
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        nb.metadata["papermill"] = nbformat.NotebookNode()  # as papermill's loader does
        for cell in nb.cells:
            cell.metadata.setdefault("tags", [])
        nb = papermill.parameterize.parameterize_notebook(nb, {"SMOKE": False})
        nbformat.write(nb, executed / name)
    build_course.build_site(executed, tmp / "site", tmp / "work")
    return tmp / "site", tmp / "work" / "src"


@pytest.fixture(scope="module")
def origin(site):
    """http://127.0.0.1:<port> serving the site, quietly, in a thread."""
    handler = functools.partial(QuietHandler, directory=str(site[0]))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class Offline:
    """A page on which every request off the local origin is aborted and recorded."""

    def __init__(self, page, origin: str):
        self.page, self.origin = page, origin
        self.blocked: list[str] = []
        self.errors: list[str] = []
        page.route("**/*", self._route)
        page.on("pageerror", lambda err: self.errors.append(str(err)))

    def _route(self, route):
        url = route.request.url
        if url == self.origin or url.startswith(self.origin + "/"):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def open(self, path: str):
        self.page.goto(f"{self.origin}/{path}", wait_until="load")
        return self.page

    def text(self) -> str:
        return self.page.locator("body").inner_text()


@pytest.fixture(scope="module")
def browser_page(origin):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS, headless=True)
        try:
            page = b.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(TIMEOUT)
            yield Offline(page, origin)
        finally:
            b.close()


@pytest.fixture
def web(browser_page):
    """The offline page; after each test: no request left the local origin."""
    browser_page.blocked.clear()
    yield browser_page
    assert browser_page.blocked == [], (
        f"the site tried to reach the net: {browser_page.blocked[:10]}"
    )


def shot_path(tmp_path: Path, name: str) -> Path:
    if os.environ.get("REFRESH_SCREENSHOTS") == "1":
        return NOTEBOOKS / "images" / f"site_{name}.png"
    return tmp_path / f"site_{name}.png"


def chapter_title(name: str) -> str:
    return build_course_title(nbformat.read(NOTEBOOKS / name, as_version=4))


def build_course_title(nb) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return ""


# --- the tests ---------------------------------------------------------------------------------


def test_front_page_is_the_course_map_with_a_sidebar(web):
    page = web.open("index.html")
    table = page.locator("article table").first
    assert "what you learn, measured" in table.inner_text()
    for name in CHAPTERS:
        html = Path(name).with_suffix(".html").name
        assert table.locator(f"a[href$='{html}']").count() == 1, f"course map lacks {html}"
        side = page.locator(f".bd-sidebar-primary nav a[href$='{html}']")
        assert side.count() >= 1, f"the sidebar does not list {html}"
        assert chapter_title(name)[:2] in side.first.inner_text()


def test_next_and_previous_links(web):
    page = web.open("00_start_here.html")
    page.locator("a.right-next").first.click()
    page.wait_for_url("**/01_gap_vs_gmp.html")
    assert page.locator("h1").first.inner_text().startswith("01")
    page.locator("a.left-prev").first.click()
    page.wait_for_url("**/00_start_here.html")


def test_chapter_04_math_renders_locally(web, tmp_path):
    page = web.open("04_grad_cam_pp.html")
    page.wait_for_function(
        "() => document.querySelectorAll('mjx-container').length > 20"
        " && !document.querySelector('.MathJax_Processing')"
    )
    page.wait_for_function(
        "() => window.MathJax && MathJax.startup && MathJax.startup.promise"
        " && MathJax.startup.promise.then(() => true)"
    )
    text = web.text()
    for raw in ("$$", "\\frac", "\\sum", "\\partial"):
        assert raw not in text, f"raw TeX {raw!r} visible on chapter 04"
    display = page.locator("mjx-container[display='true']")
    assert display.count() >= 10
    assert page.locator("mjx-container mjx-mfrac").count() > 0  # fractions typeset
    shot = shot_path(tmp_path, "math")
    display.nth(2).scroll_into_view_if_needed()
    page.evaluate("window.scrollBy(0, -250)")
    page.screenshot(path=str(shot))
    print(f"screenshot: {shot}")
    assert web.errors == [], web.errors


def test_search_finds_chapters(web):
    page = web.open("search.html")
    box = page.locator(".bd-search-container form.bd-search input[name='q']").first
    box.fill("Grad-CAM")
    box.press("Enter")
    page.wait_for_selector("#search-results ul.search li a", timeout=TIMEOUT)
    page.wait_for_function(
        "() => !document.querySelector('#search-progress')"
        " || document.querySelector('#search-progress').innerText === ''"
        " || /found|match/i.test(document.querySelector('#search-results')"
        ".innerText)"
    )
    hrefs = page.locator("#search-results ul.search li a").evaluate_all(
        "as => as.map(a => a.getAttribute('href'))"
    )
    hit = {h.split("?")[0].split("#")[0] for h in hrefs}
    for chapter in ("03_grad_cam.html", "04_grad_cam_pp.html"):
        assert chapter in hit, f"searching Grad-CAM did not list {chapter}: {sorted(hit)}"


def test_parameters_cell_hidden_and_notebooks_downloadable(web, site):
    src, injected = site[1], 0
    for name in CHAPTERS:
        nb = nbformat.read(src / name, as_version=4)
        for cell in nb.cells:
            tags = cell.metadata.get("tags", [])
            if "injected-parameters" in tags:
                injected += 1
                assert "remove-cell" in tags, f"{name}: papermill's cell not marked remove-cell"
                assert "# Parameters" in cell.source
        page = web.open(Path(name).with_suffix(".html").name)
        assert "# Parameters" not in web.text(), f"{name}: papermill's cell is shown"
        link = page.locator(f"a[href$='_sources/{name}']")
        assert link.count() >= 1, f"{name}: no link to download its notebook"
        href = link.first.get_attribute("href")
        with urllib.request.urlopen(page.url.rsplit("/", 1)[0] + "/" + href) as resp:
            downloaded = json.load(resp)
        assert downloaded["nbformat"] == 4 and len(downloaded["cells"]) > 5
    assert injected >= len(CHAPTERS) - 1, "the fixture should inject papermill's cell"


def test_chapter_09_draws_its_widgets_from_the_saved_state(web, site, tmp_path):
    nb = json.loads((site[1] / "09_widget_lab.ipynb").read_text())
    state = nb.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE, {}).get("state")
    if not state:
        pytest.fail(
            "chapter 09's notebook has no saved widget state (metadata.widgets is "
            "missing): the site can only draw the lab from an executed notebook that "
            "kept it (papermill/nbclient store it; tools/refresh_outputs.py strips it "
            "from the stored notebooks). Run `make course`, or point COURSE_SITE_FROM "
            "at a folder with a papermill-executed 09_widget_lab.ipynb.",
            pytrace=False,
        )
    page = web.open("09_widget_lab.html")
    # the lab was saved showing the scene builder, so the test-image row's sliders are hidden
    page.locator(".jupyter-widgets.widget-slider:visible").first.wait_for(timeout=TIMEOUT)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.jupyter-widgets img')]"
        ".some(i => i.complete && i.naturalWidth > 100)"
    )
    views = page.locator("script[type='application/vnd.jupyter.widget-view+json']").count()
    page.wait_for_function(
        "n => [...document.querySelectorAll('.widget-subarea')]"
        ".filter(s => s.children.length).length >= n",
        arg=views,
    )
    text = web.text()
    assert views >= 1
    assert "Error displaying widget" not in text
    assert "VBox(children=" not in text and "HBox(children=" not in text
    assert page.locator(".jupyter-widgets.widget-slider:visible").count() >= 2
    assert page.locator(".cam-lab-tabs").count() >= 1  # the lab with its tabs, as saved
    pictures = page.locator(".jupyter-widgets img").evaluate_all(
        "is => is.filter(i => i.naturalWidth > 100).length"
    )
    assert pictures >= 1
    lab = page.locator(".widget-subarea .jupyter-widgets").first
    lab.scroll_into_view_if_needed()
    page.evaluate("window.scrollBy(0, -80)")
    page.wait_for_timeout(300)
    shot = shot_path(tmp_path, "widgets")
    page.screenshot(path=str(shot))
    print(f"screenshot: {shot}")
    assert web.errors == [], web.errors


def experiments_in(name: str) -> int:
    """How many widget views the stored chapter displays (its embedded experiments)."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    return sum(
        "application/vnd.jupyter.widget-view+json" in out.get("data", {})
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
    )


def test_every_chapter_experiment_draws_without_a_kernel(web, site):
    """Chapters 01-08 and 10 each embed an experiment; each page draws its controls and its
    last picture from the widget state saved in the stored notebook."""
    with_experiments = [n for n in CHAPTERS if experiments_in(n) and not n.startswith("09")]
    assert len(with_experiments) >= 9, f"chapters with an experiment: {with_experiments}"
    for name in with_experiments:
        nb = json.loads((site[1] / name).read_text())
        state = nb.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE, {}).get("state")
        assert state, f"{name}: the stored notebook has no saved widget state"
        page = web.open(Path(name).with_suffix(".html").name)
        page.wait_for_function(  # its picture (other widget views may be progress bars)
            "() => [...document.querySelectorAll('.jupyter-widgets img')]"
            ".some(i => i.complete && i.naturalWidth > 100)"
        )
        text = web.text()
        assert "Error displaying widget" not in text, name
        assert "VBox(children=" not in text, f"{name}: a widget shows as its text repr"
        controls = page.locator(
            ".jupyter-widgets.widget-slider, .jupyter-widgets.widget-dropdown"
        ).count()
        assert controls >= 1, f"{name}: no control drawn"
    assert web.errors == [], web.errors


def test_chapter_00_shows_the_course_map_diagram(web):
    page = web.open("00_start_here.html")
    img = page.locator("img[src*='course_map']").first
    img.wait_for(timeout=TIMEOUT)
    assert img.evaluate("i => i.complete && i.naturalWidth") > 1000
