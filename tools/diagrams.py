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


def acol_branches(path: Path, index: int = 0) -> None:
    """ACoL's two branches on one test image, computed by the shipped `acol` network: the
    backbone features, A's map for the true class with the delta contour, the features B gets
    (zero where A's normalized map >= delta), B's map and the fused map; arrows show the data
    flow, the boxes on the arrows name the layers."""
    import torch

    from camlib import data, methods, models

    plot.use_style()
    net = models.load("acol")
    test = data.split("test", n=index + 1)
    x, y = test.images[index : index + 1], test.labels[index : index + 1]
    with torch.no_grad():
        f = net.features(x)
        out = net.forward_maps(x, y)
    cls, delta = data.CLASSES[int(y)], net.delta
    a_bar = methods.normalize(out["maps_a"][:, int(y)])[0]
    b_bar = methods.normalize(out["maps_b"][:, int(y)])[0]
    erased = out["erased"][0]
    f_mean, f_kept = f[0].mean(0), (f[0] * (1 - erased)).mean(0)
    fmax = float(f_mean.max())

    fig = plt.figure(figsize=(15, 7.2))
    size, xs, ys = 0.17, (0.02, 0.27, 0.52, 0.77), (0.5, 0.05)

    def panel(col, row):
        return fig.add_axes((xs[col], ys[row], size * 7.2 / 15 * 15 / 7.2 * 0.9, 0.36))

    ax = panel(0, 0)
    plot.show_image(ax, x[0], f"image · {cls}")
    ax = panel(1, 0)
    plot.show_map(
        ax, f_mean, "backbone features f\n(mean of 128 channels)", vmin=0, vmax=fmax, colorbar=False
    )
    ax = panel(2, 0)
    plot.show_map(
        ax,
        a_bar,
        f"A's map · {cls}\n(normalized, contour: δ = {delta})",
        vmin=0,
        vmax=1,
        colorbar=False,
    )
    ax.contour(a_bar.numpy(), levels=[delta], colors=[plot.COLORS["pred"]], linewidths=2.5)
    ax = panel(3, 0)
    plot.show_map(
        ax,
        erased,
        f"erased: E = [Ā ≥ δ]\n{int(erased.sum())} of 256 cells",
        vmin=0,
        vmax=1,
        cmap="gray_r",
        colorbar=False,
    )
    for spine in ax.spines.values():
        spine.set_visible(True)
    ax = panel(1, 1)
    plot.show_map(ax, f_kept, "features B gets\nf ⊙ (1 − E)", vmin=0, vmax=fmax, colorbar=False)
    ax = panel(2, 1)
    plot.show_map(ax, b_bar, f"B's map · {cls}\n(normalized)", vmin=0, vmax=1, colorbar=False)
    ax = panel(3, 1)
    plot.show_map(
        ax, out["fused"][0, int(y)], f"fused · {cls}\nmax(Ā, B̄)", vmin=0, vmax=1, colorbar=False
    )
    ax = fig.add_axes((xs[0], ys[1] + 0.04, 0.2, 0.28))
    ax.axis("off")
    ax.text(0, 0.75, r"loss = CE($S^A$, y) + CE($S^B$, y)", fontsize=14, va="center")
    ax.text(0, 0.35, "S = GAP of each map\n(no gradient flows through E)", fontsize=12, va="center")

    w = size * 0.9

    def arrow(p0, p1, label=None, rad=0.0, at=None):
        fig.add_artist(
            FancyArrowPatch(
                p0,
                p1,
                transform=fig.transFigure,
                arrowstyle="-|>",
                mutation_scale=20,
                lw=2,
                color="#555555",
                connectionstyle=f"arc3,rad={rad}",
            )
        )
        if label:
            mx, my = at or ((p0[0] + p1[0]) / 2, (p0[1] + p1[1]) / 2 + 0.035)
            fig.text(
                mx,
                my,
                label,
                ha="center",
                va="bottom",
                fontsize=12,
                bbox=dict(boxstyle="round,pad=0.25", fc="white", ec="#0072B2"),
            )

    top, bottom = ys[0] + 0.18, ys[1] + 0.18
    arrow((xs[0] + w + 0.005, top), (xs[1] - 0.005, top), "backbone")
    arrow((xs[1] + w + 0.005, top), (xs[2] - 0.005, top), "head A")
    arrow((xs[2] + w + 0.005, top), (xs[3] - 0.005, top), "≥ δ")
    arrow(
        (xs[3] + w / 2, ys[0] - 0.01),
        (xs[1] + w, ys[1] + 0.37),
        "zero f where E = 1",
        rad=-0.15,
        at=(0.62, 0.468),
    )
    arrow((xs[1] + w + 0.005, bottom), (xs[2] - 0.005, bottom), "head B")
    arrow((xs[2] + w + 0.005, bottom), (xs[3] - 0.005, bottom), "max with Ā")
    fig.suptitle(
        f"ACoL's two branches on one test image ({cls}, the shipped network, δ = {delta})",
        fontsize=15,
    )
    fig.savefig(path, dpi=100, facecolor="white")
    plt.close(fig)


DIAGRAMS = {"course_map": course_map, "acol_branches": acol_branches}


def main(names) -> None:
    IMAGES.mkdir(exist_ok=True)
    for name in names or DIAGRAMS:
        DIAGRAMS[name](IMAGES / f"{name}.png")
        print(f"wrote notebooks/images/{name}.png")


if __name__ == "__main__":
    main(sys.argv[1:])
