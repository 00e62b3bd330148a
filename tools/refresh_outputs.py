"""Re-run chapters in place, top to bottom, with default parameters (the maintainer's step).

    python tools/refresh_outputs.py [NN_name.ipynb ...]

Stored outputs are what strict nbval compares against, so they must come from one clean run:
execution counts 1..n, no papermill or timing metadata left behind.
"""

import sys
import time
from pathlib import Path

import nbformat
import papermill

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def clean(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nb.metadata.pop("papermill", None)
    for cell in nb.cells:
        for key in ("papermill", "execution"):
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            for out in cell.outputs:
                out.get("metadata", {}).pop("papermill", None)
    keep_widget_state(nb)
    nbformat.write(nb, path)


WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
# models a static page cannot load offline and does not need: ipyevents' Event is not drawn,
# it only forwards mouse events to a kernel
NO_STATIC_VIEW = ("ipyevents",)


def keep_widget_state(nb) -> None:
    """Keep the widget state nbclient saved (a reader without a kernel sees the controls and the
    last pictures), minus the models no static page can or needs to load."""
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE)
    if not state or not state.get("state"):
        nb.metadata.pop("widgets", None)
        return
    state["state"] = {
        k: v for k, v in state["state"].items() if v.get("model_module") not in NO_STATIC_VIEW
    }


def main(names):
    chapters = [NOTEBOOKS / n for n in names] or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    for path in chapters:
        start = time.time()
        papermill.execute_notebook(
            str(path), str(path), kernel_name="python3", cwd=str(NOTEBOOKS), progress_bar=False
        )
        clean(path)
        print(f"{path.name}: {time.time() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
