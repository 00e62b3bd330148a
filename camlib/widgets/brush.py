"""Erase by hand: paint a mask on the image with the mouse, choose the fill, and after each
stroke see the class probabilities and the map of the edited image, beside a sliding-window
occlusion map of the original as a reference method.

Mouse input comes from ipyevents (mousedown / mousemove / mouseup on the image, in the image's
own pixel coordinates). `paint(points)` runs the same handler from code, as a stroke would.
"""

from __future__ import annotations

import numpy as np

from .. import data, table
from . import compute, draw


class Brush:
    """The brush tab: brush size, fill, clear; the painted image and the result."""

    title = "erase by hand"

    def __init__(self, lab):
        import ipywidgets as W
        from ipyevents import Event

        self.lab, self.stale, self.painting = lab, True, False
        size = lab.size
        self.mask = np.zeros((size, size), bool)
        wide = dict(style={"description_width": "initial"})
        self.radius = W.IntSlider(4, 1, 12, description="brush radius (px)", **wide)
        self.fill = W.Dropdown(options=compute.FILLS, description="fill with", **wide)
        self.clear_button = W.Button(description="clear", icon="eraser")
        self.info = W.HTML()
        self.canvas = W.Image(
            format="png",
            layout=W.Layout(width=f"{size * lab.scale}px", height=f"{size * lab.scale}px"),
        )
        self.picture = W.Image(format="png", layout=W.Layout(max_width="100%", height="auto"))
        for name in ("radius", "fill", "canvas", "picture", "info"):
            getattr(self, name).add_class(f"cam-brush-{name}")
        self.clear_button.add_class("cam-brush-clear")
        # presses and releases must all arrive; moves may be thinned out (one per 20 ms)
        self.events = [
            Event(
                source=self.canvas,
                prevent_default_action=True,
                watched_events=["mousedown", "mouseup", "mouseleave"],
            ),
            Event(
                source=self.canvas,
                watched_events=["mousemove"],
                throttle_or_debounce="throttle",
                wait=20,
            ),
        ]
        for e in self.events:
            e.on_dom_event(self.handle)
        self.widget = W.VBox(
            [
                W.HBox([self.radius, self.fill, self.clear_button]),
                self.info,
                W.HBox([self.canvas, self.picture], layout=W.Layout(align_items="flex-start")),
            ]
        )
        self.fill.observe(lambda _: self.stroke_done(), names="value")
        self.clear_button.on_click(lambda _: self.clear())
        self._key = None

    # -- events ---------------------------------------------------------------

    def handle(self, event: dict):
        """One DOM event from ipyevents; 'dataX'/'dataY' are pixels of the shown (scaled) PNG."""
        kind = event.get("type")
        if kind == "mousedown":
            self.painting = True
        if kind in ("mousedown", "mousemove") and self.painting and "dataX" in event:
            s = self.lab.scale
            self.dab(event["dataX"] / s, event["dataY"] / s)
            self._draw_canvas()
        if kind in ("mouseup", "mouseleave") and self.painting:
            self.painting = False
            self.stroke_done()

    def dab(self, x: float, y: float):
        """Add a disc of the brush's radius at image pixel (x, y) to the mask."""
        self.mask |= compute.disc(self.mask.shape[0], x, y, self.radius.value)

    def paint(self, points):
        """A stroke from code: mouse down at the first point, through the rest, up at the last.
        Points are image pixels (x, y); the same handler as real mouse events runs."""
        s = self.lab.scale
        for k, (x, y) in enumerate(points):
            self.handle(
                {"type": "mousedown" if k == 0 else "mousemove", "dataX": x * s, "dataY": y * s}
            )
        self.handle({"type": "mouseup"})

    def clear(self):
        """Forget the painted mask."""
        self.mask[:] = False
        self.refresh()

    # -- drawing --------------------------------------------------------------

    def _draw_canvas(self):
        lab = self.lab
        img = draw._u8(draw.plot.to_numpy_image(lab.image), lab.scale)
        big = self.mask.repeat(lab.scale, 0).repeat(lab.scale, 1)
        tint = np.array(draw._hex(draw.plot.COLORS["pred"]))
        img[big] = (0.45 * img[big] + 0.55 * tint).astype(np.uint8)
        self.canvas.value = draw.to_png(img)

    def occlusion(self) -> np.ndarray:
        """The occlusion map of the lab's image and class (cached by the lab's image key)."""
        lab = self.lab
        return lab._maps.get(
            ("occlusion", lab.model.value, lab.key, lab.cls.value),
            lambda: compute.occlusion(lab.net, lab.image, lab.cls.value),
        )

    def refresh(self):
        """Follow the lab: a new image, model, class or method starts from an empty mask."""
        self.stale = False
        key = (self.lab.key, self.lab.model.value)
        if key != self._key:
            self.mask[:] = False
            self._key = key
        self._draw_canvas()
        self.stroke_done()

    def stroke_done(self):
        """The end of a stroke: the edited image, its probabilities and its map."""
        lab, c = self.lab, self.lab.cls.value
        if not self.mask.any():
            self.result = None
            self.info.value = (
                "Nothing painted yet: press the mouse button on the image on the "
                "left and drag to paint the region to erase."
            )
            self.picture.value = draw.to_png(
                draw.render_brush(
                    lab.image,
                    compute.heat(lab.maps()[c], self.mask.shape[0]),
                    self.occlusion(),
                    lab.probs,
                    lab.probs,
                    c,
                    lab.method.value,
                    lab.scale,
                )
            )
            return
        edited = compute.erase(lab.image, self.mask, self.fill.value)
        after = compute.probabilities(lab.net, edited[None])[0].numpy()
        target = None if not table.get(lab.method.value).targeted else [c]
        amap = table.compute(lab.method.value, lab.net, edited[None], lab.layer.value, target)[0]
        s = compute.heat(amap, self.mask.shape[0])
        before = lab.probs
        self.result = dict(edited=edited, before=before, after=after, heat=s)
        self.picture.value = draw.to_png(
            draw.render_brush(
                edited, s, self.occlusion(), before, after, c, lab.method.value, lab.scale
            )
        )
        self.info.value = (
            f"Erased {self.mask.mean():.0%} of the image (filled with {self.fill.value}): "
            f"p({data.CLASSES[c]}) {before[c]:.2f} → {after[c]:.2f} "
            f"({round(float(after[c] - before[c]), 2) + 0.0:+.2f})."
        )  # + 0.0: no "-0.00"
