"""One small experiment per chapter, at the point where the chapter teaches the idea.

Each is an `Experiment`: a few controls and a picture drawn by a pure function of their
values, so the picture a reader sees in the stored notebook is `draw(**values)` of the values
shown. Every builder returns an Experiment; `.widget` is what a chapter displays.

    heads(models, ds)                  01  the three heads' Grad-CAM on one image
    threshold_box(model, ds)           02  threshold -> box and IoU
    layer_choice(model, ds, layers)    03, 10  Grad-CAM at the layer you pick
    alpha_map(model, ds, layer)        04  Grad-CAM++'s alpha for one channel
    cascade(model, ds, layer)          05  the randomization cascade
    counterfactual_pair(model, pairs)  06  Grad-CAM and the counterfactual map of each class
    delta(ds)                          07  ACoL's A, erased features, B and fused map per delta
    metric_across_methods(model, ds)   08  one metric for every method
"""

from __future__ import annotations

import numpy as np
import torch

from .. import acol, data, methods, metrics, table
from .. import models as zoo
from . import cascade as cascade_piece
from . import compute, draw


class Experiment:
    """Controls (name -> widget) and a picture `draw(**values) -> (H, W, 3) uint8`, redrawn
    whenever a control moves; `caption(**values) -> str` (optional) is shown above it."""

    def __init__(self, controls: dict, draw_fn, caption=None, name: str = "experiment"):
        import ipywidgets as W

        self.controls, self.draw_fn, self.caption_fn = controls, draw_fn, caption
        self.info = W.HTML()
        self.picture = W.Image(format="png", layout=W.Layout(max_width="100%", height="auto"))
        for key, w in controls.items():
            w.add_class(f"cam-{name}-{key}")
            w.observe(lambda _: self.redraw(), names="value")
        self.picture.add_class(f"cam-{name}-picture")
        self.widget = W.VBox(
            [
                W.HBox(list(controls.values()), layout=W.Layout(flex_flow="row wrap")),
                self.info,
                self.picture,
            ]
        )
        self.widget.add_class(f"cam-{name}")
        self.redraw()

    @property
    def values(self) -> dict:
        return {k: w.value for k, w in self.controls.items()}

    def redraw(self):
        self.rgb = self.draw_fn(**self.values)
        self.picture.value = draw.to_png(self.rgb)
        if self.caption_fn:
            self.info.value = self.caption_fn(**self.values)


def _slider(n: int, description: str = "image"):
    import ipywidgets as W

    return W.IntSlider(0, 0, n - 1, description=description, style={"description_width": "initial"})


def _dropdown(options, description: str, value=None):
    import ipywidgets as W

    options = list(options)
    first = options[0][1] if isinstance(options[0], tuple) else options[0]
    return W.Dropdown(
        options=options,
        value=first if value is None else value,
        description=description,
        style={"description_width": "initial"},
    )


def _float(value, lo, hi, step, description):
    import ipywidgets as W

    return W.FloatSlider(
        value,
        min=lo,
        max=hi,
        step=step,
        description=description,
        readout_format=".2f",
        style={"description_width": "initial"},
    )


def _image(ds, i):
    return ds.images[i].permute(1, 2, 0).numpy()


def _heat_of(model, image, method, cls, layer=None):
    """The heat of one method's map of class cls on one image (3, H, W)."""
    return compute.heat(table.compute(method, model, image[None], layer, [cls])[0], image.shape[-1])


# ------------------------------------------------------------------------ 01 ----


def heads(models: dict, ds) -> Experiment:
    """Grad-CAM of the predicted class from each head (GAP, GMP, flatten) on one image, with
    the share of its heat on the animal."""

    def picture(index):
        x, objs, tiles = ds.images[index], ds.objects(index), []
        for name, net in models.items():
            p = compute.probabilities(net, x[None])[0]
            c = int(p.argmax())
            s = _heat_of(net, x, "Grad-CAM", c, net.cam_layer)
            _, energy = compute.on_animal(s, compute.class_mask(objs, c, x.shape[-1]))
            share = f"heat on it {energy:.2f}" if energy is not None else "not in the image"
            tiles.append(
                draw.Tile(
                    _image(ds, index),
                    s,
                    (name, f"'{data.CLASSES[c]}' p={p[c]:.2f}", share),
                    objs[0].mask.numpy(),
                )
            )
        return draw.render_grid(
            tiles,
            columns=len(tiles),
            heading="Grad-CAM of each head's prediction; the outline is the animal",
        )

    return Experiment({"index": _slider(len(ds))}, picture, name="heads")


