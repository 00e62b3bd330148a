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
    alpha: float = 0.7,
    title: str | None = None,
    cmap: str | None = None,
    normalize: bool = True,
):
    """The map, upsampled bilinearly to the image size, drawn over the image.

    The opacity grows with the heat, alpha * sqrt(s) at a pixel of heat s in [0, 1] (as
    camlib.widgets.draw.blend does): where the map is zero the image shows unchanged, instead
    of being darkened by the colour map's dark end laid over everything.
    """
    img = to_numpy_image(image)
    heat = to_numpy_map(amap, size=img.shape[0])
    if normalize:
        span = heat.max() - heat.min()
        heat = (heat - heat.min()) / span if span > 0 else np.zeros_like(heat)
    opacity = alpha * np.sqrt(np.clip(heat, 0, 1))
    ax.imshow(img, interpolation="nearest")
    ax.imshow(heat, cmap=cmap or CMAP, alpha=opacity, vmin=0, vmax=1, interpolation="nearest")
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


def pooling_heads(image, features, k: int, class_name: str, size: float = 3.0):
    """Chapter 01: one image's last feature maps f (K, h, w) read by the three heads.

    Panels: the image; channel k's map f_k; the K numbers GAP keeps (means); the K numbers GMP
    keeps (maxima); the K * (h/2) * (w/2) numbers the flatten head keeps after its 2x2
    max-pool, one row per channel. Returns the figure and the three vectors it drew.
    """
    f = torch.as_tensor(features).detach().float().cpu()
    gap, gmp = f.mean(dim=(1, 2)), f.amax(dim=(1, 2))
    flat = F.max_pool2d(f[None], 2)[0].flatten(1)  # (K, h/2 * w/2): row k is channel k
    fig, axes = grid(1, 5, size=size)
    ax = axes[0]
    show_image(ax[0], image, f"image ({class_name})")
    show_map(ax[1], f[k], f"f_{k}: one of {len(f)} maps\n{f.shape[1]} x {f.shape[2]}")
    for a, v, title, color in (
        (ax[2], gap, f"GAP: {len(f)} means", METHOD_COLORS[0]),
        (ax[3], gmp, f"GMP: {len(f)} maxima", METHOD_COLORS[1]),
    ):
        a.bar(np.arange(len(v)), v.numpy(), width=1.0, color=color)
        a.bar([k], [float(v[k])], width=1.0, color=METHOD_COLORS[4])
        a.set_xlabel("channel k")
        a.set_title(title)
        a.set_box_aspect(1)
    im = ax[4].imshow(flat.numpy(), cmap=CMAP, aspect="auto", interpolation="nearest")
    plt.colorbar(im, ax=ax[4], fraction=0.046, pad=0.03)
    ax[4].set_xlabel("position (8 x 8)")
    ax[4].set_ylabel("channel k")
    ax[4].set_xticks([])
    ax[4].set_yticks([])
    ax[4].set_title(f"flatten: {flat.numel()} values")
    fig.suptitle(f"What each head keeps of one '{class_name}' image's last feature maps", y=1.04)
    return fig, (gap, gmp, flat.flatten())


def channel_sum(features, weights, amap, class_name: str, top: int = 4, size: float = 2.7):
    """Chapter 02: M_c = sum_k w_k^c f_k, drawn as Zhou et al. draw it, from a real model.

    `features` f (K, h, w), `weights` w^c (K,), `amap` M_c (h, w). The `top` channels with the
    largest contribution sum_xy w_k f_k to the score, each f_k titled with its w_k; one panel
    for the sum of the other channels' w_k f_k; the map M_c. Returns the figure, the chosen
    channels and the remainder (so that the caller can check top + rest == M_c).
    """
    f = torch.as_tensor(features).detach().float().cpu()
    w = torch.as_tensor(weights).detach().float().cpu()
    contrib = (w[:, None, None] * f).sum(dim=(1, 2))
    chosen = torch.argsort(contrib, descending=True)[:top].tolist()
    rest = torch.einsum("k,kxy->xy", w, f) - sum(w[k] * f[k] for k in chosen)
    fig, axes = grid(1, top + 2, size=size)
    for a, k in zip(axes[0], chosen):
        show_map(a, f[k], f"'{class_name}': f_{k}\nw_{k} = {w[k]:+.2f}", colorbar=False)
    show_map(axes[0, top], rest, f"+ the other\n{len(f) - top} w_k f_k", signed=True)
    show_map(axes[0, top + 1], amap, f"= CAM '{class_name}'\nM_c", signed=True)
    return fig, chosen, rest


def grad_cam_steps(image, A, grads, alpha, signed, class_name: str, top: int = 3, size=2.6):
    """Chapter 03: Grad-CAM step by step for one image.

    Row 1: the image, then A^k for the `top` channels with the largest alpha_k; row 2: their
    gradients dy^c/dA^k; row 3: all alpha_k (bars), the weighted sum sum_k alpha_k A^k (signed)
    and its ReLU, the map. A, grads (K, h, w); alpha (K,); signed (h, w).
    """
    A, g = (torch.as_tensor(t).detach().float().cpu() for t in (A, grads))
    alpha, signed = (torch.as_tensor(t).detach().float().cpu() for t in (alpha, signed))
    chosen = torch.argsort(alpha, descending=True)[:top].tolist()
    cols = max(top + 1, 4)
    fig, axes = grid(3, cols, size=size)
    for a in [*axes[0, top + 1 :], *axes[1, top + 1 :], *axes[2, 4:]]:
        a.axis("off")
    show_image(axes[0, 0], image, f"image ({class_name})")
    axes[1, 0].axis("off")
    axes[1, 0].text(0.5, 0.5, "backward:\ndy/dA^k", ha="center", va="center", fontsize=14)
    for col, k in enumerate(chosen, start=1):
        show_map(axes[0, col], A[k], f"'{class_name}': A^{k}", colorbar=False)
        show_map(axes[1, col], g[k], f"dy/dA^{k}\nalpha_{k} = {alpha[k]:.1e}", signed=True)
    ax = axes[2, 0]
    ax.bar(np.arange(len(alpha)), alpha.numpy(), width=1.0, color=METHOD_COLORS[0])
    ax.bar(chosen, alpha[chosen].numpy(), width=1.0, color=METHOD_COLORS[4])
    ax.set_title("alpha_k (eq. 1)")
    ax.set_xlabel("channel k")
    ax.set_box_aspect(1)
    show_map(axes[2, 1], signed, "weighted sum\n(signed)", signed=True)
    show_map(axes[2, 2], torch.relu(signed), f"ReLU: Grad-CAM '{class_name}'")
    overlay(axes[2, 3], image, torch.relu(signed), alpha=0.55, title=f"Grad-CAM '{class_name}'")
    return fig, chosen
