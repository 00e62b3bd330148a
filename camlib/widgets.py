"""The widget lab: pure functions that compute and draw, and a builder wiring them to ipywidgets.

    lab = camlib.widgets.Lab()          # owns its models, images and cache
    lab.explorer                        # controls + the picture: image | map | overlay | boxes
    lab.eraser                          # erase (or blur) a region and watch the probabilities

Pure functions (no widgets, no state), each usable on its own:

    maps = class_maps(model, image, "Grad-CAM", layer)   # (K, h, w) raw maps, all classes at once
    s    = heat(maps[c], size)            # ReLU, bilinear upsampling, min-max to [0, 1]
    box  = box_at(s, threshold)           # the largest connected region where s >= threshold
    v    = make_view(...)                 # everything one picture shows
    rgb  = render(v)                      # (H, W, 3) uint8: the picture the widget displays
    fig  = figure(v)                      # the same picture as a matplotlib figure
    out  = erase_and_watch(model, image, mask, fill)   # probabilities before and after

`Lab` caches, per (model, image), the class probabilities and, per method and layer, the maps of
all K classes (one call with a (1, K) target), so a change of class, method, threshold or opacity
only redraws. The cache lives in the `Lab` object, never in module globals.
"""

from __future__ import annotations

import io
import time
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from scipy import ndimage

from . import acol, data, methods, metrics, plot
from . import models as zoo

METHODS = ("CAM", "Grad-CAM", "Grad-CAM++", "counterfactual", "guided backprop",
           "Guided Grad-CAM", "ACoL")
LAYERED = ("Grad-CAM", "Grad-CAM++", "counterfactual", "Guided Grad-CAM")  # take a layer
SCENES = ("single", "multi", "pair", "biased")
MODELS = ("gap", "gmp", "flatten", "acol", "gap_biased")
FILLS = ("mean colour", "blur")
REGIONS = ("map region", "predicted box", "your box")


# ------------------------------------------------------------------ maps ----


def methods_for(model) -> tuple[str, ...]:
    """The methods a model supports: CAM needs a per-channel classifier, ACoL an ACoL head."""
    ok = {"CAM": getattr(model, "fc_layer", None) is not None,
          "ACoL": hasattr(model, "forward_maps")}
    return tuple(m for m in METHODS if ok.get(m, True))


def method_layer(model, method: str, layer: str | None) -> str | None:
    """The layer a method reads: CAM the one feeding the pooling, guided backprop and ACoL none."""
    if method == "CAM":
        return model.cam_layer
    return layer if method in LAYERED else None


def class_maps(model, image: torch.Tensor, method: str, layer: str | None = None) -> torch.Tensor:
    """Raw maps of every class for one image (3, H, W): (K, h, w) float32, from one method call.

    CAM is signed (Zhou et al.'s M_c); gradient maps are ReLU'd; guided backprop and Guided
    Grad-CAM are reduced over colour channels as max |R|; ACoL is the fused map max(A, B) of
    camlib.acol.class_maps, each class driving the erasing for its own map.
    """
    if method not in methods_for(model):
        raise ValueError(f"{method!r} is not available for this model; choose one of "
                         f"{', '.join(methods_for(model))}")
    x = image[None]
    K = len(data.CLASSES)
    every = torch.arange(K)[None]                     # (1, K): all classes in one call
    layer = method_layer(model, method, layer)
    if method == "CAM":
        maps = methods.cam(model, x, layer, model.fc_layer, every)[0]
    elif method == "ACoL":                           # class k drives the erasing for map k
        maps = acol.class_maps(model, x.expand(K, -1, -1, -1), target=every[0])["fused"]
    elif method in ("guided backprop", "Guided Grad-CAM"):
        fn = methods.guided_backprop if method == "guided backprop" else methods.guided_grad_cam
        args = (layer,) if method == "Guided Grad-CAM" else ()
        maps = fn(model, x, *args, target=every)[0].abs().amax(dim=1)
    else:
        fn = {"Grad-CAM": methods.grad_cam, "Grad-CAM++": methods.grad_cam_pp,
              "counterfactual": methods.counterfactual}[method]
        maps = fn(model, x, layer, target=every)[0]
    return maps.detach().float()


@torch.no_grad()
def probabilities(model, images: torch.Tensor) -> torch.Tensor:
    """Softmax class probabilities (N, K) of a batch (N, 3, H, W)."""
    return torch.softmax(model(images), dim=1)


