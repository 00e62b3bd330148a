"""What the lab draws, as pure functions: arrays in, a picture (an (H, W, 3) uint8 array) out.

    v   = make_view(image, amap, method=..., class_name=..., probability=...)   # one picture's data
    rgb = render(v)              # image | map (+ colour bar) | overlay | boxes, titled
    fig = figure(v)              # the same with matplotlib, in the course's style
    rgb = render_grid(panels)    # the compare view: one titled tile per (method or model)
    rgb = render_curves(...)     # deletion and insertion curves with their AUCs
    rgb = render_erased(...)     # region | edited image | probabilities before and after
    png = to_png(rgb)            # what an ipywidgets Image shows

Nothing here holds state or touches a widget, so every function is tested on its own.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from scipy import ndimage

from .. import data, metrics, plot, table
from .compute import box_at, heat


@dataclass(frozen=True)
class View:
    """Everything one picture shows; make_view fills it, render and figure draw it."""

    image: np.ndarray  # (H, W, 3) float in [0, 1]
    amap: np.ndarray  # (h, w) raw map
    heat: np.ndarray  # (H, W) in [0, 1]
    method: str
    class_name: str
    probability: float  # of class_name
    alpha: float
    threshold: float
    pred_box: tuple | None
    true_boxes: tuple
    iou: float | None  # best IoU of pred_box with a true box (None: class not in scene)
    signed: bool  # draw amap with a diverging colour map (CAM)


def make_view(
    image, amap, *, method, class_name, probability, alpha=0.5, threshold=0.2, boxes=()
) -> View:
    """Compute heat, predicted box and IoU for one (image, map) pair."""
    img = plot.to_numpy_image(image)
    amap = np.asarray(torch.as_tensor(amap, dtype=torch.float32))
    s = heat(amap, img.shape[0])
    pred = box_at(s, threshold)
    best = max((metrics.iou(pred, b) for b in boxes), default=None)
    return View(
        img,
        amap,
        s,
        method,
        class_name,
        float(probability),
        float(alpha),
        float(threshold),
        pred,
        tuple(boxes),
        best,
        getattr(table.METHODS.get(method), "signed", False),
    )


@lru_cache(maxsize=4)
def _lut(name: str) -> np.ndarray:
    import matplotlib

    rgb = matplotlib.colormaps[name](np.linspace(0, 1, 256))[:, :3]
    return (rgb * 255).round().astype(np.uint8)


def colorize(values: np.ndarray, cmap: str = plot.CMAP) -> np.ndarray:
    """Values in [0, 1] -> (…, 3) uint8 colours of a matplotlib colour map."""
    return _lut(cmap)[np.clip(np.round(np.asarray(values) * 255), 0, 255).astype(int)]


def blend(image: np.ndarray, s: np.ndarray, alpha: float) -> np.ndarray:
    """Overlay (1 - a) * image + a * colour(s) with a = alpha * sqrt(s) per pixel, in [0, 1].

    The opacity grows with the heat, so where the map is zero the image shows unchanged (a
    colour map's dark end laid over everything would darken the whole picture); the square
    root keeps middling heat visible. alpha 0 is the image; at alpha 1 the hottest pixel is
    pure colour.
    """
    a = alpha * np.sqrt(np.clip(s, 0, 1))[..., None]
    return (1 - a) * image + a * colorize(s) / 255.0


def _u8(x: np.ndarray, scale: int) -> np.ndarray:
    if x.dtype != np.uint8:
        x = np.clip(np.round(np.asarray(x) * 255), 0, 255).astype(np.uint8)
    return x.repeat(scale, 0).repeat(scale, 1)


def _map_colours(view: View) -> np.ndarray:
    m = view.amap
    if view.signed:
        lim = float(np.abs(m).max()) or 1.0
        return colorize((m / lim + 1) / 2, plot.SIGNED_CMAP)
    top = float(m.max())
    return colorize(m / top if top > 0 else np.zeros_like(m))


def render_panels(view: View, scale: int = 4) -> dict:
    """The four panels as (P, P, 3) uint8 arrays, P = scale * H: image, map, overlay, boxes."""
    from PIL import Image, ImageDraw

    size = view.image.shape[0] * scale
    amap = _map_colours(view)
    amap = amap.repeat(size // amap.shape[0], 0).repeat(size // amap.shape[1], 1)
    image = _u8(view.image, scale)
    tile = Image.fromarray(image)
    draw = ImageDraw.Draw(tile)
    for b in view.true_boxes:
        _rect(draw, b, scale, _hex(plot.COLORS["true"]), dashed=True)
    if view.pred_box is not None:
        _rect(draw, view.pred_box, scale, _hex(plot.COLORS["pred"]))
    overlay = _u8(blend(view.image, view.heat, view.alpha), scale)
    return {"image": image, "map": amap, "overlay": overlay, "boxes": np.asarray(tile)}


@lru_cache(maxsize=4)
def _font(size: int):
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


def _hex(colour: str) -> tuple:
    return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))


def _rect(draw, box, scale, colour, dashed=False, width=3):
    """A half-open pixel box drawn at `scale`, solid or dashed."""
    x0, y0, x1, y1 = (v * scale for v in box)
    x1, y1 = x1 - 1, y1 - 1
    if not dashed:
        draw.rectangle((x0, y0, x1, y1), outline=colour, width=width)
        return
    dash = 3 * width
    for a, b, horizontal, at in (
        (x0, x1, True, y0),
        (x0, x1, True, y1 - width + 1),
        (y0, y1, False, x0),
        (y0, y1, False, x1 - width + 1),
    ):
        for start in range(int(a), int(b) + 1, 2 * dash):
            end = min(start + dash, int(b))
            seg = (
                (start, at, end, at + width - 1) if horizontal else (at, start, at + width - 1, end)
            )
            draw.rectangle(seg, fill=colour)


def render(view: View, scale: int = 4) -> np.ndarray:
    """The picture: (H, W, 3) uint8: image | map (+ colour bar) | overlay | boxes, titled."""
    from PIL import Image, ImageDraw

    panels = render_panels(view, scale)
    P, top, gap, bar = panels["image"].shape[0], 34, 16, 78
    xs = [8, 8 + P + gap]
    xs += [xs[1] + P + bar, xs[1] + 2 * P + bar + gap]
    canvas = Image.new("RGB", (xs[3] + P + 8, top + P + 36), "white")
    draw = ImageDraw.Draw(canvas)
    pred, true = _hex(plot.COLORS["pred"]), _hex(plot.COLORS["true"])
    for panel, x in zip(panels.values(), xs):
        canvas.paste(Image.fromarray(panel), (x, top))
    c = view.class_name
    iou = f"IoU {view.iou:.2f}" if view.iou is not None else f"no {c} in this image"
    titles = [
        f"image: p({c}) = {view.probability:.2f}",
        f"{view.method}: '{c}'",
        f"overlay, opacity {view.alpha:.2f}",
        f"boxes: {iou}",
    ]
    for title, x in zip(titles, xs):
        draw.text((x + P / 2, top / 2), title, fill="black", font=_font(17), anchor="mm")
    # colour bar beside the map
    x = xs[1] + P + 8
    ramp = np.linspace(1, 0, P)[:, None].repeat(14, 1)
    cmap = plot.SIGNED_CMAP if view.signed else plot.CMAP
    canvas.paste(Image.fromarray(colorize(ramp, cmap)), (x, top))
    lim = float(np.abs(view.amap).max()) if view.signed else float(view.amap.max())
    for label, y, anchor in (
        (f"{lim:.2g}", top, "lt"),
        (f"{-lim:.2g}" if view.signed else "0", top + P, "lb"),
    ):
        draw.text((x + 18, y), label, fill="black", font=_font(13), anchor=anchor)
    # legend under the boxes panel
    y, x = top + P + 18, xs[2]
    draw.line((x, y, x + 28, y), fill=pred, width=3)
    draw.text(
        (x + 34, y),
        f"box from the map (threshold {view.threshold:.2f})",
        fill="black",
        font=_font(14),
        anchor="lm",
    )
    x = xs[3] + 40
    for k in range(0, 28, 10):
        draw.line((x + k, y, x + k + 5, y), fill=true, width=3)
    draw.text((x + 34, y), f"ground truth '{c}'", fill="black", font=_font(14), anchor="lm")
    return np.asarray(canvas)


def to_png(rgb: np.ndarray) -> bytes:
    """PNG bytes of an (H, W, 3) uint8 array (fast compression: this runs on every redraw)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def figure(view: View, axes=None, size: float = 3.2):
    """The same picture with matplotlib, in the course's style, on 4 axes (None: a new row)."""
    if axes is None:
        axes = plot.grid(1, 4, size=size)[1][0]
    c = view.class_name
    plot.show_image(axes[0], view.image, f"image: p({c}) = {view.probability:.2f}")
    plot.show_map(axes[1], view.amap, f"{view.method}: '{c}'", signed=view.signed)
    plot.show_image(
        axes[2], blend(view.image, view.heat, view.alpha), f"overlay, opacity {view.alpha:.2f}"
    )
    iou = f"IoU {view.iou:.2f}" if view.iou is not None else f"no {c} here"
    plot.show_image(axes[3], view.image, f"boxes: {iou}")
    for k, b in enumerate(view.true_boxes):
        plot.draw_box(axes[3], b, "true", f"ground truth '{c}'" if k == 0 else None)
    plot.draw_box(axes[3], view.pred_box, "pred", f"from the map, τ = {view.threshold:.2f}")
    axes[3].legend(loc="upper center", bbox_to_anchor=(0.5, -0.04), frameon=False, fontsize=12)
    return axes[0].figure


def render_erased(image, edited, mask, before, after, cls: int, scale: int = 4) -> np.ndarray:
    """Picture of the experiment: image with the region outlined | edited image | probabilities."""
    from PIL import Image, ImageDraw

    P, top = image.shape[-1] * scale, 34
    canvas = Image.new("RGB", (2 * P + 430, top + P + 8), "white")
    draw = ImageDraw.Draw(canvas)
    big = np.asarray(mask, bool).repeat(scale, 0).repeat(scale, 1)
    outline = big & ~ndimage.binary_erosion(big, iterations=3, border_value=1)
    shown = _u8(plot.to_numpy_image(image), scale)
    shown[outline] = _hex(plot.COLORS["pred"])
    for k, (pic, title) in enumerate(
        ((shown, "region to erase"), (_u8(plot.to_numpy_image(edited), scale), "after erasing"))
    ):
        x = 8 + k * (P + 16)
        canvas.paste(Image.fromarray(pic), (x, top))
        draw.text((x + P / 2, top / 2), title, fill="black", font=_font(17), anchor="mm")
    _bars(draw, 2 * P + 120, top, P, before, after, cls)
    return np.asarray(canvas)


# ------------------------------------------------------------- the compare grid ----


@dataclass(frozen=True)
class Tile:
    """One panel of the compare grid: an overlay and the lines of its title."""

    image: np.ndarray  # (H, W, 3) float in [0, 1]
    heat: np.ndarray  # (H, W) in [0, 1] (shared or per-map scale, as the caller chose)
    title: tuple  # lines: method, model, class, hit and energy
    outline: np.ndarray | None = None  # (H, W) bool: the animal's mask, outlined


def sparse_visible(s: np.ndarray, quantile: float = 0.99) -> np.ndarray:
    """Pixel-space saliency (guided backprop) is a few bright pixels: for display only, scale
    it to its 99th percentile so that the rest of its structure shows (clipped to [0, 1])."""
    top = float(np.quantile(s, quantile))
    return np.clip(s / top, 0, 1) if top > 0 else s


def _outline(mask: np.ndarray, scale: int, width: int = 2) -> np.ndarray:
    big = np.asarray(mask, bool).repeat(scale, 0).repeat(scale, 1)
    return big & ~ndimage.binary_erosion(big, iterations=width, border_value=1)


def render_grid(
    tiles, columns: int = 5, scale: int = 3, alpha: float = 0.7, heading: str = ""
) -> np.ndarray:
    """The compare view: one titled overlay per tile, `columns` to a row, a heading on top."""
    from PIL import Image, ImageDraw

    P, lines, gap = tiles[0].image.shape[0] * scale, max(len(t.title) for t in tiles), 12
    top, rows, cols = 20 * lines + 8, -(-len(tiles) // columns), min(columns, len(tiles))
    head = 30 if heading else 0
    canvas = Image.new("RGB", (cols * (P + gap) + gap, head + rows * (top + P + gap)), "white")
    draw = ImageDraw.Draw(canvas)
    if heading:
        draw.text((canvas.width / 2, 16), heading, fill="black", font=_font(18), anchor="mm")
    for k, t in enumerate(tiles):
        x, y = gap + (k % columns) * (P + gap), head + (k // columns) * (top + P + gap)
        tile = _u8(blend(t.image, t.heat, alpha), scale)
        if t.outline is not None:
            tile[_outline(t.outline, scale)] = _hex(plot.COLORS["true"])
        canvas.paste(Image.fromarray(tile), (x, y + top))
        for j, line in enumerate(t.title):
            draw.text((x + P / 2, y + 4 + 20 * j), line, fill="black", font=_font(15), anchor="ma")
    return np.asarray(canvas)


# ------------------------------------------------------------------ the curves ----


def render_curves(fractions, deletion, insertion, aucs, title: str, size=(720, 300)) -> np.ndarray:
    """Deletion and insertion curves, p(class) against the share of pixels changed, two panels
    with their AUCs in the titles (lower deletion and higher insertion are better)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size[0] / 100, size[1] / 100), dpi=100, layout="constrained")
    canvas = FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2, sharey=True)
    for ax, name, curve, auc, colour in zip(
        axes,
        ("deletion", "insertion"),
        (deletion, insertion),
        aucs,
        (plot.COLORS["pred"], plot.COLORS["true"]),
    ):
        ax.plot(fractions, curve, color=colour, lw=2.5)
        ax.fill_between(fractions, curve, color=colour, alpha=0.25)
        ax.set_title(f"{name}: AUC {auc:.2f}", fontsize=13)
        ax.set_xlabel(
            "share of pixels " + ("removed" if name == "deletion" else "restored"), fontsize=12
        )
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("p(class)", fontsize=12)
    fig.suptitle(title, fontsize=13)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


# ------------------------------------------------------------------- the brush ----


def render_brush(
    edited, s_after, occ, before, after, cls: int, method: str, scale: int = 4
) -> np.ndarray:
    """The brush's result: the edited image with its new map | the occlusion map of the
    original (the reference method) | class probabilities before and after the edit."""
    from PIL import Image, ImageDraw

    img = plot.to_numpy_image(edited)
    P, top, gap = img.shape[0] * scale, 34, 16
    new = _u8(blend(img, s_after, 0.7), scale)
    lim = float(np.abs(occ).max()) or 1.0
    occ_rgb = colorize((np.asarray(occ) / lim + 1) / 2, plot.SIGNED_CMAP)
    occ_rgb = occ_rgb.repeat(scale, 0).repeat(scale, 1)
    canvas = Image.new("RGB", (2 * (P + gap) + 400, top + P + 30), "white")
    draw = ImageDraw.Draw(canvas)
    c = data.CLASSES[cls]
    titles = (f"edited image: {method} '{c}'", f"occlusion map '{c}' (reference)")
    for k, (pic, title) in enumerate(zip((new, occ_rgb), titles)):
        x = 8 + k * (P + gap)
        canvas.paste(Image.fromarray(pic), (x, top))
        draw.text((x + P / 2, top / 2), title, fill="black", font=_font(15), anchor="mm")
    draw.text(
        (8 + (P + gap) + P / 2, top + P + 14),
        f"red: covering it lowers p, up to {lim:.2f}",
        fill="black",
        font=_font(13),
        anchor="mm",
    )
    _bars(draw, 2 * (P + gap) + 90, top, P, before, after, cls)
    return np.asarray(canvas)


def _bars(draw, x0, top, P, before, after, cls, width=230):
    """Probability bars of every class, before (grey) and after (blue); * marks the class."""
    grey = "#999999"
    draw.text((x0 - 80, top / 2), "probability", fill="black", font=_font(16), anchor="lm")
    for k, (label, colour) in enumerate((("before", grey), ("after", plot.COLORS["pred"]))):
        x = x0 + 70 + 90 * k
        draw.rectangle((x, top / 2 - 6, x + 12, top / 2 + 6), fill=colour)
        draw.text((x + 18, top / 2), label, fill="black", font=_font(15), anchor="lm")
    row = P // len(before)
    for c, name in enumerate(data.CLASSES):
        y = top + c * row + 10
        draw.text(
            (x0 - 8, y + 14),
            name + (" *" if c == cls else ""),
            fill="black",
            font=_font(16),
            anchor="rm",
        )
        for j, (p, colour) in enumerate(((before[c], grey), (after[c], plot.COLORS["pred"]))):
            yy = y + j * 16
            draw.rectangle((x0, yy, x0 + max(1, round(p * width)), yy + 12), fill=colour)
            draw.text(
                (x0 + round(p * width) + 6, yy + 6),
                f"{p:.2f}",
                fill="black",
                font=_font(13),
                anchor="lm",
            )
