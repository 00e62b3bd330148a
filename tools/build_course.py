"""Execute every chapter with papermill, then build the course site with Sphinx + MyST-NB.

    python tools/build_course.py [--smoke True] [--jobs N] [NN_name.ipynb ...]
    python tools/build_course.py --site-only          # the site alone (`make site`)

Executed copies go to build/executed/ (the stored notebooks are left as they are); the site
goes to build/site/ (index.html at its root: the course map, a sidebar, previous/next links,
search, each chapter's notebook to download, widgets drawn from their saved state). The
site's scripts are local: MathJax 3, the widget html-manager and require.js come from the npm
registry by `npm ci` (site/package-lock.json) into build/npm/, and are copied into the site.
--site-only builds from whatever is in build/executed/, copying a stored notebook (which has
its outputs) for each chapter that has not been executed yet.

The build is quiet: a progress bar over chapters, each chapter's time as it finishes, one
summary table at the end, and a non-zero exit status when a chapter or the site failed.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import hashlib
import json
import logging
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
SITE = ROOT / "site"  # Sphinx conf.py, templates, npm manifest
BUILD = ROOT / "build"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


# --- executing the chapters --------------------------------------------------------------------


@dataclass
class Result:
    name: str
    seconds: float = 0.0
    ok: bool = True
    cell: str = ""  # "cell 12 (In [11])" when it failed
    error: str = ""  # "ValueError: ..." when it failed


def quiet() -> None:
    """Silence the executor's chatter at its source (not stderr as a whole).

    - the kernel's "running over TCP without encryption" warning: the kernels run over IPC
      (see `kernel_config`), which ipykernel does not warn about;
    - papermill's INFO log lines ("Executing notebook with kernel ...") and the
      "Input/Output notebook" lines: papermill's logger at WARNING;
    - jupyter_client/nbclient's warnings about zmq and the asyncio event loop
      (RuntimeWarning/DeprecationWarning raised from those modules) are filtered by module.
    """
    logging.getLogger("papermill").setLevel(logging.WARNING)
    logging.getLogger("traitlets").setLevel(logging.ERROR)
    for module in ("jupyter_client", "nbclient", "zmq", "papermill"):
        warnings.filterwarnings("ignore", category=RuntimeWarning, module=module)
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=module)
    warnings.filterwarnings("ignore", message=".*Jupyter is migrating its paths.*")


def kernel_config(sockets: str):
    """Kernels on local IPC sockets, not TCP ports: no transport warning, nothing on the net.

    The sockets are files `<sockets>-1`, `<sockets>-2`, ...: each chapter gets its own folder
    for them (by default they would be `kernel-ipc-N` in the working directory, and two
    chapters started at once would pick the same names).
    """
    from traitlets.config import Config

    return Config({"KernelManager": {"transport": "ipc", "ip": sockets}})


def error_line(err) -> str:
    line = f"{err.ename}: {err.evalue}".strip()
    line = re.sub(r"\x1b\[[0-9;]*m", "", line).splitlines()
    return (line[0] if line else err.ename)[:160]


def execute_chapter(src: str, dst: str, smoke: bool) -> Result:
    """Run one chapter with papermill (in a worker process or in this one)."""
    quiet()
    import papermill

    result = Result(Path(src).name)
    start = time.monotonic()
    sockets = tempfile.TemporaryDirectory(prefix="course-kernel-")
    try:
        papermill.execute_notebook(
            src,
            dst,
            parameters={"SMOKE": smoke},
            kernel_name="python3",
            cwd=str(NOTEBOOKS),
            progress_bar=False,
            log_output=False,
            config=kernel_config(str(Path(sockets.name, "kernel"))),
        )
    except papermill.PapermillExecutionError as err:
        result.ok = False
        result.cell = f"cell {err.cell_index}" + (
            f" (In [{err.exec_count}])" if err.exec_count else ""
        )
        result.error = error_line(err)
    except Exception as err:  # kernel died, notebook unreadable, ...
        result.ok = False
        result.error = f"{type(err).__name__}: {err}".splitlines()[0][:160]
    finally:
        sockets.cleanup()
    result.seconds = time.monotonic() - start
    return result


def execute(chapters: list[Path], smoke: bool, jobs: int) -> list[Result]:
    """Execute the chapters, `jobs` at a time, with a progress bar; results in chapter order."""
    from tqdm import tqdm

    out = BUILD / "executed"
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Result] = {}
    running: list[str] = []
    bar = tqdm(
        total=len(chapters),
        unit="chapter",
        dynamic_ncols=True,
        file=sys.stdout,
        bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}]{postfix}",
    )

    def show() -> None:
        bar.set_description_str("chapters")
        bar.set_postfix_str(("running " + " + ".join(running)) if running else "", refresh=True)

    def started(name: str) -> None:
        running.append(name)
        show()

    def finished(res: Result) -> None:
        results[res.name] = res
        if res.name in running:
            running.remove(res.name)
        state = "ok" if res.ok else f"FAILED at {res.cell}: {res.error}"
        bar.write(f"{res.name:<44} {res.seconds:6.1f} s  {state}")
        bar.update(1)
        show()

    if jobs > 1 and not os.environ.get("CAMLIB_THREADS"):
        # the chapters' kernels share the CPU: each gets its part of the cores (camlib.setup)
        os.environ["CAMLIB_THREADS"] = str(max(1, (os.cpu_count() or 1) // jobs))
    try:
        if jobs <= 1:
            quiet()
            for src in chapters:
                started(src.name)
                finished(execute_chapter(str(src), str(out / src.name), smoke))
        else:
            ctx = multiprocessing.get_context("spawn")
            with cf.ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
                queue = longest_first(chapters)
                pending = {}
                while queue or pending:
                    while queue and len(pending) < jobs:
                        src = queue.pop(0)
                        started(src.name)
                        pending[
                            pool.submit(execute_chapter, str(src), str(out / src.name), smoke)
                        ] = src.name
                    done, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
                    for fut in done:
                        name = pending.pop(fut)
                        try:
                            finished(fut.result())
                        except Exception as err:  # the worker itself died
                            finished(
                                Result(name, ok=False, error=f"{type(err).__name__}: {err}"[:160])
                            )
    finally:
        bar.close()
    return [results[c.name] for c in chapters if c.name in results]


def longest_first(chapters: list[Path]) -> list[Path]:
    """The chapters in the order to start them on parallel workers: the longest first, by the
    times of the last build (build/timings.json), so that no long chapter starts last; in
    chapter order when there is no earlier build."""
    try:
        last = json.loads((BUILD / "timings.json").read_text())
    except (OSError, ValueError):
        return list(chapters)
    return sorted(chapters, key=lambda c: -float(last.get(c.name, {}).get("seconds", 0)))


def summary(results: list[Result], total: float) -> str:
    rows = [("chapter", "seconds", "result")]
    for r in results:
        rows.append(
            (
                r.name,
                f"{r.seconds:.1f}",
                "ok" if r.ok else f"FAILED {r.cell}: {r.error}".replace("  ", " "),
            )
        )
    rows.append(
        ("total (wall clock)", f"{total:.1f}", f"{sum(r.ok for r in results)}/{len(results)} ok")
    )
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    lines = [f"{a:<{w0}}  {b:>{w1}}  {c}" for a, b, c in rows]
    lines.insert(1, "-" * max(len(line) for line in lines))
    lines.insert(len(lines) - 1, lines[1])
    return "\n".join(lines)


# --- the site ----------------------------------------------------------------------------------


def npm_assets(npm_dir: Path = BUILD / "npm") -> Path:
    """`npm ci` the site's scripts into npm_dir (once per package-lock); node_modules' path."""
    lock = (SITE / "package-lock.json").read_bytes()
    stamp = npm_dir / ".lock-sha256"
    digest = hashlib.sha256(lock + (SITE / "package.json").read_bytes()).hexdigest()
    modules = npm_dir / "node_modules"
    if stamp.exists() and stamp.read_text() == digest and modules.is_dir():
        return modules
    npm = shutil.which("npm")
    if npm is None:
        sys.exit(
            "the site needs npm (Node.js) to fetch MathJax and the widget manager: "
            "install Node.js 18+ (Debian: apt-get install nodejs npm)"
        )
    npm_dir.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copy(SITE / name, npm_dir / name)
    proc = subprocess.run(
        [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=npm_dir,
        capture_output=True,
        text=True,
    )
    if proc.returncode:
        sys.exit(f"npm ci failed in {npm_dir}:\n{proc.stdout}{proc.stderr}")
    stamp.write_text(digest)
    return modules


def copy_assets(modules: Path, dest: Path) -> None:
    """The files the pages load, into dest/mathjax and dest/widgets (then _static/ of the site)."""
    es5 = modules / "mathjax" / "es5"
    mathjax = dest / "mathjax"
    if not (mathjax / "tex-chtml.js").exists():
        shutil.rmtree(mathjax, ignore_errors=True)
        # the TeX-to-CommonHTML bundle, the TeX extensions it loads on demand, its fonts, the
        # menu and accessibility parts; not the SVG/MathML bundles
        shutil.copytree(
            es5,
            mathjax,
            ignore=lambda d, names: [
                n
                for n in names
                if (Path(d) == es5 and n.endswith(".js") and n != "tex-chtml.js")
                or (Path(d) == es5 / "output" and n in ("svg", "svg.js"))
            ],
        )
    widgets = dest / "widgets"
    if not (widgets / "embed-amd.js").exists():
        shutil.rmtree(widgets, ignore_errors=True)
        dist = modules / "@jupyter-widgets" / "html-manager" / "dist"
        shutil.copytree(
            dist,
            widgets,
            ignore=lambda d, names: [
                n
                for n in names
                if n.endswith((".map", ".txt")) or n in ("embed.js", "libembed-amd.js")
            ],
        )
        shutil.copy(modules / "requirejs" / "require.js", widgets / "require.js")
        (widgets / "modules").mkdir(exist_ok=True)  # the local "CDN": nothing in it


def widget_modules(notebooks: list[Path], dest: Path) -> list[str]:
    """Serve the AMD bundle of each third-party widget module in the saved widget state.

    The html-manager has ipywidgets' own models built in; for any other module (ipyevents,
    ...) it asks `<data-jupyter-widgets-cdn>/<module>@<version>/dist/index.js`, which the
    site points at its own _static/widgets/modules/. The bundle is the one the module's Python
    package installs for the classic notebook (`nbextension/static/index.js`, or
    share/jupyter/nbextensions/<module>/index.js). Returns the modules it could not find.
    """
    import importlib.util

    wanted = set()
    for path in notebooks:
        meta = json.loads(path.read_text(encoding="utf-8")).get("metadata", {})
        state = meta.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
        for model in state.values():
            module = model.get("model_module", "")
            if module and not module.startswith("@jupyter-widgets/"):
                wanted.add((module, model.get("model_module_version", "")))
    missing = []
    for module, version in sorted(wanted):
        candidates = [Path(sys.prefix, "share", "jupyter", "nbextensions", module, "index.js")]
        spec = importlib.util.find_spec(module.replace("-", "_"))
        if spec and spec.submodule_search_locations:
            for loc in spec.submodule_search_locations:
                candidates.insert(0, Path(loc, "nbextension", "static", "index.js"))
        bundle = next((c for c in candidates if c.is_file()), None)
        if bundle is None:
            missing.append(f"{module}@{version}")
            continue
        target = dest / f"{module}@{version}" / "dist"
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(bundle, target / "index.js")
    return missing


def write_if_changed(path: Path, data: str) -> None:
    if not path.exists() or path.read_text(encoding="utf-8") != data:
        path.write_text(data, encoding="utf-8")


def front_page(chapters: list[str], titles: dict[str, str]) -> str:
    """index.md: the README's opening paragraph and its course map, chapters linked (a chapter
    the README's map does not list yet gets a row with its title)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    intro = readme.split("\n\n")[1].strip()
    course_map = readme.split("## Course map", 1)[1].split("\n## ", 1)[0].strip()
    course_map = re.sub(r"\]\(notebooks/([0-9]{2}_[\w-]+\.ipynb)\)", r"](\1)", course_map)
    for name in chapters:
        if f"]({name})" not in course_map:
            title = re.sub(r"^[0-9]{2}\s*\W\s*", "", titles.get(name, name))
            course_map += f"\n| {name[:2]} | [{title}]({name}) | |"
    toctree = "\n".join(Path(c).stem for c in chapters)
    return (
        f"# The CAM course\n\n{intro}\n\n## Course map\n\n{course_map}\n\n"
        "Every chapter page has a download button (top right) for its notebook, executed, "
        "with its outputs; widgets show the state they were left in (they need a kernel "
        "to move: open the notebook in JupyterLab for that).\n\n"
        f"```{{toctree}}\n:hidden:\n:maxdepth: 1\n\n{toctree}\n```\n"
    )