def heat(amap, size: int) -> np.ndarray:
    """What the overlay and the box use: s = minmax(upsample(ReLU(map))) in [0, 1], (size, size)."""
    m = torch.as_tensor(amap, dtype=torch.float32).clamp_min(0)[None]
    return methods.normalize(methods.upsample(m, size))[0].numpy()


def box_at(s: np.ndarray, threshold: float):
    """Box (x0, y0, x1, y1), half-open, around the largest 8-connected region where s >= threshold.

    s is a heat map in [0, 1]; threshold 0 keeps every pixel (the whole image), threshold 1 only
    the peak's region. None when no pixel passes. Up to ties at the threshold this is
    camlib.metrics.box_from_map on a min-max normalized map.
    """
    return metrics.largest_region_box(np.asarray(s) >= threshold)


def true_boxes(objects, cls: int) -> tuple:
    """Ground-truth boxes of the animals of class cls in a scene (objects from ToyPets.objects)."""
    return tuple(o.box for o in objects if o.label == cls)


# ------------------------------------------------------------- drawing ----


@dataclass(frozen=True)
class View:
    """Everything one picture shows; make_view fills it, render and figure draw it."""

    image: np.ndarray          # (H, W, 3) float in [0, 1]
    amap: np.ndarray           # (h, w) raw map
    heat: np.ndarray           # (H, W) in [0, 1]
    method: str
    class_name: str
    probability: float         # of class_name
    alpha: float
    threshold: float
    pred_box: tuple | None
    true_boxes: tuple
    iou: float | None          # best IoU of pred_box with a true box (None: class not in scene)
    signed: bool               # draw amap with a diverging colour map (CAM)


def make_view(image, amap, *, method, class_name, probability, alpha=0.5, threshold=0.2,
              boxes=()) -> View:
    """Compute heat, predicted box and IoU for one (image, map) pair."""
    img = plot.to_numpy_image(image)
    amap = np.asarray(torch.as_tensor(amap, dtype=torch.float32))
    s = heat(amap, img.shape[0])
    pred = box_at(s, threshold)
    best = max((metrics.iou(pred, b) for b in boxes), default=None)
    return View(img, amap, s, method, class_name, float(probability), float(alpha),
                float(threshold), pred, tuple(boxes), best, method == "CAM")


@lru_cache(maxsize=4)
def _lut(name: str) -> np.ndarray:
    import matplotlib

    rgb = matplotlib.colormaps[name](np.linspace(0, 1, 256))[:, :3]
    return (rgb * 255).round().astype(np.uint8)


def colorize(values: np.ndarray, cmap: str = plot.CMAP) -> np.ndarray:
    """Values in [0, 1] -> (…, 3) uint8 colours of a matplotlib colour map."""
    return _lut(cmap)[np.clip(np.round(np.asarray(values) * 255), 0, 255).astype(int)]


def blend(image: np.ndarray, s: np.ndarray, alpha: float) -> np.ndarray:
    """Overlay (1 - alpha) * image + alpha * colour(s), float in [0, 1]; alpha 0 is the image."""
    return (1 - alpha) * image + alpha * colorize(s) / 255.0


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
    return tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))


