"""One plotting style for the whole course, readable on a laptop and on a projector.

Fonts of at least 12 pt, perceptually uniform colour maps that colour-blind readers can use
(magma for maps, a ColorBrewer diverging map for signed ones; never jet or rainbow), heatmaps
overlaid on the image with adjustable opacity, and one layout everywhere:

    image | map (with colour bar) | overlay | boxes (predicted vs ground truth)
"""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

CMAP = "magma"  # saliency / CAM maps (non-negative)
SIGNED_CMAP = "RdBu_r"  # signed maps (raw CAM M_c, gradients): ColorBrewer, colour-blind safe
# Okabe-Ito colours, distinguishable with every common colour-vision deficiency.
COLORS = {
    "pred": "#56B4E9",
    "true": "#E69F00",
    "part": "#CC79A7",
    "other": "#009E73",
    "cue": "#F0E442",
}
METHOD_COLORS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#000000"]


def use_style() -> None:
    """Set the course's matplotlib defaults (call once per notebook; camlib.setup does)."""
    mpl.rcParams.update(
        {
            "font.size": 13,
            "axes.titlesize": 14,
            "axes.labelsize": 13,
            "xtick.labelsize": 12,
            "ytick.labelsize": 12,
            "legend.fontsize": 12,
            "figure.titlesize": 15,
            "figure.dpi": 100,
            "savefig.dpi": 100,
            "figure.constrained_layout.use": True,
            "image.cmap": CMAP,
            "axes.prop_cycle": mpl.cycler(color=METHOD_COLORS),
            "axes.grid": False,
            "lines.linewidth": 2.2,
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    )


def to_numpy_image(image) -> np.ndarray:
    """(3, H, W) tensor or (H, W, 3) array in [0, 1] -> (H, W, 3) numpy array for imshow."""
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu()
        if image.ndim == 3 and image.shape[0] in (1, 3):
            image = image.permute(1, 2, 0)
        image = image.numpy()
    return np.clip(image, 0, 1)


def to_numpy_map(amap, size: int | None = None) -> np.ndarray:
    """(h, w) map -> numpy, bilinearly upsampled to size x size when given."""
    amap = torch.as_tensor(amap).detach().float().cpu()
    if size is not None and amap.shape[-1] != size:
        amap = F.interpolate(
            amap[None, None], size=(size, size), mode="bilinear", align_corners=False
        )[0, 0]
    return amap.numpy()


def grid(rows: int, cols: int, size: float = 2.8, **kw):
    """A figure with rows x cols axes, ticks off; returns (fig, 2-D array of axes)."""
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * rows), squeeze=False, **kw)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig, axes


def show_image(ax, image, title: str | None = None):
    ax.imshow(to_numpy_image(image), interpolation="nearest")
    _finish(ax, title)


def show_map(
    ax,
    amap,
    title: str | None = None,
    cmap: str | None = None,
    colorbar=True,
    signed: bool = False,
    vmin=None,
    vmax=None,
    label: str | None = None,
):
    """A map at its own resolution, with a colour bar when values matter."""
    amap = to_numpy_map(amap)
    if signed:
        lim = float(np.abs(amap).max()) or 1.0
        vmin, vmax, cmap = -lim, lim, cmap or SIGNED_CMAP
    im = ax.imshow(amap, cmap=cmap or CMAP, vmin=vmin, vmax=vmax, interpolation="nearest")
    if colorbar:
        cb = plt.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
        if label:
            cb.set_label(label)
    _finish(ax, title)
    return im


def overlay(
    ax,
    image,
    amap,
    alpha: float = 0.5,
    title: str | None = None,
    cmap: str | None = None,
    normalize: bool = True,
):
    """The map, upsampled bilinearly to the image size, drawn over the image with opacity alpha."""
    img = to_numpy_image(image)
    heat = to_numpy_map(amap, size=img.shape[0])
    if normalize:
        span = heat.max() - heat.min()
        heat = (heat - heat.min()) / span if span > 0 else np.zeros_like(heat)
    ax.imshow(img, interpolation="nearest")
    ax.imshow(heat, cmap=cmap or CMAP, alpha=alpha, vmin=0, vmax=1, interpolation="bilinear")
    _finish(ax, title)


def draw_box(ax, box, kind: str = "pred", label: str | None = None, lw: float = 2.5):
    """Draw a half-open pixel box (x0, y0, x1, y1); kind 'pred' is solid, 'true' dashed."""
    if box is None:
        return
    x0, y0, x1, y1 = [float(v) for v in box]
    style = "--" if kind == "true" else "-"
    ax.add_patch(
        mpl.patches.Rectangle(
            (x0 - 0.5, y0 - 0.5),
            x1 - x0,
            y1 - y0,
            fill=False,
            edgecolor=COLORS.get(kind, kind),
            lw=lw,
            ls=style,
            label=label,
        )
    )


def draw_mask_outline(ax, mask, kind: str = "part", lw: float = 1.8):
    """Outline of a boolean mask (for parts, cues, ground-truth masks)."""
    mask = np.asarray(torch.as_tensor(mask).cpu(), dtype=float)
    ax.contour(mask, levels=[0.5], colors=[COLORS.get(kind, kind)], linewidths=lw)


def explain(
    image,
    amap,
    *,
    method: str,
    class_name: str,
    pred_box=None,
    true_box=None,
    alpha: float = 0.5,
    signed: bool = False,
    axes=None,
    size: float = 3.0,
):
    """The course's standard row: image | map | overlay | boxes, titled with class and method."""
    if axes is None:
        fig, axes = grid(1, 4, size=size)
        axes = axes[0]
    show_image(axes[0], image, f"image ({class_name})")
    show_map(axes[1], amap, f"{method}", signed=signed)
    overlay(axes[2], image, amap, alpha=alpha, title=f"{method}: '{class_name}'")
    show_image(axes[3], image, "boxes")
    draw_box(axes[3], true_box, "true", "ground truth")
    draw_box(axes[3], pred_box, "pred", "from map")
    if pred_box is not None or true_box is not None:
        axes[3].legend(
            loc="lower center", bbox_to_anchor=(0.5, -0.32), ncol=1, frameon=False, fontsize=11
        )
    return axes[0].figure


def _finish(ax, title):
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)


def backward_rules(forward, incoming, passed: dict, size: float = 2.6):
    """What each backward rule passes down through one ReLU, on a small patch.

    `forward` is the ReLU's forward input f (h, w), `incoming` the signal R from above (h, w),
    `passed` maps a rule's name to what it sends down (h, w). Every panel shares one signed
    colour scale and prints each cell's value; a cell a rule blocks prints 0.
    """
    panels = [("forward input f", forward), ("incoming R from above", incoming), *passed.items()]
    panels = [(t, to_numpy_map(v)) for t, v in panels]
    lim = max(float(np.abs(v).max()) for _, v in panels) or 1.0
    fig, axes = grid(1, len(panels), size=size)
    for ax, (title, v) in zip(axes[0], panels):
        im = ax.imshow(v, cmap=SIGNED_CMAP, vmin=-lim, vmax=lim, interpolation="nearest")
        for (i, j), val in np.ndenumerate(v):
            text = "0" if val == 0 else f"{val:.1f}"
            ink = "white" if abs(val) > 0.6 * lim else "black"
            ax.text(j, i, text, ha="center", va="center", fontsize=12, color=ink)
        _finish(ax, title)
    fig.colorbar(im, ax=list(axes[0]), fraction=0.02, pad=0.01, label="value")
    return fig