def stage(executed: Path, src: Path) -> list[str]:
    """The Sphinx source folder: index.md and the chapters (injected cell marked remove-cell)."""
    import nbformat

    src.mkdir(parents=True, exist_ok=True)
    chapters = sorted(p.name for p in executed.glob("[0-9][0-9]_*.ipynb"))
    for stale in src.glob("*.ipynb"):
        if stale.name not in chapters:
            stale.unlink()
    titles = {}
    for name in chapters:
        nb = nbformat.read(executed / name, as_version=4)
        titles[name] = next(
            (
                line[2:].strip()
                for c in nb.cells
                if c.cell_type == "markdown"
                for line in c.source.splitlines()
                if line.startswith("# ")
            ),
            name,
        )
        for cell in nb.cells:
            tags = cell.metadata.get("tags", [])
            if "injected-parameters" in tags and "remove-cell" not in tags:
                cell.metadata["tags"] = [*tags, "remove-cell"]
        write_if_changed(src / name, nbformat.writes(nb) + "\n")
    write_if_changed(src / "index.md", front_page(chapters, titles))
    images = src / "images"  # the diagrams and screenshots the chapters' markdown shows
    images.mkdir(exist_ok=True)
    for png in sorted((NOTEBOOKS / "images").glob("*.png")):
        write_bytes_if_changed(images / png.name, png.read_bytes())
    return chapters


