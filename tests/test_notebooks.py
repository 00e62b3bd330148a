"""Notebook hygiene: what strict nbval and a learner's Restart-and-Run-All both rely on."""

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted(
    (Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb")
)
IGNORE = "# NBVAL_IGNORE_OUTPUT"


def load(path):
    return json.loads(path.read_text(encoding="utf-8"))


def code_cells(nb):
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def source(cell):
    return "".join(cell["source"])


def test_all_chapters_present():
    names = [p.name[:2] for p in NOTEBOOKS]
    assert len(names) >= 11 and names == [f"{i:02d}" for i in range(len(names))], names


@pytest.fixture(params=NOTEBOOKS, ids=lambda p: p.stem)
def nb(request):
    return load(request.param)


def test_kernelspec(nb):
    assert nb["metadata"]["kernelspec"]["name"] == "python3"


def test_first_code_cell_is_parameters(nb):
    first = code_cells(nb)[0]
    assert "parameters" in first["metadata"].get("tags", [])
    for name in ("SEED", "SMOKE", "RETRAIN"):
        assert re.search(rf"^{name}\s*=", source(first), re.M), f"{name} missing"
    tags = [t for c in nb["cells"] for t in c["metadata"].get("tags", [])]
    assert tags.count("parameters") == 1 and "injected-parameters" not in tags


def test_counts_are_one_clean_run(nb):
    counts = [c["execution_count"] for c in code_cells(nb)]
    assert counts == list(range(1, len(counts) + 1)), counts


def test_no_errors_stderr_or_svg(nb):
    for cell in code_cells(nb):
        for out in cell["outputs"]:
            assert out["output_type"] != "error", source(cell)[:80]
            assert not (out["output_type"] == "stream" and out["name"] == "stderr"), (
                f"stderr in: {source(cell)[:80]!r}: {''.join(out['text'])[:200]}"
            )
            assert "image/svg+xml" not in out.get("data", {})


def test_no_run_metadata_left(nb):
    assert "papermill" not in nb["metadata"]
    for cell in nb["cells"]:
        assert "papermill" not in cell["metadata"] and "execution" not in cell["metadata"]


def test_figures_are_png(nb):
    pngs = sum("image/png" in o.get("data", {}) for c in code_cells(nb) for o in c["outputs"])
    assert pngs >= 1


def test_ignore_marker_is_the_exception(nb):
    cells = code_cells(nb)
    ignored = [c for c in cells if IGNORE in source(c)]
    assert len(ignored) <= max(3, len(cells) // 4), f"{len(ignored)} of {len(cells)} cells ignored"


def test_checks_hold(nb):
    text = "".join("".join(o.get("text", "")) for c in code_cells(nb) for o in c["outputs"])
    assert "FAILED" not in text
    assert text.count("check: ") >= 1, "every chapter checks at least one claim in numbers"


def test_teaching_frame(nb):
    md = [source(c) for c in nb["cells"] if c["cell_type"] == "markdown"]
    assert md[0].lstrip().startswith("# "), "the first cell is the chapter title"
    text = "\n".join(md).lower()
    assert "takeaways" in text and "exercises" in text
    assert "you will" in text or "learning objectives" in text or "what you will" in text
