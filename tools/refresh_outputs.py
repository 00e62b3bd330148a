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
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, path)


def main(names):
    chapters = [NOTEBOOKS / n for n in names] or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    for path in chapters:
        start = time.time()
        papermill.execute_notebook(str(path), str(path), kernel_name="python3",
                                   cwd=str(NOTEBOOKS), progress_bar=False)
        clean(path)
        print(f"{path.name}: {time.time() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