def _rect(draw, box, scale, colour, dashed=False, width=3):
    """A half-open pixel box drawn at `scale`, solid or dashed."""
    x0, y0, x1, y1 = (v * scale for v in box)
    x1, y1 = x1 - 1, y1 - 1
    if not dashed:
        draw.rectangle((x0, y0, x1, y1), outline=colour, width=width)
        return
    dash = 3 * width
    for a, b, horizontal, at in ((x0, x1, True, y0), (x0, x1, True, y1 - width + 1),
                                 (y0, y1, False, x0), (y0, y1, False, x1 - width + 1)):
        for start in range(int(a), int(b) + 1, 2 * dash):
            end = min(start + dash, int(b))
            seg = ((start, at, end, at + width - 1) if horizontal
                   else (at, start, at + width - 1, end))
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
    titles = [f"image: p({c}) = {view.probability:.2f}", f"{view.method}: '{c}'",
              f"overlay, opacity {view.alpha:.2f}", f"boxes: {iou}"]
    for title, x in zip(titles, xs):
        draw.text((x + P / 2, top / 2), title, fill="black", font=_font(17), anchor="mm")
    # colour bar beside the map
    x = xs[1] + P + 8
    ramp = np.linspace(1, 0, P)[:, None].repeat(14, 1)
    cmap = plot.SIGNED_CMAP if view.signed else plot.CMAP
    canvas.paste(Image.fromarray(colorize(ramp, cmap)), (x, top))
    lim = float(np.abs(view.amap).max()) if view.signed else float(view.amap.max())
    for label, y, anchor in ((f"{lim:.2g}", top, "lt"),
                             (f"{-lim:.2g}" if view.signed else "0", top + P, "lb")):
        draw.text((x + 18, y), label, fill="black", font=_font(13), anchor=anchor)
    # legend under the boxes panel
    y, x = top + P + 18, xs[2]
    draw.line((x, y, x + 28, y), fill=pred, width=3)
    draw.text((x + 34, y), f"box from the map (threshold {view.threshold:.2f})", fill="black",
              font=_font(14), anchor="lm")
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
    plot.overlay(axes[2], view.image, view.heat, alpha=view.alpha, normalize=False,
                 title=f"overlay, opacity {view.alpha:.2f}")
    iou = f"IoU {view.iou:.2f}" if view.iou is not None else f"no {c} here"
    plot.show_image(axes[3], view.image, f"boxes: {iou}")
    for k, b in enumerate(view.true_boxes):
        plot.draw_box(axes[3], b, "true", f"ground truth '{c}'" if k == 0 else None)
    plot.draw_box(axes[3], view.pred_box, "pred", f"from the map, τ = {view.threshold:.2f}")
    axes[3].legend(loc="upper center", bbox_to_anchor=(0.5, -0.04), frameon=False, fontsize=12)
    return axes[0].figure


# ------------------------------------------------------ erase and watch ----


def region_mask(kind: str, s: np.ndarray, threshold: float, pred_box, box) -> np.ndarray:
    """Boolean (H, W) region to erase: the map's pixels >= threshold, its box, or a chosen box."""
    if kind == "map region":
        return np.asarray(s) >= threshold
    chosen = pred_box if kind == "predicted box" else box
    if chosen is None:
        return np.zeros(np.shape(s), bool)
    return metrics.box_mask(chosen, np.shape(s))


def erase(image: torch.Tensor, mask, fill: str = "mean colour") -> torch.Tensor:
    """image (3, H, W) with the mask's pixels replaced by the image's mean colour or its blur."""
    mask = torch.as_tensor(np.asarray(mask), dtype=torch.bool)
    if fill == "mean colour":
        base = image.mean(dim=(1, 2), keepdim=True).expand_as(image)
    elif fill == "blur":
        base = metrics.blur(image[None])[0]
    else:
        raise ValueError(f"unknown fill {fill!r}; choose one of {', '.join(FILLS)}")
    return torch.where(mask, base, image)


@dataclass(frozen=True)
class Erased:
    before: np.ndarray   # (K,) probabilities on the image
    after: np.ndarray    # (K,) probabilities on the edited image
    edited: torch.Tensor  # (3, H, W)


def erase_and_watch(model, image: torch.Tensor, mask, fill: str = "mean colour") -> Erased:
    """Erase a region and return the class probabilities before and after (one forward pass)."""
    edited = erase(image, mask, fill)
    p = probabilities(model, torch.stack([image, edited])).numpy()
    return Erased(p[0], p[1], edited)


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
    for k, (pic, title) in enumerate(((shown, "region to erase"),
                                      (_u8(plot.to_numpy_image(edited), scale), "after erasing"))):
        x = 8 + k * (P + 16)
        canvas.paste(Image.fromarray(pic), (x, top))
        draw.text((x + P / 2, top / 2), title, fill="black", font=_font(17), anchor="mm")
    x0, width, grey = 2 * P + 120, 250, "#999999"
    draw.text((x0 - 90, top / 2), "probability", fill="black", font=_font(17), anchor="lm")
    for k, (label, colour) in enumerate((("before", grey), ("after", plot.COLORS["pred"]))):
        x = x0 + 80 + 95 * k
        draw.rectangle((x, top / 2 - 6, x + 12, top / 2 + 6), fill=colour)
        draw.text((x + 18, top / 2), label, fill="black", font=_font(16), anchor="lm")
    row = P // len(before)
    for c, name in enumerate(data.CLASSES):
        y = top + c * row + 10
        draw.text((x0 - 8, y + 14), name + (" *" if c == cls else ""), fill="black",
                  font=_font(16), anchor="rm")
        for j, (p, colour) in enumerate(((before[c], grey), (after[c], plot.COLORS["pred"]))):
            yy = y + j * 16
            draw.rectangle((x0, yy, x0 + max(1, round(p * width)), yy + 12), fill=colour)
            draw.text((x0 + round(p * width) + 6, yy + 6), f"{p:.2f}", fill="black",
                      font=_font(13), anchor="lm")
    return np.asarray(canvas)