def write_bytes_if_changed(path: Path, data: bytes) -> None:
    """Write only when the bytes differ, so Sphinx's incremental build sees no change."""
    if not path.exists() or path.read_bytes() != data:
        path.write_bytes(data)


REMOTE = re.compile(
    r"""<(?:script|link|img|iframe|source)\b[^>]*?\b(?:src|href)\s*=\s*["']"""
    r"""((?:https?:)?//[^"']+)""",
    re.I,
)


def remote_assets(out: Path) -> list[str]:
    """Scripts, stylesheets, images or frames a page would fetch from the net."""
    found = []
    for page in out.rglob("*.html"):
        for url in REMOTE.findall(page.read_text(encoding="utf-8", errors="replace")):
            found.append(f"{page.relative_to(out)}: {url}")
    for css in out.rglob("*.css"):
        for url in re.findall(
            r"""@import\s+(?:url\()?["']?((?:https?:)?//[^"')]+)""",
            css.read_text(encoding="utf-8", errors="replace"),
        ):
            found.append(f"{css.relative_to(out)}: {url}")
    return found


def build_site(
    executed: Path = BUILD / "executed",
    out: Path = BUILD / "site",
    work: Path = BUILD / "site-work",
    npm_dir: Path = BUILD / "npm",
) -> list[str]:
    """Build the HTML site from executed notebooks; returns Sphinx's warnings."""
    start = time.monotonic()
    modules = npm_assets(npm_dir)
    copy_assets(modules, work / "assets")
    chapters = stage(executed, work / "src")
    missing = widget_modules(
        [work / "src" / c for c in chapters], work / "assets" / "widgets" / "modules"
    )
    if missing:
        print(
            f"site: no local bundle for the widget modules {missing}: their widgets will "
            "show an error on the pages",
            flush=True,
        )
    warnfile = work / "warnings.txt"
    env = dict(os.environ, CAM_SITE_ASSETS=str(work / "assets"), PYTHONWARNINGS="ignore")
    # Sphinx writes into work/html (MyST-NB puts its image cache beside that, in
    # work/jupyter_execute), incrementally; the finished site is then copied to `out`
    html = work / "html"
    cmd = [
        sys.executable,
        "-m",
        "sphinx",
        "-b",
        "html",
        "-q",
        "-c",
        str(SITE),
        "-d",
        str(work / "doctrees"),
        "-w",
        str(warnfile),
        "--keep-going",
        str(work / "src"),
        str(html),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    warns = [w for w in warnfile.read_text().splitlines() if w.strip()] if warnfile.exists() else []
    if proc.returncode or not (html / "index.html").exists():
        sys.exit(
            f"the site failed to build ({' '.join(cmd)}):\n{(proc.stdout + proc.stderr)[-4000:]}"
        )
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(html, out, ignore=shutil.ignore_patterns(".buildinfo*", ".doctrees"))
    remote = remote_assets(out)
    if remote:
        sys.exit("the site would load from the net:\n  " + "\n  ".join(remote[:20]))
    print(
        f"site: {len(chapters)} chapters, {len(warns)} Sphinx warnings "
        f"({warnfile.relative_to(ROOT) if warnfile.is_relative_to(ROOT) else warnfile}), "
        f"{time.monotonic() - start:.0f} s -> {out / 'index.html'}",
        flush=True,
    )
    return warns


def fill_executed(executed: Path) -> list[str]:
    """Copy a stored notebook for each chapter not executed yet (they carry their outputs)."""
    executed.mkdir(parents=True, exist_ok=True)
    copied = []
    for nb in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        if not (executed / nb.name).exists():
            shutil.copy(nb, executed / nb.name)
            copied.append(nb.name)
    return copied


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", default="False", help="pass SMOKE=True for a quick pass")
    parser.add_argument(
        "--jobs",
        type=int,
        default=int(os.environ.get("COURSE_JOBS", "1")),
        help="chapters executed at a time, the cores shared among them (`make course`: 2)",
    )
    parser.add_argument(
        "--site-only",
        action="store_true",
        help="build the site from build/executed/ without executing",
    )
    parser.add_argument("only", nargs="*", help="chapter files to execute (default: all)")
    args = parser.parse_args(argv)
    failed = []
    if not args.site_only:
        chapters = [NOTEBOOKS / n for n in args.only] or sorted(
            NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")
        )
        missing = [str(c) for c in chapters if not c.exists()]
        if missing:
            sys.exit(f"no such chapter: {missing}")
        smoke = args.smoke.lower() in ("1", "true", "yes")
        start = time.monotonic()
        results = execute(chapters, smoke, max(1, args.jobs))
        total = time.monotonic() - start
        print(summary(results, total), flush=True)
        failed = [r.name for r in results if not r.ok]
        timings = BUILD / "timings.json"  # kept across builds: a partial build updates its rows
        try:
            rows = json.loads(timings.read_text())
        except (OSError, ValueError):
            rows = {}
        for r in results:
            rows[r.name] = {
                "seconds": round(r.seconds, 1),
                "ok": r.ok,
                "cell": r.cell,
                "error": r.error,
            }
        timings.write_text(json.dumps(dict(sorted(rows.items())), indent=2))
    copied = fill_executed(BUILD / "executed")
    if copied:
        print(
            f"site: {len(copied)} chapters not executed, their stored notebooks used: "
            f"{', '.join(c[:2] for c in copied)}"
        )
    build_site()
    if failed:
        sys.exit(f"chapters that failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
