"""Lecture mode: every chapter presents as a sane RISE deck without editing it."""

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted(
    (Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb")
)
TYPES = {"slide", "subslide", "fragment", "skip", "notes", "-"}
MAX_LINES = 48  # a rough screenful: source lines + text output lines + 14 per figure
FIGURE_LINES = 14


def slide_type(cell):
    return cell["metadata"].get("slideshow", {}).get("slide_type")


def height(cell):
    if slide_type(cell) in ("skip", "notes"):
        return 0
    lines = len("".join(cell["source"]).splitlines())
    for out in cell.get("outputs", []):
        if "image/png" in out.get("data", {}):
            lines += FIGURE_LINES
        elif out["output_type"] == "stream":
            lines += len("".join(out["text"]).splitlines())
        elif "text/plain" in out.get("data", {}):
            lines += min(5, len("".join(out["data"]["text/plain"]).splitlines()))
    return lines


def slides(nb):
    """Group cells into (sub)slides: a new one starts at every slide or subslide cell."""
    deck = []
    for cell in nb["cells"]:
        if slide_type(cell) in ("slide", "subslide") or not deck:
            deck.append([])
        deck[-1].append(cell)
    return deck


@pytest.fixture(params=NOTEBOOKS, ids=lambda p: p.stem)
def nb(request):
    return json.loads(request.param.read_text(encoding="utf-8"))


def test_every_cell_has_slide_metadata(nb):
    missing = ["".join(c["source"])[:60] for c in nb["cells"] if slide_type(c) not in TYPES]
    assert not missing, f"cells without a valid slide_type: {missing}"


def test_deck_opens_on_the_title(nb):
    assert slide_type(nb["cells"][0]) == "slide"
    assert "".join(nb["cells"][0]["source"]).startswith("# ")


def test_section_headings_start_slides(nb):
    headings = [
        c
        for c in nb["cells"]
        if c["cell_type"] == "markdown" and "".join(c["source"]).lstrip().startswith("## ")
    ]
    assert headings
    for cell in headings:
        assert slide_type(cell) in ("slide", "subslide"), "".join(cell["source"])[:60]
    assert sum(slide_type(c) == "slide" for c in nb["cells"]) >= len(headings)


def test_parameters_cell_is_skipped(nb):
    params = [c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", [])]
    assert params and slide_type(params[0]) == "skip"


def test_no_slide_taller_than_a_screen(nb):
    for cells in slides(nb):
        total = sum(map(height, cells))
        title = "".join(cells[0]["source"]).splitlines()[0][:60] if cells[0]["source"] else "?"
        assert total <= MAX_LINES, f"slide '{title}' is about {total} lines tall"
