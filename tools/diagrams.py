"""The course's drawn diagrams, written to notebooks/images/ (the committed PNGs are made here).

    python tools/diagrams.py            # every diagram
    python tools/diagrams.py course_map # one

Each diagram is a function `name(path)` registered in DIAGRAMS; it draws with the course's
style (camlib.plot) and saves one PNG.
"""

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

from camlib import plot  # noqa: E402

IMAGES = Path(__file__).resolve().parent.parent / "notebooks" / "images"

# chapter -> (title, column, row) on the course map, and the chapters each one builds on
CHAPTERS = {
    "00": ("Start here", 0, 2.5),
    "01": ("GAP vs GMP\nvs flatten", 1, 2.5),
    "02": ("CAM", 2, 2.5),
    "03": ("Grad-CAM", 3, 2.5),
    "04": ("Grad-CAM++", 4, 0),
    "05": ("Guided\nGrad-CAM", 4, 1),
    "06": ("Counterfactuals,\ndiagnosis", 4, 2),
    "07": ("ACoL", 4, 3),
    "08": ("Evaluating\nexplanations", 4, 4),
    "10": ("Your own\nmodel", 4, 5),
    "11": ("The CAM\nfamily", 5, 1.5),
    "12": ("The map\nclinic", 5, 2.75),
    "09": ("Experiment\nbench", 5, 4),
    "13": ("Beyond argmax\nand CNNs", 6, 2.1),
}
NEEDS = {
    "01": ["00"],
    "02": ["01"],
    "03": ["02"],
    "04": ["03"],
    "05": ["03"],
    "06": ["03"],
    "07": ["03"],
    "08": ["03"],
    "10": ["03"],
    "09": ["08"],
    "11": ["04", "08"],
    "12": ["05", "08"],
    "13": ["11", "12"],
}
SPINE = {"00", "01", "02", "03"}


def course_map(path: Path) -> None:
    """Chapters as boxes, an arrow from each chapter to the ones that build on it; the spine
    (00-03) filled, the branches outlined, each column one step further from the start."""
    plot.use_style()
    fig, ax = plt.subplots(figsize=(14, 6.6))
    w, h, dx, dy = 1.52, 0.8, 2.05, 1.0
    place = {n: (col * dx, -row * dy) for n, (_, col, row) in CHAPTERS.items()}
    for number, (title, _, _) in CHAPTERS.items():
        x, y = place[number]
        spine = number in SPINE
        ax.add_patch(
            FancyBboxPatch(
                (x - w / 2, y - h / 2),
                w,
                h,
                boxstyle="round,pad=0.02,rounding_size=0.08",
                facecolor=plot.COLORS["pred"] if spine else "white",
                edgecolor="#0072B2",
                lw=2.2,
            )
        )
        ax.text(x, y + 0.2, number, ha="center", va="center", fontsize=16, weight="bold")
        ax.text(x, y - 0.12, title, ha="center", va="center", fontsize=12, linespacing=1.05)
    for number, needs in NEEDS.items():
        x1, y1 = place[number]
        for need in needs:
            x0, y0 = place[need]
            start, end = (x0 + w / 2, y0), (x1 - w / 2, y1)
            ax.add_patch(
                FancyArrowPatch(
                    start, end, arrowstyle="-|>", mutation_scale=18, lw=1.6, color="#555555"
                )
            )
    ax.set(xlim=(-w / 2 - 0.1, 6 * dx + w / 2 + 0.1), ylim=(-5 * dy - h, h), aspect="equal")
    ax.axis("off")
    ax.set_title(
        "The course map: each arrow points from a chapter to one that builds on it\n"
        "(filled: the spine, read in order; outlined: any chapter, "
        "once the ones pointing to it are read)",
        fontsize=14,
    )
    fig.savefig(path, dpi=100, facecolor="white")
    plt.close(fig)


DIAGRAMS = {"course_map": course_map}


def main(names) -> None:
    IMAGES.mkdir(exist_ok=True)
    for name in names or DIAGRAMS:
        DIAGRAMS[name](IMAGES / f"{name}.png")
        print(f"wrote notebooks/images/{name}.png")


if __name__ == "__main__":
    main(sys.argv[1:])
