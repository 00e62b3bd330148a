"""Execute every chapter with papermill and write the HTML site into build/.

    python tools/build_course.py [--smoke True] [NN_name.ipynb ...]

Executed copies go to build/executed/ (the stored notebooks are left as they are), HTML pages
to build/site/, with build/site/index.html linking the chapters in order.
"""

import argparse
import html
import json
import sys
import time
from pathlib import Path

import nbformat
import papermill
from nbconvert import HTMLExporter

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
BUILD = ROOT / "build"


def title_of(nb) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return "(untitled)"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", default="False", help="pass SMOKE=True for a quick pass")
    parser.add_argument("only", nargs="*", help="chapter files to build (default: all)")
    args = parser.parse_args(argv)
    chapters = [NOTEBOOKS / n for n in args.only] or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    smoke = args.smoke.lower() in ("1", "true", "yes")
    (BUILD / "executed").mkdir(parents=True, exist_ok=True)
    (BUILD / "site").mkdir(parents=True, exist_ok=True)
    exporter = HTMLExporter()
    entries, failed = [], []
    for src in chapters:
        dst = BUILD / "executed" / src.name
        start = time.time()
        try:
            papermill.execute_notebook(str(src), str(dst), parameters={"SMOKE": smoke},
                                       kernel_name="python3", cwd=str(NOTEBOOKS),
                                       progress_bar=False)
        except papermill.PapermillExecutionError as err:
            failed.append(src.name)
            print(f"FAILED {src.name}: {err.ename}: {err.evalue}", file=sys.stderr)
        seconds = time.time() - start
        nb = nbformat.read(dst, as_version=4)
        body, _ = exporter.from_notebook_node(nb)
        page = src.with_suffix(".html").name
        (BUILD / "site" / page).write_text(body, encoding="utf-8")
        entries.append((page, title_of(nb), seconds))
        print(f"{src.name}: {seconds:.0f} s", flush=True)
    items = "\n".join(f'<li><a href="{p}">{html.escape(t)}</a> <small>({s:.0f} s)</small></li>'
                      for p, t, s in entries)
    (BUILD / "site" / "index.html").write_text(
        "<!doctype html><meta charset='utf-8'><title>The CAM course</title>"
        "<style>body{font:18px/1.5 sans-serif;max-width:44em;margin:3em auto}</style>"
        f"<h1>The CAM course</h1><p>From Global Average Pooling to ACoL, one chapter per idea."
        f"</p><ol start='0'>{items}</ol>\n", encoding="utf-8")
    (BUILD / "site" / "timings.json").write_text(json.dumps(
        {p: round(s, 1) for p, _, s in entries}, indent=2))
    print(f"site: {BUILD / 'site' / 'index.html'}")
    if failed:
        sys.exit(f"chapters that failed: {failed}")


if __name__ == "__main__":
    main()
