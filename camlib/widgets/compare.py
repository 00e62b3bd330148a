"""The compare view: one image and class, a grid of every method, or every model for one
method, or ACoL across the shipped erasing thresholds delta; each panel titled with method,
model and class, its pointing-game hit and its energy on the animal.

    tiles = compare_tiles(lab, "every method", shared=False)   # pure: the data of the grid
"""

from __future__ import annotations

from .. import acol, data, table
from .. import models as zoo
from . import compute, draw

MODES = ("every method", "every model", "ACoL across delta")
SCALES = ("per map", "shared")


def panels_for(lab, mode: str) -> list[tuple[str, str]]:
    """(model name, method) of each panel."""
    if mode == "every method":
        return [(lab.model.value, m) for m in table.available(lab.net)]
    if mode == "every model":
        return [
            (name, lab.method.value)
            for name in lab._models
            if table.get(lab.method.value).supports(lab.network(name))
        ]
    if mode == "ACoL across delta":
        shipped = set(zoo.available())
        return [(acol.sweep_name(d), "ACoL") for d in acol.SWEEP if acol.sweep_name(d) in shipped]
    raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")


def compare_tiles(lab, mode: str, shared: bool = False) -> list[draw.Tile]:
    """The tiles of the grid for the lab's image and class.

    Per-map scale min-max scales each map on its own; the shared scale divides every rectified,
    upsampled map by the largest value among them, so a weak map looks weak (meaningful where
    the maps share units: one method across models, or ACoL's normalized maps).
    """
    c, size, image = lab.cls.value, lab.image.shape[-1], lab.image
    mask = compute.class_mask(lab.objects, c, size)
    raw = []
    for model, method in panels_for(lab, mode):
        amap = lab.maps(method, model)[c]
        raw.append(
            (
                model,
                method,
                compute.heat(amap, size),
                compute.rectified(amap, size)[0].numpy(),
                lab.probs_of(model)[c],
            )
        )
    top = max((float(u.max()) for *_, u, _ in raw), default=0.0) or 1.0
    tiles, img = [], draw.plot.to_numpy_image(image)
    for model, method, s, u, p in raw:
        shown = u / top if shared else s
        if table.get(method).output == "pixels" and not shared:
            shown = draw.sparse_visible(shown)
        hit, energy = compute.on_animal(s, mask)
        score = (
            f"hit {'yes' if hit else 'no'} · energy {energy:.2f}"
            if hit is not None
            else f"no {data.CLASSES[c]} in the image"
        )
        tiles.append(
            draw.Tile(
                img,
                shown,
                (method, f"{model} · '{data.CLASSES[c]}' p={p:.2f}", score),
                mask if mask.any() else None,
            )
        )
    return tiles


class Compare:
    """The compare tab: mode, colour scale, the grid."""

    title = "compare"

    def __init__(self, lab):
        import ipywidgets as W

        self.lab, self.stale = lab, True
        self.mode = W.ToggleButtons(
            options=MODES,
            description="compare",
            style={"description_width": "initial", "button_width": "140px"},
        )
        self.scale = W.ToggleButtons(
            options=SCALES,
            description="colour scale",
            style={"description_width": "initial", "button_width": "80px"},
        )
        self.info = W.HTML()
        self.picture = W.Image(format="png", layout=W.Layout(max_width="100%", height="auto"))
        for name in ("mode", "scale", "picture", "info"):
            getattr(self, name).add_class(f"cam-compare-{name}")
        self.widget = W.VBox([W.HBox([self.mode, self.scale]), self.info, self.picture])
        for w in (self.mode, self.scale):
            w.observe(lambda _: self.refresh(), names="value")

    def refresh(self):
        """Draw the grid for the lab's current image, class, model and method."""
        self.stale = False
        lab = self.lab
        tiles = compare_tiles(lab, self.mode.value, self.scale.value == "shared")
        c = data.CLASSES[lab.cls.value]
        self.tiles = tiles
        self.picture.value = draw.to_png(
            draw.render_grid(
                tiles, heading=f"{self.mode.value}, class '{c}', {self.scale.value} colour scale"
            )
        )
        hits = [t.title[2] for t in tiles]
        n_hit = sum(h.startswith("hit yes") for h in hits)
        self.info.value = f"{len(tiles)} panels; the orange outline is the ground-truth '{c}'" + (
            f"; {n_hit} of {len(tiles)} maxima on it."
            if lab.objects and any(h.startswith("hit") for h in hits)
            else "."
        )