# ------------------------------------------------------------------------ 02 ----


def threshold_box(model, ds) -> Experiment:
    """CAM of the predicted class: the threshold turns the map into a box; IoU with the truth."""

    def view(index, threshold):
        x = ds.images[index]
        p = compute.probabilities(model, x[None])[0]
        c = int(p.argmax())
        amap = table.compute("CAM", model, x[None], None, [c])[0]
        return draw.make_view(
            x,
            amap,
            method="CAM",
            class_name=data.CLASSES[c],
            probability=float(p[c]),
            alpha=0.6,
            threshold=threshold,
            boxes=compute.true_boxes(ds.objects(index), c),
        )

    def caption(index, threshold):
        v = view(index, threshold)
        iou = "no such animal" if v.iou is None else f"IoU {v.iou:.2f}"
        hit = "" if v.iou is None else (" (a hit: IoU >= 0.5)" if v.iou >= 0.5 else " (a miss)")
        return f"threshold {threshold:.2f}: box {v.pred_box}, {iou}{hit}"

    return Experiment(
        {"index": _slider(len(ds)), "threshold": _float(0.2, 0, 1, 0.05, "threshold")},
        lambda **v: draw.render(view(**v)),
        caption,
        name="threshold",
    )


# ------------------------------------------------------------------------ 03 / 10 ----


def layer_choice(model, ds, layers: dict, method: str = "Grad-CAM") -> Experiment:
    """A method at the layer you pick, for the class you pick: resolution against focus."""

    def view(index, layer, cls):
        x = ds.images[index]
        p = compute.probabilities(model, x[None])[0]
        c = int(p.argmax()) if cls < 0 else cls
        amap = table.compute(method, model, x[None], layer, [c])[0]
        return draw.make_view(
            x,
            amap,
            method=f"{method} at {layer}",
            alpha=0.6,
            class_name=data.CLASSES[c] if c < len(data.CLASSES) else str(c),
            probability=float(p[c]),
            boxes=compute.true_boxes(ds.objects(index), c),
        )

    classes = [("predicted", -1), *((n, k) for k, n in enumerate(data.CLASSES))]
    return Experiment(
        {
            "index": _slider(len(ds)),
            "layer": _dropdown(list(layers.items()), "layer", list(layers.values())[-1]),
            "cls": _dropdown(classes, "class"),
        },
        lambda **v: draw.render(view(**v)),
        name="layer",
    )


# ------------------------------------------------------------------------ 04 ----


