"""The sanity cascade (Adebayo et al., NeurIPS 2018; chapter 05): a slider re-initializes the
model's layers from the top down, and each method's map at that depth is shown with its
Spearman rank correlation to the trained model's map.

    rows = cascade_rows(lab, depth)   # pure: (method, heat, rho) at that depth
"""

from __future__ import annotations

from .. import data, table
from . import compute, draw

# the methods the cascade shows, when the model offers them (plus the lab's current method)
SHOWN = ("Grad-CAM", "Grad-CAM++", "guided backprop", "Guided Grad-CAM")


def cascade_rows(nets, image, cls: int, layer, methods, cache=None) -> list[tuple]:
    """(method, heat at the last net of `nets`, Spearman rho with the first net's heat) for
    each method: nets[0] is the trained model, nets[-1] the one randomized to this depth.
    `cache` (an LRU of the lab, or None) keeps heats by (net, method, layer, class)."""
    size = image.shape[-1]

    def heat_of(net, method):
        target = [cls] if table.get(method).targeted else None
        amap = table.compute(method, net, image[None], layer, target)[0]
        return compute.heat(amap, size)

    def cached(net, method):
        if cache is None:
            return heat_of(net, method)
        key = ("cascade", id(net), compute.image_key(image), method, layer, cls)
        return cache.get(key, lambda: heat_of(net, method))

    rows = []
    for method in methods:
        trained, now = cached(nets[0], method), cached(nets[-1], method)
        rows.append((method, now, compute.rank_correlation(trained, now)))
    return rows


def shown_methods(model, current: str | None = None) -> list[str]:
    """The cascade's methods that the model offers, plus the current one."""
    offered = table.available(model)
    shown = [m for m in SHOWN if m in offered]
    return shown + ([current] if current and current not in shown else [])


def cascade_tiles(rows, image) -> list:
    """One tile per method: its heat at this depth (pixel maps made visible) and its rho."""
    img = draw.plot.to_numpy_image(image)
    return [
        draw.Tile(
            img,
            draw.sparse_visible(s) if table.get(m).output == "pixels" else s,
            (m, f"rho = {rho:.2f}"),
        )
        for m, s, rho in rows
    ]


class Cascade:
    """The cascade tab: the depth slider and a grid of maps with their rank correlations."""

    title = "sanity cascade"

    def __init__(self, lab):
        import ipywidgets as W

        self.lab, self.stale, self._nets = lab, True, {}
        self.depth = W.IntSlider(
            0,
            0,
            1,
            description="layers re-initialized, top down",
            style={"description_width": "initial"},
            layout=W.Layout(width="520px"),
        )
        self.info = W.HTML()
        self.picture = W.Image(format="png", layout=W.Layout(max_width="100%", height="auto"))
        for name in ("depth", "picture", "info"):
            getattr(self, name).add_class(f"cam-cascade-{name}")
        self.widget = W.VBox([self.depth, self.info, self.picture])
        self.depth.observe(lambda _: self.refresh(), names="value")

    def nets(self):
        """The trained model and its randomized copies (built once per model)."""
        name = self.lab.model.value
        if name not in self._nets:
            self._nets[name] = compute.cascade(self.lab.net, seed=self.lab.seed)
        return self._nets[name]

    def refresh(self):
        self.stale = False
        nets = self.nets()
        if self.depth.max != len(nets) - 1:
            self.depth.max = len(nets) - 1
        d = min(self.depth.value, len(nets) - 1)
        lab = self.lab
        self.rows = cascade_rows(
            [n for _, n in nets[: d + 1]],
            lab.image,
            lab.cls.value,
            lab.layer.value,
            shown_methods(lab.net, lab.method.value),
            lab._maps,
        )
        c = data.CLASSES[lab.cls.value]
        tiles = cascade_tiles(self.rows, lab.image)
        done = [name for name, _ in nets[1 : d + 1]]
        where = f"re-initialized: {', '.join(done)}" if done else "the trained model"
        self.picture.value = draw.to_png(
            draw.render_grid(tiles, heading=f"{self.lab.model.value}, '{c}': {where}")
        )
        self.info.value = (
            f"Depth {d} of {len(nets) - 1}. rho is the Spearman rank correlation "
            f"of each map with the trained model's map: a method that explains "
            f"the model should lose it as the model is destroyed."
        )