# ------------------------------------------------------------- the lab ----


class _LRU:
    """A small least-recently-used cache: get(key, make) computes make() only on a miss."""

    def __init__(self, size: int):
        self.size, self.items, self.misses = size, OrderedDict(), 0

    def get(self, key, make):
        if key in self.items:
            self.items.move_to_end(key)
            return self.items[key]
        self.misses += 1
        value = self.items[key] = make()
        if len(self.items) > self.size:
            self.items.popitem(last=False)
        return value


class Lab:
    """The widget lab: controls, a cache and two containers, `explorer` and `eraser`.

    models: names of shipped models, or a dict name -> model in eval mode (None: the shipped
    one); models load on first use.
    Every control's observer reads the controls and this object's cache, nothing else, so
    cells run later cannot change what a control draws.
    """

    def __init__(self, models=MODELS, scenes=SCENES, n_images: int = 24, seed: int = 0,
                 scale: int = 4, cache_size: int = 512):
        import ipywidgets as W

        if isinstance(models, dict):
            self._models = dict(models)
        else:
            shipped = set(zoo.available())
            names = [m for m in models if m in shipped]
            if not names:
                raise ValueError(f"none of the models {list(models)} is shipped; train them with "
                                 f"`python -m camlib.train` (make models)")
            self._models = dict.fromkeys(names)
        self.n_images, self.scale = int(n_images), int(scale)
        self._data, self._maps, self._probs = {}, _LRU(cache_size), _LRU(cache_size)
        self._erased = _LRU(64)
        self._rng = np.random.default_rng(seed)
        self._quiet = 0
        self.view = self.erased = self._shown = None
        wide = dict(style={"description_width": "initial"})
        first = next(iter(self._models))
        self.scene = W.ToggleButtons(options=list(scenes), description="scene",
                                     style={"description_width": "initial", "button_width": "72px"})
        self.index = W.IntSlider(0, 0, self.n_images - 1, description="image", **wide)
        self.random = W.Button(description="random image", icon="random")
        self.model = W.Dropdown(options=list(self._models), value=first, description="model",
                                layout=W.Layout(width="190px"), **wide)
        self.method = W.Dropdown(description="method", layout=W.Layout(width="250px"), **wide)
        self.cls = W.Dropdown(description="class", layout=W.Layout(width="300px"), **wide)
        self.layer = W.Dropdown(description="layer", layout=W.Layout(width="250px"), **wide)
        self.threshold = W.FloatSlider(0.2, min=0, max=1, step=0.05, description="box threshold",
                                       readout_format=".2f", **wide)
        self.opacity = W.FloatSlider(0.5, min=0, max=1, step=0.05, description="overlay opacity",
                                     readout_format=".2f", **wide)
        self.info = W.HTML()
        self.picture = W.Image(format="png", layout=W.Layout(max_width="100%", height="auto"))
        self.region = W.Dropdown(options=REGIONS, description="erase", **wide)
        self.fill = W.Dropdown(options=FILLS, description="fill with", **wide)
        size = self._dataset().images.shape[-1]
        self.box_x = W.IntRangeSlider(value=(size // 4, 3 * size // 4), min=0, max=size,
                                      description="your box: x", **wide)
        self.box_y = W.IntRangeSlider(value=(size // 4, 3 * size // 4), min=0, max=size,
                                      description="y", **wide)
        self.erase_info = W.HTML()
        self.erase_picture = W.Image(format="png", layout=W.Layout(max_width="100%", height="auto"))
        for name in ("scene", "index", "random", "model", "method", "cls", "layer", "threshold",
                     "opacity", "picture", "region", "fill", "box_x", "box_y", "erase_picture"):
            getattr(self, name).add_class(f"cam-lab-{name.replace('_', '-')}")
        row = W.Layout(flex_flow="row wrap", align_items="center")
        self.explorer = W.VBox([W.HBox([self.scene, self.index, self.random], layout=row),
                                W.HBox([self.model, self.method, self.cls, self.layer], layout=row),
                                W.HBox([self.threshold, self.opacity], layout=row),
                                self.info, self.picture])
        self.eraser = W.VBox([W.HBox([self.region, self.fill, self.box_x, self.box_y], layout=row),
                              self.erase_info, self.erase_picture])
        self.explorer.add_class("cam-lab-explorer")
        self.eraser.add_class("cam-lab-eraser")
        self._model_options()
        self._new_image()
        for w, handler in ((self.scene, self._new_image), (self.index, self._new_image),
                           (self.model, self._new_model), (self.method, self._new_method),
                           (self.layer, self._new_layer), (self.cls, self.redraw),
                           (self.threshold, self.redraw), (self.opacity, self.redraw),
                           (self.region, self._refresh_eraser), (self.fill, self._refresh_eraser),
                           (self.box_x, self._refresh_eraser), (self.box_y, self._refresh_eraser)):
            w.observe(self._handler(handler), names="value")
        self.random.on_click(lambda _: self.pick_random())

    # -- state -------------------------------------------------------------

    def _handler(self, handler):
        def on_change(change):
            if not self._quiet:
                handler()
        return on_change

    @property
    def net(self):
        """The selected model (loaded on first use)."""
        name = self.model.value
        if self._models[name] is None:
            self._models[name] = zoo.load(name)
        return self._models[name]

    def _dataset(self, scene=None):
        scene = scene or self.scene.value
        if scene not in self._data:
            self._data[scene] = data.split("test", scene=scene, n=self.n_images)
        return self._data[scene]

    @property
    def dataset(self) -> data.ToyPets:
        """The test images of the current scene."""
        return self._dataset()

    @property
    def image(self) -> torch.Tensor:
        """The current image (3, H, W)."""
        return self._dataset().images[self.index.value]

    def _key(self):
        return self.model.value, self.scene.value, self.index.value

    @property
    def probs(self) -> np.ndarray:
        """Class probabilities of the current image under the current model (cached)."""
        return self._probs.get(self._key(),
                               lambda: probabilities(self.net, self.image[None])[0].numpy())

    def maps(self, method: str | None = None) -> np.ndarray:
        """Raw maps (K, h, w) of every class for a method at the current layer (cached)."""
        method = method or self.method.value
        key = (*self._key(), method, method_layer(self.net, method, self.layer.value))
        return self._maps.get(key, lambda: class_maps(self.net, self.image, method,
                                                      self.layer.value).numpy())

    @property
    def stats(self) -> dict:
        """Times the lab computed maps and probabilities (cache misses): what redraws cost."""
        return {"maps computed": self._maps.misses, "images scored": self._probs.misses,
                "erased images scored": self._erased.misses}

    # -- reactions -----------------------------------------------------------

    def _model_options(self):
        self._quiet += 1
        try:
            net = self.net
            offered = methods_for(net)
            keep = self.method.value if self.method.value in offered else "Grad-CAM"
            self.method.options, self.method.value = offered, keep
            layers = list(net.layers.items())
            names = [v for _, v in layers]
            keep = self.layer.value if self.layer.value in names else names[-1]
            self.layer.options, self.layer.value = layers, keep
            self.layer.disabled = self.method.value not in LAYERED
        finally:
            self._quiet -= 1

    def _new_model(self):
        self._model_options()
        self._new_image()

    def _new_image(self):
        """A new (model, image): compute its probabilities and every method's maps once."""
        self._quiet += 1
        try:
            p = self.probs
            pred = int(p.argmax())
            self.cls.options = [(f"{name} · p = {p[k]:.2f}" + (" (predicted)" if k == pred else ""),
                                 k) for k, name in enumerate(data.CLASSES)]
            self.cls.value = pred
            for method in self.method.options:
                self.maps(method)
        finally:
            self._quiet -= 1
        self.redraw()

    def _new_method(self):
        self.layer.disabled = self.method.value not in LAYERED
        self.redraw()

    def _new_layer(self):
        for method in LAYERED:
            if method in self.method.options:
                self.maps(method)
        self.redraw()

    def pick_random(self):
        """Show a random image of the current scene (the lab's own seeded generator)."""
        choices = [i for i in range(self.n_images) if i != self.index.value] or [0]
        self.index.value = int(self._rng.choice(choices))

    def select(self, **values):
        """Set several controls at once (scene, index, model, method, layer, cls, ...)."""
        self._quiet += 1
        try:
            for name in ("scene", "index", "model"):
                if name in values:
                    getattr(self, name).value = values.pop(name)
            self._model_options()
            for name, value in values.items():
                getattr(self, name).value = value
        finally:
            self._quiet -= 1
        cls = values.get("cls")
        self._new_image()
        if cls is not None and cls != self.cls.value:
            self.cls.value = cls

    # -- drawing -------------------------------------------------------------

    def current_view(self) -> View:
        """The View of the current controls (no drawing)."""
        ds, i, c = self._dataset(), self.index.value, self.cls.value
        return make_view(self.image, self.maps()[c], method=self.method.value,
                         class_name=data.CLASSES[c], probability=float(self.probs[c]),
                         alpha=self.opacity.value, threshold=self.threshold.value,
                         boxes=true_boxes(ds.objects(i), c))

    def redraw(self):
        """Draw the explorer's picture and caption for the current controls, then the eraser."""
        self.view = v = self.current_view()
        self.picture.value = to_png(render(v, self.scale))
        p, pred = self.probs, int(self.probs.argmax())
        animals = ", ".join(o.name for o in self._dataset().objects(self.index.value))
        layer = method_layer(self.net, v.method, self.layer.value)
        reads = f"layer {layer!r}" if layer else "the input pixels" if "uided" in v.method \
            else "the two classifiers' class maps"
        self.info.value = (
            f"<b>{self.model.value}</b> predicts <b>{data.CLASSES[pred]}</b> (p = {p[pred]:.2f}); "
            f"in the image: {animals}. Showing <b>{v.method}</b> for <b>{v.class_name}</b> "
            f"(p = {v.probability:.2f}), read from {reads}.")
        self._refresh_eraser()

    def _refresh_eraser(self):
        v = self.view
        for w in (self.box_x, self.box_y):
            w.disabled = self.region.value != "your box"
        box = (self.box_x.value[0], self.box_y.value[0], self.box_x.value[1], self.box_y.value[1])
        mask = region_mask(self.region.value, v.heat, v.threshold, v.pred_box, box)
        fill, c = self.fill.value, self.cls.value
        key = (*self._key(), fill, mask.tobytes())
        if (key, c) == self._shown:
            return                      # an opacity change, say: the experiment is unchanged
        self._shown = (key, c)
        after = self._erased.get(key, lambda: probabilities(
            self.net, erase(self.image, mask, fill)[None])[0].numpy())
        before = self.probs
        self.erased = Erased(before, after, erase(self.image, mask, fill))
        self.erase_picture.value = to_png(render_erased(self.image, self.erased.edited, mask,
                                                        before, after, c, self.scale))
        self.erase_info.value = (
            f"Erased {mask.mean():.0%} of the image ({self.region.value}, filled with {fill}): "
            f"p({data.CLASSES[c]}) {before[c]:.2f} → {after[c]:.2f} "
            f"({after[c] - before[c]:+.2f}); * marks the class shown.")


def redraw_latency(lab: Lab, repeats: int = 3) -> dict:
    """Time redraws after changes of class, method, threshold and opacity.

    Each control cycles through its values `repeats` times. Returns {"ms": {control: [...]}}, the
    time from the change until the explorer's new picture is set (what the viewer waits for),
    "total ms" (including the eraser, which updates after the picture), and the cache misses
    during the sweep ("new computations").
    """
    start_stats, stamp = dict(lab.stats), {}

    def picture_set(change):
        stamp["t"] = time.perf_counter()

    sweeps = {"class": (lab.cls, [v for _, v in lab.cls.options]),
              "method": (lab.method, list(lab.method.options)),
              "threshold": (lab.threshold, [0.1, 0.3, 0.5, 0.7]),
              "opacity": (lab.opacity, [0.2, 0.4, 0.6, 0.8])}
    picture, total = {}, {}
    lab.picture.observe(picture_set, names="value")
    try:
        for name, (w, values) in sweeps.items():
            old, picture[name], total[name] = w.value, [], []
            for _ in range(repeats):
                for v in values:
                    if v == w.value:
                        continue
                    stamp.clear()
                    t = time.perf_counter()
                    w.value = v
                    end = time.perf_counter()
                    picture[name].append(1000 * (stamp.get("t", end) - t))
                    total[name].append(1000 * (end - t))
            w.value = old
    finally:
        lab.picture.unobserve(picture_set, names="value")
    misses = {k: lab.stats[k] - start_stats[k] for k in start_stats}
    return {"ms": picture, "total ms": total, "new computations": misses}
