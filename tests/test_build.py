"""The course build (tools/build_course.py): chapters executed at the same time do not share
their kernels' sockets, and leave none behind; a failing cell is reported with its place."""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import build_course  # noqa: E402


def notebook(path: Path, code: str) -> Path:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("SMOKE = False")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(code)]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)
    return path


def sockets_left() -> list[str]:
    return [str(p) for d in (ROOT, ROOT / "notebooks") for p in d.glob("kernel-ipc-*")]


def test_two_chapters_at_once_each_get_their_own_kernel(tmp_path):
    before = sockets_left()
    srcs = [
        notebook(tmp_path / f"{n}.ipynb", f"import time\ntime.sleep(2)\nprint({n})") for n in (1, 2)
    ]
    ctx = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=2, mp_context=ctx) as pool:
        futures = [
            pool.submit(build_course.execute_chapter, str(s), str(tmp_path / f"out{s.name}"), False)
            for s in srcs
        ]
        results = [f.result() for f in futures]
    assert [(r.ok, r.error) for r in results] == [(True, ""), (True, "")]
    for n in (1, 2):
        out = nbformat.read(tmp_path / f"out{n}.ipynb", as_version=4)
        assert out.cells[-1].outputs[0]["text"] == f"{n}\n"
    assert sockets_left() == before


def test_a_failing_cell_is_named_in_the_result(tmp_path):
    src = notebook(tmp_path / "bad.ipynb", "raise ValueError('the message')")
    result = build_course.execute_chapter(str(src), str(tmp_path / "out.ipynb"), False)
    assert not result.ok
    assert result.error == "ValueError: the message"
    assert result.cell.startswith("cell ")