def alpha_map(model, ds, layer: str) -> Experiment:
    """For one channel k: A^k, the gradient g^k, Grad-CAM++'s alpha^k, and both weights."""
    from PIL import Image, ImageDraw

    def data_of(index):
        x = ds.images[index][None]
        c = int(compute.probabilities(model, x)[0].argmax())
        A, g = camlib_layer_gradients(model, x, layer, c)
        sum_A = A.sum(dim=(-2, -1), keepdim=True)
        den = 2 * g**2 + sum_A * g**3
        alpha = torch.where(den != 0, g**2 / den, 0.0)
        return c, A, g, alpha

    cache = {}

    def picture(index, k):
        if index not in cache:
            cache[index] = data_of(index)
        c, A, g, alpha = cache[index]
        k = min(k, A.shape[0] - 1)
        panels = [
            (A[k], "A^k (activation)", False),
            (g[k], "g^k = dS/dA^k", True),
            (alpha[k], "alpha^k (Grad-CAM++)", False),
        ]
        size, gap, top = 192, 14, 30
        canvas = Image.new("RGB", (4 * (size + gap) + gap, size + top + 72), "white")
        pen = ImageDraw.Draw(canvas)
        rgb = (ds.images[index].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        canvas.paste(Image.fromarray(rgb).resize((size, size), Image.NEAREST), (gap, top))
        label = data.CLASSES[int(ds.labels[index])]
        pen.text(
            (gap + size / 2, 15), f"image ({label})", fill="black", font=draw._font(15), anchor="mm"
        )
        for j, (m, title, signed) in enumerate(panels, start=1):
            m = m.numpy()
            lim = float(np.abs(m).max()) or 1.0
            rgb = draw.colorize(
                (m / lim + 1) / 2 if signed else m / lim,
                draw.plot.SIGNED_CMAP if signed else draw.plot.CMAP,
            )
            rgb = rgb.repeat(size // rgb.shape[0], 0).repeat(size // rgb.shape[1], 1)
            x0 = gap + j * (size + gap)
            canvas.paste(Image.fromarray(rgb), (x0, top))
            pen.text((x0 + size / 2, 15), title, fill="black", font=draw._font(15), anchor="mm")
            pen.text(
                (x0 + size / 2, top + size + 12),
                f"max |.| = {lim:.2g}",
                fill="black",
                font=draw._font(13),
                anchor="mm",
            )
        w_grad = float(g[k].mean())
        w_pp = float((alpha[k] * g[k].clamp_min(0)).sum())
        for j, line in enumerate(
            (
                f"channel {k}, class '{data.CLASSES[c]}': Grad-CAM weight mean(g) = {w_grad:.2g}",
                f"Grad-CAM++ weight sum(alpha ReLU(g)) = {w_pp:.2g}",
            )
        ):
            pen.text(
                (canvas.width / 2, top + size + 34 + 20 * j),
                line,
                fill="black",
                font=draw._font(14),
                anchor="mm",
            )
        return np.asarray(canvas)

    cache[0] = data_of(0)
    return Experiment(
        {"index": _slider(len(ds)), "k": _slider(len(cache[0][1]), "channel k")},
        picture,
        name="alpha",
    )


def camlib_layer_gradients(model, x, layer, c):
    """A (K, h, w) and dS_c/dA (K, h, w) of one image, from camlib's hook mechanism."""
    from .. import hooks

    A, g = hooks.layer_gradients(model, x, layer, [c])
    return A[0], g[0, 0]


# ------------------------------------------------------------------------ 05 ----


def cascade(model, ds, layer: str | None = None, seed: int = 0) -> Experiment:
    """Adebayo et al.'s cascade on one image: each method's map at the chosen depth, with its
    rank correlation to the trained model's map."""
    nets = compute.cascade(model, seed=seed)
    shown = cascade_piece.shown_methods(model)
    store = {}

    class Cache:  # the pure rows function takes any object with get(key, make)
        @staticmethod
        def get(key, make):
            if key not in store:
                store[key] = make()
            return store[key]

    def picture(index, depth):
        x = ds.images[index]
        c = int(compute.probabilities(model, x[None])[0].argmax())
        rows = cascade_piece.cascade_rows(
            [n for _, n in nets[: depth + 1]], x, c, layer, shown, Cache
        )
        done = ", ".join(n for n, _ in nets[1 : depth + 1]) or "nothing (the trained model)"
        return draw.render_grid(
            cascade_piece.cascade_tiles(rows, x),
            heading=f"'{data.CLASSES[c]}', re-initialized: {done}",
        )

    return Experiment(
        {"index": _slider(len(ds)), "depth": _slider(len(nets), "layers re-initialized")},
        picture,
        name="cascade",
    )


# ------------------------------------------------------------------------ 06 ----


def counterfactual_pair(model, pairs, layer: str | None = None) -> Experiment:
    """On a two-animal scene, for the class you pick: Grad-CAM (what speaks for it) and the
    counterfactual map (what speaks against it), with each map's heat on each animal."""

    def picture(index, animal):
        x, objs = pairs.images[index], pairs.objects(index)
        me = objs[min(animal, len(objs) - 1)]
        tiles = []
        for method in ("Grad-CAM", "counterfactual"):
            s = _heat_of(model, x, method, me.label, layer)
            shares = ", ".join(
                f"{o.name} {s[o.mask.numpy()].sum() / max(s.sum(), 1e-12):.2f}" for o in objs
            )
            tiles.append(
                draw.Tile(
                    _image(pairs, index),
                    s,
                    (f"{method} of '{me.name}'", f"heat on: {shares}"),
                    me.mask.numpy(),
                )
            )
        return draw.render_grid(tiles, columns=2, scale=4, heading=f"the outline is the {me.name}")

    return Experiment(
        {
            "index": _slider(len(pairs)),
            "animal": _dropdown([("first", 0), ("second", 1)], "class of the"),
        },
        picture,
        name="pair",
    )


# ------------------------------------------------------------------------ 07 ----


def delta(ds) -> Experiment:
    """ACoL trained with each shipped delta: A's map, the features B sees (erased where A's
    normalized map >= delta), B's map, and the fused map, on one image."""
    shipped = [d for d in acol.SWEEP if acol.sweep_name(d) in zoo.available()]
    nets = {}

    def picture(index, d):
        if d not in nets:
            nets[d] = acol.load_delta(d)
        x, objs = ds.images[index], ds.objects(index)
        out = acol.class_maps(nets[d], x[None], [objs[0].label])
        img, size = _image(ds, index), x.shape[-1]
        tiles = []
        for key, title in (
            ("a", "A's map"),
            ("erased", "erased for B (white)"),
            ("b", "B's map"),
            ("fused", "fused max(A, B)"),
        ):
            s = compute.heat(out[key][0], size)
            if key == "erased":
                s = methods.upsample(out[key][:1].float(), size)[0].numpy()
            tiles.append(draw.Tile(img, s, (title,), objs[0].mask.numpy()))
        mask = compute.class_mask(objs, objs[0].label, size)
        share = float((compute.heat(out["fused"][0], size) >= 0.5)[mask].mean())
        tiles[-1] = draw.Tile(
            img,
            tiles[-1].heat,
            ("fused max(A, B)", f"animal covered at 0.5: {share:.2f}"),
            tiles[-1].outline,
        )
        return draw.render_grid(
            tiles, columns=4, heading=f"ACoL trained with delta = {d:g}, class '{objs[0].name}'"
        )

    return Experiment(
        {"index": _slider(len(ds)), "d": _dropdown(shipped, "delta", 0.6)}, picture, name="delta"
    )


# ------------------------------------------------------------------------ 08 ----

METRICS = ("pointing game", "energy on the animal", "box accuracy (IoU >= 0.5, tau 0.2)")


def metric_across_methods(model, ds, method_names=None) -> Experiment:
    """One metric over the images of `ds` for every method: a bar per method. The maps are
    computed once; the dropdown only picks which metric to draw."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names = list(
        method_names
        or [m for m in table.available(model) if not table.get(m).gradient_free or m == "CAM"]
    )
    labels = ds.labels
    heats = {
        m: np.stack(
            [
                compute.heat(a, ds.images.shape[-1])
                for a in table.compute(m, model, ds.images, None, labels)
            ]
        )
        for m in names
    }
    masks = ds.masks.numpy()
    boxes = [[o.box for o in ds.objects(i) if o.label == int(labels[i])] for i in range(len(ds))]
    scores = {
        METRICS[0]: {m: metrics.pointing_game(h, masks) for m, h in heats.items()},
        METRICS[1]: {m: metrics.energy_pointing_game(h, masks) for m, h in heats.items()},
        METRICS[2]: {m: metrics.localization_accuracy(h, boxes) for m, h in heats.items()},
    }

    def picture(metric):
        fig = Figure(figsize=(9, 3.6), dpi=100, layout="constrained")
        canvas = FigureCanvasAgg(fig)
        ax = fig.subplots()
        vals = [scores[metric][m] for m in names]
        bars = ax.bar(range(len(names)), vals, color=draw.plot.COLORS["pred"])
        ax.bar_label(bars, [f"{v:.2f}" for v in vals], fontsize=12)
        ax.set_xticks(range(len(names)), names, rotation=25, ha="right", fontsize=12)
        ax.set_ylim(0, 1.1)
        ax.set_ylabel(metric, fontsize=12)
        ax.set_title(f"{metric}, {len(ds)} test images, class = label", fontsize=13)
        canvas.draw()
        return np.asarray(canvas.buffer_rgba())[..., :3].copy()

    exp = Experiment({"metric": _dropdown(METRICS, "metric")}, picture, name="metric")
    exp.scores = scores
    return exp
